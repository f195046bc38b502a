"""TensorForge: an inference compiler for PyTorch on an engine of its own.

The engine API (no torch.compile needed):

    import tensorforge as tf
    net = tf.Network()
    x = net.add_input("x", "float32", (1, 3, 32, 32))
    ...
    engine = tf.Builder(tf.BuilderConfig()).build(net)
    y, = engine(torch_tensor)
"""

from tensorforge import _C
from tensorforge.engine_api import (
    Builder,
    BuilderConfig,
    DataType,
    DeviceKind,
    DynamicEngine,
    Engine,
    ExecutionContext,
    IOTensorInfo,
    Network,
    Tensor,
    as_dtype,
)
from tensorforge.errors import (
    CorruptFileError,
    EngineRuntimeError,
    Error,
    InternalError,
    InvalidArgumentError,
    InvalidNetworkError,
    UnsupportedError,
)

__version__ = _C.version()


def save(model, path, example_inputs, options=None, output_format="exported_program", dynamic_shapes=None):
    """Compiles `model` with the torch.compile backend's `options` and writes it to `path`
    (tensorforge.saving.save; `dynamic_shapes` as torch.export takes them)."""
    from tensorforge.saving import save as _save

    _save(model, path, example_inputs, options, output_format, dynamic_shapes)


def quantize(model, calibration_data=None, **options):
    """The INT8 form of `model` calibrated on `calibration_data`, as a GraphModule with
    quantize/dequantize pairs; with weight_only=True, int8 linear weights and float activations
    (tensorforge.quantization.quantize; docs/quantization.md)."""
    from tensorforge.quantization import quantize as _quantize

    return _quantize(model, calibration_data, **options)


def load(path):
    """The module of a model tensorforge.save wrote, ready to run (tensorforge.saving.load)."""
    from tensorforge.saving import load as _load

    return _load(path)


def _register_backend() -> None:
    """Registers the "tensorforge" torch.compile backend when torch is importable."""
    try:
        import torch._dynamo  # noqa: F401
    except ImportError:
        return
    from importlib.metadata import entry_points

    from torch._dynamo.backends.registry import _COMPILER_FNS, register_backend

    # When the package is installed, its torch_dynamo_backends entry point registers the backend
    # (torch asserts on a second registration under the same name); register here only without it.
    if any(ep.name == "tensorforge" for ep in entry_points(group="torch_dynamo_backends")):
        return
    if "tensorforge" not in _COMPILER_FNS:
        from tensorforge.dynamo import tensorforge_backend

        register_backend(name="tensorforge")(tensorforge_backend)


def set_log_level(level: str) -> None:
    """Engine log level: "error", "warning" (default), "info" or "verbose"."""
    _C.set_log_level(getattr(_C.Severity, level))


def log_level() -> str:
    """The engine log level set now (see set_log_level)."""
    return _C.log_level().name


_PY_LEVELS = {0: 40, 1: 30, 2: 20, 3: 10}  # error, warning, info, verbose -> logging's numbers
_routed = False


def _to_logging(severity: int, message: str) -> None:
    import logging

    logging.getLogger("tensorforge.engine").log(_PY_LEVELS.get(severity, 20), message)


def log_to_python(enabled: bool = True) -> bool:
    """Routes the engine's own messages (its C++ side: kernel choices, build progress, warnings)
    into Python's logging, logger "tensorforge.engine" (error, warning, info, and verbose as debug),
    instead of printing them to stderr; False prints them to stderr again. The engine's level
    (set_log_level) still filters first. Returns whether they were routed before."""
    global _routed
    before = _routed
    _C.set_python_logger(_to_logging if enabled else None)
    _routed = bool(enabled)
    return before


def _stop_routing_at_exit() -> None:
    _C.set_python_logger(None)  # no message may call into an interpreter that is shutting down


import atexit  # noqa: E402

atexit.register(_stop_routing_at_exit)


def built_with_cuda() -> bool:
    """True if this build includes CUDA support."""
    return _C.built_with_cuda()


def built_with_cudnn_attention() -> bool:
    """True if this build has cuDNN's C++ frontend (pip package nvidia-cudnn-frontend at build time),
    so CUDA attention layers may run cuDNN's fused attention ("cuda.attention.cudnn")."""
    return _C.built_with_cudnn_attention()


def optimizer_passes() -> list[tuple[str, int, str, str]]:
    """The optimizer's passes in the order they run, as (name, lowest optimization_level, devices
    ("all", "CUDA" or "CPU"), summary): the names TENSORFORGE_DISABLE_PASSES takes
    (docs/optimizer.md describes each)."""
    return [tuple(p) for p in _C.optimizer_passes()]


_register_backend()

__all__ = [
    "Builder", "BuilderConfig", "CorruptFileError", "DataType", "DeviceKind", "DynamicEngine", "Engine",
    "EngineRuntimeError", "Error", "ExecutionContext", "IOTensorInfo", "InternalError", "InvalidArgumentError",
    "InvalidNetworkError",
    "Network", "Tensor", "UnsupportedError", "as_dtype", "built_with_cuda", "built_with_cudnn_attention",
    "optimizer_passes", "set_log_level", "log_level", "log_to_python",
]
