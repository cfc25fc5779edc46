#!/usr/bin/python3
"""numpy parity tests for the signmf CLI (run by meson with /usr/bin/python3).

    test_parity.py SIGNMF_EXE synth       generated data (signmf synth)
    test_parity.py SIGNMF_EXE movielens   $SIGNMF_DATA_DIR/ml-100k/ua.base
    test_parity.py SIGNMF_EXE verbatim    notebook_ref.py is the notebook's code

Each case compares `signmf loss`, and `signmf train` + `signmf export`, in f64
(tolerance 1e-9) and f32 (1e-4) with the notebook's own code
(notebook_ref.py), and checks that --threads 1 and --threads 2 export
byte-identical matrices. Exit 0 = pass, 1 = fail, 77 = skipped (numpy
missing; for movielens, data missing; for verbatim, notebook missing).
"""
import os
import subprocess
import sys
import tempfile

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# The notebook's printed first embed_loss on ua.base (cell 15).
NOTEBOOK_FIRST_LOSS = -4792.202913091733

EPOCHS = 20
LR = 1e-3
SEED = 1
TOL = {"f64": 1e-9, "f32": 1e-4}

failures = []


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def run(cmd, stdout=None):
    print("+ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=stdout if stdout is not None else subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise RuntimeError("%s exited with %d" % (cmd[0:2], r.returncode))
    return r.stdout


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def read_log(path):
    """Losses from a training log CSV: the column named 'loss' when there is
    a header, else the second column; '#' lines are comments."""
    losses = []
    col = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = [x.strip() for x in line.split(",")]
            if col is None:
                try:
                    float(fields[0])
                    col = 1
                except ValueError:
                    names = [x.lower() for x in fields]
                    if "loss" not in names:
                        raise RuntimeError("%s: no 'loss' column in header %r" % (path, line))
                    col = names.index("loss")
                    continue
            losses.append(float(fields[col]))
    return losses


def files_identical(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def parity_case(np, nb, exe, ratings, dim, tmp, notebook_value=None):
    print("== notebook reference: %s, k=%d, %d epochs, lr %g" % (ratings, dim, EPOCHS, LR), flush=True)
    P_ref, Q_ref, loss_ref = nb.run(ratings, dim, SEED, EPOCHS, LR)

    if notebook_value is not None:
        check(rel(loss_ref[0], notebook_value) <= 1e-9,
              "notebook code reproduces its printed embed_loss: %.17g vs %.17g"
              % (loss_ref[0], notebook_value))

    out = run([exe, "loss", ratings, "--dim", str(dim), "--seed", str(SEED), "--precision", "f64"])
    loss0 = float(out.strip().split()[-1])
    check(rel(loss0, loss_ref[0]) <= 1e-9,
          "signmf loss f64 = %.17g, notebook %.17g (rel %.3g)" % (loss0, loss_ref[0], rel(loss0, loss_ref[0])))
    if notebook_value is not None:
        check(rel(loss0, notebook_value) <= 1e-9,
              "signmf loss f64 = %.17g, notebook printed %.17g" % (loss0, notebook_value))

    for prec in ("f64", "f32"):
        tol = TOL[prec]
        exports = {}
        for threads in (1, 2):
            tag = "%s_t%d" % (prec, threads)
            model = os.path.join(tmp, tag + ".smf")
            log = os.path.join(tmp, tag + ".csv")
            exp = os.path.join(tmp, "export_" + tag)
            run([exe, "train", ratings, "--dim", str(dim), "--epochs", str(EPOCHS), "--lr", repr(LR),
                 "--seed", str(SEED), "--threads", str(threads), "--precision", prec,
                 "--out", model, "--log", log, "--quiet"])
            run([exe, "export", model, exp])
            exports[threads] = exp
            if threads != 1:
                continue
            P = np.load(os.path.join(exp, "P.npy"))
            Q = np.load(os.path.join(exp, "Q.npy"))
            want = np.float64 if prec == "f64" else np.float32
            check(P.dtype == want and Q.dtype == want,
                  "%s export dtypes %s, %s" % (prec, P.dtype, Q.dtype))
            if not check(P.shape == P_ref.shape and Q.shape == Q_ref.shape,
                         "%s shapes P %s Q %s, notebook P %s Q %s"
                         % (prec, P.shape, Q.shape, P_ref.shape, Q_ref.shape)):
                continue
            for name, got, ref in (("P", P, P_ref), ("Q", Q, Q_ref)):
                err = float(np.max(np.abs(got.astype(np.float64) - ref)) / np.max(np.abs(ref)))
                check(err <= tol, "%s %s max abs diff / max abs value = %.3g (tol %g)" % (prec, name, err, tol))
            losses = read_log(log)
            if check(len(losses) == len(loss_ref),
                     "%s log has %d losses, notebook %d" % (prec, len(losses), len(loss_ref))):
                worst = max(range(len(losses)), key=lambda e: rel(losses[e], loss_ref[e]))
                check(rel(losses[worst], loss_ref[worst]) <= tol,
                      "%s every logged loss within %g (worst epoch %d: %.17g vs %.17g, rel %.3g)"
                      % (prec, tol, worst, losses[worst], loss_ref[worst],
                         rel(losses[worst], loss_ref[worst])))
        for name in ("P.npy", "Q.npy"):
            a = os.path.join(exports[1], name)
            b = os.path.join(exports[2], name)
            check(files_identical(a, b), "%s %s byte-identical with --threads 1 and --threads 2" % (prec, name))


def notebook_cells(text):
    """{cell number: [code lines]} from the notebook's text dump."""
    cells = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("In [") and s.endswith("]:"):
            n = int(s[4:-2])
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            code = []
            while i < len(lines) and lines[i].strip():
                code.append(lines[i].rstrip())
                i += 1
            cells[n] = code
        else:
            i += 1
    return cells


def contains_block(haystack, block):
    """True if `block` occurs as consecutive lines of `haystack`, all shifted
    by the same indentation."""
    for start in range(len(haystack) - len(block) + 1):
        first = haystack[start]
        indent = first[: len(first) - len(first.lstrip())]
        if all(haystack[start + j] == indent + block[j] for j in range(len(block))):
            return True
    return False


def verbatim_case(nb):
    candidates = [os.path.join(REPO, "..", "shared", "seed", "notebook.txt"),
                  "/work/shared/seed/notebook.txt"]
    path = next((p for p in candidates if os.path.isfile(p)), None)
    if path is None:
        print("SKIP: notebook.txt not found (looked in %s)" % ", ".join(candidates))
        return SKIP
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for old, new in nb.NOTEBOOK_SUBSTITUTIONS:
        check(old in text, "notebook still contains the substituted line %r" % old)
        text = text.replace(old, new)
    check(repr(NOTEBOOK_FIRST_LOSS) in text,
          "notebook prints the first embed_loss %r" % NOTEBOOK_FIRST_LOSS)
    cells = notebook_cells(text)
    with open(os.path.join(HERE, "notebook_ref.py")) as f:
        ref_lines = [l.rstrip() for l in f.read().splitlines()]
    for n in (12, 13, 14, 17, 28):
        if not check(n in cells, "notebook has cell In [%d]" % n):
            continue
        check(contains_block(ref_lines, cells[n]),
              "notebook_ref.py holds cell In [%d] verbatim (%d lines)" % (n, len(cells[n])))
    return 0


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("synth", "movielens", "verbatim"):
        sys.stderr.write("usage: test_parity.py SIGNMF_EXE synth|movielens|verbatim\n")
        return 2
    exe, case = os.path.abspath(sys.argv[1]), sys.argv[2]
    try:
        import numpy as np
    except ImportError:
        print("SKIP: numpy is not installed for %s" % sys.executable)
        return SKIP
    sys.path.insert(0, HERE)
    import notebook_ref as nb

    if case == "verbatim":
        rc = verbatim_case(nb)
        if rc == SKIP:
            return SKIP
    else:
        ratings = None
        if case == "movielens":
            data = os.environ.get("SIGNMF_DATA_DIR", "")
            ratings = os.path.join(data, "ml-100k", "ua.base")
            if not data or not os.path.isfile(ratings):
                print("SKIP: SIGNMF_DATA_DIR is unset or has no ml-100k/ua.base")
                return SKIP
        with tempfile.TemporaryDirectory(prefix="signmf-parity-") as tmp:
            if case == "synth":
                ratings = os.path.join(tmp, "synth.tsv")
                with open(ratings, "w") as f:
                    run([exe, "synth", "--users", "200", "--items", "300", "--ratings", "8000",
                         "--seed", "7"], stdout=f)
                parity_case(np, nb, exe, ratings, 48, tmp)
            else:
                parity_case(np, nb, exe, ratings, 512, tmp, NOTEBOOK_FIRST_LOSS)

    if failures:
        print("%d check(s) failed:" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
