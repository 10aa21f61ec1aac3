"""Zero-copy exchange with NumPy (buffer protocol, from_numpy, .numpy()) and
PyTorch (DLPack), checked by buffer addresses, and the lifetimes behind it."""
import gc

import numpy as np
import pytest
import torch

import nabla as nb


def address(a):
    return a.__array_interface__["data"][0]


def test_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = nb.from_numpy(a)
    assert t.data_ptr() == address(a) and t.shape == (2, 3) and t.dtype == nb.float32
    a[0, 0] = 42  # a write on either side is seen by the other
    assert t[0, 0].item() == 42
    t[1, 2] = -1
    assert a[1, 2] == -1


def test_from_numpy_non_contiguous_and_float64():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    v = a[:, 1::2].T  # strides (16, 32) bytes, not contiguous
    t = nb.from_numpy(v)
    assert t.data_ptr() == address(v) and t.strides == (2, 4) and t.dtype == nb.float64
    np.testing.assert_array_equal(t.numpy(), v)


def test_from_numpy_keeps_the_array_alive():
    a = np.full((1000,), 3.0, dtype=np.float32)
    t = nb.from_numpy(a[::2])  # a strided view: the view holds its base
    del a
    gc.collect()
    junk = [np.ones(1000, dtype=np.float32) * 9 for _ in range(50)]  # reuse freed memory, if any was
    assert t.sum().item() == 1500.0
    del junk


def test_numpy_shares_memory_and_lifetime():
    t = nb.arange(6.0).reshape(2, 3)
    a = t.numpy()
    assert address(a) == t.data_ptr() and a.shape == (2, 3)
    b = np.asarray(t)  # the buffer protocol
    assert address(b) == t.data_ptr()
    m = memoryview(t)
    assert m.format == "f" and m.shape == (2, 3)
    ptr = t.data_ptr()
    del t, m
    gc.collect()
    assert address(a) == ptr and a.tolist() == [[0, 1, 2], [3, 4, 5]]
    a[0, 0] = 5
    assert b[0, 0] == 5
    t2 = nb.ones(3, 4).t()  # strides carried over
    assert t2.numpy().strides == (4, 16)


def test_numpy_round_trip_is_one_buffer():
    a = np.zeros((4, 4), dtype=np.float32)
    t = nb.from_numpy(a)
    assert address(t.numpy()) == address(a)


def test_numpy_refusals():
    with pytest.raises(nb.Error, match="requires grad"):
        nb.ones(2, requires_grad=True).numpy()
    assert nb.ones(2, requires_grad=True).detach().numpy().tolist() == [1, 1]
    ro = np.zeros(3, dtype=np.float32)
    ro.flags.writeable = False
    with pytest.raises(nb.Error, match="read-only"):
        nb.from_numpy(ro)
    with pytest.raises(nb.Error, match="negative"):
        nb.from_numpy(np.zeros(4, dtype=np.float32)[::-1])
    with pytest.raises(nb.Error, match="neither float32 nor float64"):
        nb.from_numpy(np.zeros(3, dtype=np.int64))


def test_dlpack_from_torch_shares_memory():
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = nb.from_dlpack(x)
    assert t.data_ptr() == x.data_ptr() and t.shape == (3, 4)
    x[0, 0] = 100
    assert t[0, 0].item() == 100
    xt = x.t()  # non-contiguous
    u = nb.from_dlpack(xt)
    assert u.data_ptr() == xt.data_ptr() and u.strides == tuple(xt.stride())
    assert nb.equal(u, nb.tensor(xt.numpy()))
    # a capsule is read once
    cap = torch.utils.dlpack.to_dlpack(x)
    nb.from_dlpack(cap)
    with pytest.raises(TypeError, match="read once"):
        nb.from_dlpack(cap)


def test_dlpack_to_torch_and_numpy_shares_memory():
    t = nb.arange(6.0, dtype=nb.float64).reshape(2, 3)
    x = torch.from_dlpack(t)
    assert x.data_ptr() == t.data_ptr() and x.dtype == torch.float64 and tuple(x.shape) == (2, 3)
    x[1, 1] = -7
    assert t[1, 1].item() == -7
    a = np.from_dlpack(t)
    assert address(a) == t.data_ptr()
    s = nb.ones(3, 4).t()
    xs = torch.utils.dlpack.from_dlpack(s.__dlpack__())
    assert xs.data_ptr() == s.data_ptr() and tuple(xs.stride()) == (1, 4)


def test_dlpack_lifetimes():
    # nabla → torch: torch keeps the nabla storage alive
    t = nb.full((256,), 2.0)
    x = torch.from_dlpack(t)
    del t
    gc.collect()
    assert x.sum().item() == 512.0
    # torch → nabla: nabla keeps the torch storage alive
    y = torch.full((256,), 3.0)
    u = nb.from_dlpack(y)
    del y
    gc.collect()
    assert u.sum().item() == 768.0
    # numpy → torch → nabla → numpy: one buffer through all of them
    a = np.linspace(0, 1, 8, dtype=np.float32)
    v = nb.from_dlpack(torch.from_numpy(a))
    assert v.data_ptr() == address(a)
    del a
    gc.collect()
    assert abs(v.sum().item() - 4.0) < 1e-6


def test_dlpack_refusals():
    with pytest.raises(nb.Error, match="neither float32 nor float64"):
        nb.from_dlpack(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(nb.Error, match="requires grad"):
        nb.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(TypeError):
        nb.from_dlpack(3.0)
    assert nb.ones(2).__dlpack_device__() == (1, 0)


def test_gradients_flow_through_wrapped_memory():
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    t = nb.from_numpy(a).requires_grad_()
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * a)


def test_interpreter_exit_with_shared_tensors_alive():
    # tensors wrapping NumPy and torch memory, and arrays and torch tensors
    # wrapping nabla memory, all alive when the interpreter shuts down
    import subprocess
    import sys
    code = """
import numpy as np, torch, nabla as nb
t = nb.from_numpy(np.ones(10, dtype=np.float32)[::2])
u = nb.from_dlpack(torch.ones(5).t())
n = np.from_dlpack(nb.ones(3))
x = torch.from_dlpack(nb.ones(3))
unused = nb.ones(2).__dlpack__()
class M(nb.nn.Module):
    def forward(self, x):
        return x
seq = nb.nn.Sequential(M(), nb.nn.Linear(2, 2))
print(float(t.sum()) + float(u.sum()))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "10.0"
