#!/usr/bin/python3
"""The include-direction test: every `#include "..."` in src/ and include/nabla/
goes down the layers of docs/ARCHITECTURE.md, never up or sideways.

    cli ──► train ──► nn · optim · data · io · distributed ──┐
     │                                                       ├──► autodiff ──► ops ──► graph ──► tensor
     └────► sym (expressions, simplifier) ───────────────────┘        │          │
                                                                      └──────────┴──► kernels ──► tensor

Usage: check_layers.py [ROOT]        check the tree at ROOT (default: this repository)
       check_layers.py --self-test   check that the checker itself catches violations

A file belongs to the layer of its folder (src/<layer>/...). A public header
include/nabla/<name> belongs to the layer that implements what it declares
(PUBLIC_HEADERS below); a header missing from that table is an error, so a
new public header has to be placed. An include is resolved like the compiler
does: beside the including file first, then include/ and src/ (the library's
include directories). A quoted include that resolves to no file in the tree is
an error too, so that a typo cannot hide an edge. Some headers are private
to a few layers even where the layering would allow more (PRIVATE_HEADERS:
TensorImpl is not for the layers above autodiff).

Exit status 0 when every edge is allowed or listed in EXCEPTIONS; 1 otherwise,
with one line per violation: file:line: <layer> includes <layer> ("...").
An exception that no longer matches anything is reported as well (the edge was
fixed: remove it from the list), so the list stays the to-do list.
"""

import contextlib
import io
import os
import re
import shutil
import sys
import tempfile

# ---- the layers ---------------------------------------------------------------
# What each layer may include besides itself. A layer may use every layer below
# it; nn, optim, data, io and distributed are one level and do not use each other; sym sits
# beside them, above autodiff; train uses the five below it but not sym; cli is
# the top and uses train and sym.
_BELOW_AUTODIFF = {"ops", "graph", "kernels", "tensor"}
_UP_TO_AUTODIFF = _BELOW_AUTODIFF | {"autodiff"}
ALLOWED = {
    "tensor": set(),
    "kernels": {"tensor"},
    "graph": {"tensor"},
    "ops": {"graph", "kernels", "tensor"},
    "autodiff": set(_BELOW_AUTODIFF),
    "nn": set(_UP_TO_AUTODIFF),
    "optim": set(_UP_TO_AUTODIFF),
    "data": set(_UP_TO_AUTODIFF),
    "io": set(_UP_TO_AUTODIFF),
    "distributed": set(_UP_TO_AUTODIFF),
    "sym": set(_UP_TO_AUTODIFF),
    "train": _UP_TO_AUTODIFF | {"nn", "optim", "data", "io", "distributed"},
    "cli": _UP_TO_AUTODIFF | {"nn", "optim", "data", "io", "distributed", "sym", "train"},
}

# ---- public headers -----------------------------------------------------------
# include/nabla/<file> → the layer that implements its declarations. The
# vocabulary types (Tensor, Shape, DType, Error, Generator) are the tensor
# layer's; the grad mode (grad_mode.hpp: is_grad_enabled, NoGradGuard), which
# decides whether ops record, is the graph layer's; the op registry's public
# face (ops.hpp, the element-wise registry elementwise.def, the differentiable
# functions of nn_functional.hpp, defined in src/ops/activation.cpp and
# src/ops/loss.cpp) is ops'; autograd.hpp and functional.hpp declare the
# passes (backward, grad, jacobian, ...) of autodiff.
# nabla.hpp is the umbrella over the whole API: only the top may include it.
PUBLIC_HEADERS = {
    "tensor.hpp": "tensor",
    "dtype.hpp": "tensor",
    "shape.hpp": "tensor",
    "error.hpp": "tensor",
    "generator.hpp": "tensor",
    "grad_mode.hpp": "graph",
    "ops.hpp": "ops",
    "elementwise.def": "ops",
    "nn_functional.hpp": "ops",
    "autograd.hpp": "autodiff",
    "functional.hpp": "autodiff",
    "nn.hpp": "nn",
    "optim.hpp": "optim",
    "data.hpp": "data",
    "io.hpp": "io",
    "sym.hpp": "sym",
    "train.hpp": "train",
    "distributed.hpp": "distributed",
    "nabla.hpp": "cli",
}

