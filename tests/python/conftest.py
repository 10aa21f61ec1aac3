"""The Python module's tests. Run against the build tree:

    PYTHONPATH=build/<dir>/python /usr/bin/python3 -m pytest tests/python

(ctest does this as the test python.pytest).
"""
import numpy as np
import pytest

import nabla as nb


@pytest.fixture(autouse=True)
def _seeded():
    nb.manual_seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def assert_close(a, b, rtol=1e-5, atol=1e-6):
    """a, b: nabla or torch tensors or arrays."""
    np.testing.assert_allclose(to_np(a), to_np(b), rtol=rtol, atol=atol)


def to_np(x):
    if isinstance(x, nb.Tensor):
        return x.detach().numpy()
    if hasattr(x, "detach"):
        return x.detach().numpy()
    return np.asarray(x)
