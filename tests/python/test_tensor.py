"""Tensors: factories, metadata, operators, indexing, repr and errors."""
import math

import numpy as np
import pytest

import nabla as nb
from conftest import assert_close


def test_factories_and_metadata():
    t = nb.zeros(2, 3)
    assert t.shape == (2, 3) and t.dtype == nb.float32 and t.ndim == 2 and t.numel() == 6
    assert nb.ones((4,), dtype=nb.float64).dtype == nb.float64
    assert nb.full((2, 2), 7.0).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert nb.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert nb.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert nb.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]]
    assert nb.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
    assert nb.tensor([[1, 2], [3, 4]]).dtype == nb.float32  # lists: float32, as torch.tensor
    assert nb.tensor(np.zeros(3)).dtype == nb.float64       # float64 arrays stay float64
    assert nb.tensor([1.0], dtype="float64").dtype == nb.float64
    assert nb.scalar_tensor(2.5).shape == ()
    assert repr(nb.float32) == "nabla.float32" and nb.float64.itemsize == 8
    assert nb.zeros(3, requires_grad=True).requires_grad


def test_random_is_seeded():
    a = nb.randn(3, generator=nb.Generator(5))
    b = nb.randn(3, generator=nb.Generator(5))
    assert nb.equal(a, b)
    nb.manual_seed(1)
    c = nb.rand(4)
    nb.manual_seed(1)
    assert nb.equal(c, nb.rand(4))
    assert 0 <= c.min().item() and c.max().item() < 1


def test_operators_match_numpy(rng):
    a_np = rng.standard_normal((3, 4)).astype(np.float32)
    b_np = rng.standard_normal((4,)).astype(np.float32)
    a, b = nb.tensor(a_np), nb.tensor(b_np)
    assert_close(a + b, a_np + b_np)
    assert_close(a - 2, a_np - 2)
    assert_close(2 - a, 2 - a_np)
    assert_close(a * b, a_np * b_np)
    assert_close(a / 3, a_np / 3)
    assert_close(1 / (a * a + 1), 1 / (a_np * a_np + 1))
    assert_close(-a, -a_np)
    assert_close(abs(a), np.abs(a_np))
    assert_close(a ** 2, a_np ** 2)
    assert_close(2 ** b, 2 ** b_np, rtol=1e-5)
    assert_close(a @ b, a_np @ b_np)
    assert_close(a @ a.t(), a_np @ a_np.T, rtol=1e-5)
    assert_close(a.T, a_np.T)
    assert_close(a + b_np, a_np + b_np)  # NumPy operands convert
    assert isinstance(b_np + a, nb.Tensor) and isinstance(a_np @ b, nb.Tensor)  # on either side
    assert_close(b_np * a, b_np * a_np)
    assert_close(a < 0, (a_np < 0).astype(np.float32))
    assert_close(a == a, np.ones((3, 4)))
    assert (a == None) is False  # noqa: E711
    assert_close(nb.exp(a), np.exp(a_np), rtol=1e-5)
    assert_close(nb.sigmoid(a), 1 / (1 + np.exp(-a_np)), rtol=1e-5)
    assert_close(a.sum(1), a_np.sum(1), rtol=1e-5)
    assert_close(nb.mean(a, dim=(0, 1)), a_np.mean(), rtol=1e-5)
    assert_close(a.max(dim=1), a_np.max(1))
    assert_close(a.argmax(1), a_np.argmax(1))
    assert_close(nb.softmax(a, 1), np.exp(a_np) / np.exp(a_np).sum(1, keepdims=True), rtol=1e-5)
    assert_close(nb.cat([a, a], 0), np.concatenate([a_np, a_np]))
    assert_close(nb.stack([b, b], 1), np.stack([b_np, b_np], 1))
    assert_close(nb.where(a > 0, a, 0.0), np.where(a_np > 0, a_np, 0))
    assert_close(nb.clamp(a, min=-0.5, max=0.5), np.clip(a_np, -0.5, 0.5))
    assert nb.allclose(a, a_np) and not nb.allclose(a, a_np + 1)


def test_every_elementwise_function_is_bound():
    # the names of nabla/elementwise.def, as Tensor methods and module functions
    names = ["log", "exp", "sqrt", "abs", "sign", "sin", "cos", "sinh", "cosh", "tanh", "sigmoid", "relu",
             "step", "softplus", "square", "atan", "asinh", "erf"]
    x = nb.tensor([0.5, 1.5])
    for n in names:
        f = getattr(nb, n)
        assert nb.equal(f(x), getattr(x, n)()), n
    assert_close(nb.erf(x), [math.erf(0.5), math.erf(1.5)])


