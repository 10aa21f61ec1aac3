"""nabla.nn: modules. Subclass nabla.nn.Module in Python as in PyTorch:

    class Net(nabla.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nabla.nn.Linear(4, 3)
            self.scale = nabla.ones(3, requires_grad=True)  # a parameter
        def forward(self, x):
            return nabla.tanh(self.fc(x)) * self.scale
"""
from . import _nabla
from ._nabla import nn as _cnn
from ._nabla.nn import (  # noqa: F401
    GELU, Dropout, LeakyReLU, Linear, LogSoftmax, ReLU, Sequential, Sigmoid, Softmax, Tanh, init, make_activation, mlp)


def Parameter(tensor):
    """A tensor as a parameter: a leaf that requires grad (sharing the tensor's memory)."""
    return tensor.detach().requires_grad_(True)


class Module(_cnn.Module):
    """A module defined in Python: attributes that are tensors requiring grad become
    parameters, and attributes that are modules become children. parameters() lists
    the module's own parameters first, in assignment order, then each child's."""

    def __init__(self):
        _cnn.Module.__init__(self)
        object.__setattr__(self, "_registered", set())

    def __setattr__(self, name, value):
        registered = self.__dict__.get("_registered")
        if registered is not None and not name.startswith("_"):
            is_param = isinstance(value, _nabla.Tensor) and value.requires_grad
            is_module = isinstance(value, _cnn.Module)
            if is_param or is_module:
                if name in registered:
                    raise _nabla.Error(f"{type(self).__name__}.{name} is already registered; assign into it "
                                       f"(.copy_()) or use a new name")
                if is_param:
                    self._register_parameter(name, value)
                else:
                    self._register_module(name, value)
                registered.add(name)
        object.__setattr__(self, name, value)

    def register_parameter(self, name, tensor):
        setattr(self, name, Parameter(tensor) if not tensor.requires_grad else tensor)

    def register_module(self, name, module):
        setattr(self, name, module)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def describe(self):
        return f"{type(self).__name__}()"


def _state_dict(self):
    """name → parameter, in registration order (the tensors themselves, not copies)."""
    return dict(self.named_parameters())


def _load_state_dict(self, state, strict=True):
    """Copies state's tensors into the parameters of the same names."""
    own = dict(self.named_parameters())
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        raise _nabla.Error(f"load_state_dict: missing {missing}, unexpected {unexpected}")
    with _nabla_no_grad():
        for k, p in own.items():
            if k in state:
                v = state[k]
                v = v if isinstance(v, _nabla.Tensor) else _nabla.tensor(v, dtype=p.dtype)
                if tuple(v.shape) != tuple(p.shape):
                    raise _nabla.Error(f"load_state_dict: '{k}' has shape {list(v.shape)}, the parameter {list(p.shape)}")
                p.detach().copy_(v)
    return self


def _save(self, path, metadata=None):
    """Writes the parameters as a safetensors file (names as named_parameters())."""
    _nabla.save_safetensors(path, self.named_parameters(), metadata or {})


def _load(self, path, strict=True):
    """Reads parameters from a safetensors file (one of save(), or a `nabla train` checkpoint's "model." part)."""
    tensors = _nabla.load_safetensors(path)
    if any(k.startswith("model.") for k in tensors):
        tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return _load_state_dict(self, tensors, strict)


class _nabla_no_grad:
    def __enter__(self):
        self._prev = _nabla.is_grad_enabled()
        _nabla.set_grad_enabled(False)

    def __exit__(self, *exc):
        _nabla.set_grad_enabled(self._prev)


_cnn.Module.state_dict = _state_dict
_cnn.Module.load_state_dict = _load_state_dict
_cnn.Module.save = _save
_cnn.Module.load = _load


class functional:
    """nabla.nn.functional: the losses and activations as functions (also at nabla's top level)."""
    mse_loss = staticmethod(_nabla.mse_loss)
    cross_entropy = staticmethod(_nabla.cross_entropy)
    binary_cross_entropy_with_logits = staticmethod(_nabla.binary_cross_entropy_with_logits)
    nll_loss = staticmethod(_nabla.nll_loss)
    relu = staticmethod(_nabla.relu)
    leaky_relu = staticmethod(_nabla.leaky_relu)
    gelu = staticmethod(_nabla.gelu)
    tanh = staticmethod(_nabla.tanh)
    sigmoid = staticmethod(_nabla.sigmoid)
    softplus = staticmethod(_nabla.softplus)
    softmax = staticmethod(_nabla.softmax)
    log_softmax = staticmethod(_nabla.log_softmax)
    dropout = staticmethod(_nabla.dropout)
    linear = staticmethod(_nabla.linear)
