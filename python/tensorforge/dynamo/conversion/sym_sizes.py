"""Dynamo's symbolic sizes as TensorForge size expressions (docs/dynamic_shapes.md).

A graph traced with symbolic shapes carries each size as a sympy expression over dynamo's symbols
(``s0``, ``s1``, ...): ``2*s0``, ``FloorDiv(s1 - 1, 2) + 1``, ``Max(1, s0)``. :func:`size_text`
writes one in the grammar of the engine's ``ir::SymExpr`` (integers, symbols, ``+ - *``, Python's
``//`` and ``%``, ``max``, ``min``), which the engine evaluates once a call binds the symbols. What
that grammar cannot say (a fractional coefficient, a true division, a float) raises
:class:`~tensorforge.errors.UnsupportedError` naming the expression, so that its graph stays in
PyTorch or keeps static engines.
"""

from __future__ import annotations

import sympy
import torch
from torch.utils._sympy import functions as tsf

from tensorforge.errors import UnsupportedError

_FLOOR_DIV = tuple(getattr(tsf, n) for n in ("FloorDiv", "CleanDiv") if hasattr(tsf, n))
_MOD = tuple(getattr(tsf, n) for n in ("PythonMod", "Mod") if hasattr(tsf, n)) + (sympy.Mod,)
_MAX = tuple(getattr(tsf, n) for n in ("Max",) if hasattr(tsf, n)) + (sympy.Max,)
_MIN = tuple(getattr(tsf, n) for n in ("Min",) if hasattr(tsf, n)) + (sympy.Min,)
_POW = tuple(getattr(tsf, n) for n in ("PowByNatural",) if hasattr(tsf, n)) + (sympy.Pow,)


def size_text(expr) -> str:
    """The text form of a symbolic size: an int, a ``torch.SymInt`` or a sympy expression."""
    if isinstance(expr, bool):
        raise UnsupportedError(f"symbolic size {expr!r}: a bool is not a size")
    if isinstance(expr, int):
        return str(expr)
    if isinstance(expr, torch.SymInt):
        expr = expr.node.expr
    return _text(sympy.sympify(expr), expr)


def _text(e, whole) -> str:
    def sub(x) -> str:
        t = _text(x, whole)
        return t if (x.is_Symbol or (x.is_Integer and int(x) >= 0)) else f"({t})"

    def fold(name, args) -> str:  # an n-ary max/min as nested binary ones
        t = sub(args[-1])
        for a in reversed(args[:-1]):
            t = f"{name}({sub(a)}, {t})"
        return t

    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        if not e.is_integer:
            raise UnsupportedError(f"symbolic size {whole}: symbol {e} is not an integer")
        return e.name
    if isinstance(e, sympy.Add):
        return " + ".join(sub(a) for a in e.args)
    if isinstance(e, sympy.Mul):
        return "*".join(sub(a) for a in e.args)
    if isinstance(e, _POW):
        base, exp = e.args
        if not (exp.is_Integer and int(exp) >= 0):
            raise UnsupportedError(f"symbolic size {whole}: the power {e} has no integer exponent of at least 0")
        return "*".join([sub(base)] * int(exp)) if int(exp) else "1"
    if isinstance(e, _FLOOR_DIV):
        return f"{sub(e.args[0])}//{sub(e.args[1])}"
    if hasattr(tsf, "CeilDiv") and isinstance(e, tsf.CeilDiv):  # ceil(a / b) == -((-a) // b)
        return f"-((-{sub(e.args[0])})//{sub(e.args[1])})"
    if hasattr(tsf, "ModularIndexing") and isinstance(e, tsf.ModularIndexing):  # (a // b) % c
        return f"({sub(e.args[0])}//{sub(e.args[1])})%{sub(e.args[2])}"
    if isinstance(e, _MOD):
        return f"{sub(e.args[0])}%{sub(e.args[1])}"
    if isinstance(e, _MAX):
        return fold("max", e.args)
    if isinstance(e, _MIN):
        return fold("min", e.args)
    raise UnsupportedError(f"symbolic size {whole}: {type(e).__name__} ({e}) has no size expression "
                           "(integers, symbols, + - *, //, %, max and min)")
