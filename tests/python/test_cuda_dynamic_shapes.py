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


def _conv_and_matmul_net():
    """Two convolutions (3x3, then 1x1) and a matrix multiply, all on a dynamic batch (opt 8)."""
    torch.manual_seed(0)
    ws = dict(w1=torch.randn(24, 16, 3, 3) * 0.1, b1=torch.randn(24) * 0.1, w2=torch.randn(40, 24, 1, 1) * 0.1,
              m=torch.randn(72, 88) * 0.1, mb=torch.randn(88) * 0.1)
    ws = {k: v.half() for k, v in ws.items()}
    net = tf.Network()
    net.add_size("batch", 1, 8, 32)
    x = net.add_dynamic_input("x", torch.float16, ["batch", 16, 20, 20])
    t = net.add_dynamic_input("t", torch.float16, ["batch", 72])
    c = lambda k: net.add_constant(ws[k])  # noqa: E731
    h = net.add_convolution(x, c("w1"), c("b1"), padding=(1, 1), activation="relu", name="conv3x3")
    net.mark_output(net.add_convolution(h, c("w2"), name="conv1x1"), "y")
    net.mark_output(net.add_matmul(t, c("m"), bias=c("mb"), name="mm"), "z")
    return net, ws


def _choices(engine) -> dict:
    return {layer["name"]: layer["choice"] or "" for layer in engine.inspect("json")["layers"]
            if layer["runs"] and layer["kind"] in ("convolution", "matmul")}


def test_plans_off_opt_take_the_opt_plans_choices_untimed(tmp_path):
    """A dynamic engine tunes its kernels at opt: a plan for another batch takes each layer's choice
    from the opt plan untimed (what a new shape costs), computes the same, and a static build of
    that batch afterwards still times its own (the untimed choice is not shared with it)."""
    import torch.nn.functional as F

    net, ws = _conv_and_matmul_net()
    config = tf.BuilderConfig(device="cuda", timing_cache_dir=str(tmp_path))
    engine = tf.Builder(config).build_dynamic(net)
    at_opt = _choices(engine.plan((8, 16, 20, 20), (8, 72)))
    assert at_opt and not any("untimed" in c for c in at_opt.values()), at_opt
    off_opt = _choices(engine.plan((3, 16, 20, 20), (3, 72)))
    assert off_opt.keys() == at_opt.keys()
    assert all("untimed" in c for c in off_opt.values()), off_opt
    x = torch.randn(3, 16, 20, 20, device="cuda", dtype=torch.float16)
    t = torch.randn(3, 72, device="cuda", dtype=torch.float16)
    y, z = (torch.as_tensor(o, device="cuda") for o in engine(x, t))
    w = {k: v.cuda().float() for k, v in ws.items()}
    want_y = F.conv2d(F.relu(F.conv2d(x.float(), w["w1"], w["b1"], padding=1)), w["w2"])
    torch.testing.assert_close(y.float(), want_y, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(z.float(), t.float() @ w["m"] + w["mb"], atol=2e-2, rtol=2e-2)
    static = _choices(tf.Builder(config).build(net.specialize({"batch": 3})))
    assert not any("untimed" in c for c in static.values()), static
