#!/usr/bin/python3
"""The numpy notebook's own code, runnable on any MovieLens-style ratings file.

Everything between the "notebook cell" markers is copied verbatim from the
notebook (/work/shared/seed/notebook.txt); test_parity.py checks that it still
is. The only departures are the ones a reusable reference needs, and they are
listed in NOTEBOOK_SUBSTITUTIONS so the textual check applies them too:
the matrix comes from a ratings file instead of ./data/movie-matrix.npz, and
the latent dimension and seed are parameters instead of 512 and 1.

Usage: notebook_ref.py RATINGS --dim K --seed S --epochs N --alpha A --out DIR
writes DIR/P.npy (users x k), DIR/Q.npy (k x items), DIR/losses.npy and
DIR/losses.txt (embed_loss before every epoch and after the last, %.17g).
"""
import argparse
import os
import sys

import numpy as np

# (notebook text, the text used here). Applied to the notebook before the
# verbatim comparison in test_parity.py.
NOTEBOOK_SUBSTITUTIONS = [
    ('intmatrix = np.load("./data/movie-matrix.npz")["data"]',
     'intmatrix = load_ratings(path)'),
    ('latentdim = 512', 'latentdim = dim'),
    ('np.random.seed(1)', 'np.random.seed(seed)'),
]


def load_ratings(path):
    """Dense float64 users x items matrix from a MovieLens TSV (user item
    rating [timestamp], tabs or spaces): row = user-1, col = item-1, the
    dimensions are the largest ids, 0 = unrated."""
    users, items, ratings = [], [], []
    with open(path, "r", encoding="latin-1") as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            users.append(int(fields[0]))
            items.append(int(fields[1]))
            ratings.append(float(fields[2]))
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    m = np.zeros((int(u.max()), int(i.max())), dtype=np.float64)
    m[u - 1, i - 1] = np.asarray(ratings, dtype=np.float64)
    return m


# ---- notebook cell 14 (verbatim) ----
#Define Loss
#We add the inner products of all users-items above user-mean and subtract the inner products of all user-items
#below mean. We must maximize this quantity, and hence minimize its negation
def embed_loss(Usr, Itm, intmatrix, wbl=0):
    mat = np.matmul(Usr, Itm)
    posquant = mat[intmatrix>0].sum()
    negquant = mat[intmatrix<0].sum()
    return negquant-posquant
# ---- end cell 14 ----


# ---- notebook cell 28 (verbatim) ----
def epoch_updater(P, Q, D, alpha):
    gradP = np.matmul(D, Q.T)
    gradQ = np.matmul(P.T, D)
    return P-alpha*gradP, Q-alpha*gradQ
# ---- end cell 28 ----


def setup(path, dim=512, seed=1):
    """The notebook's cells 12, 13 and 17 in order. Returns
    (intmatrix, Usr, Itm, D) exactly as the notebook has them before its
    first embed_loss call."""
    # ---- notebook cell 12 (verbatim but for NOTEBOOK_SUBSTITUTIONS) ----
    intmatrix = load_ratings(path)
    #Let us define 512-length vector embeddings for users and items such that we prefer higher inner products
    latentdim = dim
    np.random.seed(seed)
    Usr = np.random.normal(loc=0, scale=1, size=(intmatrix.shape[0], latentdim))
    Itm = np.random.normal(loc=0, scale=1, size=(latentdim, intmatrix.shape[1]))
    # ---- end cell 12 ----

    # A user with no ratings divides 0 by 0 here exactly as in the notebook;
    # the nan row is zeroed again by zmask, so silence only the warning.
    with np.errstate(invalid="ignore", divide="ignore"):
        # ---- notebook cell 13 (verbatim) ----
        mean = np.sum(intmatrix, axis=1)/(intmatrix!=0).sum(axis=1)
        zmask = intmatrix==0
        intmatrix = intmatrix-mean.reshape(-1,1)
        intmatrix[zmask]=0
        # ---- end cell 13 ----

    # ---- notebook cell 17 (verbatim) ----
    #Make the mask matrix D
    D = np.zeros((intmatrix.shape[0], intmatrix.shape[1]))
    D[intmatrix>0] = -1
    D[intmatrix<0] = 1
    # ---- end cell 17 ----
    return intmatrix, Usr, Itm, D


def run(path, dim=512, seed=1, epochs=20, alpha=1e-3):
    """N epochs of epoch_updater; returns (P, Q, losses) with embed_loss
    before every epoch and after the last (epochs + 1 values)."""
    intmatrix, P, Q, D = setup(path, dim, seed)
    losses = []
    for _ in range(epochs):
        losses.append(embed_loss(P, Q, intmatrix))
        P, Q = epoch_updater(P, Q, D, alpha)
    losses.append(embed_loss(P, Q, intmatrix))
    return P, Q, losses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ratings")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--alpha", type=float, default=1e-3)
    ap.add_argument("--out", required=True, help="directory for P.npy, Q.npy, losses")
    a = ap.parse_args(argv)
    P, Q, losses = run(a.ratings, a.dim, a.seed, a.epochs, a.alpha)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "P.npy"), P)
    np.save(os.path.join(a.out, "Q.npy"), Q)
    np.save(os.path.join(a.out, "losses.npy"), np.asarray(losses, dtype=np.float64))
    with open(os.path.join(a.out, "losses.txt"), "w") as f:
        for v in losses:
            f.write("%.17g\n" % v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
