"""fit, loss, factors, recommend, fold-in, similar, evaluate, save/load."""
import math
import os

import numpy as np
import pytest

import signmf
from conftest import synth_matrix, write_tsv


def fit(W, **kw):
    kw.setdefault("dim", 16)
    kw.setdefault("epochs", 5)
    return signmf.Model(**kw).fit(W)


def test_fit_returns_self_and_shapes(W):
    m = signmf.Model(dim=16, epochs=3)
    assert m.fit(W) is m
    assert m.user_factors.shape == (W.shape[0], 16)
    assert m.item_factors.shape == (W.shape[1], 16)
    assert m.user_factors.dtype == np.float32
    assert m.epochs_done == 3
    assert np.array_equal(m.user_ids, np.arange(W.shape[0]))
    assert np.array_equal(m.item_ids, np.arange(W.shape[1]))


def test_epochs_zero_is_numpy_initialisation(W):
    m = fit(W, epochs=0, precision="f64")
    np.random.seed(1)
    P = np.random.normal(loc=0, scale=1, size=(W.shape[0], 16))
    Q = np.random.normal(loc=0, scale=1, size=(16, W.shape[1]))
    assert np.array_equal(m.user_factors, P)
    assert np.array_equal(m.item_factors, Q.T)
    assert m.epochs_done == 0


def test_fit_always_starts_from_the_seed(W):
    m = fit(W, epochs=4)
    a = m.user_factors.copy()
    m.fit(W, epochs=2)
    m.fit(W, epochs=4)
    assert np.array_equal(m.user_factors, a)


def test_loss_is_embed_loss(W):
    from notebook_ref import embed_loss
    m = fit(W, epochs=3, precision="f64")
    mean = W.sum(1) / (W != 0).sum(1)
    centred = np.where(W != 0, W - mean[:, None], 0)
    ref = embed_loss(m.user_factors, m.item_factors.T, centred)
    assert math.isclose(m.loss(), ref, rel_tol=1e-12)


def test_factors_are_read_only_views(W):
    m = fit(W)
    P = m.user_factors
    assert not P.flags.writeable and P.flags.c_contiguous
    assert m.user_factors is P  # cached, not rebuilt
    with pytest.raises(ValueError):
        P[0, 0] = 1
    # the view keeps the model's memory alive after the model is gone
    first = P[0].copy()
    del m
    assert np.array_equal(P[0], first)


def test_views_survive_refit(W):
    m = fit(W, epochs=1)
    old = m.user_factors
    snapshot = old.copy()
    m.fit(W, epochs=6)
    assert np.array_equal(old, snapshot)  # a refit makes a new model
    assert not np.array_equal(m.user_factors, snapshot)


def test_f64(W):
    m = fit(W, precision="f64")
    assert m.user_factors.dtype == np.float64 and m.item_factors.dtype == np.float64


@pytest.mark.parametrize("kind", ["f32", "f64", "int", "fortran", "strided"])
def test_dense_layouts_give_the_same_bits(W, kind):
    ref = fit(W)
    X = {"f32": W.astype(np.float32), "f64": W, "int": W.astype(np.int16),
         "fortran": np.asfortranarray(W),
         "strided": np.repeat(W, 2, axis=1)[:, ::2]}[kind]
    m = fit(X)
    assert np.array_equal(m.user_factors, ref.user_factors)
    assert np.array_equal(m.item_factors, ref.item_factors)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "csr_array", "unsorted", "int32", "int64",
                                 "explicit_zero"])
def test_sparse_gives_the_same_bits_as_dense(W, fmt):
    sp = pytest.importorskip("scipy.sparse")
    ref = fit(W)
    if fmt == "csr_array":
        X = sp.csr_array(W)
    elif fmt == "unsorted":
        X = sp.csr_matrix(W)
        for r in range(X.shape[0]):
            a, b = X.indptr[r], X.indptr[r + 1]
            X.indices[a:b] = X.indices[a:b][::-1].copy()
            X.data[a:b] = X.data[a:b][::-1].copy()
        X.has_sorted_indices = False
    elif fmt in ("int32", "int64"):
        X = sp.csr_matrix(W)
        X.indptr = X.indptr.astype(fmt)
        X.indices = X.indices.astype(fmt)
    elif fmt == "explicit_zero":
        X = sp.csr_matrix(W)
        X.data[::7] = 0  # stored zeros are unrated, as in the dense matrix
        Wz = X.toarray()
        ref = fit(Wz)
    else:
        X = getattr(sp, fmt + "_matrix")(W)
    m = fit(X)
    assert np.array_equal(m.user_factors, ref.user_factors)
    assert np.array_equal(m.item_factors, ref.item_factors)


def test_triplets_and_path_keep_original_ids(W, tmp_path):
    r, c = np.nonzero(W)
    m = fit((r + 1, c + 1, W[r, c]))
    assert m.user_ids[0] == 1
    d = fit(W)
    assert np.array_equal(m.user_factors, d.user_factors)
    p = fit(write_tsv(tmp_path / "w.tsv", W))
    assert np.array_equal(p.item_factors, d.item_factors)
    ids, s = p.recommend(1, N=5)
    ids0, s0 = d.recommend(0, N=5)
    assert np.array_equal(ids, ids0 + 1) and np.array_equal(s, s0)


def test_recommend_excludes_rated_and_is_sorted(W):
    m = fit(W, precision="f64")
    ids, scores = m.recommend(3, N=20)
    assert ids.dtype == np.int64 and scores.dtype == np.float64 and len(ids) == 20
    assert not np.any(W[3, ids] != 0)
    assert np.all(np.diff(scores) <= 0)
    full = m.user_factors[3] @ m.item_factors.T
    full[W[3] != 0] = -np.inf
    assert np.allclose(np.sort(full)[::-1][:20], scores, rtol=1e-12)


