"""TensorForge engine demo: build ResNet-18 (random weights) through the engine API, run it on the
CPU engine next to PyTorch eager, save and reload the engine file, and print results and timings.

    python3 examples/engine_demo.py [--batch 1] [--iterations 10]
"""

import argparse
import os
import tempfile
import time

import torch

import tensorforge as tf
from tensorforge.testing.resnet import random_resnet18, resnet18_network


def time_per_call(fn, iterations):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()

    model = random_resnet18()
    x = torch.randn(args.batch, 3, 224, 224)
    print(f"TensorForge {tf.__version__}: ResNet-18, random weights, input {tuple(x.shape)}, CPU")

    start = time.perf_counter()
    net = resnet18_network(model, x.shape)
    engine = tf.Builder(tf.BuilderConfig(optimization_level=3)).build(net)
    print(f"built: {net.nb_layers} layers in {time.perf_counter() - start:.2f} s, "
          f"weights {engine.weights_size / 2**20:.1f} MiB, activation arena {engine.arena_size / 2**20:.1f} MiB")

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "resnet18.tfengine")
        engine.save(path)
        size = os.path.getsize(path)
        engine = tf.Engine.load(path)
        print(f"saved and reloaded {path} ({size / 2**20:.1f} MiB)")

    with torch.no_grad():
        expected = model(x)
    (logits,) = engine(x)
    diff = (logits - expected).abs().max().item()
    print(f"top-5 classes, engine: {logits[0].topk(5).indices.tolist()}  eager: {expected[0].topk(5).indices.tolist()}")
    print(f"largest difference from eager: {diff:.2e}")

    with torch.no_grad():
        eager_ms = time_per_call(lambda: model(x), args.iterations)
    engine_ms = time_per_call(lambda: engine(x), args.iterations)
    print(f"time per call: eager {eager_ms:.1f} ms, TensorForge CPU engine {engine_ms:.1f} ms "
          f"({torch.get_num_threads()} torch threads)")
    if diff > 1e-3:
        raise SystemExit(f"the engine differs from eager by {diff}")


if __name__ == "__main__":
    main()
