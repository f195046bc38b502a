"""CPU benchmark: ResNet-18 (random weights, 224x224) on the TensorForge CPU engine against PyTorch
eager, same machine, same process. Prints time per call (median of repetitions) for each batch
size, the build time, and the largest difference from eager. No speed target on the CPU yet: this
records where the reference backend stands.

    python3 benchmarks/cpu_resnet18.py [--batches 1 8] [--repeats 5] [--threads N]
"""

import argparse
import platform
import statistics
import time

import torch

import tensorforge as tf
from tensorforge.testing.resnet import random_resnet18, resnet18_network


def median_ms(fn, repeats, calls):
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e3)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = random_resnet18()
    print(f"TensorForge {tf.__version__}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads")
    print("| model | batch | eager ms | TensorForge CPU ms | build s | max abs diff |")
    print("|---|---|---|---|---|---|")
    for batch in args.batches:
        x = torch.randn(batch, 3, 224, 224)
        start = time.perf_counter()
        engine = tf.Builder().build(resnet18_network(model, x.shape))
        build_s = time.perf_counter() - start
        with torch.no_grad():
            expected = model(x)
            eager = median_ms(lambda: model(x), args.repeats, args.calls)
        diff = (engine(x)[0] - expected).abs().max().item()
        ours = median_ms(lambda: engine(x), args.repeats, args.calls)
        print(f"| resnet18 fp32 224² | {batch} | {eager:.1f} | {ours:.1f} | {build_s:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
