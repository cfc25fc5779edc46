"""The package against the command-line tool: the same bits for the same
input and options, and model files that read the same in both."""
import json
import os
import subprocess

import numpy as np
import pytest

import signmf
from conftest import synth_matrix, write_tsv


def run(*cmd):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    W = synth_matrix(150, 200, 0.1, seed=11)
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "w.npy", W)
    return W, write_tsv(d / "w.tsv", W), d


@pytest.mark.parametrize("prec", ["f32", "f64", "bf16"])
def test_python_fit_equals_cli_train(cli, data, tmp_path, prec):
    W, tsv, _ = data
    run(cli, "train", tsv, "--dim", 24, "--epochs", 9, "--lr", "0.002", "--seed", 5,
        "--precision", prec, "--out", tmp_path / "c.smf", "--quiet")
    c = signmf.load(tmp_path / "c.smf")
    for X in (tsv, W):  # the file itself, and the same ratings as a matrix
        p = signmf.Model(dim=24, epochs=9, lr=0.002, seed=5, precision=prec).fit(X)
        assert np.array_equal(p.user_factors, c.user_factors)
        assert np.array_equal(p.item_factors, c.item_factors)
        assert p.loss() == c.loss()


@pytest.mark.parametrize("prec", ["f32", "f64"])
def test_orthonormal_fit_equals_cli_train(cli, data, tmp_path, prec):
    W, tsv, _ = data
    run(cli, "train", tsv, "--method", "orthonormal", "--dim", 7, "--epochs", 12,
        "--precision", prec, "--out", tmp_path / "c.smf", "--quiet")
    c = signmf.load(tmp_path / "c.smf")
    assert c.method == "orthonormal" and c.rated_weight == 3.0 and c.degree_exp == 0.2
    assert c.shrink == 0.75
    # scores are P diag(sigma) Q: the top 5 of user 3 from the exported pieces
    sc = (c.user_factors[2].astype(np.float64) * c.sigma) @ c.item_factors.T.astype(np.float64)
    rated = set(np.nonzero(W[2])[0])
    top = [j for j in np.argsort(-sc, kind="stable") if j not in rated][:5]
    ids, _ = c.recommend(3, N=5)
    assert list(c.item_ids[top]) == list(ids)
    for X in (tsv, W):
        p = signmf.Model(method="orthonormal", dim=7, epochs=12, precision=prec).fit(X)
        assert np.array_equal(p.user_factors, c.user_factors)
        assert np.array_equal(p.item_factors, c.item_factors)
        assert p.loss() == c.loss()
    # a model saved by Python serves the same in the CLI
    p.save(tmp_path / "p.smf")
    ids, _ = p.recommend(3, N=5)
    cl = run(cli, "recommend", tmp_path / "p.smf", "--user", 3, "-k", 5)
    assert [int(l.split()[1]) for l in cl.split("\n") if l] == list(ids)


def test_bf16_training_and_serving(data, cli, tmp_path):
    W, tsv, _ = data
    m = signmf.Model(dim=16, epochs=2, precision="bf16").fit(W)
    assert m.precision == "bf16" and m.user_factors.dtype == np.float32
    m.save(tmp_path / "b.smf")
    assert signmf.load(tmp_path / "b.smf").precision == "bf16"
    # a converted model serves through the binding too, its factors as bf16 bits
    run(cli, "convert", tmp_path / "b.smf", "--precision", "bf16", tmp_path / "h.smf")
    h = signmf.load(tmp_path / "h.smf")
    assert h.user_factors.dtype == np.uint16
    # round to nearest even (the factors are finite normal numbers here)
    u = np.asarray(m.user_factors).view(np.uint32).astype(np.uint64)
    assert np.array_equal(h.user_factors, ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16))
    ids, _ = h.recommend(3, N=5)
    cl = run(cli, "recommend", tmp_path / "h.smf", "--user", 3, "-k", 5)
    assert [int(l.split()[1]) for l in cl.split("\n") if l] == list(ids)
    o = signmf.Model(method="orthonormal", dim=4, epochs=3, precision="bf16").fit(W)
    run(cli, "train", tsv, "--method", "orthonormal", "--dim", 4, "--epochs", 3,
        "--precision", "bf16", "--out", tmp_path / "o.smf", "--quiet")
    assert np.array_equal(o.user_factors, signmf.load(tmp_path / "o.smf").user_factors)


