#!/usr/bin/python3
"""Symbolic derivatives side by side: `nabla diff` against SymPy's matrix
expressions (sympy.MatrixSymbol, .diff), case by case.

For each case, the same function is derived by both: nabla through the
command (`nabla diff EXPR --let … --wrt … --format json --at values.json`),
SymPy in this process (the expression written with MatrixSymbols, Trace,
Inverse, Determinant, HadamardProduct and element-wise functions, then
.diff). Each answer is then evaluated at one random point (small concrete
dimensions) and compared with central finite differences of f in float64;
it is right when the worst difference, relative to max(1, |reference|), is
under the tolerance (1e-6; 1e-4 for second derivatives), in either
orientation (SymPy writes Jacobians in the denominator layout). Recorded
per case: right / wrong / not derived (an error, a refusal, or SymPy's
unevaluated Derivative), the time each takes to derive, and the length of
each printed answer (nabla's text form, SymPy's str()).

Times: both in-process, the median of --repeat runs (wall time): SymPy's
.diff(), its cache cleared before each; nabla's through its Python module
built beside the command (nabla.sym.diff: parse, derivation, simplification
and the printed text). Right and wrong come from the command itself.

    /usr/bin/python3 bench/sym_compare.py [--nabla build/release/nabla] [--repeat 5] [--markdown]

Needs Debian's python3-sympy and python3-numpy (scripts/setup.sh).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import sympy as sp
from sympy import (Determinant, HadamardProduct, Inverse, Lambda, MatrixSymbol, Max, Trace, exp, log, sqrt,
                   tanh)
from sympy.core.cache import clear_cache

# Concrete sizes for the numeric comparison (symbolic in both derivations).
DIMS = {"n": 3, "m": 4, "N": 5, "h": 3, "k": 2}
D = {name: sp.Symbol(name, integer=True, positive=True) for name in DIMS}
_d = sp.Dummy("d")


class Vars:
    """The SymPy side of a --let: MatrixSymbols (vectors are n×1), Symbols for scalars, and one_<dim>,
    the vector of ones (a MatrixSymbol the comparison binds to ones) that sum() becomes."""

    def __init__(self, let):
        self.shapes = {}
        self.sym = {}
        for decl in let.split():
            name, kind = decl.split(":")
            if kind == "scalar":
                self.shapes[name] = ()
                self.sym[name] = sp.Symbol(name, real=True)
                continue
            args = kind[kind.index("(") + 1:-1].split(",")
            dims = [D[a] if a in D else int(a) for a in args]
            shape = {"vector": (dims[0], 1), "rowvector": (1, dims[0]), "matrix": tuple(dims)}[kind[:kind.index("(")]]
            self.shapes[name] = shape
            self.sym[name] = MatrixSymbol(name, *shape)
        for dim in D:
            self.sym["one_" + dim] = MatrixSymbol("one_" + dim, D[dim], 1)
            self.shapes["one_" + dim] = (D[dim], 1)

    def __getattr__(self, name):
        return self.__dict__["sym"][name]


# Element-wise functions and reductions written with SymPy's matrix expressions.
def ew(fn):
    return lambda v: v.applyfunc(Lambda(_d, fn(_d)))


EXP, LOG, TANH = ew(exp), ew(log), ew(tanh)
SIGMOID = ew(lambda t: 1 / (1 + exp(-t)))
RELU = ew(lambda t: Max(0, t))
SQUARE = ew(lambda t: t**2)


def SUM(v, V):
    return V.sym["one_" + str(v.shape[0])].T * v


def SOFTMAX(z, V):
    e = EXP(z)
    return e * Inverse(SUM(e, V))


# (name, nabla expression, declarations, wrt, order, SymPy builder or None when SymPy's matrix
# expressions cannot write f). The cases are those of tests/sym/sym_diff_test.cpp and the issue.
CASES = [
    ("product rule, inner product", "(A*x)'*(B*x)", "x:vector(n) A:matrix(m,n) B:matrix(m,n)", "x", 1,
     lambda V: (V.A * V.x).T * (V.B * V.x)),
    ("product rule, bilinear", "(P*x)'*C*(Q*x)", "x:vector(n) P:matrix(m,n) Q:matrix(k,n) C:matrix(m,k)", "x", 1,
     lambda V: (V.P * V.x).T * V.C * (V.Q * V.x)),
    ("chain rule, tanh(A*x)", "tanh(A*x)", "x:vector(n) A:matrix(m,n)", "x", 1, lambda V: TANH(V.A * V.x)),
    ("chain rule, sum(exp(A*X))", "sum(exp(A*X))", "A:matrix(m,k) X:matrix(k,n)", "X", 1,
     lambda V: V.one_m.T * EXP(V.A * V.X) * V.one_n),
    ("chain rule, scalar variable", "exp(s*a)", "s:scalar a:vector(n)", "s", 1, lambda V: EXP(V.s * V.a)),
    ("identity Jacobian", "x", "x:vector(n)", "x", 1, lambda V: V.x),
    ("linear map A*x", "A*x", "x:vector(n) A:matrix(m,n)", "x", 1, lambda V: V.A * V.x),
    ("element-wise exp(x)", "exp(x)", "x:vector(n)", "x", 1, lambda V: EXP(V.x)),
    ("logistic sigmoid(x)", "sigmoid(x)", "x:vector(n)", "x", 1, lambda V: SIGMOID(V.x)),
    ("scalar 3x^2y", "3*x^2*y", "x:scalar y:scalar", "x", 1, lambda V: 3 * V.x**2 * V.y),
    ("scalar expansion x*z by z", "x*z", "x:vector(n) z:scalar", "z", 1, lambda V: V.x * V.z),
    ("sum reduction", "sum(x)", "x:vector(n)", "x", 1, lambda V: SUM(V.x, V)),
    ("dot product sum(w .* x)", "sum(w .* x)", "w:vector(n) x:vector(n)", "w", 1,
     lambda V: SUM(HadamardProduct(V.w, V.x), V)),
    ("ReLU neuron, weights", "max(0, w'*x + b)", "w:vector(n) x:vector(n) b:scalar", "w", 1,
     lambda V: RELU(V.w.T * V.x + V.b * sp.Identity(1))),
    ("ReLU MSE loss, weights", "sum((y - max(0, X*w + b)).^2)/N", "X:matrix(N,n) w:vector(n) b:scalar y:vector(N)",
     "w", 1, lambda V: SUM(SQUARE(V.y - RELU(V.X * V.w + V.b * V.one_N)), V) / D["N"]),
    ("linear MSE loss", "norm2(X*w + b - y)^2/N", "X:matrix(N,n) w:vector(n) b:scalar y:vector(N)", "w", 1,
     lambda V: (V.X * V.w + V.b * V.one_N - V.y).T * (V.X * V.w + V.b * V.one_N - V.y) / D["N"]),
    ("two-layer tanh net, outer weights", "norm2(tanh(A2*tanh(A1*y0 + B1) + B2) - y)^2",
     "y0:vector(n) A1:matrix(h,n) B1:vector(h) A2:matrix(m,h) B2:vector(m) y:vector(m)", "A2", 1,
     lambda V: (TANH(V.A2 * TANH(V.A1 * V.y0 + V.B1) + V.B2) - V.y).T
     * (TANH(V.A2 * TANH(V.A1 * V.y0 + V.B1) + V.B2) - V.y)),
    ("two-layer tanh net, inner weights", "norm2(tanh(A2*tanh(A1*y0 + B1) + B2) - y)^2",
     "y0:vector(n) A1:matrix(h,n) B1:vector(h) A2:matrix(m,h) B2:vector(m) y:vector(m)", "A1", 1,
     lambda V: (TANH(V.A2 * TANH(V.A1 * V.y0 + V.B1) + V.B2) - V.y).T
     * (TANH(V.A2 * TANH(V.A1 * V.y0 + V.B1) + V.B2) - V.y)),
    ("bilinear form a'Xb", "a'*X*b", "a:vector(m) X:matrix(m,n) b:vector(n)", "X", 1, lambda V: V.a.T * V.X * V.b),
    ("log-determinant", "logdet(X)", "X:matrix(n,n)", "X", 1, lambda V: log(Determinant(V.X))),
    ("determinant", "det(X)", "X:matrix(n,n)", "X", 1, lambda V: Determinant(V.X)),
    ("trace tr(X'AX)", "tr(X'*A*X)", "A:matrix(m,m) X:matrix(m,n)", "X", 1, lambda V: Trace(V.X.T * V.A * V.X)),
    ("trace tr(AX)", "tr(A*X)", "A:matrix(n,m) X:matrix(m,n)", "X", 1, lambda V: Trace(V.A * V.X)),
    ("quadratic form x'Ax", "x'*A*x", "x:vector(n) A:matrix(n,n)", "x", 1, lambda V: V.x.T * V.A * V.x),
    ("least squares", "norm2(A*x - b)^2", "A:matrix(m,n) x:vector(n) b:vector(m)", "x", 1,
     lambda V: (V.A * V.x - V.b).T * (V.A * V.x - V.b)),
    ("inverse a'inv(X)b", "a'*inv(X)*b", "a:vector(n) X:matrix(n,n) b:vector(n)", "X", 1,
     lambda V: V.a.T * Inverse(V.X) * V.b),
    ("logistic regression", "sum(log(1 + exp(-y .* (X*w))))", "X:matrix(N,n) w:vector(n) y:vector(N)", "w", 1,
     lambda V: SUM(LOG(V.one_N + EXP(-HadamardProduct(V.y, V.X * V.w))), V)),
    ("logistic loss with sigmoid", "-y'*log(sigmoid(X*w)) - (1 - y)'*log(1 - sigmoid(X*w))",
     "X:matrix(N,n) w:vector(n) y:vector(N)", "w", 1,
     lambda V: -V.y.T * LOG(SIGMOID(V.X * V.w)) - (V.one_N - V.y).T * LOG(V.one_N - SIGMOID(V.X * V.w))),
    ("softmax cross-entropy", "-y'*log(softmax(W*x))", "W:matrix(m,n) x:vector(n) y:vector(m)", "W", 1,
     lambda V: -V.y.T * LOG(SOFTMAX(V.W * V.x, V))),
    ("2-norm", "norm2(x)", "x:vector(n)", "x", 1, lambda V: sqrt(V.x.T * V.x)),
    ("Hessian of x'Ax", "x'*A*x", "x:vector(n) A:matrix(n,n)", "x", 2, lambda V: V.x.T * V.A * V.x),
    ("Hessian of least squares", "norm2(A*x - b)^2", "A:matrix(m,n) x:vector(n) b:vector(m)", "x", 2,
     lambda V: (V.A * V.x - V.b).T * (V.A * V.x - V.b)),
    ("Hessian of the logistic loss", "-y'*log(sigmoid(X*w)) - (1 - y)'*log(1 - sigmoid(X*w))",
     "X:matrix(N,n) w:vector(n) y:vector(N)", "w", 2,
     lambda V: -V.y.T * LOG(SIGMOID(V.X * V.w)) - (V.one_N - V.y).T * LOG(V.one_N - SIGMOID(V.X * V.w))),
    ("scalar Hessian x^3 + 2x", "x^3 + 2*x", "x:scalar", "x", 2, lambda V: V.x**3 + 2 * V.x),
    # From the issue: matrix-valued and tensor-valued derivatives, a variable exponent.
    ("inv(A + t*B) by the scalar t", "inv(A + t*B)", "A:matrix(n,n) B:matrix(n,n) t:scalar", "t", 1,
     lambda V: Inverse(V.A + V.t * V.B)),
    ("det(A + t*B), second derivative in t", "det(A + t*B)", "A:matrix(n,n) B:matrix(n,n) t:scalar", "t", 2,
     lambda V: Determinant(V.A + V.t * V.B)),
    ("W*x by the matrix W", "W*x", "W:matrix(m,n) x:vector(n)", "W", 1, lambda V: V.W * V.x),
    ("A*X by the matrix X", "A*X", "A:matrix(m,n) X:matrix(n,k)", "X", 1, lambda V: V.A * V.X),
    ("a^b by the exponent b", "a^b", "a:scalar b:scalar", "b", 1, lambda V: V.a**V.b),
    ("log-sum-exp", "logsumexp(x)", "x:vector(n)", "x", 1, lambda V: log(SUM(EXP(V.x), V))),
]


# ---- numbers ------------------------------------------------------------------------------------

def random_point(V, rng):
    """Values for every declared variable (concrete sizes); square matrices diagonally dominant so that
    inv, det and logdet are defined; values in (0.2, 0.9) keep log's arguments positive."""
    vals = {}
    for name, shape in V.shapes.items():
        if name.startswith("one_"):
            vals[name] = np.ones((DIMS[name[4:]], 1))
            continue
        if shape == ():
            vals[name] = float(rng.uniform(0.2, 0.9))
            continue
        r, c = (int(sp.sympify(s).subs({D[k]: v for k, v in DIMS.items()})) for s in shape)
        a = rng.uniform(0.2, 0.9, size=(r, c))
        if r == c and r > 1:
            a += r * np.eye(r)
        vals[name] = a
    return vals


