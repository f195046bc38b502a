"""CUDA benchmark: ConvNeXt-T's four 7x7 depthwise convolutions (stride 1, padding 3, bias; channels
last, float16) on the TensorForge engine against PyTorch eager (cuDNN, channels_last) on the same
GPU. For each: the candidate the build chose and the build's timed candidates (our tiled kernel
among cuDNN's plans), device ms per call (the CUDA profiler's kernel time, as
memory_bound_cuda.py measures: a small layer's call through Python is host-bound), the largest difference from
PyTorch's output, and what the layer's bytes (input and output once) and FLOPs would take at the
card's copy rate for scale.

    python3 benchmarks/depthwise_cuda.py [--batches 8 32]
"""

import argparse
import os

import torch

from memory_bound_cuda import copy_rate_gbs, device_ms
from stem_cuda import build_logged, fastest_candidates
from tensorforge.testing.networks import network_of

# (stage, channels, height = width, layers of the stage): ConvNeXt-T at 224x224
STAGES = [(1, 96, 56, 3), (2, 192, 28, 3), (3, 384, 14, 9), (4, 768, 7, 3)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args()
    os.environ.setdefault("TENSORFORGE_KERNEL_CACHE", "off")  # time the candidates, not a stored choice
    rate = copy_rate_gbs(3, 20)
    print(f"{torch.cuda.get_device_name()}, 7x7 depthwise, stride 1, bias, float16 channels last; "
          f"copy rate {rate:.0f} GB/s")
    print("| batch | stage | C x H x W | ours ms | PyTorch ms | PyTorch / ours | bytes at copy rate ms | GFLOP | chosen |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.batches:
        total = [0.0, 0.0]
        for stage, c, hw, layers in STAGES:
            x = torch.randn(n, hw, hw, c, device="cuda", dtype=torch.float16)
            w = (torch.randn(c, 7, 7, 1, device="cuda") * 0.1).half()
            b = torch.randn(c, device="cuda").half()
            net = network_of(lambda nw, x_, w_, b_: nw.add_convolution(
                x_, w_, b_, (1, 1), (3, 3), (1, 1), c, layout="nhwc"), [x, w, b])
            engine, log = build_logged(net)
            ours = device_ms(lambda: engine(x, w, b), 20)
            xt, wt = x.permute(0, 3, 1, 2), w.permute(0, 3, 1, 2)  # channels_last views for PyTorch
            ref = torch.nn.functional.conv2d(xt, wt, b, 1, 3, 1, c)
            err = (engine(x, w, b)[0].float() - ref.permute(0, 2, 3, 1).float()).abs().max().item()
            theirs = device_ms(lambda: torch.nn.functional.conv2d(xt, wt, b, 1, 3, 1, c), 20)
            total[0] += ours * layers
            total[1] += theirs * layers
            floor = 2 * x.numel() * 2 / rate / 1e6
            gflop = 2 * x.numel() * 49 / 1e9
            choice = next((line for line in engine.inspect().splitlines() if "[convolution]" in line), "")
            print(f"| {n} | {stage} | {c}x{hw}x{hw} | {ours:.4f} | {theirs:.4f} | {theirs / ours:.2f}x | {floor:.4f} | "
                  f"{gflop:.2f} | {choice.strip()[:90]} |  max diff {err:.2g}")
            for line in log.splitlines():
                if "timed:" in line:
                    print("    candidates, fastest first: " + "; ".join(fastest_candidates(line, 5)))
        print(f"batch {n}, ConvNeXt-T's 18 layers by these times: ours {total[0]:.3f} ms, PyTorch {total[1]:.3f} ms")


if __name__ == "__main__":
    main()
