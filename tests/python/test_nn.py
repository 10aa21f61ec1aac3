"""nn, optim, data, checkpoints and the training loop from Python."""
import json
import os
import struct

import numpy as np
import pytest
import torch

import nabla as nb
from conftest import assert_close


def torch_linear_like(lin):
    t = torch.nn.Linear(lin.in_features, lin.out_features)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(lin.weight.detach().numpy().copy()))
        t.bias.copy_(torch.from_numpy(lin.bias.detach().numpy().copy()))
    return t


def test_linear_and_sequential_match_torch(rng):
    model = nb.nn.Sequential(nb.nn.Linear(5, 8), nb.nn.ReLU(), nb.nn.Linear(8, 3))
    tmodel = torch.nn.Sequential(torch_linear_like(model[0]), torch.nn.ReLU(), torch_linear_like(model[2]))
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = np.array([0, 2, 1, 1], dtype=np.float32)
    loss = nb.cross_entropy(model(nb.tensor(x)), y)
    tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y).long())
    assert_close(loss, tloss, rtol=1e-5)
    loss.backward()
    tloss.backward()
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        assert_close(p.grad, tp.grad, rtol=1e-4, atol=1e-6)
    assert len(model) == 3 and model.num_parameters() == 5 * 8 + 8 + 8 * 3 + 3
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert "Linear(in_features=5, out_features=8, bias=true)" in repr(model)
    assert model.eval() is model and not model.training


class Scaled(nb.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nb.nn.Linear(4, 3, dtype=nb.float64)
        self.scale = nb.nn.Parameter(nb.full((3,), 2.0, dtype=nb.float64))
        self.note = "not a parameter"
        self.buffer = nb.ones(3)  # no requires_grad: not a parameter

    def forward(self, x):
        return nb.tanh(self.fc(x)) * self.scale


def test_python_module_subclass():
    m = Scaled()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "fc.weight", "fc.bias"]  # own parameters first, then children's
    x = nb.randn(2, 4, dtype=nb.float64)
    out = m(x)
    assert out.shape == (2, 3)
    out.sum().backward()
    assert m.scale.grad is not None and m.fc.weight.grad is not None
    # the same module inside a C++ Sequential, called from C++
    seq = nb.nn.Sequential(Scaled(), nb.nn.Tanh())
    assert seq(x).shape == (2, 3)
    assert seq.num_parameters() == 4 * 3 + 3 + 3
    assert "Scaled()" in repr(seq)
    with pytest.raises(nb.Error, match="already registered"):
        m.scale = nb.nn.Parameter(nb.ones(3))
    # an optimizer over a Python module's parameters
    opt = nb.optim.SGD(m, lr=0.1)
    before = m.scale.detach().numpy().copy()
    opt.step()
    assert not np.allclose(before, m.scale.detach().numpy())


class Broken(nb.nn.Module):
    def forward(self, x):
        raise ValueError("forward failed")


def test_python_forward_exception_through_cpp():
    seq = nb.nn.Sequential(nb.nn.ReLU(), Broken())
    with pytest.raises(ValueError, match="forward failed"):
        seq(nb.ones(2, 2))


def run_steps(opt_nb, opt_t, pn, pt, steps=5):
    for _ in range(steps):
        for p, t in ((pn, pt),):
            opt_nb.zero_grad()
            opt_t.zero_grad()
            nb.sum(nb.sin(p) * p).backward()
            torch.sum(torch.sin(t) * t).backward()
            opt_nb.step()
            opt_t.step()


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
])
def test_optimizers_match_torch(name, kw, rng):
    x = rng.standard_normal(6)
    pn = nb.tensor(x, requires_grad=True)
    pt = torch.tensor(x, requires_grad=True)
    opt_nb = getattr(nb.optim, name)([pn], **kw)
    opt_t = getattr(torch.optim, name)([pt], **kw)
    run_steps(opt_nb, opt_t, pn, pt)
    assert_close(pn, pt, rtol=1e-10, atol=1e-12)
    assert opt_nb.steps == 5 and opt_nb.lr == kw["lr"]
    assert all(isinstance(v, nb.Tensor) for v in opt_nb.state_dict().values())


