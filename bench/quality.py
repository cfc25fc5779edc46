"""Top-10 quality of signmf beside implicit ALS / BPR, LightFM WARP and
popularity on MovieLens 100k (ua.base -> ua.test).

Run by bench/quality.sh inside its venv (numpy, scipy, implicit, lightfm):

    quality.py --signmf BIN --data DIR/ml-100k --train TR --valid VA --work W
               [--md OUT.md] [--command STR] [--runs 3] [--threads 2]

TR / VA are `signmf split ua.base --holdout 0.1 --seed S`. Every peer is
tuned by NDCG@10 on TR -> VA (never on ua.test), refit on all of ua.base with
the chosen settings and judged on ua.test. Metrics follow docs/evaluation.md
(top-10 over the items the user did not rate in training; relevant = test
rating >= 4; users with at least one relevant used pair; precision = hits /
k, binary-gain NDCG, recall, coverage = |union of lists| / items), computed
for the peers by tests/cli/eval_numpy.py's `figures` and for signmf by
`signmf eval --json`; one signmf model is checked both ways.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

# implicit asks for a single-threaded OpenBLAS (its own threads do the work);
# the variable must be set before numpy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cli"))
import eval_numpy  # noqa: E402  (the numpy reference of signmf eval)

K = 10
RELEVANT = 4.0
SEED = 1


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- data and metrics --------------------------------------------------------
class Data:
    """Ratings as 0-based (user, item, rating) arrays; ids are direct (row =
    id - 1), dimensions fixed by ua.base so that every set shares them."""

    def __init__(self, path, nu=None, ni=None):
        u, i, r = eval_numpy.load(path)
        self.u, self.i, self.r = u - 1, i - 1, r
        self.nu = nu if nu is not None else int(u.max())
        self.ni = ni if ni is not None else int(i.max())

    def csr(self):
        """users x items, 1 for every rating (implicit feedback)."""
        return sp.csr_matrix((np.ones(len(self.u), np.float32), (self.u, self.i)),
                             shape=(self.nu, self.ni))

    def rated(self):
        m = np.zeros((self.nu, self.ni), dtype=bool)
        m[self.u, self.i] = True
        return m


class Judge:
    """The evaluation protocol of docs/evaluation.md for one (train, test)
    pair, as eval_numpy.py's main() applies it."""

    def __init__(self, train, test):
        self.ni = train.ni
        self.rated = train.rated()
        self.pop = self.rated.sum(axis=0).astype(np.float64)
        rel = {}
        for u, i, r in zip(test.u, test.i, test.r):
            if not (0 <= u < train.nu and 0 <= i < train.ni) or self.rated[u, i]:
                continue
            if r >= RELEVANT:
                rel.setdefault(int(u), []).append(int(i))
        self.rel = {u: np.array(sorted(v)) for u, v in rel.items()}
        self.users = np.array(sorted(self.rel))
        # fast path: relevance matrix of the evaluated users
        self.relm = np.zeros((len(self.users), self.ni), dtype=bool)
        for row, u in enumerate(self.users):
            self.relm[row, self.rel[u]] = True
        self.nrel = self.relm.sum(axis=1)

    def full(self, S):
        """Every figure of `signmf eval` (eval_numpy.figures)."""
        m, n, _ = eval_numpy.figures(np.asarray(S, dtype=np.float64), self.rated, self.rel, K,
                                     self.ni)
        m["users"] = n
        return m

    def per_user(self, S):
        """Per evaluated user: precision, recall and NDCG of the top-10, and
        the lists themselves (`top`); fast() averages them."""
        S = np.asarray(S, dtype=np.float64)[self.users]
        neg = -S
        neg[self.rated[self.users]] = np.inf  # never listed
        top = np.argsort(neg, axis=1, kind="stable")[:, :K]  # ties to the lower index
        hit = np.take_along_axis(self.relm, top, axis=1)
        h = hit.sum(axis=1)
        disc = 1.0 / np.log2(np.arange(K) + 2.0)
        idcg = np.cumsum(disc)[np.minimum(self.nrel, K) - 1]
        return {"precision": h / K, "recall": h / self.nrel,
                "ndcg": (hit * disc).sum(axis=1) / idcg, "top": top}

    def fast(self, S):
        """precision, recall, NDCG and coverage only, vectorised, for tuning
        (checked against full() on every tuned method's best model)."""
        u = self.per_user(S)
        cov = np.zeros(self.ni, dtype=bool)
        cov[u["top"].ravel()] = True
        return {"precision": float(np.mean(u["precision"])), "recall": float(np.mean(u["recall"])),
                "ndcg": float(np.mean(u["ndcg"])), "coverage": float(cov.sum()) / self.ni,
                "users": len(self.users)}


