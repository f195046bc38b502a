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


def kernel_profile(fn, calls: int = 5, top: int = 12) -> tuple[list, float, float]:
    """The CUDA kernels taking the most device time over `calls` calls, as (name, ms per call,
    count), the device time of all kernels and copies per call (ms), and the kernels and copies
    launched per call (those a CUDA graph replays included)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    rows = [(e.key, e.self_device_time_total / 1e3 / calls, e.count / calls) for e in prof.key_averages()
            if e.self_device_time_total > 0]
    ranked = [(key, ms, int(round(count))) for key, ms, count in sorted(rows, key=lambda r: -r[1])[:top]]
    return ranked, sum(r[1] for r in rows), sum(r[2] for r in rows)


def top_kernels(fn, calls: int = 5, top: int = 12) -> tuple[list, float]:
    """kernel_profile's first two: the top kernels and the device time per call."""
    ranked, total, _ = kernel_profile(fn, calls, top)
    return ranked, total
