"""End to end: torch.compile(backend="tensorforge") on an MLP, a CNN with batch norm and residual
blocks, a BERT-style encoder, a model with a graph break, and a model with an op forced to
PyTorch. Each matches eager, and each test asserts how many engines were built and what stayed in
PyTorch. Every test runs on the CPU in float32 and, where a GPU is visible, on CUDA in float32
(TF32 off, to compare with eager's float32) and in float16 (model and inputs .half(), compared with
eager float16 by relative error)."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from backend_util import Watch, compile_model, engine_modules, kept_ops
from tensorforge.dynamo.backend import COMPILED
from tensorforge.testing.bert import random_bert
from tensorforge.testing.resnet import random_resnet18

WHERE = [pytest.param(("cpu", torch.float32), id="cpu-fp32"),
         pytest.param(("cuda", torch.float32), id="cuda-fp32", marks=pytest.mark.cuda),
         pytest.param(("cuda", torch.float16), id="cuda-fp16", marks=pytest.mark.cuda)]


@pytest.fixture(params=WHERE)
def where(request, monkeypatch):
    if request.param == ("cuda", torch.float32):  # eager float32 convolutions without TF32 too
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    return request.param


def place(where, model, *inputs):
    """The model and inputs on the device and in the dtype of `where` (integer inputs keep theirs)."""
    device, dtype = where
    moved = [x.to(device, dtype) if x.is_floating_point() else x.to(device) for x in inputs]
    return (model.to(device, dtype), *moved)


def options(where, **extra):
    """Backend options for `where`: CUDA float32 without TF32 (eager float32 matmuls use none)."""
    if where == ("cuda", torch.float32):
        extra["disable_tf32"] = True
    return extra


def check(where, out, expected, tol):
    """float32: elementwise within `tol`; float16: relative error (norm of the difference over the
    norm of eager's result) under 1e-2, computed in float64."""
    assert out.dtype == expected.dtype and out.device == expected.device
    if where[1] == torch.float16:
        diff = (out.double() - expected.double()).norm() / expected.double().norm()
        assert diff < 1e-2, f"relative error {diff:.2e}"
    else:
        torch.testing.assert_close(out, expected, atol=tol, rtol=tol)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)).eval()


def test_mlp_runs_in_one_engine(where):
    model, x = place(where, mlp(), torch.randn(8, 16))
    with torch.no_grad(), Watch() as w:
        out = compile_model(model, options(where))(x)
        expected = model(x)
    check(where, out, expected, 1e-5)
    assert w.graphs == 1 and w.engines == 1
    assert w.reports[0].kept_in_pytorch == []
    assert w.reports[0].coverage == 100.0


def test_cnn_with_batch_norm_and_residuals(where):
    model, x = place(where, random_resnet18(seed=3, width=8, num_classes=10), torch.randn(2, 3, 32, 32))
    with torch.no_grad(), Watch() as w:
        out = compile_model(model, options(where))(x)
        expected = model(x)
    check(where, out, expected, 1e-4 if where[0] == "cpu" else 1e-3)
    assert w.engines == 1 and kept_ops(w.reports[0]) == []
    counts = w.reports[0].op_counts
    assert counts["aten.convolution.default"] == 20  # 17 3x3/7x7 + 3 downsample 1x1


def test_bert_style_encoder(where):
    model, ids = place(where, random_bert(seed=1), torch.randint(0, 1000, (2, 16)))
    with torch.no_grad(), Watch() as w:
        hidden, pooled = compile_model(model, options(where))(ids)
        eh, ep = model(ids)
    check(where, hidden, eh, 2e-4)
    check(where, pooled, ep, 2e-4)
    assert w.engines == 1 and kept_ops(w.reports[0]) == []
    assert "tensorforge.sdpa.default" in w.reports[0].op_counts


def test_exported_graph_keeps_attention_whole(where):
    """A graph from torch.export calls aten.scaled_dot_product_attention itself (not the function):
    it becomes one attention layer too, not the traced decomposition PyTorch would choose."""
    model, ids = place(where, random_bert(seed=1), torch.randint(0, 1000, (2, 16)))
    exported = torch.export.export(model, (ids,), strict=False).module()
    assert any(n.target == torch.ops.aten.scaled_dot_product_attention.default for n in exported.graph.nodes)
    with torch.no_grad(), Watch() as w:
        hidden, _ = compile_model(exported, options(where))(ids)
        expected, _ = model(ids)
    check(where, hidden, expected, 2e-4)
    assert "tensorforge.sdpa.default" in w.reports[0].op_counts
    assert not any("softmax" in op for op in w.reports[0].op_counts)


