"""CUDA benchmark: a network's stem convolution (7x7/2, 3 -> 64 channels, 224x224, bias and relu
fused; ResNet's) on the TensorForge engine, channels last, against PyTorch eager (cuDNN, channels_last)
on the same GPU: float16, where the build times our small-channel kernel beside cuDNN's plans (the
candidates' build-time times are printed from the engine's log), and int8 -> int8 through
`quantized_convolution` (our small-channel kernel's int8 form; cuDNN's int8 convolutions refuse 3
channels). Median ms per call (CUDA events), and what the bytes and FLOPs of the layer would take at
the card's rates for scale. For the 7x7/2 stem, PyTorch (cuDNN) also runs its space-to-depth form:
the input padded and regrouped into 2x2 blocks (12 channels, padded to 16) convolved 4x4/1 by the
weight regrouped the same way (checked equal to the stem's output), with the regrouping timed apart:
whether that form would pay as an engine candidate.

    python3 benchmarks/stem_cuda.py [--batches 32 256] [--kernel 7] [--cout 64]
"""

import argparse
import os
import sys
import tempfile

import torch

import tensorforge as tf
from cuda_timing import median_ms
from tensorforge.testing.networks import network_of


def build_logged(net):
    """The engine, and the engine's info log of its build (the convolution's timed candidates)."""
    tf.set_log_level("info")
    with tempfile.TemporaryFile(mode="w+") as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tf.set_log_level("warning")
        log.seek(0)
        return engine, log.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--kernel", type=int, default=7)
    parser.add_argument("--cout", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("TENSORFORGE_KERNEL_CACHE", "off")  # time the candidates, not a stored choice
    k, cout, stride, pad = args.kernel, args.cout, 2, args.kernel // 2
    print(f"{torch.cuda.get_device_name()}, stem {k}x{k}/{stride}, 3 -> {cout} channels, 224x224, bias + relu")
    for n in args.batches:
        x = torch.randn(n, 224, 224, 3, device="cuda", dtype=torch.float16)
        w = (torch.randn(cout, k, k, 3, device="cuda") * 0.1).half()
        b = torch.randn(cout, device="cuda").half()
        net = network_of(lambda nw, x_, w_, b_: nw.add_convolution(
            x_, w_, b_, (stride, stride), (pad, pad), activation="relu", layout="nhwc"), [x, w, b])
        engine, log = build_logged(net)
        ours = median_ms(lambda: engine(x, w, b))
        choice = next((line for line in engine.inspect().splitlines() if "[convolution]" in line), "")
        xt, wt = x.permute(0, 3, 1, 2), w.permute(0, 3, 1, 2)  # channels_last views for PyTorch
        torch_ms = median_ms(lambda: torch.relu(torch.nn.functional.conv2d(xt, wt, b, stride, pad)))
        xq = torch.randint(-128, 128, (n, 224, 224, 3), device="cuda", dtype=torch.int8)
        wq = torch.randint(-127, 128, (cout, k, k, 3), device="cuda", dtype=torch.int8)
        scale, bias = torch.rand(cout, device="cuda") * 1e-3, torch.randn(cout, device="cuda")
        qnet = network_of(lambda nw, x_, w_, s_, b_: nw.add_quantized_convolution(
            x_, w_, s_, b_, (stride, stride), (pad, pad), (1, 1), 1, "relu", "nhwc", "int8"), [xq, wq, scale, bias])
        qengine = tf.Builder(tf.BuilderConfig(device="cuda")).build(qnet)
        int8_ms = median_ms(lambda: qengine(xq, wq, scale, bias))
        oh = (224 + 2 * pad - k) // stride + 1
        gflop = 2 * n * oh * oh * cout * 3 * k * k / 1e9
        mbytes = (n * 224 * 224 * 3 + n * oh * oh * cout) * 2 / 1e6
        print(f"batch {n}: float16 ours {ours:.3f} ms, PyTorch {torch_ms:.3f} ms; int8 ours {int8_ms:.3f} ms "
              f"({gflop:.1f} GFLOP, {mbytes:.0f} MB in float16)")
        if k == 7:
            xn, wn = x.permute(0, 3, 1, 2), w.permute(0, 3, 1, 2)  # NCHW views

            def regroup(t, front, back):  # pad, 2x2 blocks to channels, 12 -> 16 channels, channels last
                t = torch.nn.functional.pixel_unshuffle(torch.nn.functional.pad(t, (front, back, front, back)), 2)
                return torch.nn.functional.pad(t, (0, 0, 0, 0, 0, 4)).contiguous(memory_format=torch.channels_last)

            xs, ws = regroup(xn, 4, 2), regroup(wn, 1, 0)
            s2d = torch.nn.functional.conv2d(xs, ws, b)
            ref = torch.nn.functional.conv2d(xt, wt, b, stride, pad)
            err = (s2d.float() - ref.float()).abs().max().item() / ref.float().abs().max().item()
            s2d_ms = median_ms(lambda: torch.relu(torch.nn.functional.conv2d(xs, ws, b)))
            regroup_ms = median_ms(lambda: regroup(xn, 4, 2))
            print(f"  PyTorch space-to-depth: conv {s2d_ms:.3f} ms + regrouping {regroup_ms:.3f} ms "
                  f"(largest difference {err:.1e} of the largest output)")
        print("  " + choice.strip()[:200])
        for line in log.splitlines():
            if "timed:" in line:
                print("  candidates, fastest first: " + "; ".join(fastest_candidates(line)))


def fastest_candidates(line: str, keep: int = 8) -> list[str]:
    """The build's timed candidates from an info line '... (timed: NAME T ms, NAME T ms, ...)', fastest
    first, each kind once (its best time): cuDNN's direct plans, the space-to-depth ones, ours."""
    listed = line.split("(timed: ", 1)[-1].rsplit(")", 1)[0]
    best: dict[str, float] = {}
    for item in listed.split(", "):
        name, _, rest = item.rpartition(" ")
        if rest != "ms":
            continue
        name, _, ms = name.rpartition(" ")
        try:
            best[name] = min(best.get(name, float("inf")), float(ms))
        except ValueError:
            continue
    return [f"{name} {ms:.3f} ms" for name, ms in sorted(best.items(), key=lambda kv: kv[1])[:keep]]


if __name__ == "__main__":
    main()
