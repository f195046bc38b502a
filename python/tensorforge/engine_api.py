"""The engine API in Python: Network, BuilderConfig, Builder, Engine, ExecutionContext.

These mirror the C++ classes in include/tensorforge/ and work without torch.compile: build a
network layer by layer, compile it with a Builder, run the Engine on torch tensors, NumPy arrays or
any DLPack-capable array. docs/layers.md lists every layer kind with its inputs and attributes.
"""

from __future__ import annotations

import json
import operator
import os
import threading
from collections import OrderedDict
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from tensorforge import _C
from tensorforge.context_pool import ContextPool
from tensorforge.errors import InvalidArgumentError

DataType = _C.DataType
DeviceKind = _C.DeviceKind
Tensor = _C.Tensor
IOTensorInfo = _C.IOTensorInfo

_NUMPY_DTYPES = {
    DataType.float32: np.float32,
    DataType.float16: np.float16,
    DataType.int8: np.int8,
    DataType.int32: np.int32,
    DataType.int64: np.int64,
    DataType.bool: np.bool_,
    DataType.uint8: np.uint8,
}


def _torch():
    try:
        import torch
    except ImportError:  # torch is optional for the engine API
        return None
    return torch


def _torch_dtypes():
    torch = _torch()
    if torch is None:
        return {}
    return {
        DataType.float32: torch.float32,
        DataType.float16: torch.float16,
        DataType.bfloat16: torch.bfloat16,
        DataType.int8: torch.int8,
        DataType.int32: torch.int32,
        DataType.int64: torch.int64,
        DataType.bool: torch.bool,
        DataType.uint8: torch.uint8,
        DataType.float8_e4m3fn: torch.float8_e4m3fn,
    }


def as_dtype(dtype: Any) -> DataType:
    """A TensorForge DataType from a DataType, a name ("float16"), a torch dtype or a NumPy dtype."""
    if isinstance(dtype, DataType):
        return dtype
    if isinstance(dtype, str):
        if hasattr(DataType, dtype):
            return getattr(DataType, dtype)
        raise InvalidArgumentError(f"unknown dtype name {dtype!r}; expected one of {[d.name for d in DataType]}")
    for tf_dtype, torch_dtype in _torch_dtypes().items():
        if dtype == torch_dtype:
            return tf_dtype
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        np_dtype = None
    if np_dtype is not None:
        for tf_dtype, np_type in _NUMPY_DTYPES.items():
            if np_dtype == np.dtype(np_type):
                return tf_dtype
    raise InvalidArgumentError(f"cannot convert {dtype!r} to a TensorForge dtype")


def torch_dtype(dtype: DataType):
    """The torch dtype matching a TensorForge DataType."""
    return _torch_dtypes()[dtype]


def _host_array(value: Any, what: str, device: str = "cpu"):
    """A contiguous array (torch tensor or NumPy array) on `device` that nanobind reads through DLPack."""
    torch = _torch()
    if torch is not None and isinstance(value, torch.Tensor):
        if value.device.type != device:
            raise InvalidArgumentError(f"{what} is on {value.device}; this engine runs on {device}")
        return value.detach().contiguous()
    if device != "cpu":
        raise InvalidArgumentError(f"{what} must be a torch tensor on {device} for a {device} engine")
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value)
    if hasattr(value, "__dlpack__"):
        if torch is not None:
            return torch.from_dlpack(value).contiguous()
        return np.ascontiguousarray(np.from_dlpack(value))
    return np.ascontiguousarray(np.asarray(value))


def _typed(fn, *args):
    """Calls a `_C` function; a Python argument of a type it cannot take (nanobind's TypeError,
    which lists the accepted signatures) becomes InvalidArgumentError with that same message."""
    try:
        return fn(*args)
    except TypeError as e:
        if isinstance(e, InvalidArgumentError):
            raise
        raise InvalidArgumentError(str(e)) from None


def _fs_path(path: Any) -> bytes:
    """A str, bytes or os.PathLike path as the bytes the operating system takes."""
    try:
        return os.fsencode(path)
    except TypeError:
        raise InvalidArgumentError(f"a path must be a str, bytes or os.PathLike, got {type(path).__name__}") from None
    except UnicodeError as e:
        raise InvalidArgumentError(f"the path {path!r} cannot be encoded for the file system: {e}") from None


def _int_list(values: Any, what: str) -> list:
    """A list of Python ints from any iterable of integers (NumPy and torch integers included)."""
    try:
        out = [operator.index(v) for v in values]
    except TypeError:
        raise InvalidArgumentError(f"{what} must be a sequence of integers, got {values!r}") from None
    return out


def _bytes(data: Any) -> Any:
    """An engine file's contents for _C's deserialize: bytes, or a 1-D uint8 NumPy array as it is (read
    in place: a saved program's engine buffer is not copied)."""
    if isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 1 and data.flags.c_contiguous:
        return data
    try:
        return bytes(data)
    except TypeError:
        raise InvalidArgumentError(f"expected bytes (an engine file's contents), got {type(data).__name__}") from None