def check_fast(judge, S, what):
    a, b = judge.fast(S), judge.full(S)
    diff = max(abs(a[k] - b[k]) for k in ("precision", "recall", "ndcg", "coverage"))
    if diff > 1e-12 or a["users"] != b["users"]:
        raise SystemExit(f"quality.py: fast metrics disagree with eval_numpy for {what}: "
                         f"{a} vs {b}")
    return diff


# ---- peers -------------------------------------------------------------------
class Recorder:
    """Collects the warnings implicit and LightFM raise (e.g. implicit's
    OpenBLAS thread warning)."""

    def __init__(self):
        self.seen = []

    def run(self, fn, *a, **kw):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = fn(*a, **kw)
        for x in w:
            msg = f"{x.category.__name__}: {x.message}"
            if msg not in self.seen:
                self.seen.append(msg)
                log("warning:", msg)
        return out


REC = Recorder()


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


class Peer:
    name = ""

    def grid(self):
        """Stages of settings: a list of lists of dicts; each later stage
        varies the best of the earlier ones (dict entries override)."""
        raise NotImplementedError

    def fit(self, X, s, seed=SEED):
        """Fit on X (users x items CSR) with settings s and random seed
        seed; returns the fit time and a callable that gives the scores."""
        raise NotImplementedError

    def describe(self, s):
        return ", ".join(f"{k} {v}" for k, v in s.items())


class ALS(Peer):
    name = "implicit ALS"

    def __init__(self, threads):
        from implicit.cpu.als import AlternatingLeastSquares
        self.cls, self.threads = AlternatingLeastSquares, threads

    def grid(self):
        return [[dict(factors=f, regularization=r, alpha=a, iterations=15)
                 for f in (16, 32, 64, 128) for r in (0.1, 1.0, 10.0, 30.0) for a in (1.0, 10.0)],
                [dict(iterations=n) for n in (5, 10, 15, 30)]]

    def fit(self, X, s, seed=SEED):
        m = self.cls(factors=s["factors"], regularization=s["regularization"], alpha=s["alpha"],
                     iterations=s["iterations"], num_threads=self.threads, random_state=seed)
        t = timed(lambda: REC.run(m.fit, X, show_progress=False))
        return t, lambda: m.user_factors.astype(np.float64) @ m.item_factors.astype(np.float64).T


class BPR(Peer):
    name = "implicit BPR"

    def __init__(self, threads):
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        self.cls, self.threads = BayesianPersonalizedRanking, threads

    def grid(self):
        return [[dict(factors=f, learning_rate=lr, regularization=0.01, iterations=100)
                 for f in (32, 64, 128) for lr in (0.01, 0.05, 0.1)],
                [dict(iterations=n) for n in (50, 100, 300)],
                [dict(regularization=r) for r in (0.001, 0.01, 0.1)]]

    def fit(self, X, s, seed=SEED):
        m = self.cls(factors=s["factors"], learning_rate=s["learning_rate"],
                     regularization=s["regularization"], iterations=s["iterations"],
                     num_threads=self.threads, random_state=seed)
        t = timed(lambda: REC.run(m.fit, X, show_progress=False))
        # the factors carry the item bias (a column of ones on the user side)
        return t, lambda: m.user_factors.astype(np.float64) @ m.item_factors.astype(np.float64).T


