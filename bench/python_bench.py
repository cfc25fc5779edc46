#!/usr/bin/env python3
"""The Python package's speed against the CLI and the library.

    python bench/python_bench.py [--data ua.base] [--cli build-ci/src/cli/signmf]
                                 [--runs 5] [--epochs 50] [--dim 512]

Run it with the venv where the signmf wheel is installed. It prints:
  - fit: `signmf train RATINGS --dim D --epochs E --out m.smf` against
    Model(dim=D, epochs=E).fit(RATINGS).save(m.smf) (the same work: load,
    train, save), and .fit() of the dense matrix, interleaved, medians;
  - recommend for one user (N = 10) in a loop, and the Python overhead: the
    same call on a 1 x 1, dim 1 model, whose library work is negligible;
  - all users at once (recommend_all, one signmf_recommend_many call)
    against a Python loop over users, and against the library's own
    every-user call (`bench_writer MODEL`'s no-op side, signmf_recommend_all)
    on the same model file, alternated round by round (--bench-writer).
Results vary with the machine's load: compare ratios from one run only.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import signmf


def median_time(fn, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def per_call(fn, n, rounds=7):
    """Median over rounds of the mean time of n back-to-back calls."""
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        out.append((time.perf_counter() - t) / n)
    return statistics.median(out)


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    d = os.environ.get("SIGNMF_DATA_DIR", os.path.join(repo, "..", "shared", "data"))
    ap.add_argument("--data", default=os.path.join(d, "ml-100k", "ua.base"))
    ap.add_argument("--cli", default=os.path.join(repo, "build-ci", "src", "cli", "signmf"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--precision", default="f32")
    ap.add_argument("--bench-writer", default=os.path.join(repo, "build-ci", "bench",
                                                           "bench_writer"))
    a = ap.parse_args(argv)
    if not os.path.isfile(a.data):
        sys.exit(f"python_bench: no ratings file {a.data} (--data)")
    print(f"signmf {signmf.__version__}, kernels {signmf.kernel_name()}, {os.cpu_count()} cores, "
          f"{a.data}, dim {a.dim}, {a.epochs} epochs, {a.precision}")

    tmp = tempfile.mkdtemp()
    out = os.path.join(tmp, "m.smf")
    a_np = np.loadtxt(a.data, dtype=np.int64, usecols=(0, 1, 2))
    W = np.zeros((a_np[:, 0].max(), a_np[:, 1].max()))
    W[a_np[:, 0] - 1, a_np[:, 1] - 1] = a_np[:, 2]

    def cli_fit():
        subprocess.run([a.cli, "train", a.data, "--dim", str(a.dim), "--epochs", str(a.epochs),
                        "--precision", a.precision, "--out", out, "--quiet"], check=True)

    def py_fit_path():
        signmf.Model(dim=a.dim, epochs=a.epochs, precision=a.precision).fit(a.data).save(out)

    def py_fit_dense():
        signmf.Model(dim=a.dim, epochs=a.epochs, precision=a.precision).fit(W)

    have_cli = os.access(a.cli, os.X_OK)
    py_fit_path()
    times = {"cli": [], "path": [], "dense": []}
    for _ in range(a.runs):  # interleaved, so load swings hit all three alike
        if have_cli:
            times["cli"].append(median_time(cli_fit, 1))
        times["path"].append(median_time(py_fit_path, 1))
        times["dense"].append(median_time(py_fit_dense, 1))
    med = {k: statistics.median(v) for k, v in times.items() if v}
    if have_cli:
        print(f"fit: CLI train+save {med['cli'] * 1e3:.1f} ms (median of {a.runs}; the CLI "
              f"process start included)")
        print(f"fit: Python fit(path)+save {med['path'] * 1e3:.1f} ms = "
              f"{med['path'] / med['cli']:.3f}x CLI; fit(dense) {med['dense'] * 1e3:.1f} ms = "
              f"{med['dense'] / med['cli']:.3f}x CLI")
        ratios = [p / c for p, c in zip(times["path"], times["cli"])]
        print(f"fit: per-run ratios path/CLI {', '.join(f'{r:.3f}' for r in ratios)}")
    else:
        print(f"fit: no CLI at {a.cli}; Python fit(path)+save {med['path'] * 1e3:.1f} ms, "
              f"fit(dense) {med['dense'] * 1e3:.1f} ms")

    m = signmf.load(out)
    user = int(m.user_ids[0])
    for threads in (0, 1):
        m.threads = threads
        one = per_call(lambda: m.recommend(user, N=10), 2000)
        print(f"recommend one user, N=10, threads={threads}: {one * 1e6:.1f} us a call")
    tiny = signmf.Model(dim=1, epochs=0).fit(np.array([[5.0, 0.0], [0.0, 0.0]]))
    over = per_call(lambda: tiny.recommend(0, N=10), 20000)
    print(f"recommend Python overhead (2 x 2 dim-1 model, library work negligible): "
          f"{over * 1e6:.2f} us a call")
    m.threads = 0
    batch = median_time(lambda: m.recommend_all(N=10), 21)
    ids = m.user_ids
    m.threads = 1  # single queries on one thread: no wait for parked OpenMP workers
    loop = median_time(lambda: [m.recommend(int(u), N=10) for u in ids], 3)
    print(f"all {len(ids)} users, N=10: recommend_all {batch * 1e3:.2f} ms (one batch call); "
          f"a Python loop of single calls (threads=1) {loop * 1e3:.1f} ms")
    if os.access(a.bench_writer, os.X_OK):
        # the library's every-user call in its own process on the same file,
        # alternated with Python's, so that a slow spell hits both sides
        m.threads = 0
        py, lib = [], []
        for _ in range(a.runs):
            py.append(median_time(lambda: m.recommend_all(N=10), 21))
            r = subprocess.run([a.bench_writer, out, "--k", "10", "--reps", "21"],
                               capture_output=True, text=True, check=True).stdout
            line = next(x for x in r.splitlines() if x.startswith("library, no-op callback:"))
            lib.append(float(line.split(":")[1].split()[0]) * 1e-3)
        ratios = sorted(p / q for p, q in zip(py, lib))
        print(f"all users: recommend_all / the library's signmf_recommend_all (bench_writer) "
              f"{statistics.median(ratios):.3f} median of {a.runs} rounds "
              f"(range {ratios[0]:.3f}-{ratios[-1]:.3f}; medians {statistics.median(py) * 1e3:.2f}"
              f" ms against {statistics.median(lib) * 1e3:.2f} ms)")
    else:
        print(f"all users: no bench_writer at {a.bench_writer} (--bench-writer): "
              f"no library-side figure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
