"""TensorForge's main job: torch.compile(model, backend="tensorforge") on a ResNet-18 and a
BERT-style encoder (random weights), on the GPU in float16 when there is one (and this build has
the CUDA backend), else on the CPU in float32; the first line says which. For each model it prints
the operator-coverage report, the largest difference from eager, and the time per call of eager, of
inductor (torch.compile's default backend, when it compiles within --inductor-limit seconds on this
machine: it runs in a child process that is stopped past the limit) and of TensorForge.

    python3 examples/compile_demo.py [--iterations 10] [--batch 1] [--device auto|cpu|cuda]
"""

import argparse
import subprocess
import sys
import time

import torch

import tensorforge  # noqa: F401  (registers the backend; the entry point would too)
from tensorforge.dynamo import STATS, reports_since
from tensorforge.testing.bert import random_bert
from tensorforge.testing.resnet import random_resnet18

MODELS = {
    "resnet18": ("ResNet-18, 224x224", lambda: random_resnet18(),
                 lambda batch: torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))),
    "encoder": ("BERT-style encoder (4 layers, hidden 256), seq 128",
                lambda: random_bert(layers=4, hidden=256, ffn=1024),
                lambda batch: torch.randint(0, 1000, (batch, 128), generator=torch.Generator().manual_seed(1))),
}


def pick_device(choice: str) -> torch.device:
    """cuda when asked for or (auto) when PyTorch and this TensorForge build both see a GPU."""
    gpu = torch.cuda.is_available() and tensorforge._C.cuda_device_count() > 0
    if choice == "cuda" and not gpu:
        raise SystemExit("--device cuda: no GPU visible to PyTorch, or this TensorForge build has no CUDA backend")
    return torch.device("cuda" if choice == "cuda" or (choice == "auto" and gpu) else "cpu")


def prepared(key: str, batch: int, device: torch.device):
    """The model and its example input on `device`: float16 weights on the GPU, float32 on the CPU."""
    torch.manual_seed(0)
    _, make_model, make_input = MODELS[key]
    model, example = make_model(), make_input(batch)
    if device.type == "cuda":
        model = model.half()
        if example.is_floating_point():
            example = example.half()
    return model.to(device).eval(), example.to(device)


def time_per_call(fn, iterations: int, device: torch.device) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iterations * 1e3


def largest_difference(a, b) -> float:
    a = a if isinstance(a, (tuple, list)) else (a,)
    b = b if isinstance(b, (tuple, list)) else (b,)
    return max((x.float() - y.float()).abs().max().item() for x, y in zip(a, b))


def inductor_ms(key: str, batch: int, device: torch.device, iterations: int, limit: float) -> str:
    """Inductor's time per call, measured in a child process (so a compile past `limit` seconds can
    be stopped), or why there is none."""
    code = (f"import sys; sys.path.insert(0, {sys.path[0]!r}); import torch, compile_demo as d\n"
            f"dev = torch.device({str(device)!r}); m, x = d.prepared({key!r}, {batch}, dev)\n"
            "with torch.no_grad():\n"
            "    f = torch.compile(m); f(x)\n"
            f"    print('MS', d.time_per_call(lambda: f(x), {iterations}, dev))\n")
    try:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return f"did not compile within {limit:.0f} s on this machine"
    lines = [line for line in run.stdout.splitlines() if line.startswith("MS ")]
    if run.returncode != 0 or not lines:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed ({last[:120]})"
    return f"{float(lines[-1].split()[1]):.2f} ms"


def demo(key: str, batch: int, device: torch.device, iterations: int, inductor_limit: float) -> None:
    title = MODELS[key][0]
    dtype = "float16" if device.type == "cuda" else "float32"
    print(f"\n=== {title}, batch {batch}, {dtype} on {device.type} ===")
    model, example = prepared(key, batch, device)
    torch._dynamo.reset()
    graphs_before = STATS["graphs"]
    with torch.no_grad():
        start = time.perf_counter()
        compiled = torch.compile(model, backend="tensorforge", dynamic=False,
                                 options={"min_block_size": 2, "optimization_level": 3})
        out = compiled(example)
        compile_s = time.perf_counter() - start
        expected = model(example)
        for report in reports_since(graphs_before):
            print(report.to_text())
        print(f"compile: {compile_s:.1f} s, {STATS['engines']} engines built so far")
        print(f"largest difference from eager: {largest_difference(out, expected):.2e}")
        eager = time_per_call(lambda: model(example), iterations, device)
        ours = time_per_call(lambda: compiled(example), iterations, device)
    inductor = inductor_ms(key, batch, device, iterations, inductor_limit) if inductor_limit > 0 else "not run"
    print(f"time per call: eager {eager:.2f} ms, inductor {inductor}, tensorforge {ours:.2f} ms "
          f"({eager / ours:.2f}x eager's speed)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--inductor-limit", type=float, default=60.0,
                        help="seconds inductor may take to compile each model (0: do not run it)")
    args = parser.parse_args()
    device = pick_device(args.device)
    where = (f"GPU ({torch.cuda.get_device_name(device)}), float16" if device.type == "cuda" else
             f"CPU ({torch.get_num_threads()} threads), float32" +
             (" (no GPU visible)" if args.device == "auto" else ""))
    print(f"TensorForge {tensorforge.__version__}, torch {torch.__version__}: running on the {where}")
    for key in MODELS:
        demo(key, args.batch, device, args.iterations, args.inductor_limit)


if __name__ == "__main__":
    main()