class WARP(Peer):
    name = "LightFM WARP"
    EPOCHS = (10, 20, 30, 50)

    def __init__(self, threads):
        from lightfm import LightFM
        self.cls, self.threads = LightFM, threads

    def grid(self):
        # epochs are tuned inside one run per (k, lr) with fit_partial,
        # evaluated after each count in EPOCHS (tune() knows)
        return [[dict(no_components=k, learning_rate=lr, epochs=max(self.EPOCHS))
                 for k in (16, 32, 64) for lr in (0.01, 0.05)]]

    def model(self, s, seed=SEED):
        return self.cls(no_components=s["no_components"], learning_rate=s["learning_rate"],
                        loss="warp", random_state=seed)

    @staticmethod
    def scores(m):
        ub, ue = m.get_user_representations()
        ib, ie = m.get_item_representations()
        return (ue.astype(np.float64) @ ie.astype(np.float64).T + ib.astype(np.float64)[None, :]
                + ub.astype(np.float64)[:, None])

    def fit(self, X, s, seed=SEED):
        m = self.model(s, seed)
        C = X.tocoo()
        t = timed(lambda: REC.run(m.fit, C, epochs=s["epochs"], num_threads=self.threads))
        return t, lambda: self.scores(m)

    def sweep(self, X, s, judge):
        """One run, evaluated after each epoch count of EPOCHS."""
        m, C, done, out = self.model(s), X.tocoo(), 0, []
        for e in self.EPOCHS:
            REC.run(m.fit_partial, C, epochs=e - done, num_threads=self.threads)
            done = e
            out.append((dict(s, epochs=e), judge.fast(self.scores(m)), lambda m=m: None))
        return out


class Popularity(Peer):
    name = "popularity"

    def grid(self):
        return [[{}]]

    def fit(self, X, s, seed=SEED):
        cnt = {}
        t = timed(lambda: cnt.setdefault("c", np.asarray(X.sum(axis=0)).ravel()))
        return t, lambda: np.broadcast_to(cnt["c"].astype(np.float64), X.shape)

    def describe(self, s):
        return "items by number of training ratings"


def tune(peer, X, judge):
    """Staged grid search by NDCG@10 on the validation split. Returns the
    best settings, its validation figures, and the number of fits."""
    best, best_m, n = None, None, 0
    for stage in peer.grid():
        cands = [s if best is None else dict(best, **s) for s in stage]
        for s in cands:
            if best is not None and s == best:
                continue
            if isinstance(peer, WARP):
                results = peer.sweep(X, s, judge)
            else:
                _, score = peer.fit(X, s)
                results = [(s, judge.fast(score()), None)]
            n += 1
            for s2, m, _ in results:
                log(f"  {peer.name:13s} {peer.describe(s2):60s} val ndcg {m['ndcg']:.4f} "
                    f"p@10 {m['precision']:.4f}")
                if best_m is None or m["ndcg"] > best_m["ndcg"]:
                    best, best_m = s2, m
    _, score = peer.fit(X, best)
    check_fast(judge, score(), f"{peer.name} {best}")
    return best, best_m, n


