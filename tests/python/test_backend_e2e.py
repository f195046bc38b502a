"""End to end on the CPU: torch.compile(backend="tensorforge") on an MLP, a CNN with batch norm and
residual blocks, a BERT-style encoder, a model with a graph break, and a model with an op forced
to PyTorch. Each matches eager, and each test asserts how many engines were built and what stayed
in PyTorch."""

import torch
from torch import nn

from backend_util import Watch, compile_model, engine_modules, kept_ops
from tensorforge.testing.bert import random_bert
from tensorforge.testing.resnet import random_resnet18


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)).eval()


def test_mlp_runs_in_one_engine():
    model, x = mlp(), torch.randn(8, 16)
    with torch.no_grad(), Watch() as w:
        out = compile_model(model)(x)
        expected = model(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert w.graphs == 1 and w.engines == 1
    assert w.reports[0].kept_in_pytorch == []
    assert w.reports[0].coverage == 100.0


def test_cnn_with_batch_norm_and_residuals():
    model, x = random_resnet18(seed=3, width=8, num_classes=10), torch.randn(2, 3, 32, 32)
    with torch.no_grad(), Watch() as w:
        out = compile_model(model)(x)
        expected = model(x)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    assert w.engines == 1 and kept_ops(w.reports[0]) == []
    counts = w.reports[0].op_counts
    assert counts["aten.convolution.default"] == 20  # 17 3x3/7x7 + 3 downsample 1x1


def test_bert_style_encoder():
    model = random_bert(seed=1)
    ids = torch.randint(0, 1000, (2, 16))
    with torch.no_grad(), Watch() as w:
        hidden, pooled = compile_model(model)(ids)
        eh, ep = model(ids)
    torch.testing.assert_close(hidden, eh, atol=2e-4, rtol=2e-4)
    torch.testing.assert_close(pooled, ep, atol=2e-4, rtol=2e-4)
    assert w.engines == 1 and kept_ops(w.reports[0]) == []
    assert "tensorforge.sdpa.default" in w.reports[0].op_counts


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


def test_graph_break_compiles_both_sides():
    model, x = Branchy().eval(), torch.randn(4, 8)
    with torch.no_grad():
        explanation = torch._dynamo.explain(model)(x)
        assert explanation.graph_break_count >= 1
        with Watch() as w:
            out = compile_model(model, {"min_block_size": 1})(x)
        expected = model(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert w.graphs == 2 and w.engines == 2


def test_op_forced_to_pytorch():
    model, x = mlp(), torch.randn(8, 16)
    with torch.no_grad(), Watch() as w:
        out = compile_model(model, {"min_block_size": 1,
                                    "torch_executed_ops": {"torch.ops.aten.relu.default"}})(x)
        expected = model(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    report = w.reports[0]
    assert kept_ops(report) == ["aten.relu.default", "aten.relu.default"]
    assert {k["reason"] for k in report.kept_in_pytorch} == {"forced to PyTorch by torch_executed_ops"}
    assert w.engines == 3  # the three linear layers, separated by the relus
    assert len(engine_modules()) == 3