def concrete_shape(shape):
    return tuple(int(sp.sympify(d).subs({D[k]: v for k, v in DIMS.items()})) for d in shape) if shape else (1, 1)


def concrete(expr):
    return expr.xreplace({D[k]: v for k, v in DIMS.items()})


class Evaluator:
    """SymPy expressions as numbers: the sizes made concrete, the variables replaced by their values
    (ImmutableMatrix, Float), evaluated (doit) and written out entry by entry (as_explicit)."""

    def __init__(self, V):
        self.V = V

    def function(self, expr):
        e = concrete(sp.sympify(expr))
        syms = {name: concrete(s) if isinstance(s, sp.MatrixExpr) else s for name, s in self.V.sym.items()}

        def value(vals):
            sub = {syms[n]: (sp.ImmutableMatrix(v) if isinstance(v, np.ndarray) else sp.Float(v))
                   for n, v in vals.items()}
            r = e.xreplace(sub)
            # Sums and products of numeric matrices inside det(), log() … are not evaluated by doit().
            r = r.replace(lambda q: isinstance(q, (sp.MatAdd, sp.MatMul)) and not q.free_symbols,
                          lambda q: q.as_explicit()).doit()
            if isinstance(r, sp.Expr) and not isinstance(r, (sp.MatrixExpr, sp.MatrixBase)):
                r = r.replace(lambda q: isinstance(q, sp.MatrixBase) and q.shape == (1, 1), lambda q: q[0, 0])
            if hasattr(r, "as_explicit") and not isinstance(r, sp.MatrixBase):
                r = r.as_explicit()
            if isinstance(r, (sp.MatrixBase, sp.NDimArray)):
                r = r.applyfunc(lambda t: t.doit())
                return np.array(r.tolist(), dtype=float)
            return np.array(float(r.subs(sp.Heaviside(0), sp.Rational(1, 2))))

        return value