def test_in_place():
    t = nb.zeros(3)
    t += 1
    t *= nb.tensor([1.0, 2.0, 3.0])
    t.sub_(1.0)
    assert t.tolist() == [0.0, 1.0, 2.0]
    t.fill_(4).div_(2)
    assert t.tolist() == [2.0, 2.0, 2.0]


def test_indexing():
    a_np = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = nb.tensor(a_np)
    for idx in [0, -1, (1, 2), (slice(None), 1), (Ellipsis, 2), (0, slice(1, 3)), (slice(None, None, 2),),
                (None, 0), (1, Ellipsis, slice(0, 4, 3)), (slice(5, 9),)]:
        assert_close(a[idx], a_np[idx])
    assert_close(a[:, [2, 0]], a_np[:, [2, 0]])
    assert a[1, 2, 3].item() == 23.0
    assert len(a) == 2 and [r.shape for r in a] == [(3, 4), (3, 4)]
    a[0, 1] = 0.0
    a[1, :, 0] = nb.tensor([7.0, 8.0, 9.0])
    a_np[0, 1] = 0
    a_np[1, :, 0] = [7, 8, 9]
    assert_close(a, a_np)
    with pytest.raises(nb.Error, match="out of range for dimension 0 of size 2"):
        a[2]
    with pytest.raises(nb.Error, match="not positive"):
        a[::-1]
    with pytest.raises(nb.Error, match="4 indices for a tensor of rank 3"):
        a[0, 0, 0, 0]
    with pytest.raises(nb.Error, match="index tensor selects a copy"):
        a[:, [0, 1]] = 1.0


def test_views_share_storage():
    a = nb.zeros(2, 3)
    v = a.reshape(3, 2)
    v.fill_(1)
    assert a.sum().item() == 6
    assert a.t().data_ptr() == a.data_ptr()
    assert not a.t().is_contiguous() and a.t().contiguous().is_contiguous()


def test_repr_like_pytorch():
    assert repr(nb.tensor([1.0, 2.0])) == "tensor([1., 2.], shape=[2], dtype=float32)"
    assert repr(nb.tensor([0.5], requires_grad=True)).endswith("requires_grad=True)")
    y = nb.tensor([0.5], requires_grad=True) * 2
    assert "grad_fn=" in repr(y)


def test_errors_carry_the_cpp_message():
    with pytest.raises(nb.Error) as e:
        nb.zeros(2, 3) @ nb.zeros(4, 5)
    msg = str(e.value)
    assert "matmul" in msg and "[2,3]" in msg and "[4,5]" in msg and "\n" not in msg
    assert e.value.kind in ("shape", "value")
    assert isinstance(e.value, RuntimeError)
    with pytest.raises(nb.Error) as e:
        nb.zeros(2) + nb.zeros(2, dtype=nb.float64)
    assert "dtype" in str(e.value) or "float" in str(e.value)
    with pytest.raises(nb.Error, match="bool"):
        bool(nb.zeros(2))
    with pytest.raises(TypeError):
        nb.zeros(2) + "text"
    with pytest.raises(nb.Error, match="float16"):
        nb.from_numpy(np.zeros(2, dtype=np.float16))


def public_functions(header):
    """The names of the functions declared in a public header (Tensor name(...);)."""
    import os
    import re
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(root, "include", "nabla", header)) as f:
        text = f.read()
    names = set(re.findall(r"^(?:[A-Z]\w*|void|double|bool|std::vector<Tensor>)\s+(\w+)\(", text, re.M))
    with open(os.path.join(root, "include", "nabla", "elementwise.def")) as f:
        names |= set(re.findall(r"^NABLA_ELEMENTWISE\((\w+),", f.read(), re.M))
    return names


@pytest.mark.parametrize("header", ["ops.hpp", "nn_functional.hpp", "tensor.hpp", "autograd.hpp", "functional.hpp"])
def test_every_public_op_is_bound_under_its_name(header):
    # from_blob wraps raw pointers: from_numpy and from_dlpack are its Python forms
    missing = sorted(n for n in public_functions(header) - {"from_blob"} if not hasattr(nb, n))
    assert not missing, f"not bound: {missing}"