def _use_current_stream(ctx, device: str) -> None:
    """CUDA engines run on PyTorch's current stream, so they order with the caller's own work."""
    if device == "cuda":
        ctx.set_stream(_torch().cuda.current_stream().cuda_stream)


class Network:
    """A graph of engine layers over tensors, built in topological order.

    Shapes and dtypes are inferred as each layer is added; a layer that does not fit its inputs
    raises :class:`tensorforge.errors.InvalidNetworkError` naming the layer and its inputs.
    Weight arguments of the typed helpers accept a Tensor of this network or an array (which
    becomes a constant).
    """

    def __init__(self) -> None:
        self._net = _C.Network()

    # -- structure -------------------------------------------------------------------------
    def add_input(self, name: str, dtype: Any, shape: Sequence[int]) -> Tensor:
        """Declares an input the caller provides at run time."""
        return _typed(self._net.add_input, name, as_dtype(dtype), _int_list(shape, "shape"))

    def add_size(self, name: str, min: int, opt: int, max: int) -> None:  # noqa: A002
        """Declares a named size for dynamic input dims: values `min`..`max`, shapes inferred at `opt`
        (docs/dynamic_shapes.md)."""
        _typed(self._net.add_size, name, operator.index(min), operator.index(opt), operator.index(max))

    def add_dynamic_input(self, name: str, dtype: Any, shape: Sequence[int | str]) -> Tensor:
        """An input whose dims are extents or names of sizes declared by :meth:`add_size`."""
        dims = [d if isinstance(d, str) else operator.index(d) for d in shape]
        return _typed(self._net.add_dynamic_input, name, as_dtype(dtype), dims)

    def specialize(self, values: dict[str, int]) -> "Network":
        """This network with its sizes at `values`: a static network, which builds like any other
        (Builder.build_dynamic builds the network with its sizes instead, a plan per shape)."""
        out = Network.__new__(Network)
        out._net = _typed(self._net.specialize, {k: operator.index(v) for k, v in values.items()})
        return out

    def mark_output(self, tensor: Tensor, name: str = "") -> None:
        """Marks `tensor` as an output, optionally renaming it."""
        _typed(self._net.mark_output, tensor, name)

    def add_constant(self, array: Any, name: str = "") -> Tensor:
        """A constant tensor holding a copy of `array` (torch tensor, NumPy array or DLPack array)."""
        torch = _torch()
        if torch is not None and isinstance(array, torch.Tensor):
            array = array.detach().cpu()
            if array.dtype == torch.float8_e4m3fn:  # DLPack has no float8: its bytes, said to be float8
                return _typed(self._net.add_constant, _host_array(array.contiguous().view(torch.uint8), "constant"),
                              name, DataType.float8_e4m3fn)
        return _typed(self._net.add_constant, _host_array(array, "constant"), name)

    def add_layer(self, kind: str, inputs: Sequence[Tensor | None], attrs: dict | None = None,
                  name: str = "", sizes: dict | None = None) -> list[Tensor]:
        """Adds a layer of any kind (see docs/layers.md); `None` marks an absent optional input.
        `sizes` gives integer-list attributes written with named sizes, each entry an int or an
        expression over them ("batch*2"; docs/dynamic_shapes.md)."""
        written = {k: [str(operator.index(v)) if not isinstance(v, str) else v for v in vals]
                   for k, vals in (sizes or {}).items()}
        return _typed(self._net.add_layer, kind, list(inputs), dict(attrs or {}), name, written)

    def _tensor(self, value: Any) -> Tensor | None:
        if value is None or isinstance(value, Tensor):
            return value
        return self.add_constant(value)

    def _one(self, kind: str, inputs: Iterable[Any], attrs: dict, name: str) -> Tensor:
        return self.add_layer(kind, [self._tensor(v) for v in inputs], attrs, name)[0]

    @property
    def inputs(self) -> list[Tensor]:
        """The network inputs, in declaration order."""
        return self._net.inputs

    @property
    def outputs(self) -> list[Tensor]:
        """The network outputs, in marking order."""
        return self._net.outputs

    @property
    def nb_layers(self) -> int:
        """Number of layers."""
        return self._net.nb_layers

    def tensor(self, name: str) -> Tensor:
        """The tensor called `name`."""
        return _typed(self._net.tensor, name)

    def validate(self) -> None:
        """Re-runs inference and structural checks over the whole network."""
        self._net.validate()

    def to_text(self) -> str:
        """The network as text, one layer per line (docs/printer.md)."""
        return self._net.to_text()

    def __str__(self) -> str:
        return self.to_text()

    # -- typed helpers, one per layer kind ---------------------------------------------------
    def add_convolution(self, x, weight, bias=None, stride=(), padding=(), dilation=(), groups=1, name="",
                        activation="none", layout="nchw", residual=None):
        """N-d convolution; weight [Cout, Cin/groups, *kernel], bias [Cout] or None; residual (the
        output's shape) or None is added after the bias; activation "none", "relu", "silu",
        "hardswish" or "relu6" (clip to [0, 6]; applied after both). layout "nhwc": x, residual and the output are channels last ([N, *spatial, C]) and the
        weight is [Cout, *kernel, Cin/groups]."""
        return self._one("convolution", [x, weight, bias, residual],
                         dict(stride=list(stride), padding=list(padding), dilation=list(dilation), groups=groups,
                              activation=activation, layout=layout), name)

    def add_deconvolution(self, x, weight, bias=None, stride=(), padding=(), output_padding=(), dilation=(),
                          groups=1, name=""):
        """N-d transposed convolution; weight [Cin, Cout/groups, *kernel]."""
        return self._one("deconvolution", [x, weight, bias],
                         dict(stride=list(stride), padding=list(padding), output_padding=list(output_padding),
                              dilation=list(dilation), groups=groups), name)

    def add_pooling(self, x, mode, kernel, stride=(), padding=(), dilation=(), ceil_mode=False,
                    count_include_pad=True, divisor_override=0, name="", layout="nchw"):
        """Max or average pooling ("max" or "avg"); layout "nhwc" for channels-last x and output."""
        return self._one("pooling", [x],
                         dict(mode=mode, kernel=list(kernel), stride=list(stride), padding=list(padding),
                              dilation=list(dilation), ceil_mode=int(ceil_mode),
                              count_include_pad=int(count_include_pad), divisor_override=divisor_override,
                              layout=layout), name)

    def add_adaptive_pooling(self, x, output_size, mode="avg", name="", layout="nchw"):
        """Adaptive average or max pooling to `output_size` spatial extents; layout "nhwc" for
        channels-last x and output."""
        return self._one("adaptive_pooling", [x], dict(mode=mode, output_size=list(output_size), layout=layout),
                         name)

    def add_pad(self, x, pads, mode="constant", value=0.0, name=""):
        """Pads every dim: `pads` lists all begins, then all ends."""
        return self._one("pad", [x], dict(pads=list(pads), mode=mode, value=float(value)), name)

    def add_resize(self, x, sizes, mode="nearest", align_corners=False, scales=(), name=""):
        """Nearest or (bi/tri)linear resize of the spatial dims to `sizes`."""
        return self._one("resize", [x], dict(sizes=list(sizes), mode=mode, align_corners=int(align_corners),
                                             scales=[float(s) for s in scales]), name)

    def add_elementwise(self, a, b, op, name=""):
        """Binary op with broadcasting: add, sub, mul, div, floor_div, mod, pow, min, max, comparisons, logical."""
        return self._one("elementwise", [a, b], dict(op=op), name)

    def add_unary(self, x, op, name=""):
        """Unary op: exp, log, sqrt, abs, neg, floor, not, isnan, ... (docs/layers.md)."""
        return self._one("unary", [x], dict(op=op), name)

    _ACTIVATION_DEFAULTS = {"leaky_relu": (0.01, 0.0), "elu": (1.0, 0.0), "celu": (1.0, 0.0),
                            "softplus": (1.0, 20.0), "clip": (-1.0, 1.0)}

    def add_activation(self, x, op, alpha=None, beta=None, name=""):
        """Activation; alpha/beta default to PyTorch's defaults for the op (docs/layers.md)."""
        da, db = self._ACTIVATION_DEFAULTS.get(op, (0.0, 0.0))
        return self._one("activation", [x], dict(op=op, alpha=float(da if alpha is None else alpha),
                                                 beta=float(db if beta is None else beta)), name)

    def add_prelu(self, x, slope, name=""):
        """PReLU with a slope broadcast to x."""
        return self._one("prelu", [x, slope], {}, name)

    def add_quantize(self, x, scale, zero_point=None, dtype="int8", qmin=None, qmax=None, name="", activation="none"):
        """Quantizes float x to int8 or uint8: clamp(round_half_even(x / scale) + zero_point, qmin,
        qmax); scale (float32) and zero_point (int32, optional) broadcast to x; qmin/qmax default to
        the dtype's range. To float8_e4m3fn: float8(clamp(x / scale, -448, 448)), no zero point
        (docs/layers.md). `activation` ("none", "relu", "gelu", "gelu_tanh") applies to x first, its
        result rounded to x's dtype."""
        attrs = {"dtype": as_dtype(dtype).name, "activation": activation}
        if qmin is not None:
            attrs["qmin"] = operator.index(qmin)
        if qmax is not None:
            attrs["qmax"] = operator.index(qmax)
        return self._one("quantize", [x, scale, zero_point], attrs, name)

    def add_dequantize(self, q, scale, zero_point=None, dtype="float32", name="", scale_source=""):
        """Dequantizes int8/uint8 q to float `dtype`: (q - zero_point) * scale. `scale_source` says
        where the scales came from, for the inspector: "given", "calibrated", "weight-only" or ""."""
        return self._one("dequantize", [q, scale, zero_point], {"dtype": as_dtype(dtype).name,
                                                                 "scale_source": scale_source}, name)

    def add_quantized_matmul(self, a, b, scale, bias=None, transpose_b=False, activation="none", dtype="float32",
                             name="", residual=None, scale_source=""):
        """int8/uint8 a [..., M, K] (float a: weight only) times int8 b [K, N] ([N, K] with transpose_b),
        accumulated in int32 (float32), then act(acc * scale[n] + bias[n] + residual) in float32, rounded
        to `dtype`; activation "none", "relu", "gelu" or "gelu_tanh" (docs/layers.md). `scale_source`
        as add_dequantize's."""
        return self._one("quantized_matmul", [a, b, scale, bias] + ([residual] if residual is not None else []),
                         {"transpose_b": int(transpose_b), "activation": activation, "dtype": as_dtype(dtype).name,
                          "scale_source": scale_source}, name)

    def add_quantized_convolution(self, x, weight, scale, bias=None, stride=(), padding=(), dilation=(), groups=1,
                                  activation="none", layout="nchw", dtype="float32", name="", residual=None,
                                  scale_source="", residual_scale=None):
        """2-D convolution of int8 x [N, C, H, W] ([N, H, W, C] with layout "nhwc") by an int8 weight
        [Cout, C / groups, KH, KW] ([Cout, KH, KW, C / groups]), accumulated in int32, then
        act(acc * scale[k] + bias[k] + residual * residual_scale) in float32, rounded to `dtype` (a float
        dtype, or int8: half to even, saturated); activation "none" or "relu" (docs/layers.md). An int8
        residual needs `residual_scale` (one float32 value). `scale_source` as add_dequantize's."""
        inputs = [x, weight, scale, bias]
        if residual is not None:
            inputs += [residual] + ([residual_scale] if residual_scale is not None else [])
        return self._one("quantized_convolution", inputs,
                         {"stride": list(stride), "padding": list(padding), "dilation": list(dilation),
                          "groups": int(groups), "activation": activation, "layout": layout,
                          "dtype": as_dtype(dtype).name, "scale_source": scale_source}, name)

    def add_select(self, condition, a, b, name=""):
        """where(condition, a, b) with broadcasting."""
        return self._one("select", [condition, a, b], {}, name)

    def add_cast(self, x, dtype, name=""):
        """Converts x to `dtype`."""
        return self._one("cast", [x], dict(dtype=as_dtype(dtype).name), name)

    def add_matmul(self, a, b, transpose_a=False, transpose_b=False, bias=None, activation="none", name=""):
        """Batched matrix product over the last two dims, then an optional bias [N] added to every row
        and an activation: "none", "relu", "gelu" (erf form) or "gelu_tanh"."""
        return self._one("matmul", [a, b, bias], dict(transpose_a=int(transpose_a), transpose_b=int(transpose_b),
                                                      activation=activation), name)

    def add_attention(self, query, key, value, mask=None, causal=False, scale=0.0, name=""):
        """Scaled dot-product attention; scale 0 means 1/sqrt(head dim)."""
        return self._one("attention", [query, key, value, mask], dict(causal=int(causal), scale=float(scale)), name)

    def add_softmax(self, x, axis=-1, log=False, name=""):
        """Softmax (or log-softmax) along `axis`."""
        return self._one("softmax", [x], dict(axis=axis, log=int(log)), name)

    def add_batch_norm(self, x, mean, var, weight=None, bias=None, eps=1e-5, name=""):
        """Inference batch norm over channel dim 1."""
        return self._one("batch_norm", [x, mean, var, weight, bias], dict(eps=float(eps)), name)

    def add_layer_norm(self, x, normalized_rank, weight=None, bias=None, eps=1e-5, name=""):
        """Layer norm over the last `normalized_rank` dims."""
        return self._one("layer_norm", [x, weight, bias], dict(normalized_rank=normalized_rank, eps=float(eps)), name)

    def add_group_norm(self, x, num_groups, weight=None, bias=None, eps=1e-5, name=""):
        """Group norm with `num_groups` groups over the channel dim."""
        return self._one("group_norm", [x, weight, bias], dict(num_groups=num_groups, eps=float(eps)), name)

    def add_rms_norm(self, x, normalized_rank, weight=None, eps=-1.0, name=""):
        """RMS norm over the last `normalized_rank` dims; eps -1 uses the dtype's machine epsilon."""
        return self._one("rms_norm", [x, weight], dict(normalized_rank=normalized_rank, eps=float(eps)), name)

    def add_reduce(self, x, op, axes=(), keepdim=False, name=""):
        """Reduction: sum, mean, max, min, prod, any, all over `axes` (all when empty)."""
        return self._one("reduce", [x], dict(op=op, axes=list(axes), keepdim=int(keepdim)), name)

    def add_arg_reduce(self, x, op, axis, keepdim=False, name=""):
        """argmax or argmin along `axis` (int64 indices)."""
        return self._one("arg_reduce", [x], dict(op=op, axis=axis, keepdim=int(keepdim)), name)

    def add_cumsum(self, x, axis, name=""):
        """Cumulative sum along `axis`."""
        return self._one("cumsum", [x], dict(axis=axis), name)

    def add_topk(self, x, k, axis=-1, largest=True, sorted=True, name=""):
        """Top-k values and int64 indices along `axis`; returns (values, indices)."""
        return tuple(self.add_layer("topk", [self._tensor(x)],
                                    dict(k=k, axis=axis, largest=int(largest), sorted=int(sorted)), name))

    def add_reshape(self, x, shape, name=""):
        """Reshape; one extent may be -1."""
        return self._one("reshape", [x], dict(shape=list(shape)), name)

    def add_transpose(self, x, perm, name=""):
        """Permutes dims: output dim i is input dim perm[i]."""
        return self._one("transpose", [x], dict(perm=list(perm)), name)

    def add_expand(self, x, shape, name=""):
        """Broadcasts x to `shape` (-1 keeps a dim)."""
        return self._one("expand", [x], dict(shape=list(shape)), name)

    def add_concat(self, inputs, axis=0, name=""):
        """Concatenates along `axis`."""
        return self._one("concat", list(inputs), dict(axis=axis), name)

    def add_split(self, x, sizes, axis=0, name=""):
        """Splits along `axis` into pieces of `sizes`; returns a list."""
        return self.add_layer("split", [self._tensor(x)], dict(axis=axis, sizes=list(sizes)), name)

    def add_as_strided(self, x, shape, strides, offset=0, name=""):
        """The view of x's contiguous elements with this shape, element strides and offset, copied
        (torch.as_strided): out[i] = x[offset + sum_k i_k * strides[k]]."""
        return self._one("as_strided", [x], dict(shape=list(shape), strides=list(strides), offset=int(offset)), name)

    def add_slice(self, x, axes, starts, ends, steps=(), name=""):
        """Python-style slicing of the listed axes."""
        return self._one("slice", [x], dict(axes=list(axes), starts=list(starts), ends=list(ends),
                                            steps=list(steps)), name)

    def add_gather(self, x, index, axis=0, mode="take", name=""):
        """take (index_select/embedding) or elements (torch.gather) along `axis`."""
        return self._one("gather", [x, index], dict(axis=axis, mode=mode), name)

    def add_scatter(self, x, index, src, axis=0, reduce="none", name=""):
        """torch.scatter / scatter_reduce(include_self=True) along `axis`."""
        return self._one("scatter", [x, index, src], dict(axis=axis, reduce=reduce), name)

    def add_fill(self, shape, value=0.0, dtype="float32", name=""):
        """A tensor of `shape` filled with `value`."""
        return self._one("fill", [], dict(shape=list(shape), value=float(value), dtype=as_dtype(dtype).name), name)

    def add_pointwise(self, inputs, body, name=""):
        """A fused pointwise layer: `body` is a network in text form (docs/printer.md) of elementwise,
        unary, activation, cast and select layers over float and bool tensors, whose inputs are
        `inputs` in order; returns the list of its outputs (the optimizer makes these layers)."""
        return self.add_layer("pointwise", [self._tensor(x) for x in inputs], dict(body=body), name)

    def add_arange(self, size, start=0.0, step=1.0, dtype="float32", name=""):
        """[start, start + step, ...] with `size` elements."""
        return self._one("arange", [], dict(size=size, start=float(start), step=float(step),
                                            dtype=as_dtype(dtype).name), name)