def fd_derivative(f, vals, wrt, order):
    """Central differences of f at vals by the variable wrt: shape f.shape + wrt.shape, singleton axes
    dropped (order 2: the Hessian of a scalar f, by the four-point formula)."""
    x0 = np.array(vals[wrt], dtype=float)
    shape = x0.shape
    flat = x0.reshape(-1)

    def at(xflat):
        v = dict(vals)
        v[wrt] = xflat.reshape(shape) if shape else float(xflat[0])
        return np.atleast_1d(f(v)).astype(float)

    base = flat.copy() if shape else np.array([x0])
    if order == 1:
        h = 1e-6
        cols = []
        for i in range(base.size):
            e = np.zeros_like(base)
            e[i] = h
            cols.append((at(base + e) - at(base - e)) / (2 * h))
        out = np.stack([c.reshape(-1) for c in cols], axis=-1)
        f0 = np.array(f(vals), dtype=float)
        return np.squeeze(out.reshape(f0.shape + (shape if shape else ())))
    h = 1e-4
    H = np.zeros((base.size, base.size))
    for i in range(base.size):
        for j in range(base.size):
            ei, ej = np.zeros_like(base), np.zeros_like(base)
            ei[i], ej[j] = h, h
            H[i, j] = (at(base + ei + ej) - at(base + ei - ej) - at(base - ei + ej) + at(base - ei - ej)).item() / (
                4 * h * h)
    return np.squeeze(H)


