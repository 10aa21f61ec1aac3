"""nabla: matrix calculus and neural-network training.

    import nabla as nb
    W = nb.randn(16, 16, requires_grad=True)
    y = nb.sum(nb.tanh(W @ nb.ones(16)))
    y.backward()            # W.grad
    nb.jacobian(nb.tanh, nb.randn(3))

Tensors share memory with NumPy (nabla.from_numpy, Tensor.numpy(), the buffer
protocol) and with PyTorch (DLPack: nabla.from_dlpack, Tensor.__dlpack__).
Submodules: nabla.nn, nabla.optim, nabla.data, nabla.sym; nabla.train runs
the training loop of the `nabla train` command.
"""
import functools as _functools

from . import _nabla
from ._nabla import is_grad_enabled as _is_grad_enabled, set_grad_enabled as _set_grad_enabled
from ._nabla import *  # noqa: F401,F403  (Tensor, the factories, every op, the transforms)
from ._nabla import Error, Tensor, TrainConfig, Trainer  # noqa: F401

# The compiled submodules of the same names are wrapped by the package's own.
del nn, optim, data, sym  # noqa: F821
from . import nn, optim, data, sym  # noqa: E402,F401
from ._train import train  # noqa: E402,F401

__version__ = "0.1.0"


class _GradMode:
    """A context manager and decorator that sets graph recording in its scope (this thread)."""
    __slots__ = ("_enabled", "_prev")

    def __init__(self, enabled):
        self._enabled = enabled
        self._prev = []

    def __enter__(self):
        self._prev.append(_is_grad_enabled())
        _set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._prev.pop())
        return False

    def __call__(self, fn):
        enabled = self._enabled

        @_functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradMode(enabled):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """with nabla.no_grad(): ... — ops record no graph (as torch.no_grad)."""
    __slots__ = ()

    def __init__(self):
        super().__init__(False)


class enable_grad(_GradMode):
    """with nabla.enable_grad(): ... — ops record the graph again."""
    __slots__ = ()

    def __init__(self):
        super().__init__(True)


class set_grad_enabled(_GradMode):  # noqa: F811  (also callable as a function, as in PyTorch)
    """nabla.set_grad_enabled(False) turns recording off; as a context manager, only in its scope."""
    __slots__ = ()

    def __init__(self, enabled):
        super().__init__(bool(enabled))
        self._prev.append(_is_grad_enabled())
        _set_grad_enabled(self._enabled)

    def __enter__(self):
        return self
