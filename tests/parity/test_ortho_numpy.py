#!/usr/bin/python3
"""numpy parity of `signmf train --method orthonormal` (run by meson with
/usr/bin/python3).

    test_ortho_numpy.py SIGNMF_EXE synth       generated data (signmf synth)
    test_ortho_numpy.py SIGNMF_EXE movielens   $SIGNMF_DATA_DIR/ml-100k/ua.base

An independent numpy implementation of the method as signmf.h states it
(D~ from the dense ratings, np.random.seed + normal draws, np.linalg.qr for
the orthonormalisation, np.linalg.svd for the Rayleigh-Ritz step) is run
beside the CLI in float64. The orthonormal factors are only defined up to a
rotation, so what is compared is what does not depend on it: sigma, the
scores P diag(sigma) Q, the logged constrained losses, the orthonormality of
the exported state, and a fold-in. Exit 0 pass, 1 fail, 77 skipped (numpy
or, for movielens, the data missing).
"""
import os
import subprocess
import sys
import tempfile

SKIP = 77
failures = []


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise RuntimeError("%s exited with %d" % (cmd[0:2], r.returncode))
    return r.stdout


def load_dense(np, path):
    rows = [l.split() for l in open(path) if l.strip()]
    a = np.array([[float(x) for x in r[:3]] for r in rows])
    u, i = a[:, 0].astype(int), a[:, 1].astype(int)
    W = np.zeros((u.max(), i.max()))
    W[u - 1, i - 1] = a[:, 2]
    return W


def qr_pos(np, X):
    """The thin QR factor with a positive diagonal in R: the unique one, which
    is what CholeskyQR computes."""
    q, r = np.linalg.qr(X)
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def reference(np, W, dim, epochs, lr, w, g, seed=1):
    rated = W != 0
    cnt_u, cnt_i = rated.sum(1), rated.sum(0)
    mean = np.where(cnt_u > 0, W.sum(1) / np.maximum(cnt_u, 1), 0)
    S = np.where(rated, np.sign(W - mean[:, None]), 0.0)
    r = np.maximum(cnt_u, 1).astype(float) ** -g
    c = np.maximum(cnt_i, 1).astype(float) ** -g
    M = r[:, None] * np.where(rated, w + S, 0.0) * c[None, :]
    np.random.seed(seed)
    P = np.random.normal(size=(W.shape[0], dim))
    Q = np.random.normal(size=(dim, W.shape[1]))
    P = qr_pos(np, P)
    Qt = qr_pos(np, Q.T)
    losses = []
    for _ in range(epochs):
        losses.append(-np.sum(M * (P @ Qt.T)))
        P, Qt = qr_pos(np, P + lr * M @ Qt), qr_pos(np, Qt + lr * M.T @ P)
    losses.append(-np.sum(M * (P @ Qt.T)))
    B = P.T @ M @ Qt
    U, s, Vt = np.linalg.svd(B)
    Pm = (P @ U) / r[:, None]
    Qm = (Qt @ Vt.T) / c[:, None]
    return s, Pm, Qm, losses, c


def case(np, exe, ratings, dim, epochs, tmp):
    lr, w, g, t = 1.0, 3.0, 0.2, 0.75
    W = load_dense(np, ratings)
    model, log, exp = (os.path.join(tmp, n) for n in ("m.smf", "log.csv", "exp"))
    run([exe, "train", ratings, "--method", "orthonormal", "--precision", "f64", "--dim",
         str(dim), "--epochs", str(epochs), "--out", model, "--log", log, "--quiet"])
    run([exe, "export", model, exp])
    P = np.load(os.path.join(exp, "P.npy"))
    Q = np.load(os.path.join(exp, "Q.npy"))
    sigma = np.load(os.path.join(exp, "sigma.npy"))
    ritz, Pm, Qm, losses, c = reference(np, W, dim, epochs, lr, w, g)
    # the default shrink: scores use the Ritz values less t times the smallest
    s = ritz - t * ritz[-1]
    check(sigma.shape == (dim,), "sigma.npy has shape (%d,): %s" % (dim, sigma.shape))
    check(np.all(np.diff(sigma) <= 0) and np.all(sigma >= 0), "sigma descending and >= 0")
    err = np.max(np.abs(sigma - s)) / s[0]
    check(err < 1e-9, "sigma within 1e-9 of numpy's (max rel %.3g)" % err)
    mine, ref = (P * sigma) @ Q, (Pm * s) @ Qm.T
    err = np.max(np.abs(mine - ref)) / np.max(np.abs(ref))
    check(err < 1e-9, "scores P diag(sigma) Q within 1e-9 of numpy's (max rel %.3g)" % err)
    got = [float(l.split(",")[1]) for l in open(log).read().split("\n")[1:] if l]
    err = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(got, losses))
    check(len(got) == len(losses) and err < 1e-9,
          "constrained losses of %d reports within 1e-9 (max %.3g)" % (len(got), err))
    # the exported factors undo the degree normalisation: c Q^T is orthonormal
    Qo = Qm * c[:, None]
    mine_o = Q.T * c[:, None]
    err = np.max(np.abs(mine_o.T @ mine_o - np.eye(dim)))
    check(err < 1e-9 and np.max(np.abs(Qo.T @ Qo - np.eye(dim))) < 1e-9,
          "diag(n_i^-g) Q^T orthonormal (max |G - I| %.3g)" % err)
    # fold-in of user 1's own ratings, against the same projection in numpy
    j = np.nonzero(W[0])[0]
    spec = ",".join("%d:%g" % (x + 1, W[0, x]) for x in j)
    out = run([exe, "recommend", model, "--ratings", spec, "-k", "5"])
    got_items = [int(l.split()[1]) for l in out.strip().split("\n")]
    mean = W[0, j].mean()
    wts = w + np.sign(W[0, j] - mean)
    p = (wts * c[j] ** 2) @ Q.T[j] / ritz
    sc = (p * sigma) @ Q
    sc = sc.ravel()
    sc[j] = -np.inf
    want = list(np.argsort(-sc, kind="stable")[:5] + 1)
    check(got_items == want, "fold-in top 5 %s equals numpy's %s" % (got_items, want))


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("synth", "movielens"):
        print(__doc__)
        return 2
    exe, which = os.path.abspath(sys.argv[1]), sys.argv[2]
    try:
        import numpy as np
    except ImportError:
        print("SKIP numpy is not installed")
        return SKIP
    with tempfile.TemporaryDirectory() as tmp:
        if which == "synth":
            path = os.path.join(tmp, "synth.tsv")
            with open(path, "w") as f:
                subprocess.run([exe, "synth", "--users", "120", "--items", "90", "--ratings",
                                "2500", "--seed", "3"], stdout=f, check=True)
            case(np, exe, path, 7, 12, tmp)
        else:
            d = os.environ.get("SIGNMF_DATA_DIR")
            path = os.path.join(d, "ml-100k", "ua.base") if d else None
            if not path or not os.path.exists(path):
                print("SKIP no $SIGNMF_DATA_DIR/ml-100k/ua.base")
                return SKIP
            case(np, exe, path, 24, 30, tmp)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