def agreement(answer, ref, fshape, xshape, order):
    """Worst |answer - ref| / max(1, max|ref|) over the layouts an answer may come in (f's indices then
    the variable's, or the variable's first; a matrix answer also transposed), or None when no layout
    fits. ref holds f's indices then the variable's (order 2: the variable's twice)."""
    a = np.array(answer, dtype=float)
    F = tuple(fshape) if order == 1 else tuple(xshape)
    X = tuple(xshape)
    full = np.array(ref, dtype=float).reshape(F + X)
    cands = []
    if a.size == full.size:
        cands.append(a.reshape(F + X))
        nf, nx = len(F), len(X)
        cands.append(a.reshape(X + F).transpose(tuple(range(nx, nx + nf)) + tuple(range(nx))))
        if a.ndim == 2:
            cands.append(a.T.reshape(F + X))
    if not cands:
        return None
    scale = max(1.0, float(np.max(np.abs(full)))) if full.size else 1.0
    return min(float(np.max(np.abs(c - full))) / scale for c in cands)


# ---- the two sides ------------------------------------------------------------------------------

def sympy_side(build, V, wrt, order, repeat):
    f = build(V)
    times = []
    result = None
    for _ in range(repeat):
        clear_cache()
        t = time.perf_counter()
        r = f.diff(V.sym[wrt])  # raises on the first run when SymPy cannot
        if order == 2:
            r = r.diff(V.sym[wrt])
        times.append(time.perf_counter() - t)
        result = r
    return f, result, statistics.median(times)


