"""signmf: sign-loss matrix factorisation, the C library's speed and exactness from numpy.

signmf learns user embeddings P (users x dim) and item embeddings Q (dim x items)
from a ratings matrix W by plain gradient descent on the sign loss of the original
numpy notebook,

    L = sum_ij D_ij (P Q)_ij,   D_ij = -1 if W_ij is above user i's mean rating,
                                       +1 if below, 0 if unrated or equal,

with the simultaneous update P <- P - lr D Q^T, Q <- Q - lr P^T D. The first draw
reproduces ``np.random.seed(seed)`` + ``np.random.normal`` bit for bit, so a float64
run matches the notebook to rounding, and every result is bit-identical to the
``signmf`` command-line tool on the same input and options.

Quick start::

    import numpy as np, signmf
    W = np.load("ratings.npy")                 # users x items, 0 = unrated
    m = signmf.Model(dim=512, epochs=20, precision="f64").fit(W)
    m.loss()                                   # the notebook's embed_loss
    ids, scores = m.recommend(0, N=10)         # top 10 unrated items of user 0
    m.save("model.smf"); m2 = signmf.load("model.smf")

Ids: a dense matrix or a scipy.sparse matrix gives 0-based row and column indices
as ids; (users, items, ratings) arrays and files keep their own (original) ids.
The model file stores the ids, so a loaded model answers in the same ids.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import time
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np

from . import _signmf
from ._errors import (ERRORS, ChecksumError, DuplicateError, EmptyError, Error, FileError,
                      FormatError, InvalidArgumentError, NonFiniteError, NotFoundError,
                      OutOfMemoryError, ParseError, RangeError, SizeOverflowError, StoppedError,
                      UnsupportedError, VersionError)

_signmf._set_error_classes(ERRORS)

__version__ = _signmf.version

__all__ = [
    "Model", "load", "kernel_name", "NotFittedError", "Error", "InvalidArgumentError",
    "OutOfMemoryError", "SizeOverflowError", "FileError", "ParseError", "FormatError",
    "DuplicateError", "RangeError", "NonFiniteError", "VersionError", "ChecksumError",
    "NotFoundError", "UnsupportedError", "StoppedError", "EmptyError", "METHODS",
]


class NotFittedError(ValueError, AttributeError):
    """The model has not been fitted (or loaded) yet."""


# The training methods and the value of signmf_params.method each maps to.
METHODS: Dict[str, int] = {"notebook": 0, "orthonormal": 1}
# Per method: dim, lr, epochs, rated_weight, degree_exp, shrink when not given
# (signmf_params_for: the orthonormal ones come from validation splits,
# docs/quality.md).
_METHOD_DEFAULTS: Dict[str, tuple] = {"notebook": (512, 1e-3, 20, 0.0, 0.0, 0.0),
                                      "orthonormal": (32, 1.0, 50, 3.0, 0.2, 0.75)}

_RULES = {"mean": 0, "threshold": 1, "observed": 2}
_PRECISIONS = {"f32": 0, "float32": 0, "f64": 1, "float64": 1, "bf16": 2, "bfloat16": 2}

ArrayLike = Any
RatingsInput = Union[str, "os.PathLike[str]", np.ndarray, Tuple[ArrayLike, ArrayLike, ArrayLike],
                     Any]


def kernel_name() -> str:
    """The SIMD kernel set chosen for this CPU: "portable", "avx2" or "avx512"."""
    return _signmf.kernel_name()


# ---- input conversion ------------------------------------------------------

def _is_sparse(x: Any) -> bool:
    return type(x).__module__.startswith("scipy.sparse") and hasattr(x, "tocsr")


def _float_values(a: np.ndarray, what: str) -> np.ndarray:
    """float32/float64 arrays unchanged (read in place); integers widened to
    float64 (a copy); anything else is a TypeError."""
    if a.dtype == np.float64 or a.dtype == np.float32:
        if not a.dtype.isnative:
            return a.astype(a.dtype.newbyteorder("="))
        return a
    if a.dtype.kind in "iu":
        return a.astype(np.float64)
    raise TypeError(f"{what}: expected float or integer ratings, found dtype {a.dtype}")


def _int_ids(x: ArrayLike, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind == "b" or (a.dtype.kind not in "iu" and a.size > 0):
        raise TypeError(f"{what}: expected integer ids, found dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D array, found shape {a.shape}")
    if a.dtype.kind == "u" and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{what}: ids above 2^63 - 1")
    return np.ascontiguousarray(a, dtype=np.int64)


def _check_finite(v: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what}: expected finite ratings, found {v[i]} at position {i}")


def _source(x: RatingsInput, what: str = "ratings") -> tuple:
    """What the extension makes a signmf_ratings of (see ratings_from_source
    in _signmf.c). Matrices get ids = 0-based indices (id_base 0)."""
    if isinstance(x, (str, bytes, os.PathLike)):
        return ("path", os.fsdecode(x))
    if _is_sparse(x):
        csr = x.tocsr()  # no copy for a csr_matrix / csr_array
        if csr.ndim != 2:
            raise ValueError(f"{what}: expected a 2-D sparse matrix, found {csr.ndim}-D")
        data = _float_values(np.asarray(csr.data), what)
        indptr, indices = np.asarray(csr.indptr), np.asarray(csr.indices)
        for name, a in (("indptr", indptr), ("indices", indices)):
            if a.dtype not in (np.int32, np.int64):
                raise TypeError(f"{what}: expected int32 or int64 {name}, found {a.dtype}")
        rows, cols = csr.shape
        n = int(indptr[-1]) if indptr.size else 0
        return ("csr", int(rows), int(cols), np.ascontiguousarray(indptr),
                np.ascontiguousarray(indices[:n]), np.ascontiguousarray(data[:n]), 0)
    if isinstance(x, tuple) and len(x) == 3:
        users, items = _int_ids(x[0], f"{what} users"), _int_ids(x[1], f"{what} items")
        r = np.asarray(x[2])
        if r.ndim != 1:
            raise ValueError(f"{what} ratings: expected a 1-D array, found shape {r.shape}")
        r = np.ascontiguousarray(_float_values(r, f"{what} ratings"), dtype=np.float64)
        if not (len(users) == len(items) == len(r)):
            raise ValueError(f"{what}: expected users, items and ratings of equal length, "
                             f"found {len(users)}, {len(items)} and {len(r)}")
        _check_finite(r, f"{what} ratings")
        return ("triplets", users, items, r)
    if isinstance(x, (np.ndarray, list)) or hasattr(x, "__array__"):
        a = np.asarray(x)
        if a.ndim != 2:
            raise ValueError(f"{what}: expected a 2-D matrix (users x items), "
                             f"found shape {a.shape}")
        if a.dtype.kind == "b":
            raise TypeError(f"{what}: expected float or integer ratings, found dtype bool")
        return ("dense", _float_values(a, what), 0)
    raise TypeError(f"{what}: expected a path, a 2-D array, a scipy.sparse matrix or "
                    f"(users, items, ratings) arrays, found {type(x).__name__}")


def _check_int(v: Any, what: str, lo: int, hi: Optional[int] = None) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{what}: expected an integer, found {type(v).__name__}")
    v = int(v)
    if v < lo or (hi is not None and v > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{what}: expected an integer {rng}, found {v}")
    return v


class _Progress:
    """progress=True: a tqdm bar when tqdm is installed, else one stderr line
    a second."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.last = 0.0
        try:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, unit="epoch")
        except ImportError:
            self.bar = None

    def __call__(self, epoch: int, loss: float, seconds: float) -> None:
        if self.bar is not None:
            self.bar.n = epoch
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
            self.bar.refresh()
        elif seconds - self.last >= 1.0 or epoch == self.total:
            self.last = seconds
            print(f"signmf: epoch {epoch}/{self.total} loss {loss:.10g} {seconds:.1f} s",
                  file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---- the model ---------------------------------------------------------------

class Model:
    """Sign-loss matrix factorisation (the notebook's model), trained by the C library.

    Parameters:
        dim: embedding size k (>= 1).
        lr: learning rate a (finite, >= 0).
        epochs: gradient steps that ``fit`` runs (``fit(X, epochs=...)`` overrides).
        seed: ``np.random.seed(seed)``: the initial P and Q are numpy's legacy
            normal draws, P first, then Q.
        precision: "f32" (fast default), "f64" (matches the notebook to rounding)
            or "bf16" (float32 factors whose gathered rows are read from a
            bf16 copy; bit-identical to ``signmf train --precision bf16``).
        method: the update rule; one of ``signmf.METHODS``. "notebook": the
            simultaneous update P -= lr D Q^T, Q -= lr P^T D (defaults dim 512,
            lr 1e-3, 20 epochs). "orthonormal": the same loss with P and Q kept
            orthonormal, a weighted and degree-normalised D and a final
            Rayleigh-Ritz step (docs/quality.md; defaults dim 32, lr 1, 50
            epochs); scores are P diag(sigma) Q.
        rated_weight, degree_exp, shrink: the orthonormal method's w, g and
            t (defaults 3, 0.2 and 0.75: sigma is the Ritz values less t
            times the smallest); not allowed with "notebook".
        sign_rule: "mean" (the notebook: above the user's mean = liked),
            "observed" (every rating liked) or "threshold" with ``threshold``
            (rating >= threshold liked); "threshold:T" is accepted too.
        threshold: the threshold of sign_rule="threshold".
        threads: OpenMP threads for training and batch scoring, 0 = all cores.
            Results never depend on it.
        rescale: rescale P and Q by a common power of two each epoch so long
            runs stay finite; rankings are unchanged.

    After ``fit`` (or ``signmf.load``): ``user_factors`` (users x dim, P),
    ``item_factors`` (items x dim, Q^T), ``user_ids``, ``item_ids``, ``loss()``,
    ``recommend``, ``recommend_new``, ``similar_items``, ``evaluate``, ``save``.
    A fitted model is read-only and may serve any number of threads at once;
    the GIL is released while the library works.
    """

    def __init__(self, dim: Optional[int] = None, lr: Optional[float] = None,
                 epochs: Optional[int] = None, seed: int = 1, precision: str = "f32",
                 method: str = "notebook", sign_rule: str = "mean",
                 threshold: Optional[float] = None, threads: int = 0, rescale: bool = False,
                 rated_weight: Optional[float] = None,
                 degree_exp: Optional[float] = None,
                 shrink: Optional[float] = None) -> None:
        if method not in METHODS:
            raise ValueError(f"method: expected one of {sorted(METHODS)}, found {method!r}")
        d_dim, d_lr, d_epochs, d_w, d_g, d_t = _METHOD_DEFAULTS[method]
        if method == "notebook" and (rated_weight is not None or degree_exp is not None
                                     or shrink is not None):
            raise ValueError("rated_weight, degree_exp and shrink apply to "
                             "method='orthonormal' only")
        if method == "orthonormal" and rescale:
            raise ValueError("rescale does not apply to method='orthonormal' (its factors "
                             "stay orthonormal)")
        self.rated_weight = float(d_w if rated_weight is None else rated_weight)
        if not (math.isfinite(self.rated_weight) and self.rated_weight >= 0):
            raise ValueError(f"rated_weight: expected a finite value >= 0, "
                             f"found {self.rated_weight}")
        self.degree_exp = float(d_g if degree_exp is None else degree_exp)
        if not 0 <= self.degree_exp <= 1:
            raise ValueError(f"degree_exp: expected a value in [0, 1], found {self.degree_exp}")
        self.shrink = float(d_t if shrink is None else shrink)
        if not 0 <= self.shrink <= 1:
            raise ValueError(f"shrink: expected a value in [0, 1], found {self.shrink}")
        dim = d_dim if dim is None else dim
        lr = d_lr if lr is None else lr
        epochs = d_epochs if epochs is None else epochs
        self.dim = _check_int(dim, "dim", 1)
        lr = float(lr)
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"lr: expected a finite learning rate >= 0, found {lr}")
        self.lr = lr
        self.epochs = _check_int(epochs, "epochs", 0)
        self.seed = _check_int(seed, "seed", 0, 2**32 - 1)
        if precision not in _PRECISIONS:
            raise ValueError(f"precision: expected 'f32', 'f64' or 'bf16', found {precision!r}")
        self.precision = ("f32", "f64", "bf16")[_PRECISIONS[precision]]
        self.method = method
        if isinstance(sign_rule, str) and sign_rule.startswith("threshold:"):
            if threshold is not None:
                raise ValueError("sign_rule 'threshold:T' and threshold= given together")
            try:
                threshold = float(sign_rule[len("threshold:"):])
            except ValueError:
                raise ValueError(f"sign_rule: expected 'threshold:T' with a number T, "
                                 f"found {sign_rule!r}") from None
            sign_rule = "threshold"
        if sign_rule not in _RULES:
            raise ValueError(f"sign_rule: expected 'mean', 'observed' or 'threshold', "
                             f"found {sign_rule!r}")
        if sign_rule == "threshold":
            if threshold is None or not math.isfinite(float(threshold)):
                raise ValueError("sign_rule='threshold' needs a finite threshold=")
            threshold = float(threshold)
        elif threshold is not None:
            raise ValueError(f"threshold= applies to sign_rule='threshold', not {sign_rule!r}")
        self.sign_rule = sign_rule
        self.threshold = threshold
        self.threads = _check_int(threads, "threads", 0, 1 << 20)
        self.rescale = bool(rescale)
        self._core: Any = None
        self._views: Dict[int, np.ndarray] = {}

    def __repr__(self) -> str:
        rule = self.sign_rule if self.threshold is None else f"threshold:{self.threshold:g}"
        state = "unfitted" if self._core is None else \
            f"{self.n_users} users x {self.n_items} items, {self.epochs_done} epochs"
        return (f"signmf.Model(dim={self.dim}, lr={self.lr:g}, epochs={self.epochs}, "
                f"seed={self.seed}, precision={self.precision!r}, method={self.method!r}, "
                f"sign_rule={rule!r}, threads={self.threads}) <{state}>")

    # -- training --

    def fit(self, X: RatingsInput, epochs: Optional[int] = None,
            progress: Union[None, bool, Callable[[int, float, float], Any]] = None) -> "Model":
        """Train from the seed on ``X`` and return self.

        ``X`` is one of:
          - a dense 2-D array, users x items, 0 = unrated; ids are the 0-based
            row and column indices. float32 and float64 are read in place, in
            any memory order; integers are widened to a float64 copy.
          - a scipy.sparse matrix or array (0-based indices): CSR is read in
            place (stored zeros are skipped), other formats are converted to
            CSR first (scipy's copy).
          - (users, items, ratings) 1-D arrays of original ids.
          - a path to a MovieLens TSV, a CSV with a header, Matrix Market or a
            dense .npy/.npz (the file's ids), exactly as the CLI reads it.
        The library keeps one copy of the nonzero ratings (16 bytes each) only
        until the sign structure is built, before the embeddings are allocated.

        ``epochs`` overrides the model's ``epochs``; 0 only initialises.
        ``progress``: True shows a tqdm bar (when tqdm is installed); a callable
        receives ``(epoch, loss, seconds)`` before every epoch and once after
        the last (epoch = epochs done, loss = embed_loss of that state). If the
        callable raises, or Ctrl-C arrives, training stops and the model keeps
        the last finished epoch before the exception propagates.
        """
        n = self.epochs if epochs is None else _check_int(epochs, "epochs", 0)
        src = _source(X)
        bar = None
        if progress is True:
            bar = _Progress(n)
            cb: Any = bar
        elif progress is None or progress is False:
            cb = None
        elif callable(progress):
            cb = progress
        else:
            raise TypeError(f"progress: expected None, True or a callable, "
                            f"found {type(progress).__name__}")
        try:
            core, exc = _signmf.fit(src, self.dim, self.lr, self.seed, self.threads,
                                    _PRECISIONS[self.precision], _RULES[self.sign_rule],
                                    self.threshold or 0.0, self.rescale, METHODS[self.method],
                                    self.rated_weight, self.degree_exp, self.shrink, n, cb)
        finally:
            if bar is not None:
                bar.close()
        self._set_core(core)
        if exc is not None:
            raise exc
        return self

    def _set_core(self, core: Any) -> None:
        self._core = core
        self._views = {}
        self._info = core.info()

    def _need(self) -> Any:
        if self._core is None:
            raise NotFittedError("this signmf.Model is not fitted: call fit() or signmf.load()")
        return self._core

    # -- state --

    def loss(self) -> float:
        """The notebook's ``embed_loss`` of the current P and Q (as the last
        training pass computed it; NaN for a model file that lacks it)."""
        self._need()
        return float(self._info["loss"])

    @property
    def n_users(self) -> int:
        self._need()
        return int(self._info["users"])

    @property
    def n_items(self) -> int:
        self._need()
        return int(self._info["items"])

    @property
    def epochs_done(self) -> int:
        """Epochs the current P and Q have been trained for."""
        self._need()
        return int(self._info["epochs"])

    def _factors(self, which: int) -> np.ndarray:
        v = self._views.get(which)
        if v is None:
            v = np.asarray(self._need().factors(which))
            self._views[which] = v
        return v

    @property
    def user_factors(self) -> np.ndarray:
        """P, users x dim (float32 or float64): a read-only view of the model's
        memory (of the file's pages for a mapped model), never a copy."""
        return self._factors(0)

    @property
    def item_factors(self) -> np.ndarray:
        """Q^T, items x dim: a read-only view like ``user_factors``; the notebook's
        Itm is ``item_factors.T`` (a view too)."""
        return self._factors(1)

    @property
    def sigma(self) -> np.ndarray:
        """sigma, dim float64 values: scores are ``user_factors @ np.diag(sigma)
        @ item_factors.T``. All 1 for the notebook method; for the orthonormal
        method the Ritz values less the shrink's tau (docs/quality.md)."""
        s = np.array(self._need().sigma(), dtype=np.float64)
        s.flags.writeable = False
        return s

    @property
    def user_ids(self) -> np.ndarray:
        """Id of each row of ``user_factors`` (0..users-1 for matrix input)."""
        return self._need().ids(0)

    @property
    def item_ids(self) -> np.ndarray:
        """Id of each row of ``item_factors``."""
        return self._need().ids(1)

    # -- serving --

    def recommend(self, user: Union[int, ArrayLike], N: int = 10,
                  filter_already_liked_items: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """Top ``N`` items for ``user`` by descending score (P Q)[user, item], ties
        to the lower item index: ``(ids, scores)``, int64 and float64 arrays.

        ``user`` is an id, or an array of ids: then both results are 2-D
        (len(user) x N, all scored in one batch), and a row with fewer than N
        results (a user who rated nearly every item) is padded with id -1 and
        score NaN. With ``filter_already_liked_items`` (default) the items the
        user rated in training are left out. Unknown ids raise NotFoundError
        (a KeyError).
        """
        core = self._need()
        N = _check_int(N, "N", 0)
        if isinstance(user, (numbers.Integral, np.integer)) and not isinstance(user, bool):
            return core.recommend(int(user), N, not filter_already_liked_items, self.threads)
        return core.recommend(_int_ids(user, "user"), N, not filter_already_liked_items,
                              self.threads)

    def recommend_all(self, N: int = 10, filter_already_liked_items: bool = True
                      ) -> Tuple[np.ndarray, np.ndarray]:
        """``recommend`` for every user in ``user_ids`` order, in one batch."""
        core = self._need()
        return core.recommend(None, _check_int(N, "N", 0), not filter_already_liked_items,
                              self.threads)

    def recommend_new(self, items: ArrayLike, ratings: ArrayLike, N: int = 10
                      ) -> Tuple[np.ndarray, np.ndarray]:
        """Top ``N`` for a user the model was not trained on (fold-in): the given
        (item id, rating) pairs are centred and signed as in training, the
        user's embedding is -(D row) Q^T, and the given items are left out."""
        core = self._need()
        it = _int_ids(items, "items")
        r = np.asarray(ratings)
        if r.ndim != 1:
            raise ValueError(f"ratings: expected a 1-D array, found shape {r.shape}")
        r = np.ascontiguousarray(_float_values(r, "ratings"), dtype=np.float64)
        if len(it) != len(r):
            raise ValueError(f"items and ratings: expected equal lengths, found {len(it)} "
                             f"and {len(r)}")
        _check_finite(r, "ratings")
        return core.recommend_new(it, r, _check_int(N, "N", 0))

    def similar_items(self, item: int, N: int = 10) -> Tuple[np.ndarray, np.ndarray]:
        """The ``N`` items most similar to ``item`` by cosine of the item
        embeddings, the item itself left out: ``(ids, scores)``."""
        core = self._need()
        if isinstance(item, bool) or not isinstance(item, (numbers.Integral, np.integer)):
            raise TypeError(f"item: expected an integer id, found {type(item).__name__}")
        return core.similar(int(item), _check_int(N, "N", 0))

    def evaluate(self, test: RatingsInput, k: int = 10, relevant: float = 4
                 ) -> Dict[str, Any]:
        """Ranking metrics on held-out ratings (any input ``fit`` takes, in the
        model's ids) beside a popularity baseline, as ``signmf eval`` reports
        them: ``{"model": {precision, recall, ndcg, map, hit, auc, coverage},
        "popularity": {...}, "users": ..., "test_pairs": ..., ...}``
        (definitions: docs/evaluation.md)."""
        core = self._need()
        relevant = float(relevant)
        if not math.isfinite(relevant):
            raise ValueError(f"relevant: expected a finite rating, found {relevant}")
        return core.evaluate(_source(test, "test"), _check_int(k, "k", 1), relevant,
                             self.threads)

    # -- files --

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the model file (the CLI's format) atomically."""
        self._need().save(path)

    def export_npy(self, directory: Union[str, "os.PathLike[str]"]) -> None:
        """DIR/P.npy (users x dim) and DIR/Q.npy (dim x items), as ``signmf export``."""
        self._need().export_npy(directory)


def load(path: Union[str, "os.PathLike[str]"], mmap: bool = True) -> Model:
    """Open a model file saved by ``Model.save`` or ``signmf train --out``.

    With ``mmap`` (default) the file is mapped read-only and scored in place;
    the factor views then point into the mapping. The returned Model carries
    the file's settings, so ``fit`` retrains it the same way.
    """
    core = _signmf.load(path, bool(mmap))
    info = core.info()
    rule = info["sign_rule"]
    method = {v: k for k, v in METHODS.items()}[info["method"]]
    ortho = method == "orthonormal"
    m = Model(dim=info["dim"], lr=info["lr"], epochs=info["epochs"], seed=info["seed"],
              precision=info["precision"], sign_rule=rule,
              threshold=info["threshold"] if rule == "threshold" else None,
              threads=max(0, info["threads"]), rescale=info["rescale"], method=method,
              rated_weight=info["rated_weight"] if ortho else None,
              degree_exp=info["degree_exp"] if ortho else None,
              shrink=info["shrink"] if ortho else None)
    m._set_core(core)
    return m
