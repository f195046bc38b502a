"""The float8 (E4M3) ops `tensorforge.quantize(model, ..., dtype=torch.float8_e4m3fn)` writes into a
model, as custom ops: the quantized model runs in PyTorch through their implementations, and the
engine converts each into its layers (docs/quantization.md). The arithmetic is the engine's
quantize and dequantize layers' (docs/layers.md): q = float8(clamp(x * (1 / scale), -448, 448)),
rounded to nearest even; y = q * scale in float32, rounded once to the output dtype."""

from __future__ import annotations

import torch

FLOAT8 = torch.float8_e4m3fn
FLOAT8_MAX = 448.0


def quantize_float8(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (any float dtype) as float8 values of `scale` (float32, broadcast to x)."""
    return (x.float() * (1.0 / scale)).clamp(-FLOAT8_MAX, FLOAT8_MAX).to(FLOAT8)


@torch.library.custom_op("tensorforge::fake_quantize_float8", mutates_args=())
def fake_quantize_float8(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x through float8 and back, in x's dtype: an activation's quantize/dequantize pair."""
    return (quantize_float8(x, scale).float() * scale).to(x.dtype)


@fake_quantize_float8.register_fake
def _(x, scale):
    return torch.empty_like(x)


@torch.library.custom_op("tensorforge::dequantize_float8", mutates_args=())
def dequantize_float8(q: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float8 q times `scale` (float32, broadcast to q) in float32, as `dtype`: a weight's dequantize."""
    return (q.float() * scale).to(dtype)


@dequantize_float8.register_fake
def _(q, scale, dtype):
    return torch.empty(q.shape, dtype=dtype, device=q.device)
