"""nabla.sym: symbolic matrix calculus (the engine of `nabla diff`).

    d = nabla.sym.diff("x'*A*x", let="x:vector(n) A:matrix(n,n)", wrt="x")
    d.text                 # '(A + A\\')*x'
    d.latex, d.steps       # LaTeX, and the derivation step by step
    d.at({"x": [1, 2], "A": [[1, 2], [3, 4]]})   # the value, as a NumPy array

In a notebook the derivative typesets itself (_repr_latex_).
"""
import json as _json

import numpy as _np

from ._nabla import sym as _csym
from ._nabla.sym import CheckReport, Declarations, Expr, parse, parse_declarations, rule_names  # noqa: F401


def _values_json(values, kwargs):
    v = dict(values or {})
    v.update(kwargs)
    out = {}
    for k, x in v.items():
        if hasattr(x, "__dlpack__") and not isinstance(x, _np.ndarray):
            x = _np.asarray(x.detach()) if hasattr(x, "detach") else _np.asarray(x)
        out[k] = _np.asarray(x, dtype=float).tolist() if not isinstance(x, (int, float)) else x
    return _json.dumps(out)


class Derivative:
    """A derivative in closed form: .text, .latex, .steps, .at(values), .check()."""

    def __init__(self, d):
        self._d = d

    text = property(lambda self: self._d.text, doc="the result in the input syntax")
    latex = property(lambda self: self._d.latex, doc="the result in LaTeX")
    json = property(lambda self: self._d.json, doc="the result's tree as JSON")
    steps = property(lambda self: self._d.steps, doc="the derivation: intermediate variables and the rule of each step")
    rules = property(lambda self: self._d.rules, doc="the simplification rules applied, in order")
    raw = property(lambda self: self._d.raw, doc="the result before simplification")
    kind = property(lambda self: self._d.kind, doc='"gradient", "jacobian" or "hessian"')
    shape = property(lambda self: self._d.shape, doc='the symbolic shape, e.g. "n×1"')
    expr = property(lambda self: self._d.expr, doc="the differentiated expression")
    result = property(lambda self: self._d.result, doc="the result as an Expr")
    wrt = property(lambda self: self._d.wrt)
    vec_form = property(lambda self: self._d.vec_form, doc="the result is d vec(f)/d vec(x)', a tensor's matrix")
    index = property(lambda self: self._d.index, doc="the result in index notation (vec form), or None")

    def at(self, values=None, **kwargs):
        """The derivative's value at `values` (name → number, list or array; dimensions bind
        from the shapes): a float for a scalar, a 1-d array for a vector, else a 2-d array; in vec
        form (a matrix by a matrix, ...) the tensor shaped f.shape + x.shape, as jax.jacobian."""
        t = self._d._at(_values_json(values, kwargs))
        a = t.numpy().copy()
        if self._d.vec_form:
            return a
        if self._d.is_scalar:
            return float(a.reshape(-1)[0])
        if self._d.is_vector:
            return a.reshape(-1)
        return a

    def check(self, values=None, seed=0, **kwargs):
        """Compares the closed form with autodiff and finite differences at `values`
        (random ones, seeded, for the variables not given); truthy when they agree."""
        v = dict(values or {})
        v.update(kwargs)
        return self._d._check(_values_json(v, {}) if v else "", seed)

    def _repr_latex_(self):
        return "$" + self.latex + "$"

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"Derivative({self.kind}, {self.shape}: {self.text})"


def diff(expr, let="", wrt=None, layout="auto", order=1):
    """The derivative of `expr` with respect to the declared variable `wrt`.

    let: declarations, e.g. "x:vector(n) A:matrix(n,n) b:scalar". layout: "auto",
    "numerator" or "denominator". order: 1, or 2 for the Hessian of a scalar.
    """
    if wrt is None:
        raise TypeError("diff: name the variable with wrt=")
    return Derivative(_csym._diff(expr, let, wrt, layout, order))


def evaluate(expr, let="", values=None, **kwargs):
    """The value of an expression at `values`, as a 2-d NumPy array."""
    e = parse(expr, let) if isinstance(expr, str) else expr
    return e._evaluate(_values_json(values, kwargs)).numpy().copy()
