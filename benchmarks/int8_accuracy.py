"""Issue 13's accuracy bar on random weights: each model of shared/PEERS.md made INT8 by
`tensorforge.quantize` (calibrated on a few random batches), compiled with TensorForge, and its
output on a new batch compared with the float32 model's by cosine similarity (bar: at least 0.99).
The quantized model run by PyTorch is printed beside it (the quantization's own error, which the
engine should match). The GPU runs the models in float16 (their float32 reference on the GPU too);
the CPU in float32 (torchvision's models need the GPU machine's torchvision). With --time (CUDA),
ms per call of the INT8 engine and of the float16 model compiled by TensorForge (CUDA events, the
median of repeats), for issue 13's speed bar (INT8 at least 1.5x faster than our own float16).

    python3 benchmarks/int8_accuracy.py [--device cuda|cpu] [--models bert gpt2] [--method entropy]
                                        [--batch 2] [--time [--profile]] [--min-cosine 0.99]
                                        [--precision int8|float8]

With --precision float8 the same for float8_e4m3fn (tensorforge.quantize(dtype=torch.float8_e4m3fn)).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_zoo  # noqa: E402


def cosine(a, b) -> float:
    a, b = a.float().flatten(), b.float().flatten()
    return (a @ b / (a.norm() * b.norm())).item()


class FirstTensor(torch.nn.Module):
    """The model's main output tensor (last_hidden_state, logits), so export sees one output."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, a, b=None):  # named arguments: torch.export's dynamic shapes take no *args
        return model_zoo.first_tensor(self.model(a) if b is None else self.model(a, b))


def print_profile(label: str, fn) -> None:
    """The top kernels of one engine's calls (CUDA), for where an INT8 engine's time goes."""
    from cuda_timing import top_kernels

    kernels, total = top_kernels(fn)
    print(f"{label}: {total:.3f} ms of device time a call", flush=True)
    for key, ms, count in kernels:
        print(f"  {ms:8.3f} ms  x{count:<4d} {key[:110]}", flush=True)


def print_layers(modules, test, top: int = 25) -> None:
    """The layers where our MMA kernel was timed beside cuDNN's plans (with the candidates' times),
    then, for each engine whose inputs are the test batch's, its slowest layers by engine.profile()."""
    for m in modules:
        for line in m.engine.inspect().splitlines():
            if "MMA kernel" in line:
                print("  " + line.strip()[:300], flush=True)
    for m in modules:
        shapes = [tuple(t.shape) for t in m.engine.io_tensors if t.is_input]
        if shapes != [tuple(t.shape) for t in test]:
            continue
        try:
            rows = m.engine.profile(*test)
        except Exception as e:  # noqa: BLE001 - a diagnostic: say why and go on
            print(f"  (no layer profile: {type(e).__name__}: {e})", flush=True)
            continue
        print(f"  slowest layers of {sum(r['ms'] for r in rows):.3f} ms (engine.profile, layer by layer):")
        for r in rows[:top]:
            print(f"    {r['ms']:8.3f} ms  {r['kind']:<22} {r['name'][:48]:<48} {str(r['tactic'])[:90]}", flush=True)


