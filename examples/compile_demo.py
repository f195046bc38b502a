"""TensorForge's main job: torch.compile(model, backend="tensorforge") on a ResNet-18 and a
BERT-style encoder (random weights, CPU). For each model it prints the operator-coverage report,
the largest difference from eager, and the time per call of eager and of the compiled model.

    python3 examples/compile_demo.py [--iterations 10] [--batch 1]
"""

import argparse
import time

import torch

import tensorforge  # noqa: F401  (registers the backend; the entry point would too)
from tensorforge.dynamo import STATS, reports_since
from tensorforge.testing.bert import random_bert
from tensorforge.testing.resnet import random_resnet18


def time_per_call(fn, iterations):
    fn()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations * 1e3


def largest_difference(a, b):
    a = a if isinstance(a, (tuple, list)) else (a,)
    b = b if isinstance(b, (tuple, list)) else (b,)
    return max((x.float() - y.float()).abs().max().item() for x, y in zip(a, b))


def demo(name, model, example, iterations):
    print(f"\n=== {name} ===")
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
        eager_ms = time_per_call(lambda: model(example), iterations)
        compiled_ms = time_per_call(lambda: compiled(example), iterations)
    print(f"time per call: eager {eager_ms:.2f} ms, tensorforge (CPU engine) {compiled_ms:.2f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    print(f"TensorForge {tensorforge.__version__}, torch {torch.__version__}, CPU, {torch.get_num_threads()} threads")
    demo("ResNet-18, 224x224, float32", random_resnet18(), torch.randn(args.batch, 3, 224, 224), args.iterations)
    demo("BERT-style encoder (4 layers, hidden 256), seq 128", random_bert(layers=4, hidden=256, ffn=1024),
         torch.randint(0, 1000, (args.batch, 128)), args.iterations)


if __name__ == "__main__":
    main()
