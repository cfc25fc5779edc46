"""Inputs are read in place: fit makes no numpy copy of a CSR matrix or a
dense array whose dtype and layout the library reads.

numpy reports its data allocations to tracemalloc (the library's own C
allocations are not traced), so the traced peak during fit is what the
Python side allocated. A copy of the input would put the peak at the
input's size; the control cases, whose inputs must be converted, show that
such a copy is seen."""
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import signmf

USERS, ITEMS, NNZ = 20000, 4000, 2_000_000  # 8 MB of data, 8 MB of indices


@pytest.fixture(scope="module")
def csr():
    rng = np.random.default_rng(5)
    cells = np.unique(rng.integers(0, USERS * ITEMS, size=NNZ, dtype=np.int64))
    rows, cols = cells // ITEMS, cells % ITEMS
    data = rng.integers(1, 6, size=len(cells)).astype(np.float32)
    return sp.csr_matrix((data, cols.astype(np.int32), np.searchsorted(
        rows, np.arange(USERS + 1)).astype(np.int32)), shape=(USERS, ITEMS))


def traced_peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def fit(X):
    signmf.Model(dim=1, epochs=0, threads=1).fit(X)


def test_csr_is_not_copied(csr):
    size = csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes
    peak = traced_peak(lambda: fit(csr))
    assert peak < size / 20, f"fit allocated {peak} bytes in numpy for a {size}-byte CSR input"


def test_dense_is_not_copied():
    rng = np.random.default_rng(6)
    W = np.where(rng.random((2000, 1500)) < 0.05, 3.0, 0.0)  # 24 MB float64
    for X in (W, np.asfortranarray(W), W.astype(np.float32)):
        peak = traced_peak(lambda: fit(X))
        assert peak < X.nbytes / 20, f"fit allocated {peak} bytes for a {X.nbytes}-byte array"


def test_a_converted_input_is_seen(csr):
    """The control: COO input is converted to CSR by scipy, int16 ratings
    widened to float64; both copies must show in the traced peak, or the two
    tests above prove nothing."""
    coo = csr.tocoo()
    peak = traced_peak(lambda: fit(coo))
    assert peak >= csr.data.nbytes, f"a COO input's conversion went unseen ({peak} bytes)"
    W = np.where(np.random.default_rng(7).random((2000, 1500)) < 0.05, 3, 0).astype(np.int16)
    peak = traced_peak(lambda: fit(W))
    assert peak >= W.size * 8, f"an int16 matrix's float64 copy went unseen ({peak} bytes)"