class BuilderConfig:
    """Options for a build: device ("cpu" or "cuda"), optimization_level (0..5), workspace_size
    (bytes one kernel's scratch space may take, 0 = no cap), allow_tf32 (CUDA: float32 matrix
    multiplies and convolutions may use TF32 tensor cores), disabled_tactics (kernel names, as
    Engine.inspect() shows them, the builder must not pick: the layer takes the next kernel that
    accepts it), timing_iterations (calls averaged per timing round when kernels time candidates;
    0 = their default, 5), timing_cache_dir (folder where kernels keep their timed choices across
    processes; "" = the generated kernels' cache folder), build_threads (threads that prepare
    kernels before they are created and timed: cuDNN plans, NVRTC compiles; 0 = the machine's cores
    up to 8, 1 = all on the building thread; None, the default, reads the environment variable
    TENSORFORGE_BUILD_THREADS and takes 0 when it is unset)."""

    def __init__(self, device: str = "cpu", optimization_level: int = 3, workspace_size: int = 0,
                 allow_tf32: bool = True, disabled_tactics: Iterable[str] = (), timing_iterations: int = 0,
                 timing_cache_dir: str = "", build_threads: Optional[int] = None) -> None:
        self.device = device
        self.optimization_level = optimization_level
        self.workspace_size = workspace_size
        self.allow_tf32 = allow_tf32
        # a bare string stays as given, so _to_c can reject it rather than split it into letters
        self.disabled_tactics = disabled_tactics if isinstance(disabled_tactics, str) else list(disabled_tactics)
        self.timing_iterations = timing_iterations
        self.timing_cache_dir = timing_cache_dir
        if build_threads is None:
            text = os.environ.get("TENSORFORGE_BUILD_THREADS", "0")
            try:
                build_threads = int(text)
            except ValueError:
                raise InvalidArgumentError(
                    f"TENSORFORGE_BUILD_THREADS must be an int, got {text!r}") from None
        self.build_threads = build_threads

    def _to_c(self) -> _C.BuilderConfig:
        c = _C.BuilderConfig()
        if self.device not in ("cpu", "cuda"):
            raise InvalidArgumentError(f"BuilderConfig.device must be 'cpu' or 'cuda', got {self.device!r}")
        c.device = getattr(DeviceKind, self.device)
        for field in ("optimization_level", "workspace_size", "timing_iterations", "build_threads"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgumentError(f"BuilderConfig.{field} must be an int, got {value!r}")
        if not 0 <= self.workspace_size < 2**64:
            raise InvalidArgumentError(f"BuilderConfig.workspace_size must be in [0, 2^64), got {self.workspace_size}")
        c.optimization_level = max(-1, min(self.optimization_level, 2**31 - 1))  # validate() names the range
        c.workspace_size = self.workspace_size
        c.allow_tf32 = bool(self.allow_tf32)
        if isinstance(self.disabled_tactics, str) or not all(isinstance(t, str) for t in self.disabled_tactics):
            raise InvalidArgumentError(
                f"BuilderConfig.disabled_tactics must be a list of kernel names, got {self.disabled_tactics!r}")
        c.disabled_tactics = list(self.disabled_tactics)
        c.timing_iterations = max(-1, min(self.timing_iterations, 2**31 - 1))  # validate() names the range
        c.build_threads = max(-1, min(self.build_threads, 2**31 - 1))
        if not isinstance(self.timing_cache_dir, (str, os.PathLike)):
            raise InvalidArgumentError(f"BuilderConfig.timing_cache_dir must be a folder path, got "
                                       f"{self.timing_cache_dir!r}")
        c.timing_cache_dir = os.fspath(self.timing_cache_dir)
        c.validate()
        return c

    def __repr__(self) -> str:
        return (f"BuilderConfig(device={self.device!r}, optimization_level={self.optimization_level}, "
                f"workspace_size={self.workspace_size}, allow_tf32={self.allow_tf32}, "
                f"disabled_tactics={self.disabled_tactics!r}, timing_iterations={self.timing_iterations}, "
                f"timing_cache_dir={self.timing_cache_dir!r}, build_threads={self.build_threads})")


class Builder:
    """Compiles networks into engines under one configuration."""

    def __init__(self, config: BuilderConfig | None = None) -> None:
        self.config = config or BuilderConfig()
        self._builder = _C.Builder(self.config._to_c())

    def build(self, network: Network) -> "Engine":
        """Validates `network`, picks a kernel per layer, plans memory, returns the Engine."""
        if not isinstance(network, Network):
            raise InvalidArgumentError(f"Builder.build takes a tensorforge.Network, got {type(network).__name__}")
        return Engine(self._builder.build(network._net))

    def build_dynamic(self, network: Network, max_plans: int = 16) -> "DynamicEngine":
        """For a network with named sizes (:meth:`Network.add_size`): checks it at every size's min and
        max, builds the plan for the opt values, and returns a :class:`DynamicEngine` that builds the
        plan of other shapes on their first call, keeping the `max_plans` most recently used."""
        if not isinstance(network, Network):
            raise InvalidArgumentError(
                f"Builder.build_dynamic takes a tensorforge.Network, got {type(network).__name__}")
        plans = operator.index(max_plans)
        return DynamicEngine(_typed(self._builder.build_dynamic, network._net, plans), plans)


class DynamicEngine:
    """Plans of a network with named sizes (docs/dynamic_shapes.md): `engine(*inputs)` reads the
    sizes from the inputs' shapes (an input outside its size's range raises InvalidArgumentError
    naming it), runs the plan for them, built on the first call with those sizes, and returns new
    output arrays. Safe from several threads at once."""

    def __init__(self, engine, max_plans: int) -> None:
        self._engine = engine
        self._max_plans = max_plans
        self._lock = threading.Lock()
        self._plans: OrderedDict = OrderedDict()  # input shapes -> Engine wrapper (with its contexts)

    @property
    def sizes(self) -> dict[str, tuple[int, int, int]]:
        """Each size's (min, opt, max), by name."""
        return {name: (lo, opt, hi) for name, lo, opt, hi in self._engine.sizes}

    @property
    def plans_built(self) -> int:
        """Plans built so far (the opt plan included; a plan dropped and needed again counts again)."""
        return self._engine.plans_built

    @property
    def weights_size(self) -> int:
        """Bytes of the distinct constants of the plans built so far (the plans share one copy)."""
        return self._engine.weights_size

    def plan(self, *inputs: Any) -> "Engine":
        """The Engine that runs inputs of these shapes (arrays, or shapes as tuples)."""
        shapes = [list(x) if isinstance(x, (tuple, list)) else list(x.shape) for x in inputs]
        key = tuple(tuple(s) for s in shapes)
        with self._lock:
            engine = self._plans.get(key)
            if engine is not None:
                self._plans.move_to_end(key)
                return engine
        native = _typed(self._engine.plan, shapes)  # outside the lock: it may build
        with self._lock:
            engine = self._plans.get(key)
            if engine is None:
                engine = self._plans[key] = Engine(native)
                while len(self._plans) > self._max_plans:
                    self._plans.popitem(last=False)
            return engine

    def __call__(self, *inputs: Any) -> list:
        return self.plan(*inputs)(*inputs)

    def serialize(self) -> bytes:
        """The engine in the engine file format (docs/file-format.md, "Dynamic engine files"): the
        network with its sizes and weights, and the opt plan while it is kept (loading then builds
        nothing)."""
        return self._engine.serialize()

    @staticmethod
    def deserialize(data: bytes) -> "DynamicEngine":
        """A dynamic engine from bytes or a 1-D uint8 array (its opt plan built where they hold none); raises
        CorruptFileError on anything malformed and InvalidArgumentError for a static engine's file."""
        native = _C.DynamicEngine.deserialize(_bytes(data))
        return DynamicEngine(native, native.max_plans)

    def save(self, path: str | bytes | os.PathLike) -> None:
        """Writes the engine file to `path`."""
        self._engine.save(_fs_path(path))

    @staticmethod
    def load(path: str | bytes | os.PathLike) -> "DynamicEngine":
        """Reads a dynamic engine file (Engine.load reads static ones)."""
        native = _C.DynamicEngine.load(_fs_path(path))
        return DynamicEngine(native, native.max_plans)


class ExecutionContext:
    """Runs an engine on caller-provided arrays. A context serves one call at a time: a call while
    another thread's call on the same context runs raises InvalidArgumentError. Use one context per
    thread, or call the Engine itself, which is safe from any number of threads."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self._ctx = engine._engine.create_execution_context()

    def execute(self, inputs: Sequence[Any], outputs: Sequence[Any]) -> None:
        """Runs on contiguous arrays of the engine's dtypes, shapes and device (CUDA engines: torch
        CUDA tensors, on PyTorch's current stream); writes into `outputs`."""
        _use_current_stream(self._ctx, self.engine.device)
        _typed(self._ctx.execute_arrays, list(inputs), list(outputs))

    def set_cuda_graphs(self, enabled: bool) -> None:
        """CUDA engines: capture a CUDA graph on the first call and replay it after (default on)."""
        self._ctx.set_cuda_graphs(bool(enabled))

    @property
    def cuda_graph_replays(self) -> int:
        """How many calls replayed a CUDA graph."""
        return self._ctx.cuda_graph_replays

    @property
    def direct_graphs(self) -> int:
        """How many input/output address sets replay a CUDA graph without copies (at most 4: a set
        gets one on its second call; other calls copy through the context's staging buffers)."""
        return self._ctx.direct_graphs


class Engine:
    """A compiled network. `engine(*inputs)` runs it and returns new output arrays; it may be called
    from several threads at once (each call takes its own execution context from a pool)."""

    def __init__(self, engine: _C.Engine) -> None:
        self._engine = engine
        self._contexts = ContextPool(engine)

    @property
    def io_tensors(self) -> list[IOTensorInfo]:
        """Inputs then outputs: name, dtype, shape, is_input."""
        return self._engine.io_tensors

    @property
    def input_names(self) -> list[str]:
        """Names of the inputs, in order."""
        return [t.name for t in self.io_tensors if t.is_input]

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs, in order."""
        return [t.name for t in self.io_tensors if not t.is_input]

    @property
    def device(self) -> str:
        """'cpu' or 'cuda'."""
        return self._engine.device.name

    @property
    def optimization_level(self) -> int:
        """The optimization level the engine was built with."""
        return self._engine.optimization_level

    @property
    def arena_size(self) -> int:
        """Bytes of activation memory one execution context holds."""
        return self._engine.arena_size

    @property
    def compute_capability(self) -> int:
        """CUDA engines: the GPU architecture built for, major * 10 + minor (90 = H100); 0 on the CPU."""
        return self._engine.compute_capability

    @property
    def library_versions(self) -> dict:
        """CUDA engines: the versions of cuBLASLt, cuDNN, NVRTC and CUDA they were built with."""
        return dict(self._engine.library_versions)

    @property
    def weights_size(self) -> int:
        """Bytes of constant data the engine holds."""
        return self._engine.weights_size

    @property
    def nb_layers(self) -> int:
        """Number of layers."""
        return self._engine.nb_layers

    @property
    def build_times(self) -> dict[str, float]:
        """Where building (or loading) the engine spent its time, in milliseconds: "optimize" (the
        passes), "kernels <tactic>" per tactic (plan choice, timing, code generation) and "memory"."""
        return dict(self._engine.build_times)

    def inspect(self, format: str = "text") -> str | dict:
        """The built engine layer by layer: name, kind, chosen kernel, output shapes, layout and the
        network layers each one computes (several after fusion; none for a conversion the optimizer
        inserted). format="json" returns the same as a dict (see Engine::inspect_json in
        include/tensorforge/engine.h), with each layer's "ms" per call from the last profile() when
        there was one, and "layers_run_per_call"."""
        if format == "text":
            return self._engine.inspect()
        if format != "json":
            raise InvalidArgumentError(f"inspect(format=...) takes 'text' or 'json', got {format!r}")
        info = json.loads(self._engine.inspect_json())
        times = getattr(self, "_last_profile", None)
        for layer in info["layers"]:
            layer["ms"] = times.get(layer["name"]) if times is not None else None
        return info

    def network_text(self) -> str:
        """The engine's network as text."""
        return self._engine.network_text()

    def create_execution_context(self) -> ExecutionContext:
        """A new context with its own activation memory."""
        return ExecutionContext(self)

    def serialize(self) -> bytes:
        """The engine in the TensorForge engine file format."""
        return self._engine.serialize()

    @staticmethod
    def deserialize(data: bytes) -> "Engine":
        """An engine from bytes or a 1-D uint8 array; raises CorruptFileError on anything malformed."""
        return Engine(_C.Engine.deserialize(_bytes(data)))

    def save(self, path: str | bytes | os.PathLike) -> None:
        """Writes the engine file to `path`."""
        self._engine.save(_fs_path(path))

    @staticmethod
    def load(path: str | bytes | os.PathLike) -> "Engine":
        """Reads an engine file; raises InvalidArgumentError for a path that is not a readable regular
        file and CorruptFileError for a file that is not a valid engine."""
        return Engine(_C.Engine.load(_fs_path(path)))

    def _bind(self, inputs: tuple) -> tuple[list, list]:
        """Checked, contiguous input arrays and freshly allocated outputs for one execution."""
        names = self.input_names
        if len(inputs) == 1 and isinstance(inputs[0], dict):
            given = inputs[0]
            missing = [n for n in names if n not in given]
            extra = [n for n in given if n not in names]
            if missing or extra:
                raise InvalidArgumentError(f"engine inputs are {names}; missing {missing}, unknown {extra}")
            inputs = tuple(given[n] for n in names)
        if len(inputs) != len(names):
            raise InvalidArgumentError(f"the engine takes {len(names)} inputs ({', '.join(names)}), got {len(inputs)}")
        device = self.device
        arrays = [_host_array(v, f"input '{n}'", device) for v, n in zip(inputs, names)]
        torch = _torch()
        use_torch = torch is not None and (device != "cpu" or any(isinstance(a, torch.Tensor) for a in arrays) or any(
            t.dtype == DataType.bfloat16 for t in self.io_tensors if not t.is_input))
        outputs = []
        for t in self.io_tensors:
            if t.is_input:
                continue
            if use_torch:
                where = arrays[0].device if device != "cpu" and arrays else device
                outputs.append(torch.empty(t.shape, dtype=torch_dtype(t.dtype), device=where))
            elif t.dtype in _NUMPY_DTYPES:
                outputs.append(np.empty(t.shape, dtype=_NUMPY_DTYPES[t.dtype]))
            else:
                raise InvalidArgumentError(f"output '{t.name}' is {t.dtype.name}, which NumPy cannot hold; install torch")
        return arrays, outputs

    def run(self, *inputs: Any) -> list:
        """Runs on torch tensors, NumPy arrays or DLPack arrays (positional, or one dict by name).

        Returns new outputs: torch tensors when any input is a torch tensor (or torch is the only
        way to hold the dtype, as for bfloat16), NumPy arrays otherwise.
        """
        arrays, outputs = self._bind(inputs)
        with self._contexts.context() as ctx:
            _use_current_stream(ctx, self.device)
            ctx.execute_arrays(arrays, outputs)
        return outputs

    def profile(self, *inputs: Any, runs: int = 10) -> list[dict]:
        """Runs `runs` times timing every layer; returns per layer its name, kind, kernel (tactic)
        and mean milliseconds per call, slowest first (constants, which do no work, are left out)."""
        arrays, outputs = self._bind(inputs)
        ctx = self._engine.create_execution_context()
        _use_current_stream(ctx, self.device)
        ctx.execute_arrays(arrays, outputs)  # warm-up, not profiled
        ctx.set_profiling(True)
        for _ in range(runs):
            ctx.execute_arrays(arrays, outputs)
        rows = [dict(name=n, kind=k, tactic=t, ms=ms / runs)
                for (n, k, t), ms in zip(self._engine.layers(), ctx.layer_times_ms()) if k != "constant"]
        self._last_profile = {r["name"]: r["ms"] for r in rows}  # for inspect(format="json")
        return sorted(rows, key=lambda r: -r["ms"])

    __call__ = run
