"""The GIL is released during long computations: another Python thread runs meanwhile."""
import threading
import time

import numpy as np

import nabla as nb


def runs_alongside(long_call):
    """True when a Python thread made progress strictly inside long_call's run:
    away from its ends by more than the interpreter's switch interval (5 ms),
    where a thread may run although the call held the GIL throughout."""
    stamps, stop = [], threading.Event()

    def ticker():
        while not stop.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0)

    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.01)
    t0 = time.perf_counter()
    long_call()
    t1 = time.perf_counter()
    stop.set()
    t.join()
    assert t1 - t0 > 0.06, "the call was too short to tell"
    margin = min(0.03, (t1 - t0) / 4)
    return any(t0 + margin < s < t1 - margin for s in stamps)


# Each check is one call (between two calls the interpreter may switch threads
# whether or not the GIL was released inside them).

def test_matmul_releases_the_gil():
    a = nb.randn(2200, 2200)
    assert runs_alongside(lambda: a @ a)


def test_hessian_releases_the_gil():
    # Large enough that the GEMM of Aᵀ·diag·A, which runs without the GIL,
    # outlasts tracing the Python function (which holds it) several times.
    A = nb.randn(3000, 3000)
    assert runs_alongside(lambda: nb.hessian(lambda x: nb.sum(nb.tanh(A @ x)), nb.randn(3000)))


def test_backward_releases_the_gil():
    w = nb.randn(2000, 2000, requires_grad=True)
    y = ((w @ w) @ w).sum()
    assert runs_alongside(lambda: y.backward())


def test_threads_compute_in_parallel_correctly():
    # the same backward in four threads gives each its own correct gradient
    results = [None] * 4

    def work(i):
        w = nb.full((64, 64), float(i + 1), requires_grad=True)
        for _ in range(20):
            w.grad = None
            (w @ w).sum().backward()
        results[i] = w.grad.numpy()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, g in enumerate(results):
        # d/dW sum(W W) = 1 Wᵀ + Wᵀ 1 → every entry 2·64·(i+1)
        np.testing.assert_allclose(g, np.full((64, 64), 128.0 * (i + 1)))