def run(name: str, device: str, batch: int, method: str, calibration_batches: int, timed: bool = False,
        min_cosine: float | None = None, profile: bool = False, precision: str = "int8",
        residuals: bool = False) -> dict:
    import tensorforge as tf

    qdtype = {"int8": torch.int8, "float8": torch.float8_e4m3fn}[precision]

    dtype = torch.float16 if device == "cuda" else torch.float32
    model, inputs = model_zoo.make_model(name, batch, device=device, dtype=dtype)
    if hasattr(model, "config"):
        model.config.use_cache = False
    module = FirstTensor(model).eval()

    def fresh(seed):
        g = torch.Generator(device="cpu").manual_seed(seed)
        out = []
        for t in inputs:
            if t.is_floating_point():
                out.append(torch.randn(t.shape, generator=g).to(device, t.dtype))
            else:
                out.append(torch.randint(0, int(t.max().item()) + 1, t.shape, generator=g).to(device))
        return tuple(out)

    calibration = [fresh(100 + i) for i in range(calibration_batches)]
    test = fresh(7)
    row = {"model": name, "device": device, "dtype": str(dtype).replace("torch.", ""), "method": method,
           "precision": precision}
    with torch.no_grad():
        float32 = FirstTensor(model.float())(*[t.float() if t.is_floating_point() else t for t in test])
        model.to(dtype)
        if timed:
            from cuda_timing import median_ms

            torch._dynamo.reset()
            float_engine = torch.compile(module, backend="tensorforge", dynamic=False,
                                         options={"enabled_precisions": {dtype}})
            float_engine(*test)
            row["float_ms"] = round(median_ms(lambda: float_engine(*test)), 4)
            if profile:
                print_profile(f"{name} float", lambda: float_engine(*test))
        extra = {"dtype": qdtype} if precision == "float8" else {"residuals": residuals}
        quantized = tf.quantize(module, calibration, method=method, min_cosine=min_cosine, **extra)
        row["kept_float"] = len(quantized.meta["tensorforge_kept_float"])
        reference = quantized(*test)
        torch._dynamo.reset()
        compiled = torch.compile(quantized, backend="tensorforge", dynamic=False,
                                 options={"enabled_precisions": {dtype, qdtype}, "min_block_size": 1})
        out = compiled(*test)
        if timed:
            row["int8_ms"] = round(median_ms(lambda: compiled(*test)), 4)
            row["int8_speedup"] = round(row["float_ms"] / row["int8_ms"], 3)
            if profile:
                print_profile(f"{name} {precision}", lambda: compiled(*test))
    from tensorforge.dynamo import engine_modules

    if profile:
        print_layers(engine_modules(), test)

    layers = sum(m.engine.inspect().count("[quantized_matmul]") for m in engine_modules())
    return {**row, "cosine_tensorforge": round(cosine(out, float32), 5),
            "cosine_pytorch_quantized": round(cosine(reference, float32), 5), "quantized_matmul_layers": layers}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--models", nargs="+", default=model_zoo.PEERS)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--method", default="entropy", choices=["max", "percentile", "entropy"])
    p.add_argument("--precision", default="int8", choices=["int8", "float8"],
                   help="tensorforge.quantize's dtype: int8, or float8_e4m3fn (use --method max)")
    p.add_argument("--calibration-batches", type=int, default=4)
    p.add_argument("--time", action="store_true", help="CUDA: ms per call of the INT8 and float16 engines")
    p.add_argument("--min-cosine", type=float, help="tensorforge.quantize's min_cosine: layers kept in float "
                   "by sensitivity until the calibration batches reach it")
    p.add_argument("--profile", action="store_true", help="with --time: the top kernels of both engines; "
                   "always: the quantized engine's slowest layers (engine.profile) and our MMA kernel's timings")
    p.add_argument("--residuals", action="store_true", help="int8: tensorforge.quantize(residuals=True), the skip "
                   "operands of residual adds quantized too (convolutional networks' blocks stay int8 on CUDA)")
    p.add_argument("--json")
    args = p.parse_args()
    rows = []
    for name in args.models:
        try:
            rows.append(run(name, args.device, args.batch, args.method, args.calibration_batches, args.time,
                            args.min_cosine, args.profile, args.precision, args.residuals))
        except Exception as e:  # noqa: BLE001 - report and go on with the other models
            rows.append({"model": name, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"})
        print(json.dumps(rows[-1]), flush=True)
    q = args.precision.upper()
    print(f"\n| model | device, dtype, batch {args.batch} | cosine with float32: TensorForge {q} | PyTorch's quantized "
          f"model | quantized_matmul layers | layers kept in float | float ms / {q} ms (speedup) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | | | | {r['error']} | | |")
        else:
            speed = f"{r['float_ms']} / {r['int8_ms']} ({r['int8_speedup']}x)" if "int8_ms" in r else ""
            print(f"| {r['model']} | {r['device']}, {r['dtype']} | {r['cosine_tensorforge']} | "
                  f"{r['cosine_pytorch_quantized']} | {r['quantized_matmul_layers']} | {r['kept_float']} | {speed} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