def test_schedules_and_clipping():
    p = nb.ones(4, requires_grad=True)
    opt = nb.optim.SGD([p], lr=1.0)
    sched = nb.optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(4):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 0.5, 0.5, 0.25]
    p.grad = nb.full((4,), 3.0)
    norm = nb.optim.clip_grad_norm_([p], 1.0)
    assert abs(norm - 6.0) < 1e-6 and abs(p.grad.norm().item() - 1.0) < 1e-5


def test_dataloader_over_numpy():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    loader = nb.data.DataLoader(X, y, batch_size=4, shuffle=True, seed=3)
    assert len(loader) == 3
    seen = []
    for xb, yb in loader:
        assert xb.shape[1] == 2 and xb.shape[0] == yb.shape[0]
        np.testing.assert_array_equal(xb.numpy()[:, 0], 2 * yb.numpy())  # rows stay with their labels
        seen += yb.tolist()
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    first = [yb.tolist() for _, yb in loader]  # epoch 1: another order
    loader.set_epoch(0)
    again = [yb.tolist() for _, yb in loader]
    assert sum(again, []) == seen and sum(first, []) != seen
    plain = nb.data.DataLoader(X, batch_size=5, shuffle=False)
    assert [b.shape for b in plain] == [(5, 2), (5, 2)]
    with pytest.raises(nb.Error, match="10 feature rows but 9 labels"):
        nb.data.DataLoader(X, y[:9])


