#!/usr/bin/env python3
"""The numpy notebook, ported to signmf.

The notebook builds a dense users x items matrix from MovieLens 100k
(ua.base), draws P (users x 512) and Q (512 x items) with np.random.seed(1)
and np.random.normal, prints embed_loss (-4792.202913091733), then runs
epoch_updater. Here signmf does the same in float64:

    python examples/notebook.py ~/data/ml-100k/ua.base            # signmf only
    python examples/notebook.py ~/data/ml-100k/ua.base --check    # beside the notebook's numpy code

--check runs the notebook's own cells (below, verbatim) for the same epochs
and prints the largest relative difference of P, Q and every loss, and
checks that the same matrix as scipy.sparse gives the same bits.
"""
import argparse
import sys
import time

import numpy as np

import signmf

NOTEBOOK_FIRST_LOSS = -4792.202913091733


def load_dense(path):
    """The notebook's matrix: row = user - 1, column = item - 1, 0 = unrated."""
    a = np.loadtxt(path, dtype=np.int64, usecols=(0, 1, 2))
    W = np.zeros((a[:, 0].max(), a[:, 1].max()))
    W[a[:, 0] - 1, a[:, 1] - 1] = a[:, 2]
    return W


# ---- the notebook's cells 14 and 28, verbatim ----
def embed_loss(Usr, Itm, intmatrix, wbl=0):
    mat = np.matmul(Usr, Itm)
    posquant = mat[intmatrix>0].sum()
    negquant = mat[intmatrix<0].sum()
    return negquant-posquant


def epoch_updater(P, Q, D, alpha):
    gradP = np.matmul(D, Q.T)
    gradQ = np.matmul(P.T, D)
    return P-alpha*gradP, Q-alpha*gradQ
# ---- end of the notebook's code ----


def notebook(W, dim, epochs, alpha=1e-3, seed=1):
    """The notebook's cells 12, 13 and 17, then its training loop."""
    intmatrix = W
    np.random.seed(seed)
    Usr = np.random.normal(loc=0, scale=1, size=(intmatrix.shape[0], dim))
    Itm = np.random.normal(loc=0, scale=1, size=(dim, intmatrix.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.sum(intmatrix, axis=1)/(intmatrix!=0).sum(axis=1)
    zmask = intmatrix==0
    intmatrix = intmatrix-mean.reshape(-1,1)
    intmatrix[zmask]=0
    D = np.zeros((intmatrix.shape[0], intmatrix.shape[1]))
    D[intmatrix>0] = -1
    D[intmatrix<0] = 1
    P, Q, losses = Usr, Itm, []
    for _ in range(epochs):
        losses.append(embed_loss(P, Q, intmatrix))
        P, Q = epoch_updater(P, Q, D, alpha)
    losses.append(embed_loss(P, Q, intmatrix))
    return P, Q, losses


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def run(path, dim=512, epochs=20, check=False, out=print):
    """The port; returns the figures it prints."""
    W = load_dense(path)
    res = {}
    model = signmf.Model(dim=dim, precision="f64", epochs=0).fit(W)
    res["first_loss"] = model.loss()
    out(f"first embed_loss: {res['first_loss']!r} (the notebook printed "
        f"{NOTEBOOK_FIRST_LOSS!r}, relative difference "
        f"{abs(res['first_loss'] - NOTEBOOK_FIRST_LOSS) / abs(NOTEBOOK_FIRST_LOSS):.2g})")
    losses = []
    t = time.perf_counter()
    model.fit(W, epochs=epochs, progress=lambda e, loss, s: losses.append(loss))
    res["seconds"] = time.perf_counter() - t
    res["losses"] = losses
    out(f"{epochs} epochs in {res['seconds']:.3f} s; loss {losses[0]:.10g} -> {losses[-1]:.10g}")
    ids, scores = model.recommend(0, N=5)
    out(f"user 1's top 5 unrated items: {(ids + 1).tolist()}")
    if check:
        P, Q, ref = notebook(W, dim, epochs)
        res["P_rel"] = rel(model.user_factors, P)
        res["Q_rel"] = rel(model.item_factors.T, Q)
        res["loss_rel"] = max(abs(a - b) / abs(b) for a, b in zip(losses, ref))
        out(f"against the notebook's numpy code: P {res['P_rel']:.2g}, Q {res['Q_rel']:.2g}, "
            f"worst loss {res['loss_rel']:.2g} (relative)")
        try:
            import scipy.sparse as sp
        except ImportError:
            out("scipy not installed: sparse check skipped")
        else:
            s = signmf.Model(dim=dim, precision="f64", epochs=epochs).fit(sp.csr_matrix(W))
            res["sparse_same_bits"] = bool(
                np.array_equal(s.user_factors, model.user_factors) and
                np.array_equal(s.item_factors, model.item_factors) and s.loss() == model.loss())
            out(f"scipy.sparse input gives the same bits: {res['sparse_same_bits']}")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ratings", help="ml-100k/ua.base")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--check", action="store_true", help="compare with the notebook's numpy code")
    a = ap.parse_args(argv)
    res = run(a.ratings, a.dim, a.epochs, a.check)
    if a.check:
        ok = res["P_rel"] <= 1e-9 and res["Q_rel"] <= 1e-9 and res["loss_rel"] <= 1e-9 and \
            res.get("sparse_same_bits", True)
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
