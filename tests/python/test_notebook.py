"""Parity with the notebook's own numpy code (tests/parity/notebook_ref.py)
and the examples/notebook.py port on MovieLens."""
import importlib.util
import math
import os

import numpy as np
import pytest

import signmf
from conftest import REPO, synth_matrix, write_tsv

NOTEBOOK_FIRST_LOSS = -4792.202913091733


def notebook_run(tsv, dim, epochs):
    import notebook_ref
    return notebook_ref.run(str(tsv), dim=dim, seed=1, epochs=epochs, alpha=1e-3)


def losses_of(model, X, epochs):
    out = []
    model.fit(X, epochs=epochs, progress=lambda e, loss, s: out.append((e, loss)))
    assert [e for e, _ in out] == list(range(epochs + 1))
    return [loss for _, loss in out]


def check_against_notebook(W, tsv, dim, epochs, tol):
    P, Q, ref = notebook_run(tsv, dim, epochs)
    for prec in ("f64", "f32"):
        m = signmf.Model(dim=dim, precision=prec)
        losses = losses_of(m, W, epochs)
        t = tol if prec == "f64" else 1e-4
        assert np.max(np.abs(m.user_factors - P)) / np.max(np.abs(P)) <= t
        assert np.max(np.abs(m.item_factors.T - Q)) / np.max(np.abs(Q)) <= t
        assert max(abs(a - b) / abs(b) for a, b in zip(losses, ref)) <= t
        assert m.loss() == losses[-1]


def test_synthetic_matches_the_notebook(tmp_path):
    W = synth_matrix(200, 300, 0.13, seed=7)
    check_against_notebook(W, write_tsv(tmp_path / "s.tsv", W), 48, 20, 1e-9)


def test_movielens_matches_the_notebook(ua_base):
    W = np.asarray(__import__("notebook_ref").load_ratings(ua_base))
    m = signmf.Model(dim=512, precision="f64", epochs=0).fit(W)
    assert math.isclose(m.loss(), NOTEBOOK_FIRST_LOSS, rel_tol=1e-12)
    check_against_notebook(W, ua_base, 512, 20, 1e-9)


def test_example_notebook_port(ua_base):
    pytest.importorskip("scipy")
    spec = importlib.util.spec_from_file_location(
        "notebook_example", os.path.join(REPO, "examples", "notebook.py"))
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    lines = []
    res = ex.run(ua_base, dim=512, epochs=20, check=True, out=lines.append)
    assert math.isclose(res["first_loss"], NOTEBOOK_FIRST_LOSS, rel_tol=1e-12)
    assert res["P_rel"] <= 1e-9 and res["Q_rel"] <= 1e-9 and res["loss_rel"] <= 1e-9
    assert res["sparse_same_bits"] is True
    assert any("first embed_loss" in l for l in lines)
