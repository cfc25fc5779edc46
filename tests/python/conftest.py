"""Shared fixtures of the Python suite.

The suite tests the *installed* signmf package (scripts/test.sh installs the
wheel into a fresh venv); it never imports python/signmf from the source
tree. MovieLens tests read SIGNMF_DATA_DIR (the directory holding ml-100k/)
and are skipped without it; CLI tests use SIGNMF_CLI (test.sh points it at
the build-ci tool) or a build in the repository, and are skipped without one.
"""
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "parity"))  # notebook_ref.py

import signmf  # noqa: E402


_SRC = os.path.join(REPO, "python")
if os.path.commonpath([os.path.realpath(signmf.__file__), _SRC]) == _SRC and \
        os.environ.get("SIGNMF_ALLOW_SOURCE_IMPORT") != "1":
    raise RuntimeError(f"signmf imported from the source tree ({signmf.__file__}); "
                       "install the wheel instead")


def synth_matrix(users=120, items=150, density=0.12, seed=3):
    """A small dense float64 ratings matrix, 1..5, 0 = unrated, every row
    and column non-empty."""
    rng = np.random.default_rng(seed)
    W = np.where(rng.random((users, items)) < density,
                 rng.integers(1, 6, size=(users, items)), 0).astype(np.float64)
    W[np.arange(users), np.arange(users) % items] = 3 + (np.arange(users) % 3)
    W[np.arange(items) % users, np.arange(items)] = 2 + (np.arange(items) % 4)
    return W


def write_tsv(path, W, base=1):
    r, c = np.nonzero(W)
    with open(path, "w") as f:
        for i, j in zip(r, c):
            f.write(f"{i + base}\t{j + base}\t{W[i, j]:g}\t881250949\n")
    return path


@pytest.fixture(scope="session")
def W():
    return synth_matrix()


@pytest.fixture(scope="session")
def ua_base():
    d = os.environ.get("SIGNMF_DATA_DIR")
    p = os.path.join(d, "ml-100k", "ua.base") if d else None
    if not p or not os.path.isfile(p):
        pytest.skip("MovieLens 100k not found (set SIGNMF_DATA_DIR to the directory "
                    "holding ml-100k/)")
    return p


@pytest.fixture(scope="session")
def ua_test(ua_base):
    return os.path.join(os.path.dirname(ua_base), "ua.test")


@pytest.fixture(scope="session")
def cli():
    given = os.environ.get("SIGNMF_CLI")
    if given:  # named explicitly (scripts/test.sh): missing is a failure, not a skip
        if not os.access(given, os.X_OK):
            pytest.fail(f"SIGNMF_CLI={given} is not an executable")
        return given
    for c in [os.path.join(REPO, b, "src", "cli", "signmf") for b in ("build-ci", "build")]:
        if c and os.access(c, os.X_OK):
            return c
    pytest.skip("no signmf CLI found (set SIGNMF_CLI)")