# ---- private headers ------------------------------------------------------------
# Headers that are internal to their layer beyond the layering: only the listed
# layers may include them even where the layering would allow more. TensorImpl
# is the tensor's representation; the layers above autodiff work through the
# public Tensor API.
PRIVATE_HEADERS = {
    "src/tensor/tensor_impl.hpp": {"tensor", "graph", "ops", "autodiff"},
}

# ---- known exceptions (the to-do list) --------------------------------------------
# (including file, included file as resolved, why it cannot be fixed yet).
# Each entry must still match an include in the tree.
EXCEPTIONS = []

SOURCE_EXTS = (".hpp", ".h", ".cpp", ".cc", ".def", ".inc")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def layer_of(rel):
    """The layer of a repository-relative path, or None when it is outside the layers."""
    parts = rel.split("/")
    if parts[0] == "src":
        return parts[1] if len(parts) >= 3 and parts[1] in ALLOWED else "?"
    if len(parts) == 3 and parts[0] == "include" and parts[1] == "nabla":
        return PUBLIC_HEADERS.get(parts[2], "?")
    return None


def source_files(root):
    for top in ("src", os.path.join("include", "nabla")):
        base = os.path.join(root, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SOURCE_EXTS):
                    yield os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")


def resolve(root, rel, target):
    """Where the compiler finds `#include "target"` from file rel: its own folder,
    then include/, then src/. Returns a repository-relative path or None."""
    for base in (os.path.dirname(rel), "include", "src"):
        cand = os.path.normpath(os.path.join(root, base, target))
        if os.path.isfile(cand):
            return os.path.relpath(cand, root).replace(os.sep, "/")
    return None


