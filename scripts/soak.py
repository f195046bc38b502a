"""Soak test: many calls of one compiled model, then many recompiles, watching the process's
resident memory (and, on a GPU, device memory in use) before and after each phase.

    python3 scripts/soak.py [--device cpu|cuda] [--calls 10000] [--recompiles 100] [--backend tensorforge]

Run it once with --backend eager for the baseline that PyTorch itself costs (dynamo's caches grow
with every recompile whatever the backend). Prints one JSON line; exits 1 if memory after the
calls grew by more than --max-call-growth-mb (a leak per call would show there).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time

import torch

import tensorforge  # noqa: F401 - registers the backend


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def device_used_mb(device: str) -> float:
    if device != "cuda":
        return 0.0
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**20


def model(device):
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
                            torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(256, 10))
    return m.eval().to(device)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--calls", type=int, default=10_000)
    p.add_argument("--recompiles", type=int, default=100)
    p.add_argument("--backend", default="tensorforge")
    p.add_argument("--max-call-growth-mb", type=float, default=20.0)
    args = p.parse_args()
    dev = args.device
    options = {"min_block_size": 1} if args.backend == "tensorforge" else None
    x = torch.randn(4, 3, 32, 32, device=dev)
    out = {"device": dev, "backend": args.backend}
    with torch.no_grad():
        compiled = torch.compile(model(dev), backend=args.backend, dynamic=False, options=options)
        for _ in range(20):  # warm: compile, first calls, CUDA graph capture
            compiled(x)
        gc.collect()
        out["rss_start_mb"], out["device_start_mb"] = round(rss_mb(), 1), round(device_used_mb(dev), 1)
        start = time.perf_counter()
        for _ in range(args.calls):
            compiled(x)
        gc.collect()
        out["calls"], out["calls_s"] = args.calls, round(time.perf_counter() - start, 1)
        out["rss_after_calls_mb"], out["device_after_calls_mb"] = round(rss_mb(), 1), round(device_used_mb(dev), 1)
        del compiled
        start = time.perf_counter()
        for i in range(args.recompiles):
            torch._dynamo.reset()
            m = model(dev)
            c = torch.compile(m, backend=args.backend, dynamic=False, options=options)
            c(x)
            del c, m
        torch._dynamo.reset()
        gc.collect()
        out["recompiles"], out["recompiles_s"] = args.recompiles, round(time.perf_counter() - start, 1)
        out["rss_after_recompiles_mb"] = round(rss_mb(), 1)
        out["device_after_recompiles_mb"] = round(device_used_mb(dev), 1)
    out["call_growth_mb"] = round(out["rss_after_calls_mb"] - out["rss_start_mb"], 1)
    out["recompile_growth_mb"] = round(out["rss_after_recompiles_mb"] - out["rss_after_calls_mb"], 1)
    print(json.dumps(out))
    return 1 if out["call_growth_mb"] > args.max_call_growth_mb else 0


if __name__ == "__main__":
    raise SystemExit(main())
