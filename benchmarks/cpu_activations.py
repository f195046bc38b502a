"""CPU activation engines against PyTorch in one process: gelu_erf, gelu_tanh and relu (a memory
bound for comparison) over float32 vectors, best of `--calls` calls each, beside
`torch.nn.functional.gelu` (exact and tanh forms) on the same input.

    python3 benchmarks/cpu_activations.py --sizes 131072 4194304
"""

from __future__ import annotations

import argparse
import time

import torch

import tensorforge as tf


def best_ms(fn, calls: int) -> float:
    for _ in range(3):
        fn()
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[131072, 4194304])
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| elements | op | TensorForge ms | ns / element | torch ms |")
    print("|---|---|---|---|---|")
    torch_forms = {"gelu_erf": "none", "gelu_tanh": "tanh"}
    for n in args.sizes:
        x = torch.randn(n)
        y = torch.empty(n)
        for op in ["gelu_erf", "gelu_tanh", "relu"]:
            net = tf.Network()
            net.mark_output(net.add_activation(net.add_input("x", "float32", [n]), op))
            ctx = tf.Builder(tf.BuilderConfig(device="cpu")).build(net).create_execution_context()
            ms = best_ms(lambda: ctx.execute([x], [y]), args.calls)
            if op in torch_forms:
                ref = torch.nn.functional.gelu(x, approximate=torch_forms[op])
                torch.testing.assert_close(y, ref, atol=2e-6, rtol=2e-6)
                peer = best_ms(lambda: torch.nn.functional.gelu(x, approximate=torch_forms[op]), args.calls)
            else:
                peer = best_ms(lambda: torch.relu(x), args.calls)
            print(f"| {n} | {op} | {ms:.3f} | {ms * 1e6 / n:.2f} | {peer:.3f} |", flush=True)


if __name__ == "__main__":
    main()
