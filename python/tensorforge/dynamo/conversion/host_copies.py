"""A block's constants brought to the host in a few transfers instead of one each.

Each CUDA tensor becomes its own engine constant, and the engine's network keeps constants on the
host. Moved one at a time (`Tensor.cpu()`), BERT-base's 200 took 0.12 s of a warm compile on the
GPU host (run AM): every transfer waits for the GPU and pays its own fixed cost, most of them for
biases and norm weights of a few kilobytes. Here they are first packed, converted to the engine's
dtype, into one device buffer of at most CHUNK_BYTES (on the GPU: fast, and bounded so that a
large model's weights are not held twice on the device at once), which crosses in one transfer;
a tensor larger than the chunk crosses alone.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch

CHUNK_BYTES = 256 << 20
_ALIGN = 64  # bytes: every packed tensor starts on a multiple, so its bytes view as any dtype


def host_copies(tensors: Iterable[torch.Tensor], dtype_of: Callable[[torch.dtype], torch.dtype],
                chunk_bytes: int = CHUNK_BYTES) -> dict[int, torch.Tensor]:
    """id(tensor) -> a contiguous host tensor holding `tensor` converted to `dtype_of(tensor.dtype)`,
    for each CUDA tensor of `tensors` (others are left out: they need no transfer)."""
    out: dict[int, torch.Tensor] = {}
    pending: list[tuple[int, torch.Tensor, int]] = []  # (id, converted device tensor, offset)
    used = 0

    def flush() -> None:
        nonlocal pending, used
        if not pending:
            return
        device = pending[0][1].device
        packed = torch.empty(used, dtype=torch.uint8, device=device)
        for _, t, offset in pending:
            packed[offset:offset + t.numel() * t.element_size()].view(t.dtype).view(t.shape).copy_(t)
        host = packed.cpu()
        for key, t, offset in pending:
            out[key] = host[offset:offset + t.numel() * t.element_size()].view(t.dtype).view(t.shape)
        pending, used = [], 0

    with torch.no_grad():
        for tensor in tensors:
            if not isinstance(tensor, torch.Tensor) or not tensor.is_cuda or id(tensor) in out:
                continue
            t = tensor.detach().to(dtype_of(tensor.dtype))
            size = t.numel() * t.element_size()
            if size == 0 or t.is_complex() or size > chunk_bytes:
                out[id(tensor)] = t.cpu().contiguous()
                continue
            if pending and (pending[0][1].device != t.device or used + size > chunk_bytes):
                flush()
            pending.append((id(tensor), t, used))
            used += -(-size // _ALIGN) * _ALIGN
        flush()
    return out
