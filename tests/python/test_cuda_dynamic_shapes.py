"""Dynamic engines on the GPU (docs/dynamic_shapes.md): each input shape's plan captures its own
CUDA graph on its first call and replays it after, results matching eager at every shape, through
torch.compile and through the engine API."""

import pytest
import torch

import tensorforge as tf
from tensorforge.dynamo import engine_modules
from tensorforge.dynamo.runtime.dynamic_engine_module import DynamicEngineModule

pytestmark = pytest.mark.cuda


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 8)).eval().cuda()


def test_each_shape_captures_its_graph_and_replays_it():
    m = _mlp()
    torch._dynamo.reset()
    f = torch.compile(m, backend="tensorforge", dynamic=True, options={"disable_tf32": True, "min_block_size": 1})
    sizes = (2, 3, 2, 3, 5, 2, 5, 3)
    with torch.no_grad():
        for b in sizes:
            x = torch.randn(b, 16, device="cuda")
            torch.testing.assert_close(f(x), m(x), atol=1e-5, rtol=1e-5)
    (module,) = [e for e in engine_modules() if isinstance(e, DynamicEngineModule)]
    assert module.engine.plans_built == 3
    replays = {}
    for shapes, plan in module._plans.items():
        contexts = plan._contexts._free
        replays[shapes[0][0]] = sum(c.cuda_graph_replays for c in contexts)
    # each shape's first call captures, every later one replays its own graph
    assert replays == {b: sizes.count(b) - 1 for b in set(sizes)}, replays


def test_dynamic_engine_api_on_the_gpu():
    net = tf.Network()
    net.add_size("batch", 1, 4, 64)
    x = net.add_dynamic_input("x", torch.float16, ["batch", 64])
    net.mark_output(net.add_softmax(net.add_unary(x, "tanh"), -1), "y")
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build_dynamic(net, max_plans=2)
    for batch in (1, 64, 7, 1):
        data = torch.randn(batch, 64, device="cuda", dtype=torch.float16)
        (y,) = engine(data)
        torch.testing.assert_close(torch.as_tensor(y, device="cuda"), torch.softmax(torch.tanh(data).float(), -1).half(),
                                   atol=2e-3, rtol=2e-3)
    assert engine.plans_built == 5  # opt, 1, 64, 7, then 1 again (dropped: two plans kept)
