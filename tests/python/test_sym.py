"""nabla.sym.diff: the closed form, its printed forms, its value against autodiff and torch."""
import numpy as np
import pytest
import torch

import nabla as nb


def test_quadratic_form_gradient_and_hessian():
    d = nb.sym.diff("x'*A*x", let="x:vector(n) A:matrix(n,n)", wrt="x")
    assert d.text == "(A + A')*x" and d.kind == "gradient" and d.shape == "n×1"
    assert d.latex == r"\left(A + A^{\top}\right) x"
    assert d._repr_latex_() == "$" + d.latex + "$"
    assert "product rule" in d.steps and d.steps.count("\n") >= 3
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = np.array([1.0, -2.0])
    np.testing.assert_allclose(d.at(x=x, A=A), (A + A.T) @ x)
    h = nb.sym.diff("x'*A*x", let="x:vector(n) A:matrix(n,n)", wrt="x", order=2)
    assert h.text == "A + A'" and h.kind == "hessian"
    np.testing.assert_allclose(h.at({"x": x, "A": A}), A + A.T)


def test_value_matches_torch_autograd(rng):
    d = nb.sym.diff("sum(tanh(W*x + b))", let="W:matrix(m,n) x:vector(n) b:vector(m)", wrt="W")
    W, x, b = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
    Wt = torch.tensor(W, requires_grad=True)
    torch.sum(torch.tanh(Wt @ torch.tensor(x) + torch.tensor(b))).backward()
    np.testing.assert_allclose(d.at(W=W, x=x, b=b), Wt.grad.numpy(), rtol=1e-12)
    assert d.check()  # against nabla's autodiff and finite differences, at random values


def test_jacobian_layouts():
    num = nb.sym.diff("tanh(A*x)", let="x:vector(n) A:matrix(m,n)", wrt="x")
    den = nb.sym.diff("tanh(A*x)", let="x:vector(n) A:matrix(m,n)", wrt="x", layout="denominator")
    assert num.kind == "jacobian" and num.shape == "m×n" and den.shape == "n×m"
    A, x = np.arange(6.0).reshape(3, 2) / 10, np.array([0.5, -1.0])
    Jn, Jd = num.at(A=A, x=x), den.at(A=A, x=x)
    np.testing.assert_allclose(Jn, Jd.T)
    Ja = nb.jacobian(lambda t: nb.tanh(nb.tensor(A) @ t), nb.tensor(x))
    np.testing.assert_allclose(Jn, Ja.numpy(), rtol=1e-12)


def test_scalar_results_are_floats():
    d = nb.sym.diff("b^2*c", let="b:scalar c:scalar", wrt="b")
    assert d.at(b=3, c=2) == 12.0


def test_parse_and_evaluate():
    e = nb.sym.parse("A*x + x", let="x:vector(n) A:matrix(n,n)")
    assert e.shape == "n×1" and sorted(e.variables) == ["A", "x"]
    np.testing.assert_allclose(nb.sym.evaluate("A*x", let="x:vector(n) A:matrix(n,n)", x=[1, 1], A=[[1, 2], [3, 4]]),
                               [[3], [7]])


def test_errors_name_the_column():
    with pytest.raises(nb.Error) as e:
        nb.sym.diff("x + ", let="x:vector(n)", wrt="x")
    assert str(e.value).startswith("col 5:") and e.value.kind == "parse"
    with pytest.raises(nb.Error, match="inner dimensions"):
        nb.sym.diff("x*x", let="x:vector(n)", wrt="x")
    with pytest.raises(nb.Error):
        nb.sym.diff("x'*x", let="x:vector(n)", wrt="y")
    d = nb.sym.diff("x'*x", let="x:vector(n)", wrt="x")
    with pytest.raises(nb.Error):
        d.at(x=[[1, 2], [3, 4]])  # not a vector
    with pytest.raises(TypeError, match="wrt"):
        nb.sym.diff("x'*x", let="x:vector(n)")


def test_tensor_valued_derivatives_match_torch(rng):
    # A matrix by a matrix: the tensor shaped f.shape + X.shape, as torch's (and JAX's) jacobian
    d = nb.sym.diff("tanh(A*X)", let="A:matrix(m,k) X:matrix(k,n)", wrt="X")
    assert d.vec_form and d.index == "∂f_{ij}/∂X_{kl} = (1 - tanh(A*X).^2)_{ij} A_{ik} δ_{jl}"
    A, X = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    J = torch.autograd.functional.jacobian(lambda x: torch.tanh(torch.tensor(A) @ x), torch.tensor(X))
    T = d.at(A=A, X=X)
    assert T.shape == (2, 4, 3, 4)
    np.testing.assert_allclose(T, J.numpy(), rtol=1e-12, atol=1e-14)
    # A vector by a matrix, and a matrix by a scalar (shaped like f)
    w = nb.sym.diff("W*x", let="W:matrix(m,n) x:vector(n)", wrt="W")
    W, x = rng.standard_normal((3, 2)), rng.standard_normal(2)
    Jw = torch.autograd.functional.jacobian(lambda v: v @ torch.tensor(x), torch.tensor(W))
    np.testing.assert_allclose(w.at(W=W, x=x), Jw.numpy(), rtol=1e-12)
    t = nb.sym.diff("inv(A + t*B)", let="A:matrix(n,n) B:matrix(n,n) t:scalar", wrt="t")
    A2, B2 = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal((3, 3))
    Jt = torch.autograd.functional.jacobian(lambda s: torch.linalg.inv(torch.tensor(A2) + s * torch.tensor(B2)),
                                            torch.tensor(0.5, dtype=torch.float64))
    assert not t.vec_form and t.index is None
    np.testing.assert_allclose(t.at(A=A2, B=B2, t=0.5), Jt.numpy(), rtol=1e-10)
