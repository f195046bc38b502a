"""PyTorch's OpInfo samples through the tensorforge backend, compared with eager.

For one OpInfo and dtype, each sample input (torch.testing._internal's op_db, the samples PyTorch
tests its own operators with) is compiled with `torch.compile(..., backend="tensorforge",
options={"min_block_size": 1, "disable_tf32": True})` (float32 matrix products as eager computes
them) and run; the outputs are compared with eager PyTorch:
- integer and bool outputs exactly;
- floating outputs against a float64 reference (the sample computed in float64 by eager): the
  engine's largest error may be at most ERROR_FACTOR times eager's own largest error plus a few
  units of the dtype's precision at the output's scale (the engine may round differently from
  eager, never be much further from the truth); NaN and infinities where eager has them.
Each pair records where it ran: "engine" when at least one engine was built for a sample,
"fallback" when every graph stayed in PyTorch, "no-graph" when dynamo captured nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import torch
import torch._dynamo
from torch.utils import _pytree as pytree

from tensorforge.dynamo import STATS

ERROR_FACTOR = 4.0
"""How many times eager's error (against float64) the engine's error may reach."""
PRECISION = {torch.float32: 2e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}
"""Units of the dtype's precision allowed at the output's scale, beside ERROR_FACTOR."""

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.bool, torch.uint8,
          torch.int8]

# OpInfos whose outputs cannot be compared with eager's, each with the reason.
NOT_COMPARABLE = {
    **{name: "random output" for name in [
        "bernoulli", "cauchy", "exponential", "geometric", "log_normal", "multinomial", "normal", "uniform",
        "rand_like", "randn_like", "randint_like", "randint", "nn.functional.dropout", "nn.functional.dropout2d",
        "nn.functional.dropout3d", "nn.functional.alpha_dropout", "nn.functional.feature_alpha_dropout",
        "nn.functional.rrelu", "randn", "rand", "nn.functional.fractional_max_pool2d",
        "nn.functional.fractional_max_pool3d", "torch._refs.nn.functional.dropout"]},
    **{name: "uninitialized output" for name in [
        "empty", "empty_like", "new_empty", "new_empty_strided", "empty_strided", "empty_permuted",
        "torch.empty", "nn.functional.embedding_bag"]},
}


# OpInfos of which only some outputs are compared: the others are the random-number state of the
# attention kernels' dropout, which advances with every call.
OUTPUTS_COMPARED = {"torch.ops.aten._flash_attention_forward": 1, "torch.ops.aten._efficient_attention_forward": 1}

# OpInfos whose index outputs may legitimately differ from eager's: equal values (ties) come in an
# unspecified order, as PyTorch documents for topk. Their (values, indices) are checked by values,
# and by the indices pointing at those values in the input.
TIES_UNSPECIFIED = {"topk"}


def _topk_check(sample, got) -> str:
    values, indices = got
    dim = sample.args[1] if len(sample.args) > 1 else sample.kwargs.get("dim", -1)
    x = sample.input
    if x.dim() == 0:
        return "" if torch.equal(indices, torch.zeros_like(indices)) else "a scalar's index is not 0"
    picked = x.gather(dim, indices)
    if not torch.equal(picked, values) and not torch.equal(torch.isnan(picked), torch.isnan(values)):
        return "indices do not point at the returned values"
    return ""


@dataclasses.dataclass
class PairResult:
    status: str          # "engine", "fallback", "no-graph" or "skipped"
    samples: int         # samples compared
    failure: str = ""    # the first mismatch or error, "" when every sample matched
    note: str = ""


def op_key(op) -> str:
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


@functools.lru_cache(maxsize=1)
def op_db():
    from torch.testing._internal.common_methods_invocations import op_db as db

    # Importing torch's test utilities freezes torch.backends flags (disable_global_flags) for the
    # whole process; other tests set cudnn flags directly, so undo it.
    torch.backends.disable_global_flags.__globals__["__allow_nonbracketed_mutation_flag"] = True
    return db


def pairs(device: str, dtypes=DTYPES):
    """(OpInfo, dtype) for every OpInfo and each dtype of `dtypes` it supports on `device`."""
    for op in op_db():
        supported = op.supported_dtypes(device)
        for dt in dtypes:
            if dt in supported:
                yield op, dt


def _max_abs(t: torch.Tensor) -> float:
    finite = t[torch.isfinite(t)] if t.numel() else t
    return finite.abs().max().item() if finite.numel() else 0.0


def _compare_floats(got, eager, ref, dtype) -> str:
    if ref is None:  # no float64 reference: eager at the dtype's tolerance, widened by the factor
        try:
            torch.testing.assert_close(got, eager, equal_nan=True, atol=ERROR_FACTOR * PRECISION.get(dtype, 1e-5),
                                       rtol=ERROR_FACTOR * PRECISION.get(dtype, 1e-5), check_dtype=False)
        except AssertionError as e:
            return str(e).splitlines()[0] + " (against eager; no float64 reference)"
        return ""
    g, e, r = got.double(), eager.double(), ref.double().to(got.device)
    if not torch.equal(torch.isnan(g), torch.isnan(e)):
        return "NaN where eager has none, or the reverse"
    inf_g, inf_e = torch.isinf(g), torch.isinf(e)
    if not torch.equal(inf_g, inf_e) or not torch.equal(g[inf_g], e[inf_e]):
        return "infinities differ from eager's"
    finite = torch.isfinite(g) & torch.isfinite(r)
    if not finite.any():
        return ""
    err_engine = (g - r)[finite].abs().max().item()
    err_eager = (e - r)[finite].abs().max().item()
    allowed = ERROR_FACTOR * err_eager + ERROR_FACTOR * PRECISION.get(dtype, 2e-6) * max(1.0, _max_abs(r[finite]))
    if err_engine > allowed:
        return f"error against float64 {err_engine:.3g} > allowed {allowed:.3g} (eager's error {err_eager:.3g})"
    return ""


def compare(got, eager, ref) -> str:
    """"" when `got` matches `eager` (see the module docstring), else what differs."""
    got_l, got_spec = pytree.tree_flatten(got)
    eager_l, eager_spec = pytree.tree_flatten(eager)
    ref_l = pytree.tree_flatten(ref)[0] if ref is not None else [None] * len(eager_l)
    if got_spec != eager_spec:
        return f"output structure {got_spec} differs from eager's {eager_spec}"
    for i, (g, e, r) in enumerate(zip(got_l, eager_l, ref_l)):
        if not isinstance(e, torch.Tensor):
            if g != e and not (isinstance(e, float) and math.isnan(e) and math.isnan(g)):
                return f"output {i}: {g!r} != eager {e!r}"
            continue
        if not isinstance(g, torch.Tensor) or g.shape != e.shape or g.dtype != e.dtype:
            return (f"output {i}: {getattr(g, 'dtype', type(g))}{list(getattr(g, 'shape', []))} != eager "
                    f"{e.dtype}{list(e.shape)}")
        if e.is_floating_point():
            why = _compare_floats(g, e, r if isinstance(r, torch.Tensor) else None, e.dtype)
        elif e.is_complex():
            why = "" if torch.allclose(g, e, equal_nan=True) else "complex values differ"
        else:
            why = "" if torch.equal(g, e) else f"values differ from eager ({(g != e).sum().item()} elements)"
        if why:
            return f"output {i}: {why}"
    return ""


def _float64_reference(op, sample, fn_args):
    """The sample computed by eager in float64 (floating inputs promoted), or None."""
    def up(x):
        return x.double() if isinstance(x, torch.Tensor) and x.is_floating_point() else x

    try:
        return op.op(*pytree.tree_map(up, fn_args[0]), **pytree.tree_map(up, fn_args[1]))
    except Exception:  # noqa: BLE001 - the op may not support float64
        return None


def check_pair(op, dtype, device: str, max_samples: int) -> PairResult:
    """Runs up to `max_samples` samples of `op` in `dtype` through the backend (see module doc)."""
    if op.name in NOT_COMPARABLE:
        return PairResult("skipped", 0, note=NOT_COMPARABLE[op.name])
    engines = graphs = compared = 0
    try:
        samples = list(op.sample_inputs(device, dtype, requires_grad=False))
    except Exception as e:  # noqa: BLE001 - a sample generator that fails here is PyTorch's business
        return PairResult("skipped", 0, note=f"sample_inputs failed: {type(e).__name__}")
    for sample in samples:
        if compared >= max_samples:
            break
        args = ([sample.input, *sample.args], dict(sample.kwargs))
        leaves, spec = pytree.tree_flatten(args)
        where = [i for i, v in enumerate(leaves) if isinstance(v, torch.Tensor)]

        def fn(*tensors, leaves=leaves, spec=spec, where=where):
            filled = list(leaves)
            for i, t in zip(where, tensors):
                filled[i] = t
            a, kw = pytree.tree_unflatten(filled, spec)
            return op.op(*a, **kw)

        tensors = [leaves[i] for i in where]
        if any(t.layout != torch.strided for t in tensors):
            continue  # sparse and nested inputs are outside what engines take
        try:
            eager = fn(*[t.clone() for t in tensors])
        except Exception:  # noqa: BLE001 - an invalid sample for eager too: not ours to judge
            continue
        if any(isinstance(t, torch.Tensor) and (t.is_complex() or t.layout != torch.strided)
               for t in pytree.tree_leaves(eager)):
            continue  # complex and sparse results are outside what engines produce
        ref = _float64_reference(op, sample, args) if dtype.is_floating_point else None
        torch._dynamo.reset()
        g0, e0 = STATS["graphs"], STATS["engines"]
        try:
            # float32 matrix products without TF32, as eager computes them (TF32 is an engine option)
            compiled = torch.compile(fn, backend="tensorforge", dynamic=False,
                                     options={"min_block_size": 1, "disable_tf32": True})
            got = compiled(*[t.clone() for t in tensors])
        except Exception as e:  # noqa: BLE001 - the user's call must never fail where eager did not
            return PairResult("engine" if STATS["engines"] > e0 else "fallback", compared,
                              failure=f"sample {compared}: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
        graphs += STATS["graphs"] - g0
        engines += STATS["engines"] - e0
        if op.name in TIES_UNSPECIFIED:
            why = compare(got[0], eager[0], ref[0] if ref is not None else None) or _topk_check(sample, got)
        elif op.name in OUTPUTS_COMPARED:
            n = OUTPUTS_COMPARED[op.name]
            why = compare(tuple(got[:n]), tuple(eager[:n]), tuple(ref[:n]) if ref is not None else None)
        else:
            why = compare(got, eager, ref)
        compared += 1
        if why:
            return PairResult("engine" if engines else "fallback", compared,
                              failure=f"sample {compared - 1}: {why}")
    status = "engine" if engines else "fallback" if graphs else "no-graph"
    return PairResult(status if compared else "skipped", compared, note="" if compared else "no usable sample")