def check(root):
    problems = []
    used = set()
    exceptions = {(f, t): why for f, t, why in EXCEPTIONS}
    for rel in source_files(root):
        src_layer = layer_of(rel)
        if src_layer is None:
            continue
        if src_layer == "?":
            table = "PUBLIC_HEADERS" if rel.startswith("include/") else "ALLOWED"
            problems.append(f"{rel}:1: file belongs to no layer: add it to {table} in tests/layers/check_layers.py")
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        for lineno, line in enumerate(lines, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            target = m.group(1)
            dest = resolve(root, rel, target)
            if dest is None:
                problems.append(f'{rel}:{lineno}: #include "{target}" resolves to no file in src/ or include/')
                continue
            dst_layer = layer_of(dest)
            if dst_layer is None:
                problems.append(f'{rel}:{lineno}: #include "{target}" resolves to {dest}, outside the layers')
                continue
            if dst_layer == "?":
                # reported once for the header itself
                continue
            ok = dst_layer == src_layer or dst_layer in ALLOWED[src_layer]
            why = f"{src_layer} may not use {dst_layer}"
            if ok and dest in PRIVATE_HEADERS and src_layer not in PRIVATE_HEADERS[dest]:
                ok = False
                why = f"{dest} is private to {', '.join(sorted(PRIVATE_HEADERS[dest]))}"
            if ok:
                continue
            if (rel, dest) in exceptions:
                used.add((rel, dest))
                continue
            problems.append(f'{rel}:{lineno}: {src_layer} includes {dst_layer} ("{target}" → {dest}): {why}')
    for (f, t), why in exceptions.items():
        if (f, t) not in used:
            problems.append(f"tests/layers/check_layers.py: exception {f} → {t} no longer matches an include "
                            "(fixed, or the file moved): remove it from EXCEPTIONS")
    return problems, used


def main_check(root):
    problems, used = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include-direction problem(s); the layers are in docs/ARCHITECTURE.md")
        return 1
    print(f"include directions hold ({len(used)} listed exception(s) remain)")
    return 0


# ---- self-test --------------------------------------------------------------------
def _write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _run(root):
    # in this process, so that the self-test may list exceptions of its own
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main_check(root)
    return rc, out.getvalue()


def self_test():
    failures = []

    def expect(name, files, rc_want, must_contain=()):
        root = tempfile.mkdtemp(prefix="nabla-layers-")
        try:
            # files every tree needs for the listed exceptions to match
            base = {
                "include/nabla/tensor.hpp": "#pragma once\n",
                "include/nabla/ops.hpp": '#include "nabla/tensor.hpp"\n',
                "include/nabla/autograd.hpp": '#include "nabla/tensor.hpp"\n',
                "src/tensor/tensor_impl.hpp": '#include "nabla/tensor.hpp"\n',
                "src/tensor/tensor.cpp": '#include "tensor_impl.hpp"\n',
                "src/ops/ops_internal.hpp": '#include "nabla/ops.hpp"\n',
            }
            for f, t, _ in EXCEPTIONS:
                base.setdefault(t, "#pragma once\n")
                base[f] = base.get(f, "") + f'#include "{os.path.relpath(t, os.path.dirname(f))}"\n'
            base.update(files)
            for rel, text in base.items():
                _write(root, rel, text)
            rc, out = _run(root)
            if rc != rc_want:
                failures.append(f"{name}: exit {rc}, expected {rc_want}\n{out}")
            for s in must_contain:
                if s not in out:
                    failures.append(f"{name}: output lacks {s!r}\n{out}")
        finally:
            shutil.rmtree(root)

    expect("clean tree", {}, 0)
    expect("upward include", {"src/kernels/gemm.cpp": '#include "x.hpp"\n\n#include "../ops/ops_internal.hpp"\n',
                              "src/kernels/x.hpp": "#pragma once\n"},
           1, ["src/kernels/gemm.cpp:3: kernels includes ops"])
    expect("the graph may not use ops", {"src/graph/node.hpp": '#include "../ops/ops_internal.hpp"\n'},
           1, ["src/graph/node.hpp:1: graph includes ops"])
    expect("public header of a higher layer", {"src/tensor/print.cpp": '#include "nabla/autograd.hpp"\n'},
           1, ["src/tensor/print.cpp:1: tensor includes autodiff"])
    expect("sideways include", {"src/nn/module.cpp": '#include "nabla/optim.hpp"\n',
                                "include/nabla/optim.hpp": '#include "nabla/tensor.hpp"\n'},
           1, ["src/nn/module.cpp:1: nn includes optim"])
    expect("train may not use sym", {"src/train/train.cpp": '#include "nabla/sym.hpp"\n',
                                     "include/nabla/sym.hpp": "#pragma once\n"},
           1, ["train includes sym"])
    expect("downward includes", {"src/cli/main.cpp": '#include "nabla/sym.hpp"\n#include "nabla/train.hpp"\n',
                                 "include/nabla/sym.hpp": '#include "nabla/autograd.hpp"\n',
                                 "include/nabla/train.hpp": '#include "nabla/ops.hpp"\n',
                                 "src/ops/x.cpp": '#include "../kernels/k.hpp"\n#include "../tensor/tensor_impl.hpp"\n',
                                 "src/kernels/k.hpp": "#pragma once\n"},
           0)
    expect("private header", {"src/nn/module.cpp": '#include "../tensor/tensor_impl.hpp"\n'},
           1, ["src/nn/module.cpp:1: nn includes tensor", "private to"])
    expect("public header with no layer", {"include/nabla/new.hpp": "#pragma once\n"},
           1, ["include/nabla/new.hpp:1: file belongs to no layer"])
    expect("folder that is no layer", {"src/extra/x.cpp": "int x;\n"}, 1, ["src/extra/x.cpp:1: file belongs to no layer"])
    expect("unresolved include", {"src/ops/y.cpp": '#include "nowhere.hpp"\n'},
           1, ["src/ops/y.cpp:1:", "resolves to no file"])
    EXCEPTIONS.append(("src/optim/optim.cpp", "src/tensor/tensor_impl.hpp", "a fabricated exception"))
    try:
        expect("stale exception", {"src/optim/optim.cpp": "// the include is gone\n"}, 1, ["no longer matches"])
        expect("listed exception", {"src/optim/optim.cpp": '#include "../tensor/tensor_impl.hpp"\n',
                                    "src/tensor/tensor_impl.hpp": "#pragma once\n"}, 0)
    finally:
        EXCEPTIONS.pop()

    if failures:
        print("\n".join(failures))
        print("self-test FAILED")
        return 1
    print("self-test passed")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--self-test"]:
        sys.exit(self_test())
    if len(args) > 1:
        print(__doc__)
        sys.exit(2)
    root = args[0] if args else os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    sys.exit(main_check(root))