def test_recommend_without_filter(W):
    m = fit(W, precision="f64")
    ids, scores = m.recommend(3, N=W.shape[1], filter_already_liked_items=False)
    assert sorted(ids) == list(range(W.shape[1]))
    ids2, _ = m.recommend(3, N=W.shape[1])
    assert len(ids2) == W.shape[1] - np.count_nonzero(W[3])


def test_recommend_batch_matches_single(W):
    m = fit(W)
    users = np.array([5, 0, 7, 5])
    ids, scores = m.recommend(users, N=8)
    assert ids.shape == (4, 8) and scores.shape == (4, 8)
    for row, u in enumerate(users):
        a, b = m.recommend(int(u), N=8)
        assert np.array_equal(ids[row], a) and np.array_equal(scores[row], b)
    all_ids, all_scores = m.recommend_all(N=8)
    assert all_ids.shape == (W.shape[0], 8)
    assert np.array_equal(all_ids[users], ids) and np.array_equal(all_scores[users], scores)


def test_recommend_short_rows_are_padded():
    W = synth_matrix(30, 40)
    W[2, :] = 1.0
    W[2, :5] = 0.0  # user 2 left only 5 unrated items
    W[2, 5] = 5.0
    m = fit(W)
    ids, scores = m.recommend(np.array([2, 3]), N=10)
    assert np.all(ids[0, 5:] == -1) and np.all(np.isnan(scores[0, 5:]))
    assert sorted(ids[0, :5]) == [0, 1, 2, 3, 4]
    one, _ = m.recommend(2, N=10)
    assert len(one) == 5


def test_recommend_new_and_similar(W):
    m = fit(W, precision="f64")
    items = np.array([1, 4, 9])
    ids, scores = m.recommend_new(items, np.array([5.0, 1.0, 3.0]), N=10)
    assert len(ids) == 10 and not set(items) & set(ids)
    Qt = m.item_factors
    p = Qt[1] - Qt[4]  # the mean rule: 5 liked, 1 disliked, 3 neither
    full = Qt @ p
    full[items] = -np.inf
    assert np.allclose(np.sort(full)[::-1][:10], scores, rtol=1e-9)
    sid, ss = m.similar_items(2, N=5)
    assert 2 not in sid and np.all(np.abs(ss) <= 1 + 1e-12)
    cos = Qt @ Qt[2] / (np.linalg.norm(Qt, axis=1) * np.linalg.norm(Qt[2]))
    cos[2] = -np.inf
    assert np.array_equal(np.argsort(-cos, kind="stable")[:5], sid)


def test_evaluate_split(W):
    rng = np.random.default_rng(0)
    mask = (W != 0) & (rng.random(W.shape) < 0.2)
    train, test = np.where(mask, 0, W), np.where(mask, W, 0)
    m = fit(train, epochs=10)
    res = m.evaluate(test, k=5, relevant=4)
    assert set(res["model"]) == {"precision", "recall", "ndcg", "map", "hit", "auc", "coverage"}
    assert set(res["popularity"]) == set(res["model"])
    assert res["k"] == 5 and res["relevant"] == 4
    assert res["test_pairs"] == np.count_nonzero(test)
    assert 0 <= res["model"]["precision"] <= 1 and res["users"] > 0


def test_save_load_round_trip(W, tmp_path):
    m = fit(W, precision="f64", epochs=7)
    path = tmp_path / "m.smf"
    m.save(path)
    for mmap in (True, False):
        l = signmf.load(path, mmap=mmap)
        assert np.array_equal(l.user_factors, m.user_factors)
        assert np.array_equal(l.item_factors, m.item_factors)
        assert l.loss() == m.loss() and l.epochs_done == 7 and l.precision == "f64"
        assert l.dim == 16 and l.seed == 1 and l.lr == m.lr
        for u in (0, 5):
            a, b = l.recommend(u), m.recommend(u)
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    l = signmf.load(str(path))
    assert np.array_equal(l.fit(W).user_factors, m.user_factors)  # same settings


def test_export_npy(W, tmp_path):
    m = fit(W)
    m.export_npy(tmp_path)
    assert np.array_equal(np.load(tmp_path / "P.npy"), m.user_factors)
    assert np.array_equal(np.load(tmp_path / "Q.npy"), m.item_factors.T)


def test_sign_rules(W):
    a = fit(W, sign_rule="threshold", threshold=4)
    b = fit(W, sign_rule="threshold:4")
    assert np.array_equal(a.user_factors, b.user_factors)
    c = fit(W, sign_rule="observed")
    assert not np.array_equal(a.user_factors, c.user_factors)
    assert "threshold:4" in repr(b)


def test_threads_do_not_change_results(W):
    a, b = fit(W, threads=1), fit(W, threads=2)
    assert np.array_equal(a.user_factors, b.user_factors)
    assert a.loss() == b.loss()


def test_help_is_useful():
    assert "fit" in signmf.Model.__doc__ and "recommend" in signmf.Model.__doc__
    for name in ("fit", "loss", "recommend", "recommend_new", "similar_items", "evaluate",
                 "save"):
        assert len(getattr(signmf.Model, name).__doc__) > 40
    assert signmf.load.__doc__ and signmf.kernel_name() in ("portable", "avx2", "avx512")
    here = os.path.dirname(signmf.__file__)
    assert os.path.isfile(os.path.join(here, "_signmf.pyi"))
    assert os.path.isfile(os.path.join(here, "py.typed"))