class PackedAttention(nn.Module):
    """nn.MultiheadAttention's own sequence (query, key and value packed, heads split by views, the
    result permuted back and viewed), as torchvision's ViT runs it."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.proj = nn.Linear(64, 192)

    def forward(self, x):  # x: [L, B, 64]
        seq, batch, heads = x.shape[0], x.shape[1], 4
        q, k, v = self.proj(x).unflatten(-1, (3, 64)).unsqueeze(0).transpose(0, -2).squeeze(-2).contiguous()
        q, k, v = (t.view(seq, batch * heads, 16).transpose(0, 1).view(batch, heads, seq, 16) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return out.permute(2, 0, 1, 3).contiguous().view(seq * batch, 64)


def test_exported_attention_keeps_the_views_export_kept(where):
    """torch.export drops the .contiguous() after attention where its shape function lays the result
    out as the query is (so the permuted result is already contiguous): the graph then views the
    permuted result directly. Lowering must lay tensorforge::sdpa's result out the same way, or that
    view fails and the whole graph falls back to PyTorch (torchvision's ViT quantized by
    tensorforge.quantize ran entirely in PyTorch this way)."""
    model, x = place(where, PackedAttention().eval(), torch.randn(17, 2, 64))
    exported = torch.export.export(model, (x,), strict=False).module()
    assert not any(n.target == torch.ops.aten.clone.default for n in exported.graph.nodes)
    with torch.no_grad(), Watch() as w:
        got = compile_model(exported, options(where))(x)
        expected = model(x)
    check(where, got, expected, 2e-4)
    assert w.engines == 1 and "tensorforge.sdpa.default" in w.reports[0].op_counts


class Branchy(nn.Module):
    """Data-dependent control flow: dynamo splits the graph at the `if`."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)

    def forward(self, x):
        y = torch.relu(self.a(x))
        if y.sum() > 0:
            y = y * 2
        return self.b(y) - 1


def test_graph_break_compiles_both_sides(where):
    model, x = place(where, Branchy().eval(), torch.randn(4, 8))
    with torch.no_grad():
        explanation = torch._dynamo.explain(model)(x)
        assert explanation.graph_break_count >= 1
        with Watch() as w:
            out = compile_model(model, options(where, min_block_size=1))(x)
        expected = model(x)
    check(where, out, expected, 1e-5)
    assert w.graphs == 2 and w.engines == 2


class BreakingLayer(nn.Module):
    """A layer that graph-breaks in its middle (as BART's float16 clamp does): dynamo compiles the
    graph before the break once and calls it again for every layer, with that layer's parameters."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        y = torch.relu(self.a(x))
        torch._dynamo.graph_break()
        return self.b(y) + x


def test_repeated_layers_with_graph_breaks_keep_their_own_weights(where):
    torch.manual_seed(0)
    model, x = place(where, nn.Sequential(*[BreakingLayer() for _ in range(3)]).eval(), torch.randn(4, 8))
    with torch.no_grad():
        expected = model(x)
        compiled = compile_model(model, options(where, min_block_size=1))
        with Watch() as w:
            out = compiled(x)
        check(where, out, expected, 1e-5)
        built = w.engines
        assert built == 6  # one engine per layer for each of the two graphs: weights are engine constants
        with Watch() as w:
            again = compiled(x + 1)
        check(where, again, model(x + 1), 1e-5)
    assert w.graphs == 0 and w.engines == 0  # each layer's parameter set finds its engines again


def test_op_forced_to_pytorch(where):
    model, x = place(where, mlp(), torch.randn(8, 16))
    with torch.no_grad(), Watch() as w:
        out = compile_model(model, options(where, min_block_size=1,
                                           torch_executed_ops={"torch.ops.aten.relu.default"}))(x)
        expected = model(x)
    check(where, out, expected, 1e-5)
    report = w.reports[0]
    assert kept_ops(report) == ["aten.relu.default", "aten.relu.default"]
    assert {k["reason"] for k in report.kept_in_pytorch} == {"forced to PyTorch by torch_executed_ops"}
    assert w.engines == 3  # the three linear layers, separated by the relus
    assert len(engine_modules()) == 3
    # The engines hold the weights; the stitched module keeps no copy of its own.
    assert [name for name, _ in COMPILED[-1]().named_buffers()] == []


def test_weights_read_in_pytorch_stay_with_the_stitched_module(where):
    """Weights that an op kept in PyTorch reads stay buffers of the stitched module (and give eager's
    result); those only engines read are dropped from it."""
    model, x = place(where, mlp(), torch.randn(8, 16))
    with torch.no_grad():
        out = compile_model(model, options(where, min_block_size=1,
                                           torch_executed_ops={"torch.ops.aten.addmm.default"}))(x)
        expected = model(x)
    check(where, out, expected, 1e-5)
    gm = COMPILED[-1]()
    read = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    buffers = {name for name, _ in gm.named_buffers(recurse=False)}
    assert buffers and buffers == read


@pytest.mark.parametrize("kept", ["addmm", "relu"])
def test_weights_changed_after_compiling_change_no_result(where, kept):
    """Freezing takes the parameters without copying them; the engines and the stitched module's
    buffers (when an op kept in PyTorch reads weights) hold their own copies once built, so a
    parameter changed in place afterwards changes neither part's result."""
    model, x = place(where, mlp(), torch.randn(8, 16))
    with torch.no_grad():
        compiled = compile_model(model, options(where, min_block_size=1,
                                                torch_executed_ops={f"torch.ops.aten.{kept}.default"}))
        first = compiled(x).clone()
        expected = model(x)
        params = dict(model.named_parameters())
        gm = COMPILED[-1]()
        shared = {p.untyped_storage().data_ptr() for p in params.values()}
        assert all(b.untyped_storage().data_ptr() not in shared for _, b in gm.named_buffers())
        for p in params.values():
            p.mul_(-3.0)
        again = compiled(x)
    check(where, first, expected, 1e-5)
    torch.testing.assert_close(again, first, atol=0, rtol=0)


