#!/usr/bin/python3
"""The notebook's job end to end in numpy float64, for timing against signmf.

Loads a MovieLens TSV into the dense matrix, np.random.seed + normal draws,
mean-centring, D, then N epochs of epoch_updater with embed_loss before each
epoch and after the last: the notebook's own statements, taken from
tests/parity/notebook_ref.py (which the parity tests keep verbatim).

    bench/numpy_notebook.py DATA [--dim 512] [--epochs 50] [--lr 1e-3] [--seed 1]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "parity"))
import notebook_ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="numpy float64 notebook benchmark")
    ap.add_argument("data")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    P, Q, losses = notebook_ref.run(a.data, a.dim, a.seed, a.epochs, a.lr)
    t1 = time.perf_counter()
    if not a.quiet:
        print("numpy f64: %d x %d, k=%d, %d epochs in %.3f s, loss %.17g -> %.17g"
              % (P.shape[0], Q.shape[1], a.dim, a.epochs, t1 - t0, losses[0], losses[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
