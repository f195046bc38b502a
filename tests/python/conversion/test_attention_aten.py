"""Converters of scaled dot-product attention (tensorforge.sdpa from F.scaled_dot_product_attention,
aten._scaled_dot_product_flash_attention_for_cpu) against eager: shapes, causal, bool and float
masks, fully masked rows, explicit scale, grouped-query attention, every float dtype; dropout,
scale 0 and a used logsumexp stay in PyTorch."""

import pytest
import torch
import torch.nn.functional as F

from aten_harness import FLOAT_DTYPES, check_converter, randn

aten = torch.ops.aten
SDPA = torch.ops.tensorforge.sdpa.default
FLASH = aten._scaled_dot_product_flash_attention_for_cpu.default
# the engine computes float16/bfloat16 attention in float32 and rounds once; PyTorch's CPU kernels
# round the scores and probabilities in between: allow a few ulps of the output
TOL = {torch.float16: dict(atol=5e-3, rtol=5e-3), torch.bfloat16: dict(atol=3e-2, rtol=3e-2)}
SHAPES = [((2, 3, 5, 8), (2, 3, 7, 8)), ((1, 2, 4, 16), (1, 2, 4, 16)), ((3, 6, 4), (3, 9, 4))]


def qkv(qshape, kshape, dtype, ev=None):
    vshape = kshape[:-1] + (ev or kshape[-1],)
    return randn(*qshape, seed=1).to(dtype), randn(*kshape, seed=2).to(dtype), randn(*vshape, seed=3).to(dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa(dtype, shapes, causal):
    q, k, v = qkv(*shapes, dtype, ev=6)
    check_converter(lambda q, k, v: (F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                                     F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=0.3)),
                    [q, k, v], [SDPA], msg=f"{dtype} {shapes} {causal}", **TOL.get(dtype, {}))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("mask_kind", ["bool", "float"])
def test_sdpa_masks_with_fully_masked_rows(dtype, mask_kind):
    q, k, v = qkv((2, 2, 5, 8), (2, 2, 6, 8), dtype)
    keep = randn(2, 1, 5, 6, seed=4) > 0
    keep[0, 0, 1] = False  # a row with nothing to attend
    keep[1, 0, 3] = False
    mask = keep if mask_kind == "bool" else torch.zeros(keep.shape, dtype=dtype).masked_fill(~keep, -1e4)
    check_converter(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), [q, k, v, mask],
                    [SDPA], msg=f"{dtype} {mask_kind}", **TOL.get(dtype, {}))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_sdpa_grouped_query(dtype):
    q, k, v = qkv((2, 6, 5, 8), (2, 2, 7, 8), dtype)
    check_converter(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True, is_causal=True),
                    [q, k, v], [SDPA], msg=str(dtype), **TOL.get(dtype, {}))



@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_one_key_head_broadcast_without_gqa_flag(dtype, causal):
    # Multi-query attention written as broadcasting (Falcon's): one key/value head for six query
    # heads, no enable_gqa; eager broadcasts the head dimension.
    q, k, v = qkv((2, 6, 5, 8), (2, 1, 7, 8), dtype)
    mask = None if causal else randn(2, 1, 5, 7, seed=6).to(dtype)
    report = check_converter(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal),
                             [q, k, v], [SDPA], msg=f"{dtype} {causal}", **TOL.get(dtype, {}))
    assert not report.unsupported

@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_flash_attention_for_cpu_output_0(dtype, causal):
    q, k, v = qkv((2, 3, 5, 8), (2, 3, 7, 8), dtype)
    mask = None if causal else randn(2, 3, 5, 7, seed=5).to(dtype)
    check_converter(lambda q, k, v: FLASH(q, k, v, 0.0, causal, attn_mask=mask, scale=0.5)[0] * 2, [q, k, v],
                    [FLASH], msg=f"{dtype} {causal}", **TOL.get(dtype, {}))


def test_unsupported_attention_stays_in_pytorch():
    q, k, v = qkv((2, 3, 5, 8), (2, 3, 7, 8), torch.float32)
    report = check_converter(lambda q, k, v: (F.scaled_dot_product_attention(q, k, v, scale=0.0), q * 2), [q, k, v],
                             [aten.mul.Tensor])
    assert report.unsupported[str(SDPA)]["count"] == 1
    report = check_converter(lambda q, k, v: (FLASH(q, k, v), q * 2), [q, k, v], [aten.mul.Tensor])
    assert report.unsupported[str(FLASH)]["count"] == 1


CUDA_FORMS = {
    "flash": lambda q, k, v, mask, causal: aten._scaled_dot_product_flash_attention(q, k, v, 0.0, causal,
                                                                                    scale=0.5)[0],
    "efficient": lambda q, k, v, mask, causal: aten._scaled_dot_product_efficient_attention(
        q, k, v, mask, False, 0.0, causal, scale=0.5)[0],
    "cudnn": lambda q, k, v, mask, causal: aten._scaled_dot_product_cudnn_attention(q, k, v, mask, False, 0.0, causal,
                                                                                   scale=0.5)[0],
}


@pytest.mark.cuda
@pytest.mark.parametrize("form", sorted(CUDA_FORMS))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [False, True])
def test_cuda_backend_forms_output_0(form, dtype, causal):
    # what nn.MultiheadAttention reaches on CUDA without going through F.scaled_dot_product_attention
    s = 16 if causal else 32  # causal: square scores (see the next test)
    q, k, v = (t.cuda() for t in qkv((2, 3, 16, 64), (2, 3, s, 64), dtype))
    mask = None if causal or form == "flash" else randn(2, 3, 16, 32, seed=5).to(dtype).cuda()
    op = getattr(aten, f"_scaled_dot_product_{form}_attention").default
    check_converter(lambda q, k, v: CUDA_FORMS[form](q, k, v, mask, causal) * 2, [q, k, v], [op],
                    msg=f"{form} {dtype} {causal}", **TOL[dtype])


@pytest.mark.cuda
def test_cuda_backend_form_causal_with_more_keys_stays_in_pytorch():
    # PyTorch's CUDA kernels align the causal diagonal bottom-right when L != S; the engine top-left
    q, k, v = (t.cuda() for t in qkv((2, 3, 16, 64), (2, 3, 32, 64), torch.float16))
    op = aten._scaled_dot_product_flash_attention.default
    report = check_converter(lambda q, k, v: (CUDA_FORMS["flash"](q, k, v, None, True), q * 2), [q, k, v],
                             [aten.mul.Tensor], **TOL[torch.float16])
    assert report.unsupported[str(op)]["count"] == 1
