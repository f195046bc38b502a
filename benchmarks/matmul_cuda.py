"""CUDA matmul throughput: one matmul layer (cuBLASLt) against torch.matmul, same GPU, same process.
Prints milliseconds per call (median of repetitions timed with CUDA events) and TFLOP/s for each
case; the H100 ceilings measured for shared/PEERS.md are about 760 TFLOP/s (fp16), 787 (bf16) and
51 (float32 without TF32). Nothing is asserted: this records where the kernel stands.

    python3 benchmarks/matmul_cuda.py [--sizes 4096 8192] [--repeats 7] [--calls 20]
"""

import argparse

import torch

import tensorforge as tf
from cuda_timing import median_ms


def engine_for(m, n, k, dtype, activation, allow_tf32):
    net = tf.Network()
    a = net.add_input("a", dtype, (m, k))
    b = net.add_input("b", dtype, (k, n))
    bias = net.add_input("bias", dtype, (n,)) if activation else None
    net.mark_output(net.add_matmul(a, b, bias=bias, activation=activation or "none"), "c")
    return tf.Builder(tf.BuilderConfig(device="cuda", allow_tf32=allow_tf32)).build(net)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    cases = [(torch.float16, None, True), (torch.bfloat16, None, True), (torch.float16, "gelu_tanh", True),
             (torch.float16, "gelu", True), (torch.float32, None, True), (torch.float32, None, False)]
    print(f"{'size':>6} {'dtype':>9} {'epilogue':>10} {'tf32':>5} {'ms':>8} {'TFLOP/s':>8} {'torch ms':>9} {'torch TFLOP/s':>13}")
    for s in args.sizes:
        for dtype, act, tf32 in cases:
            if dtype == torch.float32 and not tf32 and s > 4096:
                continue  # about 22 ms a call at 8192: skipped to keep the run short
            a = torch.randn(s, s, device="cuda").to(dtype)
            b = torch.randn(s, s, device="cuda").to(dtype)
            bias = torch.randn(s, device="cuda").to(dtype)
            engine = engine_for(s, s, s, dtype, act, tf32)
            ctx_inputs = (a, b, bias) if act else (a, b)
            ms = median_ms(lambda: engine(*ctx_inputs), args.repeats, args.calls)
            torch.backends.cuda.matmul.allow_tf32 = tf32
            if act is None:
                ref = lambda: torch.matmul(a, b)  # noqa: E731
            else:
                approx = "tanh" if act == "gelu_tanh" else "none"
                ref = lambda: torch.nn.functional.gelu(torch.addmm(bias, a, b), approximate=approx)  # noqa: E731
            tms = median_ms(ref, args.repeats, args.calls)
            flop = 2.0 * s * s * s
            print(f"{s:>6} {str(dtype).split('.')[-1]:>9} {act or '-':>10} {str(tf32):>5} {ms:8.3f} "
                  f"{flop / ms / 1e9:8.1f} {tms:9.3f} {flop / tms / 1e9:13.1f}")


if __name__ == "__main__":
    main()