def test_orthonormal_rejects_what_does_not_apply():
    with pytest.raises(ValueError, match="orthonormal' only"):
        signmf.Model(rated_weight=2)
    with pytest.raises(ValueError, match="rescale"):
        signmf.Model(method="orthonormal", rescale=True)
    with pytest.raises(ValueError, match="method"):
        signmf.Model(method="svd")
    with pytest.raises(ValueError, match="orthonormal' only"):
        signmf.Model(shrink=0.5)
    with pytest.raises(ValueError, match="shrink"):
        signmf.Model(method="orthonormal", shrink=1.5)
    d = signmf.Model(method="orthonormal")
    assert d.dim == 32 and d.shrink == 0.75


def test_first_loss_equals_cli_loss(cli, data):
    W, tsv, _ = data
    out = run(cli, "loss", tsv, "--dim", 24, "--seed", 1, "--precision", "f64")
    m = signmf.Model(dim=24, precision="f64").fit(W, epochs=0)
    assert m.loss() == float(out.strip().split()[-1])


def test_dense_npy_file_equals_array(cli, data, tmp_path):
    W, _, d = data
    run(cli, "train", d / "w.npy", "--dim", 16, "--epochs", 4, "--out", tmp_path / "n.smf",
        "--quiet")
    c = signmf.load(tmp_path / "n.smf")
    p = signmf.Model(dim=16, epochs=4).fit(W)
    assert np.array_equal(c.user_factors, p.user_factors)
    assert np.array_equal(c.item_factors, p.item_factors)


def test_python_model_serves_in_cli(cli, data, tmp_path):
    W, tsv, _ = data
    p = signmf.Model(dim=16, epochs=6, precision="f64").fit(tsv)
    p.save(tmp_path / "p.smf")
    out = json.loads(run(cli, "recommend", tmp_path / "p.smf", "--user", 3, "-k", 7, "--json"))
    ids, scores = p.recommend(3, N=7)
    assert [r["item"] for r in out["items"]] == ids.tolist()
    assert [r["score"] for r in out["items"]] == scores.tolist()
    run(cli, "export", tmp_path / "p.smf", tmp_path / "exp")
    assert np.array_equal(np.load(tmp_path / "exp" / "P.npy"), p.user_factors)
    assert np.array_equal(np.load(tmp_path / "exp" / "Q.npy"), p.item_factors.T)


def test_matrix_model_keeps_index_ids_in_cli(cli, data, tmp_path):
    W, _, _ = data
    p = signmf.Model(dim=16, epochs=3).fit(W)
    p.save(tmp_path / "m.smf")
    # ids are the 0-based indices: user 0 exists for the CLI too
    run(cli, "recommend", tmp_path / "m.smf", "--user", 0, "-k", 3)


def test_cli_eval_equals_python_evaluate(cli, data, tmp_path):
    W, tsv, d = data
    rng = np.random.default_rng(1)
    mask = (W != 0) & (rng.random(W.shape) < 0.2)
    train, test = np.where(mask, 0, W), np.where(mask, W, 0)
    tr, te = write_tsv(d / "train.tsv", train), write_tsv(d / "test.tsv", test)
    run(cli, "train", tr, "--dim", 16, "--epochs", 8, "--out", tmp_path / "e.smf", "--quiet")
    out = json.loads(run(cli, "eval", tmp_path / "e.smf", te, "-k", 5, "--relevant", 4,
                         "--json"))
    res = signmf.load(tmp_path / "e.smf").evaluate(te, k=5, relevant=4)
    assert out["model"] == res["model"] and out["popularity"] == res["popularity"]
    for name, v in out["counts"].items():
        if name in res:
            assert res[name] == v, name
