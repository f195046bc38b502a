"""Timing shared by the GPU benchmarks: CUDA events around back-to-back calls, after warm-up, the
median over repetitions (the method of shared/PEERS.md)."""

import statistics

import torch


def event_ms(fn, calls: int = 50) -> float:
    """Milliseconds per call between CUDA events over `calls` back-to-back calls (host overhead
    included, as a caller sees it)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / calls


def median_ms(fn, repeats: int = 7, calls: int = 50, warmup: int = 3) -> float:
    """The median of `repeats` event_ms(fn, calls) after `warmup` calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    return statistics.median(event_ms(fn, calls) for _ in range(repeats))