class ManyOutputs(nn.Module):
    """Four outputs of one shape (128 elements, 256 bytes in float16: one allocation for them) and
    two of another whose size (3 elements) keeps them in allocations of their own."""

    def forward(self, x, y):
        return x + 1, x * 2, x - 3, torch.relu(x), y * 5, y + 0.5


def test_outputs_of_one_shape_share_an_allocation(where):
    device, dtype = where
    model, x, y = place(where, ManyOutputs(), torch.randn(4, 32), torch.randn(3))
    fn = compile_model(model, options(where, min_block_size=1))
    with torch.no_grad():
        expected = model(x, y)
        for _ in range(3):  # CUDA: the first call captures a graph, later ones replay it
            got = fn(x, y)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)
        assert g.is_contiguous() and g.shape == e.shape
    assert len({g.data_ptr() for g in got}) == len(got)  # distinct memory
    same = {g.untyped_storage().data_ptr() for g in got[:4]}
    assert len(same) == 1  # the four of one shape: one allocation
    assert got[4].untyped_storage().data_ptr() != got[5].untyped_storage().data_ptr()
    got[0].add_(100)  # writing one output leaves the others alone
    torch.testing.assert_close(got[1], expected[1])


class ViewOutputs(nn.Module):
    """Returns strided views of a linear layer's output, GPT-2-style key and value heads of a fused
    projection, beside a reduction of the query part and a small slice."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 48)

    def forward(self, x):
        qkv = self.proj(x).view(2, 5, 3, 4, 4)
        q, k, v = qkv.unbind(2)
        return q.float().square().sum(), k.transpose(1, 2), v.permute(0, 2, 3, 1), (x * 2)[:, :1]


def test_view_outputs_are_taken_in_pytorch(where):
    model, x = place(where, ViewOutputs(), torch.randn(2, 5, 16))
    with Watch() as w:
        fn = compile_model(model, options(where, min_block_size=1))
        with torch.no_grad():
            expected = model(x)
            for _ in range(3):
                got = fn(x)
    assert w.engines == 1
    # The block returns the projection once (the key and value views cover two thirds of it) in
    # place of two copies; the slice of x * 2 covers a fifth of its tensor and stays an output.
    (module,) = engine_modules()
    assert sorted(list(o.shape) for o in module.outputs) == [[], [2, 1, 16], [10, 48]]
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        check(where, g.float(), e.float(), 1e-5)
    assert got[1].stride() == expected[1].stride() and got[2].stride() == expected[2].stride()
    assert got[1].untyped_storage().data_ptr() == got[2].untyped_storage().data_ptr()
    assert got[3].is_contiguous()


class TwoViewedBases(nn.Module):
    """Both outputs are views of two different values of the block: the block then returns both
    bases, each read through its own getitem, in order (they were once inserted in reverse, so
    that a view was taken of a value not yet read)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(12, 16), nn.Linear(16, 5)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.b(h)[:, 1:4], torch.sigmoid(h).t()


