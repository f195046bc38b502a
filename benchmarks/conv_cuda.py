"""CUDA benchmark: single convolutions (bias + relu fused into the layer) on the TensorForge CUDA engine
against PyTorch eager (cuDNN) on the same GPU, in NCHW and, for PyTorch, channels_last (NHWC), to see
what the engine's NCHW layout costs. Prints median ms per call (CUDA events, outputs preallocated)
and the TFLOP/s it means, and the per-call floor of an engine (one tiny layer). Shapes default to
ResNet-50's 3x3 convolutions at batch 32. The tactic column names the kernel the build chose
(graph: cuda.conv.cudnn_graph, cuDNN's graph API; legacy: cuda.conv.cudnn). With --plans the engine
logs each layer's cuDNN plan (engine, layout, workspace, the candidate times it measured at build).

    python3 benchmarks/conv_cuda.py [--dtypes float16 float32 bfloat16] [--batch 32] [--iters 50] [--plans]
"""

import argparse
import time

import torch
import torch.nn.functional as F

import tensorforge as tf
from cuda_timing import median_ms

# (name, Cin, H = W, Cout, kernel, stride, groups)
SHAPES = [
    ("resnet50 layer1 3x3", 64, 56, 64, 3, 1, 1),
    ("resnet50 layer2 3x3", 128, 28, 128, 3, 1, 1),
    ("resnet50 layer3 3x3", 256, 14, 256, 3, 1, 1),
    ("resnet50 layer4 3x3", 512, 7, 512, 3, 1, 1),
    ("resnet50 1x1 expand", 64, 56, 256, 1, 1, 1),
    ("mobilenet depthwise 5x5 s2", 240, 28, 240, 5, 2, 240),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", nargs="+", default=["float16", "float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--plans", action="store_true", help="log each layer's cuDNN plan")
    args = parser.parse_args()
    if args.plans:
        tf.set_log_level("info")
    print(f"TensorForge {tf.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}, "
          f"cuDNN {torch.backends.cudnn.version()} (torch's)")
    print("| conv | dtype | tactic | TensorForge NCHW ms | TFLOP/s | torch NCHW ms | torch NHWC ms | build s |")
    print("|---|---|---|---|---|---|---|---|")
    torch.backends.cudnn.benchmark = True
    tiny = tf.Network()
    tiny.mark_output(tiny.add_activation(tiny.add_input("x", torch.float32, (1,)), "relu"), "y")
    ctx = tf.Builder(tf.BuilderConfig(device="cuda")).build(tiny).create_execution_context()
    one, one_out = torch.ones(1, device="cuda"), torch.empty(1, device="cuda")
    print(f"engine per-call floor (one tiny layer): {median_ms(lambda: ctx.execute([one], [one_out]), 5, args.iters):.4f} ms")
    for dtype_name in args.dtypes:
        dtype = getattr(torch, dtype_name)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        for name, cin, hw, cout, k, stride, groups in SHAPES:
            x = torch.randn(args.batch, cin, hw, hw, device="cuda", dtype=dtype)
            w = torch.randn(cout, cin // groups, k, k, device="cuda", dtype=dtype) * (cin // groups * k * k) ** -0.5
            b = torch.randn(cout, device="cuda", dtype=dtype)
            net = tf.Network()
            y = net.add_convolution(net.add_input("x", dtype, tuple(x.shape)), w, b, (stride, stride),
                                    (k // 2, k // 2), (1, 1), groups, activation="relu")
            net.mark_output(y, "y")
            t0 = time.perf_counter()
            engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
            build_s = time.perf_counter() - t0
            text = engine.inspect()
            tactic = "graph" if "cuda.conv.cudnn_graph" in text else "legacy" if "cuda.conv.cudnn" in text else "?"
            ctx = engine.create_execution_context()
            out = torch.empty(tuple(engine.io_tensors[-1].shape), device="cuda", dtype=dtype)
            ours = median_ms(lambda: ctx.execute([x], [out]), 5, args.iters)
            ref = F.relu(F.conv2d(x, w, b, stride, k // 2, 1, groups))
            err = (out.float() - ref.float()).abs().max().item()
            eager = median_ms(lambda: F.relu(F.conv2d(x, w, b, stride, k // 2, 1, groups)), 5, args.iters)
            xl, wl = x.to(memory_format=torch.channels_last), w.to(memory_format=torch.channels_last)
            nhwc = median_ms(lambda: F.relu(F.conv2d(xl, wl, b, stride, k // 2, 1, groups)), 5, args.iters)
            flops = 2 * args.batch * cout * (hw // stride) ** 2 * (cin // groups) * k * k
            print(f"| {name} | {dtype_name} | {tactic} | {ours:.3f} | {flops / ours / 1e9:.1f} | {eager:.3f} | {nhwc:.3f} | "
                  f"{build_s:.2f} |  max err {err:.3g}")


if __name__ == "__main__":
    main()
