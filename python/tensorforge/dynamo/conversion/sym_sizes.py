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

import contextvars
import re

import sympy
import torch
from torch.utils._sympy import functions as tsf

import tensorforge as tf
from tensorforge.dynamo.runtime.size_expr import evaluate  # noqa: F401 - part of this module's API
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


# -------------------------------------------------------------------- networks with dynamo's sizes

DEFAULT_MAX = 4096
"""The largest value a size gets when dynamo bounds it from below only (documented in docs/backend.md):
max(DEFAULT_MAX, 2 * the value traced). Dynamo guards the graph on it, so a larger value makes dynamo
compile the graph again (for a range above this one) rather than reach an engine outside its range."""


def size_node(v) -> bool:
    """An FX node whose value is a size (a torch.SymInt): a graph input or size arithmetic."""
    return isinstance(v, torch.fx.Node) and isinstance(v.meta.get("val"), torch.SymInt)


def data_dependent(value) -> bool:
    """A value whose shape (or, for a size, whose value) is known only at run time: a size dynamo
    has no value for (an unbacked symbol, from nonzero, unique, masked_select, .item())."""
    if isinstance(value, torch.SymInt):
        return value.node.hint is None
    if isinstance(value, torch.Tensor):
        return any(isinstance(d, torch.SymInt) and d.node.hint is None for d in value.shape)
    if isinstance(value, (tuple, list)):
        return any(data_dependent(v) for v in value)
    return False


def symbolic(value) -> bool:
    """True for a torch.SymInt whose value is not a constant."""
    return isinstance(value, torch.SymInt) and not sympy.sympify(value.node.expr).is_number


def _attr_sizes(kind: str, attrs: dict) -> tuple[dict, dict]:
    """`attrs` with every SymInt at its traced value, and the texts of the attributes that hold one."""
    plain, sizes = {}, {}
    for key, value in attrs.items():
        if isinstance(value, (torch.SymFloat, torch.SymBool)):
            raise UnsupportedError(f"{kind} layer attribute {key} is a symbolic {type(value).__name__}")
        if isinstance(value, torch.SymInt):
            if symbolic(value):
                sizes[key] = [size_text(value)]
            plain[key] = _hint(value)
        elif isinstance(value, (list, tuple)) and any(isinstance(v, torch.SymInt) for v in value):
            if any(symbolic(v) for v in value):
                sizes[key] = [size_text(v) if isinstance(v, torch.SymInt) else v for v in value]
            plain[key] = [_hint(v) if isinstance(v, torch.SymInt) else v for v in value]
        else:
            plain[key] = value
    return plain, sizes


RANGES: contextvars.ContextVar[dict] = contextvars.ContextVar("tensorforge_size_ranges", default={})
"""Ranges (sympy symbol -> ValueRanges) that replace the shape environment's for the sizes they name:
torch.export's range_constraints when tensorforge.save compiles an exported program (export traces
sizes as at least 2 yet promises the program for the user's minimum, 1 included)."""


def traced_shape(shape) -> list[int]:
    """A shape's extents as traced: each size at its value, without a guard on it."""
    return [_hint(d) if isinstance(d, torch.SymInt) else int(d) for d in shape]


def _hint(value: torch.SymInt) -> int:
    """The value a SymInt had when the graph was traced (no guard on it)."""
    hint = value.node.hint
    if hint is None:
        raise UnsupportedError(f"symbolic size {value.node.expr} has no value at the traced shapes (a data-dependent "
                               "size)")
    return int(hint)


