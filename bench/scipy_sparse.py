#!/usr/bin/python3
"""The notebook's job with scipy.sparse in float32: what a careful numpy user
would write instead of the dense notebook.

D (the sign matrix) is stored as CSR; the gradients are sparse x dense
products, and the loss needs no extra product because
L = sum_ij D_ij (PQ)_ij = sum_ik P_ik (D Q^T)_ik = <P, gradP>.

    bench/scipy_sparse.py DATA [--dim 512] [--epochs 50] [--lr 1e-3] [--seed 1]
"""
import argparse
import sys
import time

import numpy as np
import scipy.sparse as sps


def load(path):
    data = np.loadtxt(path, usecols=(0, 1, 2), ndmin=2)
    u = data[:, 0].astype(np.int64) - 1
    i = data[:, 1].astype(np.int64) - 1
    r = data[:, 2].astype(np.float64)
    return u, i, r, int(u.max()) + 1, int(i.max()) + 1


def main():
    ap = argparse.ArgumentParser(description="scipy.sparse float32 benchmark")
    ap.add_argument("data")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    t0 = time.perf_counter()
    u, i, r, users, items = load(a.data)
    np.random.seed(a.seed)
    P = np.random.normal(loc=0, scale=1, size=(users, a.dim)).astype(np.float32)
    Q = np.random.normal(loc=0, scale=1, size=(a.dim, items)).astype(np.float32)

    # Mean-centring per user over the rated entries, as the notebook does.
    sums = np.bincount(u, weights=r, minlength=users)
    counts = np.bincount(u, minlength=users)
    with np.errstate(invalid="ignore", divide="ignore"):
        centred = r - (sums / counts)[u]
    sign = np.where(centred > 0, -1.0, np.where(centred < 0, 1.0, 0.0)).astype(np.float32)
    keep = sign != 0
    D = sps.csr_matrix((sign[keep], (u[keep], i[keep])), shape=(users, items), dtype=np.float32)
    DT = D.T.tocsr()
    alpha = np.float32(a.lr)

    losses = []
    for _ in range(a.epochs):
        gradP = D @ Q.T            # users x k
        gradQ = (DT @ P).T         # k x items, = P^T D
        losses.append(float(np.sum(P * gradP, dtype=np.float64)))
        P = P - alpha * gradP
        Q = Q - alpha * gradQ
    losses.append(float(np.sum(P * (D @ Q.T), dtype=np.float64)))
    t1 = time.perf_counter()
    if not a.quiet:
        print("scipy.sparse f32: %d x %d, k=%d, %d epochs in %.3f s, loss %.9g -> %.9g"
              % (users, items, a.dim, a.epochs, t1 - t0, losses[0], losses[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