def test_views_of_two_outputs_are_taken_in_order(where):
    model, x = place(where, TwoViewedBases(), torch.randn(3, 12))
    fn = compile_model(model, options(where, min_block_size=1))
    with torch.no_grad():
        expected, got = model(x), fn(x)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.stride() == e.stride()
        check(where, g.float(), e.float(), 1e-5)


# Models of the tests above called with several shapes under torch.compile's dynamic=None (the
# default: static at the first shape, symbolic from the second) and dynamic=True (symbolic from the
# start): name -> (model, inputs of a size, the sizes in call order, tolerance in float32).
SEVERAL_SHAPES = {
    "mlp": (mlp, lambda n: (torch.randn(n, 16),), (3, 5, 2), 1e-5),
    "cnn": (lambda: random_resnet18(seed=3, width=8, num_classes=10), lambda n: (torch.randn(n, 3, 8 * n, 8 * n),),
            (2, 4, 3), 1e-4),
    "bert": (lambda: random_bert(seed=1), lambda n: (torch.randint(0, 1000, (2, n)),), (16, 9, 24), 2e-4),
    "graph break": (lambda: Branchy().eval(), lambda n: (torch.randn(n, 8),), (4, 6, 5), 1e-5),
    "repeated layers": (lambda: nn.Sequential(*[BreakingLayer() for _ in range(3)]).eval(),
                        lambda n: (torch.randn(n, 8),), (4, 6, 5), 1e-5),
}


@pytest.mark.parametrize("dynamic", [None, True], ids=["dynamic=None", "dynamic=True"])
@pytest.mark.parametrize("name", SEVERAL_SHAPES)
def test_models_called_with_several_shapes(where, dynamic, name):
    """Each shape matches eager; after the first shape at most one more compilation of each graph
    (the symbolic one), never one per shape; calling every shape again builds nothing."""
    make, inputs, sizes, tol = SEVERAL_SHAPES[name]
    torch.manual_seed(0)
    model = make()
    calls = [place(where, model, *inputs(n))[1:] for n in sizes]
    model = place(where, model)[0]
    from tensorforge.dynamo import STATS
    before = dict(STATS)
    with torch.no_grad():
        compiled = compile_model(model, options(where, min_block_size=1), dynamic=dynamic)
        for args in calls:
            out, expected = compiled(*args), model(*args)
            for o, e in zip(*(x if isinstance(x, tuple) else (x,) for x in (out, expected))):
                check(where, o, e, tol)
        with Watch() as w:
            for args in calls:
                compiled(*args)
    assert w.graphs == 0 and w.engines == 0
    added = {k: STATS[k] - before.get(k, 0) for k in ("dynamic_engines", "dynamic_fallbacks", "shape_variants")}
    assert added["dynamic_fallbacks"] == 0 and added["shape_variants"] == 0, added
    assert added["dynamic_engines"] >= 1, added


def test_a_graph_holding_tensor_attributes_runs_in_the_engine():
    """A GraphModule given straight to the backend whose graph reads plain tensor attributes (as a
    graph restored from dynamo's precompile cache does: unpickling turns `torch.arange` into one):
    they become engine constants, where aot_export alone would refuse them."""
    from tensorforge.dynamo.backend import STATS, tensorforge_backend

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(6, 6))

        def forward(self, x):
            return (nn.functional.linear(x, self.weight) * torch.arange(6, dtype=x.dtype) + 1.0,)

    net = Net().eval()
    held = torch.fx.symbolic_trace(net)  # keeps arange a call: replaced by a held tensor below
    held.steps = torch.arange(6, dtype=torch.float32)
    x = torch.randn(3, 6)
    for n in list(held.graph.nodes):
        if n.op == "call_function" and n.target is torch.arange:
            with held.graph.inserting_before(n):
                attr = held.graph.get_attr("steps")
            n.replace_all_uses_with(attr)
            held.graph.erase_node(n)
    held.recompile()
    graphs = STATS["graphs"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "could not lower this graph" would be a warning
        run = tensorforge_backend(held, [x], {"min_block_size": 1})
    assert STATS["graphs"] == graphs + 1
    with torch.no_grad():
        out = run(x)
    out = out[0] if isinstance(out, (tuple, list)) else out
    torch.testing.assert_close(out, net(x)[0], rtol=1e-5, atol=1e-5)