# ---- signmf through its CLI ----------------------------------------------------
class Signmf:
    def __init__(self, exe, work, threads):
        self.exe, self.work, self.threads = exe, work, threads
        help_text = subprocess.run([exe, "train", "--help"], capture_output=True, text=True).stdout
        # '--method orthonormal' in the help, or an option line for --method
        # that names orthonormal
        self.has_method = "--method orthonormal" in help_text or any(
            line.strip().startswith("--method") and "orthonormal" in line
            for line in help_text.splitlines())
        self.version = subprocess.run([exe, "--version"], capture_output=True,
                                      text=True).stdout.strip()

    def train(self, data, opts, out):
        cmd = [self.exe, "train", data] + opts + ["--out", out, "--quiet"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        return time.perf_counter() - t

    def eval(self, model, test):
        p = subprocess.run([self.exe, "eval", model, test, "--json", "-k", str(K), "--relevant",
                            str(RELEVANT)], check=True, capture_output=True, text=True)
        return json.loads(p.stdout)

    def method_opts(self, method):
        """--method M when this build has it; the notebook rule is the only
        one (and the default) of a build without --method."""
        if self.has_method:
            return ["--method", method]
        return [] if method == "notebook" else None

    def tune(self, method, grid, train, valid):
        base = self.method_opts(method)
        if base is None:
            return None, None, 0
        best, best_m, n = None, None, 0
        model = os.path.join(self.work, "tune.smf")
        for opts in grid:
            try:
                self.train(train, base + opts, model)
            except subprocess.CalledProcessError:
                log(f"  signmf {method:10s} {' '.join(opts):50s} failed (see above), skipped")
                continue
            m = self.eval(model, valid)["model"]
            n += 1
            log(f"  signmf {method:10s} {' '.join(opts):50s} val ndcg {m['ndcg']:.4f} "
                f"p@10 {m['precision']:.4f}")
            if best_m is None or m["ndcg"] > best_m["ndcg"]:
                best, best_m = opts, m
        return best, best_m, n


NOTEBOOK_GRID = [["--dim", str(d), "--epochs", str(e), "--lr", lr]
                 for d in (64, 512) for e in (20, 50) for lr in ("1e-3", "1e-2")]
# The orthonormal method's tuned row searches its own options around the
# defaults (the judged row is the defaults; scripts/tune-ortho.sh is the
# grid they were chosen with).
ORTHONORMAL_GRID = [["--dim", str(d), "--shrink", t, "--degree-exp", g, "--rated-weight", w]
                    for d in (24, 32, 48) for t in ("0.5", "0.75", "0.9") for g in ("0.2", "0.3")
                    for w in ("2", "3")]


# ---- the report ----------------------------------------------------------------
def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt(x, d=4):
    return "n/a" if x is None else f"{x:.{d}f}"


def seed_spread(n, chosen, X, judge, sm, opts, base_path, test_path, model):
    """Every seeded method refit with its chosen settings (signmf: its
    defaults) for seeds 1..n, judged on the test set. One seed's figure is
    one draw: the table above uses seed 1 for all, and the seeds move p@10
    by about as much as the gaps between the leaders."""
    figs = {}
    for peer, best in chosen:
        log(f"seed spread: {peer.name}, seeds 1..{n}")
        figs[peer.name] = [judge.fast(peer.fit(X, best, seed)[1]()) for seed in range(1, n + 1)]
    log(f"seed spread: signmf orthonormal defaults, seeds 1..{n}")
    mine = []
    for seed in range(1, n + 1):
        sm.train(base_path, opts + ["--seed", str(seed)], model)
        mine.append(sm.eval(model, test_path)["model"])
    figs["signmf orthonormal (defaults)"] = mine
    out = ["", f"Seed spread: the chosen settings refit with seeds 1..{n} (signmf: `--seed S` "
           f"on its defaults), judged on the same test set; mean, standard deviation and range.",
           "", "| method | p@10 mean | sd | range | NDCG@10 mean | sd | range |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    stats = {}
    for name, ms in figs.items():
        row = [name]
        for key in ("precision", "ndcg"):
            v = np.array([m[key] for m in ms])
            sd = float(v.std(ddof=1)) if n > 1 else 0.0
            stats[(name, key)] = (float(v.mean()), sd)
            row += [f"{v.mean():.4f}", f"{sd:.4f}", f"{v.min():.4f}-{v.max():.4f}"]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    me = "signmf orthonormal (defaults)"
    for key, label in (("precision", "p@10"), ("ndcg", "NDCG@10")):
        peer = max((p.name for p, _ in chosen), key=lambda nm: stats[(nm, key)][0])
        (a, sa), (b, sb) = stats[(me, key)], stats[(peer, key)]
        se = (sa * sa / n + sb * sb / n) ** 0.5
        out.append(f"- seed means, orthonormal defaults / best peer ({peer}), {label}: "
                   f"{a:.4f} / {b:.4f} = {a / b:.3f}; difference {a - b:+.4f}, standard error "
                   f"{se:.4f}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signmf", required=True)
    ap.add_argument("--data", required=True, help="the ml-100k directory")
    ap.add_argument("--base", default=None, help="training ratings (default DATA/ua.base)")
    ap.add_argument("--test", default=None, help="test ratings (default DATA/ua.test)")
    ap.add_argument("--name", default="ua.base -> ua.test", help="the data set, for the report")
    ap.add_argument("--train", required=True, help="training part of the split")
    ap.add_argument("--valid", required=True, help="validation part of the split")
    ap.add_argument("--split", default="", help="the split command, for the report")
    ap.add_argument("--work", required=True)
    ap.add_argument("--md", default=None)
    ap.add_argument("--command", default="bash bench/quality.sh")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=10,
                    help="refit the chosen settings with seeds 1..N for the seed spread (0: skip)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    t_start = time.perf_counter()
    load_start = os.getloadavg()

    import threadpoolctl
    blas = [f"{a['internal_api']} {a.get('version') or ''} ({a['num_threads']} threads)"
            for a in threadpoolctl.threadpool_info() if a["user_api"] == "blas"]
    import implicit
    import lightfm
    import scipy
    if REC.run(lambda: __import__("implicit.gpu").gpu.HAS_CUDA):
        log("note: implicit has CUDA; the CPU classes are used all the same")

    base_path = args.base or os.path.join(args.data, "ua.base")
    test_path = args.test or os.path.join(args.data, "ua.test")
    bn, tn = os.path.basename(base_path), os.path.basename(test_path)
    base = Data(base_path)
    tr = Data(args.train, base.nu, base.ni)
    va = Data(args.valid, base.nu, base.ni)
    te = Data(test_path, base.nu, base.ni)
    log(f"data: {bn} {len(base.u)} ratings ({base.nu} x {base.ni}); split {len(tr.u)} + "
        f"{len(va.u)}; {tn} {len(te.u)}")
    val_judge, test_judge = Judge(tr, va), Judge(base, te)
    Xtr, Xbase = tr.csr(), base.csr()

    rows = []  # (method, settings, val ndcg, test figures or None, fit s or None, note)
    test_scores = {}  # peer -> its ua.test score matrix, for the paired comparison
    ours_S = None
    peers = [ALS(args.threads), BPR(args.threads), WARP(args.threads), Popularity()]
    chosen = []  # (peer, settings) of the seeded peers, for the seed spread
    for peer in peers:
        log(f"tuning {peer.name} on the validation split")
        best, vm, nfits = tune(peer, Xtr, val_judge)
        if not isinstance(peer, Popularity):
            chosen.append((peer, best))
        times, score = [], None
        for _ in range(args.runs):
            t, sc = peer.fit(Xbase, best)
            times.append(t)
            score = score or sc
        S = score()
        m = test_judge.full(S)
        rows.append((peer.name, peer.describe(best), vm["ndcg"], m, statistics.median(times),
                     f"{nfits} fits tuned" if nfits > 1 else "nothing to tune"))
        log(f"  -> {peer.describe(best)}: {tn} ndcg {m['ndcg']:.4f}, fit "
            f"{statistics.median(times):.3f} s")
        if isinstance(peer, Popularity):
            pop_S = S
        else:
            test_scores[peer.name] = S

    sm = Signmf(args.signmf, args.work, args.threads)
    model = os.path.join(args.work, "m.smf")
    crosscheck = None
    for method, grid in (("orthonormal", ORTHONORMAL_GRID), ("notebook", NOTEBOOK_GRID)):
        opts = sm.method_opts(method)
        label = f"signmf {method}"
        if opts is None:
            na = "n/a (no --method in this build)"
            rows.append((label + " (defaults)", na, None, None, None, ""))
            rows.append((label + " (tuned)", na, None, None, None, ""))
            continue
        shown = f"`signmf train {bn}" + "".join(" " + o for o in opts) + " --out m.smf`"
        # the judged row: the CLI defaults, nothing else
        log(f"{label}: defaults")
        try:
            times = [sm.train(base_path, opts, model) for _ in range(args.runs)]
            ev = sm.eval(model, test_path)
            vm_path = os.path.join(args.work, "val.smf")
            sm.train(args.train, opts, vm_path)
            vm = sm.eval(vm_path, args.valid)["model"]
        except subprocess.CalledProcessError as e:
            rows.append((label + " (defaults)", f"{shown}: failed (exit {e.returncode})", None,
                         None, None, ""))
            times = None
        if times is not None:
            rows.append((label + " (defaults)", shown, vm["ndcg"], ev["model"],
                         statistics.median(times),
                         "" if sm.has_method else "no --method: plain train"))
        if crosscheck is None and times is not None:
            # signmf eval against this script's metric code, on the same model
            exp = os.path.join(args.work, "export")
            subprocess.run([args.signmf, "export", model, exp], check=True, capture_output=True)
            P = np.load(os.path.join(exp, "P.npy")).astype(np.float64)
            Q = np.load(os.path.join(exp, "Q.npy")).astype(np.float64)
            # scores are P diag(sigma) Q (all ones for the notebook method)
            sg = os.path.join(exp, "sigma.npy")
            if os.path.exists(sg):
                P = P * np.load(sg)[None, :]
            mine = test_judge.full(P @ Q)
            if method == "orthonormal":
                ours_S = P @ Q
            fast = test_judge.fast(P @ Q)
            popm = test_judge.full(pop_S)
            keys = ("precision", "recall", "ndcg", "map", "hit", "auc", "coverage")
            d_model = max(abs(mine[k] - ev["model"][k]) for k in keys)
            d_pop = max(abs(popm[k] - ev["popularity"][k]) for k in keys)
            d_fast = max(abs(fast[k] - ev["model"][k])
                         for k in ("precision", "recall", "ndcg", "coverage"))
            same_users = mine["users"] == ev["counts"]["users"] == popm["users"]
            ok = max(d_model, d_pop, d_fast) <= 1e-12 and same_users
            crosscheck = (
                f"{'OK' if ok else 'MISMATCH'}: `{label}` defaults model exported with "
                f"`signmf export`, P @ Q ranked by this script (tests/cli/eval_numpy.py "
                f"`figures`) vs `signmf eval --json`: max |diff| {d_model:.1e} over the 7 "
                f"model figures, {d_pop:.1e} over the 7 popularity figures (vs this script's "
                f"popularity row), {d_fast:.1e} for the tuning fast path; "
                f"{mine['users']} evaluated users both ways")
            log("cross-check:", crosscheck)
            if not ok:
                raise SystemExit("quality.py: metric cross-check failed: " + crosscheck)
        log(f"tuning {label} on the validation split")
        best, bvm, nfits = sm.tune(method, grid, args.train, args.valid)
        if best is None:
            rows.append((label + " (tuned)", "every tuning run failed", None, None, None, ""))
            continue
        times = [sm.train(base_path, opts + best, model) for _ in range(args.runs)]
        ev = sm.eval(model, test_path)
        rows.append((label + " (tuned)", " ".join(opts + best), bvm["ndcg"], ev["model"],
                     statistics.median(times), f"{nfits} runs tuned"))

    # ---- print ----
    lines = []
    lines.append(f"## Quality benchmark: {args.name}, top-10")
    lines.append("")
    lines.append(f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    lines.append(f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs); implicit and "
                 f"LightFM num_threads={args.threads}, signmf its default (all cores)")
    lines.append(f"- command: `{args.command}`")
    load_end = os.getloadavg()
    lines.append(f"- load average (1/5/15 min) at start {' '.join(f'{x:.2f}' for x in load_start)}"
                 f", at end {' '.join(f'{x:.2f}' for x in load_end)} (a shared machine: "
                 f"fit times vary with it)")
    lines.append(f"- tuning split: `{args.split}` ({len(tr.u)} + {len(va.u)} ratings); "
                 f"settings chosen by validation NDCG@10, then refit on all of {bn}")
    lines.append(f"- versions: Python {platform.python_version()}, numpy {np.__version__}, "
                 f"scipy {scipy.__version__}, implicit {implicit.__version__} (CPU), lightfm "
                 f"{lightfm.__version__}, {sm.version}; BLAS: {', '.join(blas) or 'none found'}")
    lines.append(f"- OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}; "
                 f"warnings from implicit/LightFM: "
                 + ("; ".join(REC.seen) if REC.seen else "none"))
    lines.append(f"- metrics: docs/evaluation.md, k = {K}, relevant = rating >= {RELEVANT:g}, "
                 f"{test_judge.full(pop_S)['users']} evaluated users; peers trained on every "
                 f"{bn} rating as a 1 (implicit feedback)")
    lines.append(f"- fit s: median of {args.runs}; peers: the fit call alone; signmf: the "
                 f"whole `signmf train` process (loading and saving included)")
    lines.append(f"- metric check: {crosscheck or 'not run (no signmf row trained)'}")
    lines.append("")
    lines.append("| method | chosen settings | val NDCG@10 | p@10 | NDCG@10 | recall@10 | "
                 "coverage | fit s |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, settings, vnd, m, t, note in rows:
        if m is None:
            lines.append(f"| {name} | {settings} | n/a | n/a | n/a | n/a | n/a | n/a |")
            continue
        s = settings + (f" ({note})" if note else "")
        lines.append(f"| {name} | {s} | {fmt(vnd)} | {fmt(m['precision'])} | {fmt(m['ndcg'])} | "
                     f"{fmt(m['recall'])} | {fmt(m['coverage'])} | {fmt(t, 2)} |")
    def paired(key, peer):
        """Mean per-user difference and a 95 % paired bootstrap interval (2000
        resamples of the evaluated users, seed 1): how much of a gap the
        test set's users can tell apart from none."""
        if ours_S is None or peer not in test_scores:
            return ""
        d = test_judge.per_user(ours_S)[key] - test_judge.per_user(test_scores[peer])[key]
        rng = np.random.default_rng(1)
        boots = d[rng.integers(0, len(d), size=(2000, len(d)))].mean(axis=1)
        lo, hi = np.percentile(boots, [2.5, 97.5])
        return f"; paired difference {d.mean():+.4f} (95 % bootstrap {lo:+.4f} to {hi:+.4f})"

    # the yardstick: the defaults against the best tuned peer
    peer_rows = [r for r in rows if r[3] is not None and not r[0].startswith(("signmf", "popularity"))]
    ours = [r for r in rows if r[0] == "signmf orthonormal (defaults)" and r[3] is not None]
    if peer_rows and ours:
        lines.append("")
        for key, label in (("precision", "p@10"), ("ndcg", "NDCG@10")):
            best = max(peer_rows, key=lambda r: r[3][key])
            lines.append(f"- orthonormal defaults / best tuned peer, {label}: "
                         f"{ours[0][3][key]:.4f} / {best[3][key]:.4f} ({best[0]}) = "
                         f"{ours[0][3][key] / best[3][key]:.3f}" + paired(key, best[0]))
    if args.seeds > 0 and ours:
        lines += seed_spread(args.seeds, chosen, Xbase, test_judge, sm,
                             sm.method_opts("orthonormal"), base_path, test_path, model)
    lines.append("")
    lines.append(f"(whole benchmark: {time.perf_counter() - t_start:.0f} s)")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.md:
        tmp = args.md + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.md)
        log(f"written to {args.md}")


if __name__ == "__main__":
    main()
