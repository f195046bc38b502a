"""Padding (constant, reflect, replicate) and resize (linear / trilinear upsampling) builders:
PyTorch's last-dim-first pad lists become the engine's begins-then-ends list; scale factors become
the engine's input/output coordinate ratios."""

from __future__ import annotations


def engine_pads(rank: int, pad) -> list[int]:
    """Torch pads (last dim first: begin, end, then the dim before, ...) as begins of every dim then ends."""
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):
        begins[rank - 1 - i], ends[rank - 1 - i] = pad[2 * i], pad[2 * i + 1]
    return begins + ends


def pad(ctx, x, pads, mode: str, value=0.0):
    return ctx.net.add_pad(x, engine_pads(len(x.shape), pads), mode=mode, value=float(value), name=ctx.name())


def resize(ctx, x, sizes, mode: str, align_corners=False, scale_factors=()):
    """Resize of the last len(sizes) dims; scale_factors (PyTorch's, None where not given) set the
    coordinate mapping as PyTorch does when a scale factor is passed."""
    ins = list(x.shape)[-len(sizes):]
    scales = []
    if not align_corners and any(s for s in scale_factors):
        scales = [1.0 / s if s else i / o for s, i, o in zip(scale_factors, ins, sizes)]
    return ctx.net.add_resize(x, list(sizes), mode=mode, align_corners=bool(align_corners), scales=scales,
                              name=ctx.name())
