"""How far cuBLASLt's GELU epilogue (the tanh form) strays in float16 and bfloat16, against eager
PyTorch's own unfused path, both measured against a float64 reference of the same rounded inputs.

torch._addmm_activation(bias, a, b, use_gelu=True) runs cuBLASLt's GELU_BIAS epilogue on CUDA; eager
PyTorch runs addmm (bias in cuBLASLt's epilogue, rounded) and then gelu(approximate="tanh") (rounded
again). Prints the largest error in units of the output's ulp (where |GELU| >= 0.25) and in absolute
terms, and the relative
error (norm of the difference over the norm of the reference), for GPT-2's MLP shape.

    python3 benchmarks/gelu_epilogue_error.py
"""

from __future__ import annotations

import torch


def ulp(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The spacing of `dtype` at each |x| (its subnormal spacing near 0)."""
    info = torch.finfo(dtype)
    e = torch.floor(torch.log2(x.abs().clamp_min(info.tiny)))
    return torch.pow(2.0, e - (info.bits - 1 - (8 if dtype == torch.bfloat16 else 5))).clamp_min(info.tiny * info.eps)


def main() -> None:
    torch.manual_seed(0)
    for dtype in (torch.float16, torch.bfloat16):
        for m, k, n in ((128, 768, 3072), (4096, 768, 3072)):
            a = torch.randn(m, k, device="cuda").to(dtype)
            b = (torch.randn(k, n, device="cuda") / k ** 0.5).to(dtype)
            bias = torch.randn(n, device="cuda").to(dtype)
            exact = torch.nn.functional.gelu(a.double() @ b.double() + bias.double(), approximate="tanh")
            fused = torch._addmm_activation(bias, a, b, use_gelu=True)
            eager = torch.nn.functional.gelu(torch.addmm(bias, a, b), approximate="tanh")
            for name, got in (("cuBLASLt GELU epilogue", fused), ("eager addmm + gelu", eager)):
                d = (got.double() - exact).abs()
                big = exact.abs() >= 0.25  # near GELU's zeros an ulp is tiny and says little
                u = (d / ulp(exact, dtype).double())[big]
                rel = (d.norm() / exact.norm()).item()
                print(f"{str(dtype)[6:]:9s} {m}x{k}x{n}  {name:24s} max {u.max().item():5.1f} ulp "
                      f"(abs {d.max().item():.2e}, 99.99th pct {u.flatten().kthvalue(int(u.numel() * 0.9999)).values.item():.1f} ulp), "
                      f"relative {rel:.2e}")


if __name__ == "__main__":
    main()
