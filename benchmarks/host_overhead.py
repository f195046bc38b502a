"""Where a compiled model's host time per call goes (GPU machine): the whole call, the same call with
the engines' execution left out (dynamo's guards, the stitched graph, EngineModule's checks and
output allocation), the engines' C++ execution alone, and a cProfile of the Python part.

A call at batch 1 is host-bound when its host time nears its device time; this says which layer of
the stack to make cheaper.

    python3 benchmarks/host_overhead.py [--models mobilenet_v3_large gpt2 ...] [--batch 1]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import torch

from model_zoo import PEERS, make_model


def host_us(fn, calls: int) -> float:
    """Microseconds per call to issue `calls` calls without waiting (few enough that the GPU's
    queue never fills and blocks the host)."""
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
        torch.cuda.synchronize()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=PEERS)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()

    import tensorforge  # noqa: F401 - registers the backend
    from tensorforge.dynamo.runtime.engine_module import EngineModule

    seen: list = []  # (module, args) of each engine module's first call
    forward = EngineModule.forward

    def recording(self, *a):
        if not any(m is self for m, _ in seen):
            seen.append((self, a))
        return forward(self, *a)

    for name in args.models:
        seen.clear()
        model, inputs = make_model(name, args.batch)
        torch._dynamo.reset()
        fn = torch.compile(model, backend="tensorforge", dynamic=False,
                           options={"enabled_precisions": {torch.float16}})
        with torch.no_grad():
            EngineModule.forward = recording
            for _ in range(3):
                fn(*inputs)
            EngineModule.forward = forward
            torch.cuda.synchronize()
            whole = host_us(lambda: fn(*inputs), args.calls)
            execute = EngineModule._execute
            EngineModule._execute = lambda self, ctx, ins, outs: None
            try:
                python_only = host_us(lambda: fn(*inputs), args.calls)
                prof = cProfile.Profile()
                prof.enable()
                for _ in range(200):
                    fn(*inputs)
                prof.disable()
            finally:
                EngineModule._execute = execute
            engines = []
            for m, a in seen:
                ins = m._check(a)
                outs = m._allocate_outputs(m.device)
                ctx = m._contexts.acquire()
                ctx.set_stream(torch.cuda.current_stream().cuda_stream)
                addr_in, addr_out = [t.data_ptr() for t in ins], [t.data_ptr() for t in outs]
                engines.append((m.block_name, len(a), len(outs),
                                host_us(lambda: ctx.execute_addresses(addr_in, addr_out), args.calls),
                                host_us(lambda: m(*a), args.calls)))
                m._contexts.release(ctx)
        print(f"## {name} batch {args.batch}: whole call {whole:.1f} us, without the engines' execution "
              f"{python_only:.1f} us, {len(seen)} engine module(s)")
        for block, n_in, n_out, cpp, module in engines:
            print(f"  {block}: {n_in} inputs, {n_out} outputs; C++ execute {cpp:.1f} us, EngineModule call {module:.1f} us")
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(14)
        print("\n".join(ln for ln in text.getvalue().splitlines()[6:] if ln.strip()))


if __name__ == "__main__":
    main()