def run_nabla(nabla, args, timeout=60):
    p = subprocess.run([nabla, "diff", *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def error_line(err, rc):
    lines = [l for l in err.splitlines() if "error" in l]
    return (lines[0] if lines else err.strip().splitlines()[0] if err.strip() else f"exit {rc}").strip()


def json_documents(text):
    dec, i, docs = json.JSONDecoder(), 0, []
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        doc, i = dec.raw_decode(text, i)
        docs.append(doc)
    return docs


def nabla_command(expr, let, wrt, order, *options):
    """The arguments of `nabla diff`: the expression first (a repeated --wrt would take it for a
    variable), or after `--` when it starts with '-' (it would read as an option)."""
    args = ["--let", let, "--wrt", wrt] + (["--order", "2"] if order == 2 else []) + list(options)
    return args + ["--", expr] if expr.startswith("-") else [expr] + args


def nabla_module(nabla):
    """The Python module built beside the command (build/<dir>/python), for timing in-process."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(nabla)), "python"))
    try:
        import nabla as module
    except ImportError as e:
        sys.exit(f"sym_compare: the Python module is not built beside {nabla} ({e}); build the target nabla_python")
    return module


def nabla_time(module, expr, let, wrt, order, repeat):
    """Seconds per derivation in-process, as SymPy's: the median of --repeat calls of nabla.sym.diff
    (parse, derivation, simplification and the printed text)."""
    times = []
    for _ in range(max(3, repeat)):
        t = time.perf_counter()
        d = module.sym.diff(expr, let=let, wrt=wrt, order=order)
        _ = d.text
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def nabla_side(nabla, expr, let, wrt, order, values_file):
    """nabla's answer (text) and its value at the point, or the error that refused it."""
    rc, out, err = run_nabla(nabla, nabla_command(expr, let, wrt, order, "--format", "json", "--at", values_file))
    if rc != 0:
        return None, None, error_line(err, rc)
    text = value = None
    for doc in json_documents(out):
        if wrt in doc and isinstance(doc[wrt], dict):
            text = doc[wrt].get("text", text)
            value = doc[wrt].get("value", value)
        if "derivative" in doc:
            value = doc["derivative"]
    return text, value, None


def nabla_check(nabla, expr, let, wrt, order):
    """nabla's own verdict (--check: autodiff and central differences in f64), for cases without a
    reference of this script's."""
    rc, out, _ = run_nabla(nabla, nabla_command(expr, let, wrt, order, "--check"))
    return rc == 0 and "check: ok" in out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nabla", default="build/release/nabla")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (for BENCHMARKS.md)")
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    a = ap.parse_args()
    if not os.path.exists(a.nabla):
        sys.exit(f"sym_compare: no nabla at {a.nabla} (--nabla PATH)")
    module = nabla_module(a.nabla)
    rng = np.random.default_rng(a.seed)
    rows = []
    tmp = tempfile.mkdtemp(prefix="sym_compare_")
    for name, expr, let, wrt, order, build in CASES:
        if a.only and a.only not in name:
            continue
        t_case = time.perf_counter()
        V = Vars(let)
        vals = random_point(V, rng)
        values_file = os.path.join(tmp, "values.json")
        with open(values_file, "w") as f:
            json.dump({k: (v.reshape(-1).tolist() if isinstance(v, np.ndarray) and v.shape[1] == 1 else
                           v.tolist() if isinstance(v, np.ndarray) else v)
                       for k, v in vals.items() if not k.startswith("one_")}, f)
        ev = Evaluator(V)
        row = {"name": name, "expr": expr, "wrt": wrt, "order": order}
        # The reference: finite differences of f (written in SymPy, evaluated numerically).
        tol = 1e-6 if order == 1 else 1e-4
        xshape = concrete_shape(V.shapes[wrt])
        ref = None
        fshape = None
        try:
            f_sym = build(V)
            fshape = concrete_shape(f_sym.shape) if hasattr(f_sym, "shape") else (1, 1)
            ref = fd_derivative(ev.function(f_sym), vals, wrt, order)
        except Exception as e:  # noqa: BLE001 — recorded in the table
            row["ref_error"] = f"{type(e).__name__}: {e}"[:80]
        # SymPy.
        try:
            _, r, t = sympy_side(build, V, wrt, order, a.repeat)
            row["sympy_ms"] = t * 1e3
            row["sympy_text"] = str(r)
            if r.has(sp.Derivative):
                row["sympy"] = "not derived"
            else:
                err = agreement(ev.function(r)(vals), ref, fshape, xshape, order) if ref is not None else None
                row["sympy_err"] = err
                row["sympy"] = "?" if err is None else ("right" if err < tol else "WRONG")
        except Exception as e:  # noqa: BLE001
            row["sympy"] = "error"
            row["sympy_note"] = f"{type(e).__name__}: {e}"[:80]
        # nabla.
        text, value, err_msg = nabla_side(a.nabla, expr, let, wrt, order, values_file)
        if err_msg:
            row["nabla"] = "refused"
            row["nabla_note"] = err_msg[:100]
        else:
            row["nabla_ms"] = nabla_time(module, expr, let, wrt, order, a.repeat) * 1e3
            row["nabla_text"] = text
            err = agreement(value, ref, fshape, xshape, order) if ref is not None and value is not None else None
            row["nabla_err"] = err
            if err is not None:
                row["nabla"] = "right" if err < tol else "WRONG"
            elif ref is None:
                row["nabla"] = "right (own check)" if nabla_check(a.nabla, expr, let, wrt, order) else "?"
            else:
                row["nabla"] = "?"
        rows.append(row)
        print(f"{name}: nabla {row['nabla']}, sympy {row['sympy']} ({time.perf_counter() - t_case:.1f} s)",
              file=sys.stderr)
    print_table(rows, a.markdown)


def size(text):
    return len(text) if text else None


def print_table(rows, markdown):
    head = ["case", "wrt", "nabla", "SymPy", "nabla ms", "SymPy ms", "nabla chars", "SymPy chars"]
    lines = []
    for r in rows:
        w = r["wrt"] + ("²" if r["order"] == 2 else "")
        lines.append([r["name"], w, r["nabla"], r["sympy"],
                      f"{r['nabla_ms']:.3f}" if "nabla_ms" in r else "—",
                      f"{r['sympy_ms']:.1f}" if "sympy_ms" in r else "—",
                      str(size(r.get("nabla_text")) or "—"), str(size(r.get("sympy_text")) or "—")])
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: |")
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(widths[i]) for i, h in enumerate(head)))
        for l in lines:
            print("  ".join(c.ljust(widths[i]) for i, c in enumerate(l)))
    right = lambda who: sum(r[who].startswith("right") for r in rows)
    print(f"\n{len(rows)} cases: nabla right on {right('nabla')}, SymPy right on {right('sympy')}.")
    both = [r for r in rows if r["nabla"] == "right" and r["sympy"] == "right"]
    if both:
        ratio = statistics.median(r["sympy_ms"] / max(r["nabla_ms"], 1e-3) for r in both)
        chars = statistics.median(size(r["sympy_text"]) / size(r["nabla_text"]) for r in both)
        print(f"where both are right ({len(both)} cases): SymPy takes a median {ratio:.0f}x nabla's time; "
              f"its answers are a median {chars:.2f}x as long.")
    notes = [r for r in rows if r["nabla"] != "right" or r["sympy"] != "right"]
    if notes:
        print("\nnotes:")
        for r in notes:
            bits = []
            if r["nabla"] != "right":
                bits.append(f"nabla {r['nabla']}: {r.get('nabla_note', r.get('nabla_text', ''))}")
            if r["sympy"] != "right":
                bits.append(f"SymPy {r['sympy']}: {r.get('sympy_note', r.get('sympy_text', ''))[:90]}")
            if "ref_error" in r:
                bits.append(f"no reference: {r['ref_error']}")
            print(f"- {r['name']}: " + "; ".join(bits))


if __name__ == "__main__":
    main()
