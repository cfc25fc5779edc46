"""The GIL, Ctrl-C, progress and concurrent serving."""
import signal
import sys
import threading
import time

import numpy as np
import pytest

import signmf
from conftest import synth_matrix


@pytest.fixture(scope="module")
def big():
    return synth_matrix(1500, 2000, 0.05, seed=5)


def test_progress_callable_gets_every_epoch(W):
    seen = []
    m = signmf.Model(dim=8, epochs=6).fit(W, progress=lambda *a: seen.append(a))
    assert [a[0] for a in seen] == list(range(7))
    assert all(isinstance(l, float) and s >= 0 for _, l, s in seen)
    assert seen[-1][1] == m.loss()
    secs = [s for _, _, s in seen]
    assert secs == sorted(secs)


def test_progress_true_runs(W, capsys):
    m = signmf.Model(dim=8, epochs=3).fit(W, progress=True)
    assert m.epochs_done == 3


def test_exception_in_callback_keeps_last_epoch(W):
    def stop(epoch, loss, seconds):
        if epoch == 4:
            raise RuntimeError("enough")
    m = signmf.Model(dim=8, epochs=50)
    with pytest.raises(RuntimeError, match="enough"):
        m.fit(W, progress=stop)
    assert m.epochs_done == 4
    ref = signmf.Model(dim=8, epochs=4).fit(W)
    assert np.array_equal(m.user_factors, ref.user_factors)
    assert m.loss() == ref.loss()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_raises_keyboardinterrupt_within_a_second(W):
    """A real SIGINT to this process while fit runs with the GIL released."""
    assert threading.current_thread() is threading.main_thread()
    main = threading.main_thread().ident
    sent = []

    def kill():
        sent.append(time.perf_counter())
        signal.pthread_kill(main, signal.SIGINT)

    # rescale keeps the run finite however long the timer takes to fire
    m = signmf.Model(dim=64, epochs=10**9, rescale=True)
    timer = threading.Timer(0.5, kill)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        m.fit(W)
    caught = time.perf_counter()
    timer.join()
    assert sent and caught - sent[0] < 1.0
    done = m.epochs_done
    assert done > 0
    ref = signmf.Model(dim=64, epochs=done, rescale=True).fit(W)
    assert np.array_equal(m.user_factors, ref.user_factors)
    assert np.array_equal(m.item_factors, ref.item_factors)


def timed_fit(X, epochs):
    t = time.perf_counter()
    signmf.Model(dim=64, epochs=epochs, threads=1).fit(X)
    return time.perf_counter() - t


def test_fit_releases_the_gil(big):
    """Two single-threaded fits in two threads take well under twice one.
    The machine is shared (other jobs take cores at random), so each round
    times one fit, two in a row and two at once back to back, and the best
    of up to eight rounds must show two at once below 0.9x two in a row
    (1.8x one fit); a fit holding the GIL runs the two one after the other,
    1.0x, in every round."""
    epochs = 40
    timed_fit(big, 1)
    best = float("inf")
    for _ in range(8):
        serial = timed_fit(big, epochs) + timed_fit(big, epochs)
        ts = [threading.Thread(target=timed_fit, args=(big, epochs)) for _ in range(2)]
        t = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        best = min(best, (time.perf_counter() - t) / serial)
        if best < 0.9:
            break
    assert best < 0.9, f"two fits at once took {2 * best:.2f}x one"


def test_python_threads_run_while_fitting(big):
    """The GIL is free during fit: a Python loop keeps counting."""
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1
    th = threading.Thread(target=spin)
    th.start()
    t = time.perf_counter()
    signmf.Model(dim=64, epochs=20, threads=1).fit(big)
    fit_s = time.perf_counter() - t
    stop.set()
    th.join()
    assert count[0] > 1000 and fit_s > 0


def test_recommend_from_many_threads(W):
    m = signmf.Model(dim=16, epochs=5).fit(W)
    want = [m.recommend(u, N=7) for u in range(W.shape[0])]
    errors = []

    def worker(k):
        try:
            for rep in range(5):
                for u in range(k, W.shape[0], 3):
                    ids, scores = m.recommend(u, N=7)
                    if not (np.array_equal(ids, want[u][0]) and
                            np.array_equal(scores, want[u][1])):
                        errors.append(u)
                ids, _ = m.recommend(np.arange(W.shape[0]), N=7)
                if not np.array_equal(ids, np.stack([w[0] for w in want])):
                    errors.append("batch")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    assert errors == []


def test_refit_while_serving(W):
    """Readers keep the model they started with while another thread refits."""
    m = signmf.Model(dim=16, epochs=2).fit(W)
    errors, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                ids, s = m.recommend(1, N=5)
                assert len(ids) == 5 and np.all(np.isfinite(s))
            except Exception as e:
                errors.append(repr(e))
                return
    ts = [threading.Thread(target=reader) for _ in range(3)]
    for th in ts:
        th.start()
    for e in range(3, 12):
        m.fit(W, epochs=e)
    stop.set()
    for th in ts:
        th.join()
    assert errors == []


def test_non_finite_keeps_the_last_finite_model(W):
    m = signmf.Model(dim=8, lr=10.0, epochs=10**6)
    with pytest.raises(signmf.NonFiniteError, match="non-finite"):
        m.fit(W)
    assert m.epochs_done > 0 and np.all(np.isfinite(m.user_factors))
