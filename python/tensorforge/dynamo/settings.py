"""CompilationSettings: the `options=` of `torch.compile(model, backend="tensorforge", options=...)`.

Field names follow Torch-TensorRT's wherever one exists. An unknown key is an error naming the
closest valid key, and a value of the wrong type is an error naming the key (Torch-TensorRT drops
unknown keys silently; we do not). Values that only matter on a GPU are accepted on the CPU and
recorded.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from typing import Any

import torch

from tensorforge.errors import InvalidArgumentError, UnsupportedError

_PRECISIONS = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.int8: "int8",
               torch.float8_e4m3fn: "float8_e4m3fn"}
_PRECISION_ALIASES = {"float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
                      "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
                      "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "int8": torch.int8,
                      "float8_e4m3fn": torch.float8_e4m3fn, "fp8": torch.float8_e4m3fn}


@dataclasses.dataclass
class CompilationSettings:
    """How the tensorforge backend compiles a graph. Every field is an `options=` key."""

    enabled_precisions: set = dataclasses.field(default_factory=lambda: {torch.float32})
    """Precisions the engine may choose per layer: torch.float32, torch.float16, torch.bfloat16,
    torch.int8. With float16/bfloat16 enabled, float32 engine inputs are computed in that precision
    inside the engine (outputs keep the model's dtypes). torch.int8 is for graphs that carry
    quantize/dequantize pairs (tensorforge.quantize, PT2E: docs/quantization.md); a graph without
    them is refused, since INT8 activations need calibrated ranges."""
    truncate_long_and_double: bool = False
    """Run float64 as float32 and int64 as int32 inside engines. Without it, float64 ops stay in
    PyTorch (int64 runs natively). Alias: truncate_double."""
    debug: bool = False
    """Log operator coverage, the partition and each engine build (logger "tensorforge")."""
    min_block_size: float = 5
    """Fewest ATen ops in an accelerated block; smaller blocks stay in PyTorch. float("inf") is a
    dry run: print the report, build nothing, run in PyTorch."""
    torch_executed_ops: set = dataclasses.field(default_factory=set)
    """Ops forced to PyTorch: OpOverloads, OpOverloadPackets or strings like "torch.ops.aten.sub.Tensor"."""
    optimization_level: int = 3
    """Build effort 0..5 (0: first working kernel, 3: time the best few, 5: exhaustive)."""
    use_python_runtime: bool = False
    """False: engines run through the C++ call path; True: a Python wrapper, same results."""
    device: Any = None
    """Where engines run: None (the inputs' device), "cpu", "cuda", "cuda:N" or a torch.device."""
    workspace_size: int = 0
    """Most scratch bytes one kernel may use (0: no limit)."""
    pass_through_build_failures: bool = False
    """Raise when an engine fails to build, instead of running that block in PyTorch with a warning."""
    require_full_compilation: bool = False
    """Fail unless the whole graph converts into engines; the error lists what is not supported."""
    dryrun: Any = False
    """True: print the dry-run report and build nothing; a path string also writes it as JSON."""
    disable_tf32: bool = False
    """Forbid TF32 in float32 matrix products and convolutions (GPU only; recorded on the CPU)."""
    use_fp32_acc: bool = True
    """Float16/bfloat16 matrix products and convolutions accumulate in float32: always so here, so
    only True is accepted (False, float16 accumulation, is refused with an error: the engine offers
    none, and on Hopper it would not be faster)."""
    num_avg_timing_iters: int = 5
    """Calls averaged per timing round when kernels time their candidates (GPU convolution plans and
    matrix multiply algorithms; 3 rounds each, the median kept)."""
    timing_cache_path: str = ""
    """Folder where kernels keep their timed choices across processes ("" = the generated kernels'
    cache folder; TENSORFORGE_KERNEL_CACHE=off turns that one off)."""
    cache_built_engines: bool = False
    """Keep each engine built in engine_cache_dir, for later compilations (this process or another)."""
    reuse_cached_engines: bool = False
    """Take an engine from engine_cache_dir when one was kept for the same block, weights, settings,
    device and installation: no conversion and no build."""
    engine_cache_dir: str = ""
    """Folder of the engine cache ("" = $TENSORFORGE_ENGINE_CACHE, else ~/.cache/tensorforge/engines)."""
    engine_cache_size: int = 5 << 30
    """Bytes the engine cache may hold; the entries used least recently are deleted past it."""

    @classmethod
    def from_options(cls, options: dict | None) -> "CompilationSettings":
        """Settings from an `options=` dict: checks every key and value."""
        settings = cls()
        names = [f.name for f in dataclasses.fields(cls)]
        for key, value in dict(options or {}).items():
            if key == "truncate_double":
                key = "truncate_long_and_double"
            if key not in names:
                close = difflib.get_close_matches(str(key), names + ["truncate_double"], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(names)}"
                raise InvalidArgumentError(f"unknown tensorforge option {key!r}{hint}")
            setattr(settings, key, _check(key, value))
        return settings

    @property
    def dry_run(self) -> bool:
        """True when nothing should be built (min_block_size inf or dryrun set)."""
        return bool(self.dryrun) or math.isinf(self.min_block_size)

    def describe(self) -> str:
        """One line per non-default setting, for debug logs."""
        default = CompilationSettings()
        return ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                         if getattr(self, f.name) != getattr(default, f.name)) or "defaults"


def _bad(key: str, value: Any, expected: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"tensorforge option {key!r} must be {expected}, got {value!r} "
                                f"({type(value).__name__})")


def _check(key: str, value: Any) -> Any:
    bools = {"truncate_long_and_double", "debug", "use_python_runtime", "pass_through_build_failures",
             "require_full_compilation", "disable_tf32", "use_fp32_acc", "cache_built_engines",
             "reuse_cached_engines"}
    if key in bools:
        if not isinstance(value, bool):
            raise _bad(key, value, "True or False")
        if key == "use_fp32_acc" and not value:
            raise _bad(key, value, "True: float16 and bfloat16 matrix products and convolutions always "
                                   "accumulate in float32 here (float16 accumulation is not offered)")
        return value
    if key == "enabled_precisions":
        if not isinstance(value, (set, frozenset, list, tuple)) or not value:
            raise _bad(key, value, "a non-empty set of dtypes (torch.float32, torch.float16, torch.bfloat16)")
        out = set()
        for p in value:
            p = _PRECISION_ALIASES.get(p, p) if isinstance(p, str) else p
            if p not in _PRECISIONS:
                raise _bad(key, value, "a set of torch.float32, torch.float16, torch.bfloat16, torch.int8 and "
                                       "torch.float8_e4m3fn")
            out.add(p)
        return out
    if key == "min_block_size":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1 or (
                isinstance(value, float) and not (value.is_integer() or math.isinf(value))):
            raise _bad(key, value, 'a whole number >= 1 or float("inf")')
        return value
    if key == "torch_executed_ops":
        if isinstance(value, (str, torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
            value = {value}
        if not isinstance(value, (set, frozenset, list, tuple)):
            raise _bad(key, value, "a set of OpOverloads or op name strings")
        return {_op_name(key, v) for v in value}
    if key == "optimization_level":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
            raise _bad(key, value, "an int from 0 to 5")
        return value
    if key in ("workspace_size", "num_avg_timing_iters", "engine_cache_size"):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "num_avg_timing_iters" else 0):
            raise _bad(key, value, "an int >= 1" if key == "num_avg_timing_iters" else "a non-negative int")
        return value
    if key == "device":
        if value is None:
            return None
        try:
            device = torch.device(value)
        except (RuntimeError, TypeError):
            raise _bad(key, value, 'a torch.device or a string like "cpu" or "cuda:0"') from None
        return device  # GPU values are recorded on any machine; compiling checks the GPU is there
    if key == "dryrun":
        if not isinstance(value, (bool, str)):
            raise _bad(key, value, "True, False or a JSON file path")
        if isinstance(value, str) and value:
            folder = os.path.dirname(os.path.abspath(value))
            if os.path.isdir(value) or not os.path.isdir(folder):
                raise _bad(key, value, "a JSON file path in an existing folder (the report is written there)")
        return value
    if key in ("timing_cache_path", "engine_cache_dir"):
        if not isinstance(value, (str, os.PathLike)) or os.path.isfile(value):
            raise _bad(key, value, "a folder path (one file per timed layer signature is kept there)"
                       if key == "timing_cache_path" else "a folder path (one file per cached engine is kept there)")
        return os.fspath(value)
    return value


def _op_name(key: str, op: Any) -> str:
    """Canonical "aten.sub.Tensor" (overload) or "aten.sub" (packet) names for torch_executed_ops."""
    if isinstance(op, torch._ops.OpOverload):
        return str(op)
    if isinstance(op, torch._ops.OpOverloadPacket):
        return str(op._qualified_op_name).replace("::", ".")
    if isinstance(op, str):
        name = op.removeprefix("torch.ops.")
        if name.count(".") not in (1, 2):
            raise _bad(key, op, 'op names like "torch.ops.aten.sub.Tensor" or "aten.sub"')
        _require_op_exists(key, name)
        return name
    raise _bad(key, op, "OpOverloads or op name strings")


def _require_op_exists(key: str, name: str) -> None:
    """Raises InvalidArgumentError, with the closest registered name, unless `name` ("aten.sub" or
    "aten.sub.Tensor") is an operator that PyTorch knows: a misspelt name would never match."""
    namespace, packet, *overload = name.split(".")
    try:
        ops = getattr(getattr(torch.ops, namespace), packet)
    except (AttributeError, RuntimeError):
        ops = None
    if ops is not None and (not overload or overload[0] in ops.overloads()):
        return
    known = [n.replace("::", ".") for n in torch._C._dispatch_get_all_op_names()]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InvalidArgumentError(f"tensorforge option {key!r}: PyTorch has no operator {name!r}{hint}")


def op_key(op: torch._ops.OpOverload) -> tuple[str, str]:
    """The ("aten.sub.Tensor", "aten.sub") names under which `op` may appear in torch_executed_ops."""
    return str(op), op.overloadpacket._qualified_op_name.replace("::", ".")
