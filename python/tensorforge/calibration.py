"""Range calibration for INT8 (docs/quantization.md): what a tensor's quantization threshold is,
from the values it took on a calibration set.

A `RangeRecorder` sees a tensor's values batch by batch. Its first pass records the largest
magnitude (amax); a second pass, for the histogram methods, counts magnitudes into `BINS` equal
bins over [0, amax]. `threshold(method)` then gives the magnitude that maps to the largest integer:

- "max": amax itself (no value clipped);
- "percentile": the upper edge of the bin where the given percentile of magnitudes ends;
- "entropy": the threshold whose 128-level quantization of the histogram loses the least
  information (smallest KL divergence between the clipped reference distribution and its
  quantized form), the method TensorRT's entropy calibrator made standard. Thresholds are tried at
  every bin edge from 128 bins up.

The scale of a symmetric int8 quantization is threshold / 127.
"""

from __future__ import annotations

import math

import torch

from tensorforge.errors import InvalidArgumentError

BINS = 2048
METHODS = ("max", "percentile", "entropy")
_LEVELS = 128


class RangeRecorder:
    """The range of one tensor over the calibration batches."""

    def __init__(self) -> None:
        self.amax = 0.0
        self.hist: torch.Tensor | None = None

    def observe_max(self, x: torch.Tensor) -> None:
        """First pass: the largest finite magnitude."""
        if x.numel():
            a = x.detach().float().abs()
            a = a[torch.isfinite(a)]
            if a.numel():
                self.amax = max(self.amax, a.max().item())

    def observe_histogram(self, x: torch.Tensor) -> None:
        """Second pass: magnitudes counted into BINS bins over [0, amax] (after every observe_max)."""
        if self.hist is None:
            self.hist = torch.zeros(BINS, dtype=torch.float64)
        if self.amax <= 0 or not x.numel():
            return
        a = x.detach().float().abs().flatten().cpu()
        a = a[torch.isfinite(a)]
        self.hist += torch.histc(a.clamp(max=self.amax), bins=BINS, min=0.0, max=self.amax).double()

    def threshold(self, method: str, percentile: float = 99.99) -> float:
        """The magnitude that maps to the largest quantized value, by `method`."""
        if method not in METHODS:
            raise InvalidArgumentError(f"calibration method must be one of {', '.join(METHODS)}, got {method!r}")
        if method == "max" or self.amax <= 0:
            return self.amax
        if self.hist is None or self.hist.sum() == 0:
            raise InvalidArgumentError(f"calibration method {method!r} needs the histogram pass")
        if method == "percentile":
            return percentile_threshold(self.hist, self.amax, percentile)
        return entropy_threshold(self.hist, self.amax)


def percentile_threshold(hist: torch.Tensor, amax: float, percentile: float) -> float:
    """The upper edge of the bin in which `percentile` percent of the counted magnitudes end."""
    if not 0 < percentile <= 100:
        raise InvalidArgumentError(f"calibration percentile must be in (0, 100], got {percentile}")
    cdf = torch.cumsum(hist, 0) / hist.sum()
    index = int(torch.searchsorted(cdf, torch.tensor(percentile / 100, dtype=cdf.dtype)).item())
    return amax * min(index + 1, len(hist)) / len(hist)


def entropy_threshold(hist: torch.Tensor, amax: float) -> float:
    """The bin edge i (from _LEVELS bins up) minimizing KL(P || Q): P is the histogram's first i bins
    with everything beyond folded into the last, Q is P merged into _LEVELS levels and spread back
    evenly over each level's non-empty bins."""
    h = hist.double()
    n = len(h)
    best, best_i = math.inf, n
    for i in range(_LEVELS, n + 1):
        p = h[:i].clone()
        p[i - 1] += h[i:].sum()
        if p.sum() == 0:
            continue
        q = _quantized(h[:i], _LEVELS)
        divergence = _kl(p, q)
        if divergence < best:
            best, best_i = divergence, i
    return amax * best_i / n


def _quantized(p: torch.Tensor, levels: int) -> torch.Tensor:
    """p's bins merged into `levels` groups (bin j in group floor(j * levels / len(p))), each group's
    total spread back evenly over the group's non-empty bins."""
    group = torch.arange(len(p), dtype=torch.int64) * levels // len(p)
    nonzero = (p > 0).double()
    sums = torch.zeros(levels, dtype=p.dtype).index_add_(0, group, p)
    counts = torch.zeros(levels, dtype=p.dtype).index_add_(0, group, nonzero)
    return nonzero * (sums / counts.clamp_min(1))[group]


def _kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL divergence of the normalized distributions; a bin P has and Q lacks counts as a large
    penalty rather than infinity (it happens only where the merge emptied a level)."""
    p = p / p.sum()
    qs = q.sum()
    if qs == 0:
        return math.inf
    q = q / qs
    mask = p > 0
    ratio = torch.where(q[mask] > 0, p[mask] / q[mask].clamp_min(1e-300), torch.full_like(p[mask], 1e12))
    return float((p[mask] * torch.log(ratio)).sum())
