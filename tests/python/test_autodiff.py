"""Autodiff from Python: the gradients of the same programs as in PyTorch,
the grad mode, the function transforms over Python callables, gradcheck."""
import numpy as np
import pytest
import torch
import torch.autograd.functional as taf

import nabla as nb
from conftest import assert_close


def both(*arrays, dtype=np.float64):
    """The same values as nabla and torch leaves that require grad."""
    ns = [nb.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    ts = [torch.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    return ns, ts


PROGRAMS = {
    # name: (nabla program, torch program, input shapes)
    "tanh_affine": (lambda W, x, b: nb.sum(nb.tanh(W @ x + b)),
                    lambda W, x, b: torch.sum(torch.tanh(W @ x + b)), [(16, 16), (16,), (16,)]),
    "mlp_softmax_ce": (lambda W1, W2, X: nb.cross_entropy(nb.relu(X @ W1) @ W2, nb.tensor([0, 2, 1, 2], dtype=nb.float64)),
                       lambda W1, W2, X: torch.nn.functional.cross_entropy(torch.relu(X @ W1) @ W2, torch.tensor([0, 2, 1, 2])),
                       [(5, 8), (8, 3), (4, 5)]),
    "broadcast_and_reduce": (lambda a, b: nb.mean((a * b - nb.exp(b)) ** 2, dim=1).sum(),
                             lambda a, b: torch.mean((a * b - torch.exp(b)) ** 2, dim=1).sum(), [(3, 4), (4,)]),
    "logdet_inv": (lambda A: nb.logdet(A @ A.t() + nb.eye(3, dtype=nb.float64)) + nb.trace(nb.inv(A + 3 * nb.eye(3, dtype=nb.float64))),
                   lambda A: torch.logdet(A @ A.t() + torch.eye(3, dtype=torch.float64)) + torch.trace(torch.inverse(A + 3 * torch.eye(3, dtype=torch.float64))),
                   [(3, 3)]),
    "softplus_sigmoid_norm": (lambda x: nb.norm(nb.softplus(x) * nb.sigmoid(x)) + nb.logsumexp(x, 0).sum(),
                              lambda x: torch.norm(torch.nn.functional.softplus(x) * torch.sigmoid(x)) + torch.logsumexp(x, 0).sum(),
                              [(4, 3)]),
    "indexing_and_views": (lambda x: (x[1:, ::2].t() @ x[:2]).sum() + x.reshape(-1)[3] * 2,
                           lambda x: (x[1:, ::2].t() @ x[:2]).sum() + x.reshape(-1)[3] * 2, [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradients_match_torch(name, rng):
    fn, ft, shapes = PROGRAMS[name]
    values = [rng.standard_normal(s) for s in shapes]
    ns, ts = both(*values)
    yn, yt = fn(*ns), ft(*ts)
    assert_close(yn, yt, rtol=1e-10, atol=1e-10)
    yn.backward()
    yt.backward()
    for a, b in zip(ns, ts):
        assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-10)


def test_float32_gradients_match_torch(rng):
    fn, ft, shapes = PROGRAMS["tanh_affine"]
    values = [rng.standard_normal(s) for s in shapes]
    ns, ts = both(*values, dtype=np.float32)
    fn(*ns).backward()
    ft(*ts).backward()
    for a, b in zip(ns, ts):
        assert a.grad.dtype == nb.float32
        assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)


def test_grad_and_higher_order():
    x = nb.tensor([1.0, 2.0], dtype=nb.float64, requires_grad=True)
    y = (x ** 3).sum()
    (g,) = nb.grad(y, x, create_graph=True)
    assert_close(g, [3.0, 12.0])
    (h,) = nb.grad(g.sum(), x)
    assert_close(h, [6.0, 12.0])
    assert x.grad is None  # grad() leaves .grad alone
    z = nb.tensor([1.0], requires_grad=True)
    with pytest.raises(nb.Error):
        nb.grad((x * 2).sum(), [x, z])
    gx, gz = nb.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz.tolist() == [0.0]


def test_backward_accumulates_and_resets():
    w = nb.ones(3, requires_grad=True)
    (w * 2).sum().backward()
    (w * 3).sum().backward()
    assert w.grad.tolist() == [5.0, 5.0, 5.0]
    w.grad = None
    assert w.grad is None
    nb.backward([(w * w).sum()])
    assert w.grad.tolist() == [2.0, 2.0, 2.0]
    v = nb.ones(2, requires_grad=True) * 3
    v.backward(nb.tensor([1.0, 2.0]))
    with pytest.raises(nb.Error):
        (nb.ones(2, requires_grad=True) * 2).backward()  # a non-scalar needs a gradient


def test_no_grad():
    w = nb.ones(2, requires_grad=True)
    with nb.no_grad():
        assert not nb.is_grad_enabled()
        y = w * 2
        with nb.enable_grad():
            assert nb.is_grad_enabled()
        assert not nb.is_grad_enabled()
    assert nb.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @nb.no_grad()
    def f(t):
        return t * 2

    assert not f(w).requires_grad and (w * 2).requires_grad
    with nb.set_grad_enabled(False):
        assert not nb.is_grad_enabled()
    assert nb.is_grad_enabled()
    try:
        with nb.no_grad():
            raise KeyError
    except KeyError:
        pass
    assert nb.is_grad_enabled()


def f_vec(x):
    return nb.tanh(x[:3] * x[1:4]) + nb.sum(x * x)


def t_vec(x):
    return torch.tanh(x[:3] * x[1:4]) + torch.sum(x * x)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_jacobian_matches_torch(mode, rng):
    x = rng.standard_normal(5)
    J = nb.jacobian(f_vec, nb.tensor(x), mode=mode)
    Jt = taf.jacobian(t_vec, torch.tensor(x))
    assert J.shape == (3, 5)
    assert_close(J, Jt, rtol=1e-10, atol=1e-12)
    Jd = nb.jacobian(f_vec, nb.tensor(x), layout="denominator", mode=mode)
    assert_close(Jd, Jt.T, rtol=1e-10, atol=1e-12)


def test_jacobian_of_several_inputs(rng):
    A, x = rng.standard_normal((3, 4)), rng.standard_normal(4)
    JA, Jx = nb.jacobian(lambda a, v: nb.tanh(a @ v), (nb.tensor(A), nb.tensor(x)))
    tA, tx = taf.jacobian(lambda a, v: torch.tanh(a @ v), (torch.tensor(A), torch.tensor(x)))
    assert JA.shape == (3, 12) and Jx.shape == (3, 4)
    assert_close(JA, tA.reshape(3, 12), rtol=1e-10)
    assert_close(Jx, tx, rtol=1e-10)


def test_hessian_hvp_jvp_vjp_match_torch(rng):
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    v = rng.standard_normal(4)

    def fn(t):
        return nb.sum(nb.tanh(nb.tensor(A) @ t)) + (t * t * t).sum()

    def ft(t):
        return torch.sum(torch.tanh(torch.tensor(A) @ t)) + (t * t * t).sum()

    H = nb.hessian(fn, nb.tensor(x))
    Ht = taf.hessian(ft, torch.tensor(x))
    assert_close(H, Ht, rtol=1e-9, atol=1e-12)
    assert_close(nb.hvp(fn, nb.tensor(x), nb.tensor(v)), Ht @ torch.tensor(v), rtol=1e-9, atol=1e-12)

    out, tangent = nb.jvp(f_vec, nb.tensor(x[:5] if len(x) >= 5 else np.r_[x, 0.5]), nb.ones(5, dtype=nb.float64))
    x5 = torch.tensor(np.r_[x, 0.5])
    to, tt = taf.jvp(t_vec, x5, torch.ones(5, dtype=torch.float64))
    assert_close(out, to, rtol=1e-12)
    assert_close(tangent, tt, rtol=1e-10, atol=1e-12)

    out, pullback = nb.vjp(f_vec, nb.tensor(np.r_[x, 0.5]))
    u = nb.tensor([1.0, -2.0, 0.5], dtype=nb.float64)
    (g,) = pullback(u)
    _, gt = taf.vjp(t_vec, x5, torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    assert_close(g, gt, rtol=1e-10, atol=1e-12)
    (g2,) = pullback(u * 2)  # callable many times
    assert_close(g2, 2 * gt, rtol=1e-10, atol=1e-12)

    d = nb.jacobian_diagonal(nb.tanh, nb.tensor(x))
    assert_close(d, 1 - np.tanh(x) ** 2, rtol=1e-12)


class Boom(Exception):
    pass


def test_python_exception_in_a_callable_propagates():
    calls = []

    def f(x):
        calls.append(1)
        if len(calls) >= 1:
            raise Boom("from inside f")
        return x

    with pytest.raises(Boom, match="from inside f"):
        nb.jacobian(f, nb.ones(3))
    for transform in (nb.hessian, nb.jacobian_diagonal):
        with pytest.raises(Boom):
            transform(f, nb.ones(3))
    with pytest.raises(Boom):
        nb.hvp(f, nb.ones(3), nb.ones(3))
    with pytest.raises(Boom):
        nb.gradcheck(lambda x: f(x), [nb.ones(2)])

    # an exception raised only after some calls succeeded (in forward mode's tangents pass, say)
    def g(x):
        y = nb.tanh(x)
        raise ZeroDivisionError("late")

    with pytest.raises(ZeroDivisionError, match="late"):
        nb.jacobian(g, nb.ones(4), mode="forward")
    # the engine is still usable afterwards
    assert nb.jacobian(nb.tanh, nb.zeros(2)).tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_callable_returning_a_non_tensor():
    with pytest.raises(TypeError, match="returned None"):
        nb.jacobian(lambda x: None, nb.ones(2))
    with pytest.raises(TypeError, match="returned a str"):
        nb.jacobian(lambda x: "no", nb.ones(2))
    with pytest.raises(nb.Error, match="layout"):
        nb.jacobian(nb.tanh, nb.ones(2), layout="sideways")


def test_gradcheck():
    r = nb.gradcheck(lambda a, b: nb.sum(nb.tanh(a @ b)), [nb.randn(3, 4), nb.randn(4, 2)])
    assert r and r.ok and len(r.inputs) == 2
    assert all(i.max_abs_error < 1e-6 for i in r.inputs)
    J = nb.numeric_jacobian(lambda x: x * x, nb.tensor([1.0, 2.0], dtype=nb.float64))
    assert_close(J, [[2.0, 0.0], [0.0, 4.0]], rtol=1e-6, atol=1e-8)
