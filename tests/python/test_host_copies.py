"""host_copies: a block's CUDA constants brought to the host packed into few transfers, each
exactly its tensor converted to the engine's dtype (mixed dtypes and sizes, strided views, bool,
empty tensors, chunk boundaries, a tensor larger than a chunk)."""

import pytest
import torch

from tensorforge.dynamo.conversion.host_copies import host_copies


def same(dtype):
    return dtype


def test_host_tensors_need_no_transfer():
    t = torch.randn(3, 4)
    assert host_copies([t, 2.0], same) == {}


@pytest.mark.cuda
@pytest.mark.parametrize("chunk", [1 << 20, 100, 1])
def test_each_copy_is_its_tensor(chunk):
    g = torch.Generator(device="cuda").manual_seed(0)
    base = torch.randn(40, 33, device="cuda", generator=g)
    tensors = [
        base.half(), base.t(),  # a transposed view
        base[::3, 1:7],         # a strided slice
        torch.randint(-5, 5, (7,), device="cuda", dtype=torch.int64, generator=g),
        base > 0,               # bool
        torch.empty(0, 5, device="cuda"),
        torch.tensor(3.5, device="cuda", dtype=torch.bfloat16),  # a 0-d tensor
        torch.randn(1001, device="cuda", generator=g).to(torch.float8_e4m3fn),
    ]
    out = host_copies(tensors, same, chunk_bytes=chunk)
    assert set(out) == {id(t) for t in tensors}
    for t in tensors:
        h = out[id(t)]
        assert h.device.type == "cpu" and h.is_contiguous() and h.dtype == t.dtype and h.shape == t.shape
        assert torch.equal(h.view(torch.uint8) if t.dtype == torch.float8_e4m3fn else h,
                           (t.view(torch.uint8) if t.dtype == torch.float8_e4m3fn else t).cpu())


@pytest.mark.cuda
def test_converted_to_the_engine_dtype():
    t = torch.randn(5, 6, device="cuda", dtype=torch.float32)
    i = torch.arange(4, device="cuda")
    out = host_copies([t, i], lambda d: {torch.float32: torch.float16, torch.int64: torch.int32}.get(d, d))
    assert out[id(t)].dtype == torch.float16 and torch.equal(out[id(t)], t.half().cpu())
    assert out[id(i)].dtype == torch.int32 and out[id(i)].tolist() == [0, 1, 2, 3]