def read_safetensors(path):
    """An independent reader of the format: 8-byte little-endian header length,
    the JSON header, then the data section."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        dt = {"F32": np.float32, "F64": np.float64}[info["dtype"]]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt).reshape(info["shape"])
    return out, meta


def write_safetensors(path, tensors):
    """An independent writer (no padding, other order of keys)."""
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": "F64" if a.dtype == np.float64 else "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def test_safetensors_checkpoints_are_readable_by_other_readers(tmp_path):
    model = nb.nn.mlp([3, 4, 2], "tanh")
    path = str(tmp_path / "m.safetensors")
    model.save(path, {"note": "hello"})
    tensors, meta = read_safetensors(path)
    assert meta == {"note": "hello"}
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(tensors[name], p.detach().numpy())
    other = nb.nn.mlp([3, 4, 2], "tanh", generator=nb.Generator(99))
    other.load(path)
    x = nb.randn(2, 3)
    assert nb.equal(other(x), model(x))
    # and nabla reads what another writer wrote
    theirs = str(tmp_path / "theirs.safetensors")
    write_safetensors(theirs, {"w": np.arange(6.0).reshape(2, 3), "b": np.ones(2, dtype=np.float32)})
    d = nb.load_safetensors(theirs)
    assert d["w"].dtype == nb.float64 and d["w"].tolist() == [[0, 1, 2], [3, 4, 5]] and d["b"].dtype == nb.float32
    with open(theirs, "r+b") as f:
        f.write(struct.pack("<Q", 10 ** 9))
    with pytest.raises(nb.Error) as e:
        nb.load_safetensors(theirs)
    assert "theirs.safetensors" in str(e.value) and e.value.kind == "io"


def test_train_matches_the_command_options(tmp_path):
    # a small separable CSV problem: the label is which half x0 + x1 falls in
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n" + "".join(f"{a:.5f},{b:.5f},{c}\n" for (a, b), c in zip(X, y)))
    seen = []
    out = str(tmp_path / "ck.safetensors")
    h = nb.train(data=str(csv), layers="2,8,2", epochs=3, batch_size=16, lr=0.05, seed=1, validation=0.2,
                 out=out, on_epoch=seen.append)
    assert [m["epoch"] for m in h] == [1, 2, 3] and len(seen) == 3
    assert h[-1]["validation_accuracy"] > 0.8 and h[-1]["train_loss"] < h[0]["train_loss"]
    tensors, meta = read_safetensors(out)
    assert "model.0.weight" in tensors and meta.get("epochs") == "3"
    saved = nb.load_model(out)
    assert saved.epochs == 3 and saved.config.layers == [2, 8, 2]
    mine = nb.nn.mlp([2, 8, 2], "relu").load(out)  # a checkpoint's "model." tensors into a model built here
    probe = nb.randn(5, 2)
    assert nb.equal(mine(probe), saved.model(probe))
    with pytest.raises(TypeError, match="unknown option 'bogus'"):
        nb.train(data=str(csv), bogus=1)
    with pytest.raises(nb.Error):
        nb.train(data=str(csv), layers=[2], epochs=1)  # no output layer

    def stop(m):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        nb.train(data=str(csv), layers="2,4,2", epochs=2, on_epoch=stop)


def test_data_parallel_backward_matches_backward(rng):
    model = nb.nn.mlp([6, 16, 3], "tanh", dtype=nb.float64)
    x = nb.tensor(rng.standard_normal((300, 6)))
    y = nb.tensor(rng.integers(0, 3, 300).astype(np.float64))
    loss = nb.cross_entropy(model(x), y)
    loss.backward()
    expected = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    calls = []

    def loss_fn(xs, ys):
        calls.append(xs.shape[0])
        return nb.cross_entropy(model(xs), ys)

    lv = nb.data_parallel_backward(loss_fn, x, y, model)
    assert abs(lv - loss.item()) < 1e-12 and sum(calls) == 300
    for p, g in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-10, atol=1e-12)

    def failing(xs, ys):
        raise KeyError("shard")

    with pytest.raises(KeyError):
        nb.data_parallel_backward(failing, x, y, model)


def test_data_utilities_and_trainer(tmp_path):
    csv = tmp_path / "d.csv"
    rows = [(i % 7 / 7.0, (i * 3 % 5) / 5.0, i % 2) for i in range(40)]
    csv.write_text("x,y,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    ds = nb.data.read_csv(str(csv))
    assert len(ds) == 40 and ds.num_features == 2 and ds.num_classes == 2 and ds.feature_names == ["x", "y"]
    tr, va = nb.data.train_validation_split(ds, 0.25, seed=1)
    assert len(tr) == 30 and len(va) == 10
    norm = nb.data.Normalizer.fit(tr.features)
    z = norm.apply(tr.features).numpy()
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    with pytest.raises(nb.Error) as e:
        nb.data.read_csv(str(tmp_path / "missing.csv"))
    assert "missing.csv" in str(e.value)

    c = nb.TrainConfig()
    c.data, c.layers, c.epochs, c.batch_size, c.lr = str(csv), [2, 4, 2], 2, 8, 0.01
    t = nb.Trainer(c)
    h = t.fit()
    assert t.epochs_done == 2 and len(h) == 2
    ev = nb.evaluate(t.model, c, t.validation_data)
    assert 0 <= ev.accuracy <= 1 and len(ev.confusion) == 2
    assert isinstance(t.model, nb.nn.Sequential) and t.model.num_parameters() == 2 * 4 + 4 + 4 * 2 + 2


def test_initializers_dropout_and_schedules():
    w = nb.empty(64, 32)
    nb.nn.init.xavier_uniform_(w, generator=nb.Generator(0))
    bound = (6 / (64 + 32)) ** 0.5
    assert abs(w).max().item() <= bound and abs(w).max().item() > 0.9 * bound
    nb.nn.init.zeros_(w)
    assert w.sum().item() == 0
    d = nb.nn.Dropout(0.5, seed=3)
    y = d(nb.ones(1000))
    kept = (y > 0).sum().item()
    assert 400 < kept < 600 and set(np.unique(y.numpy())) <= {0.0, 2.0}
    assert nb.equal(d.eval()(nb.ones(10)), nb.ones(10))
    opt = nb.optim.Adam([nb.ones(2, requires_grad=True)], lr=1.0)
    cos = nb.optim.CosineAnnealingLR(opt, T_max=4)
    assert abs(cos.lr_at(2) - 0.5) < 1e-12 and abs(cos.lr_at(4)) < 1e-12
    warm = nb.optim.WarmupLR(opt, warmup=2, start_factor=0.5)
    assert abs(warm.lr_at(0) - 0.5) < 1e-12 and abs(warm.lr_at(2) - 1.0) < 1e-12