class SizedNetwork(tf.Network):
    """A Network that takes dynamo's SymInts where layers take integers: each becomes a size
    expression over named sizes (one per dynamo symbol, its range from dynamo's shape environment),
    so one engine serves every binding in range (docs/dynamic_shapes.md)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[str, tuple[int, int, int]] = {}  # dynamo symbol -> (min, opt, max)
        self.bound: set[str] = set()  # sizes an input dim gives
        # Sizes the block takes as integers (a graph input such as a key/value cache's length) whose
        # symbol no input tensor's dim gives: symbol -> (the SymInt, the carrier input's name). The
        # first layer that needs one adds its carrier, a uint8 input of shape [size] that no layer
        # reads and the caller passes as an empty tensor of that length (carriers, in order).
        self.size_inputs: dict[str, tuple[torch.SymInt, str]] = {}
        self.carriers: list[tuple[str, torch.SymInt]] = []

    def declare(self, dim: torch.SymInt) -> str:
        """The size named by input dim `dim` (a plain dynamo symbol), declared on first use with its
        range: dynamo's bounds, an unbounded max set to DEFAULT_MAX (or twice the traced value) and
        guarded by dynamo."""
        expr = sympy.sympify(dim.node.expr)
        if not expr.is_Symbol:
            raise UnsupportedError(f"an engine input dim is the expression {expr}; engines take named sizes only")
        name = expr.name
        if name not in self.sizes:
            env = dim.node.shape_env
            bounds = RANGES.get().get(expr, env.var_to_range.get(expr))
            opt = _hint(dim)
            lo = max(0, int(bounds.lower)) if bounds is not None and bounds.lower.is_Integer else 0
            hi = bounds.upper if bounds is not None else sympy.oo
            if hi.is_Integer:  # dynamo's unbounded is int_oo, which is no Integer
                hi = int(hi)
            else:
                hi = max(DEFAULT_MAX, 2 * opt)
                if not bool(dim <= hi):  # installs dynamo's guard; the traced value is below hi
                    raise UnsupportedError(f"size {name} is above its default maximum {hi}")
            self.add_size(name, lo, opt, hi)
            self.sizes[name] = (lo, opt, hi)
        self.bound.add(name)
        return name

    def add_input(self, name: str, dtype, shape):
        if not any(symbolic(d) for d in shape):
            return super().add_input(name, dtype, [_hint(d) if isinstance(d, torch.SymInt) else d for d in shape])
        dims = [self.declare(d) if symbolic(d) else (_hint(d) if isinstance(d, torch.SymInt) else d) for d in shape]
        return self.add_dynamic_input(name, dtype, dims)

    def take_size(self, value: torch.SymInt, name: str) -> None:
        """Offers integer input `value` (a plain symbol) as a size the block may need: a carrier input
        called `name` is added if a layer needs its symbol and no input dim gives it."""
        if symbolic(value) and sympy.sympify(value.node.expr).is_Symbol:
            self.size_inputs.setdefault(sympy.sympify(value.node.expr).name, (value, name))

    def add_layer(self, kind, inputs, attrs=None, name="", sizes=None):
        plain, written = _attr_sizes(kind, dict(attrs or {}))
        for texts in written.values():
            for symbol in {u for t in texts if isinstance(t, str) for u in _symbols(t)} - self.bound:
                if symbol in self.size_inputs:
                    value, carrier = self.size_inputs[symbol]
                    self.add_input(carrier, torch.uint8, (value,))  # declares and binds the symbol
                    self.carriers.append((carrier, value))
                    continue
                raise UnsupportedError(f"{kind} layer {name!r}: size {symbol} is not a dim of any engine input, so "
                                       "a call could not give its value")
        return super().add_layer(kind, inputs, plain, name, {**written, **(sizes or {})})


def _symbols(text: str) -> set[str]:
    """The size names in an expression's text."""
    return {w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text) if w not in ("max", "min")}


def check_shapes(net: SizedNetwork, converted: list) -> None:
    """Checks that the network computes the graph's shapes at the corners of the sizes' ranges (all
    at min, all at max), not only at opt where it was built: `converted` lists (engine tensor, the
    FX value's shape, what made it) for every converted node. A converter that fixed a symbolic
    extent at its traced value (a constant of the traced shape) raises UnsupportedError naming the
    node, so that its graph gets static engines rather than wrong ones."""
    texts = [(t.name, [size_text(d) if symbolic(d) else int(d) for d in shape], where)  # names as marked
             for t, shape, where in converted if any(symbolic(d) for d in shape)]
    for corner in (0, 2):
        values = {name: r[corner] for name, r in net.sizes.items()}
        try:
            fixed = net.specialize(values)
        except tf.Error as e:
            raise UnsupportedError(f"the network does not take sizes {values}: {e}") from None
        for name, dims, where in texts:
            try:
                want = [d if isinstance(d, int) else tf._C.evaluate_size(d, values) for d in dims]
            except tf.Error as e:
                raise UnsupportedError(f"{where}: its shape {dims} at sizes {values}: {e}") from None
            got = list(fixed.tensor(name).shape)
            if got != want:
                raise UnsupportedError(f"{where}: the engine computes shape {got} at sizes {values}, the graph "
                                       f"{want} (a converter fixed a symbolic extent)")
