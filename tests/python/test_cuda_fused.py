"""Generated CUDA kernels of fused pointwise layers against the CPU interpreter of the same program
(the reference): every formula of the shared table, each float dtype, broadcasts of many kinds,
odd sizes, several outputs and bool values; CUDA graph replay; and the fuse_pointwise pass in a
CUDA build, against the unfused layers on the CPU."""

import pytest
import torch

import tensorforge as tf
from cuda_harness import both, check, close

pytestmark = pytest.mark.cuda

FLOATS = [torch.float32, torch.float16, torch.bfloat16]
NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.bool: "bool"}


def typ(dtype, shape):
    return f"{NAMES[dtype]}[{','.join(str(d) for d in shape)}]"


def fused(body_lines, inputs, outputs):
    """A build function adding one pointwise layer whose body reads `inputs` (name, dtype, shape)."""
    body = "".join(f"input %{n}: {typ(dt, sh)}\n" for n, dt, sh in inputs) + "".join(l + "\n" for l in body_lines)
    body += "".join(f"output %{o}\n" for o in outputs)
    return lambda net, *xs: net.add_pointwise(list(xs), body)


def one_layer_engine(body_lines, output, dtype, shape):
    """A CUDA engine of one pointwise layer over input %x, giving its tensor `output`."""
    net = tf.Network()
    x = net.add_input("x", dtype, shape)
    (y,) = fused(body_lines, [("x", dtype, shape)], [output])(net, x)
    net.mark_output(y, "y")
    return tf.Builder(tf.BuilderConfig(device="cuda")).build(net)


def rand(shape, dtype, seed, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g) * scale).to(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_every_formula(dtype):
    shape = (3, 37)
    lines, outs = [], []
    names = dict(tf._C.pointwise_formulas())  # the shared table's op names, by kind
    t = typ(dtype, shape)
    layers = [("unary", "unary", t, ""), ("predicate", "unary", "bool[3,37]", ""),
              ("activation", "activation", t, "alpha=0.5, beta=1.5, "), ("binary", "elementwise", t, ""),
              ("compare", "elementwise", "bool[3,37]", "")]
    for kind, layer_kind, out_type, attrs in layers:
        for k, op in enumerate(names[kind]):
            v = f"{kind}{k}"
            operands = "%x, %y" if layer_kind == "elementwise" else "%x"
            lines.append(f'%{v}: {out_type} = {layer_kind} "{v}" ({operands}) {{{attrs}op="{op}"}}')
            outs.append(v)
    x = rand(shape, dtype, 1)
    x[0, :5] = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0]).to(dtype)
    y = rand((37,), dtype, 2)
    check(fused(lines, [("x", dtype, shape), ("y", dtype, (37,))], outs), [x, y], f"every formula {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", [
    [(1,), (1,)],
    [(7, 1, 5), (1, 3, 1)],          # both broadcast
    [(2, 3, 5, 7), (5, 1)],          # bias-like
    [(65537,), ()],                  # odd size, scalar
    [(4, 1, 1, 9), (4, 8, 1, 9)],
    [(2, 0, 3), (3,)],               # empty
    # innermost extents that are multiples of the vector width (8 for 16-bit dtypes, 4 with the
    # float32 output): tf_pointwise_vec, full-shape operands as 16-byte vectors
    [(4, 64), (64,)],                # bias along the vectors
    [(4, 64), (4, 1)],               # one value per vector
    [(2, 6, 5, 16), (2, 1, 1, 16)],  # squeeze-excite weights in NHWC
    [(2, 3, 16), (3, 16)],           # a broadcast input read element by element, stride 1
    [(3, 8), ()],                    # a scalar
])
def test_broadcasts_and_sizes(dtype, shapes):
    sa, sb = shapes
    out = tuple(torch.broadcast_shapes(sa, sb))
    o = typ(dtype, out)
    lines = [f'%s: {o} = elementwise "s" (%a, %b) {{op="sub"}}',
             f'%g: {o} = activation "g" (%s) {{op="gelu_tanh"}}',
             f'%m: {typ(torch.bool, out)} = elementwise "m" (%g, %a) {{op="gt"}}',
             f'%w: {o} = select "w" (%m, %g, %b)',
             f'%f: {typ(torch.float32, out)} = cast "f" (%w) {{dtype="float32"}}']
    inputs = [("a", dtype, sa), ("b", dtype, sb)]
    check(fused(lines, inputs, ["w", "m", "f"]), [rand(sa, dtype, 3), rand(sb, dtype, 4)], f"{sa} {sb} {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("axis,shapes", [
    (3, [(2, 5, 7, 16), (2, 5, 7, 32), (2, 5, 7, 8)]),   # NHWC channels (DenseNet's concatenation)
    (1, [(2, 3, 4, 5), (2, 2, 4, 5)]),                   # NCHW channels, between merged dims
    (0, [(1, 33), (2, 33)]),                             # the outermost axis
])
def test_concat_read_in_place(dtype, axis, shapes):
    out = list(shapes[0])
    out[axis] = sum(sh[axis] for sh in shapes)
    names = [f"p{i}" for i in range(len(shapes))]
    lines = [f'%c: {typ(dtype, out)} = concat "c" ({", ".join("%" + n for n in names)}) {{axis={axis}}}',
             f'%s: {typ(dtype, out)} = elementwise "s" (%c, %w) {{op="mul"}}',
             f'%r: {typ(dtype, out)} = activation "r" (%s) {{op="relu"}}']
    w_shape = tuple(out[axis] if d == axis else 1 for d in range(len(out)))
    inputs = [(n, dtype, sh) for n, sh in zip(names, shapes)] + [("w", dtype, w_shape)]
    values = [rand(sh, dtype, 20 + i) for i, sh in enumerate(shapes)] + [rand(w_shape, dtype, 30)]
    check(fused(lines, inputs, ["r", "c"]), values, f"concat axis {axis} {dtype}")


def test_misaligned_inputs_run_the_element_kernel():
    # An input 2 bytes past a 16-byte boundary (a view one element into its storage): the vector
    # accesses would fault or misread, so the layer runs tf_pointwise; results match the CPU.
    shape = (1024,)
    lines = ['%e: float16[1024] = activation "e" (%x) {op="silu"}', '%y: float16[1024] = elementwise "y" (%e, %x) {op="add"}']
    engine = one_layer_engine(lines, "y", torch.float16, shape)
    storage = rand((1025,), torch.float16, 11).cuda()
    for view in (storage[1:], storage[:1024]):  # misaligned, then aligned
        got = engine(view)[0]
        want = torch.nn.functional.silu(view.float()) + view.float()  # fused: float32 inside
        torch.testing.assert_close(got.float().cpu(), want.cpu(), atol=1e-2, rtol=2e-3)


def test_bool_inputs_and_casts_between_float_dtypes():
    shape = (5, 33)
    lines = ['%h: float16[5,33] = cast "h" (%x) {dtype="float16"}',
             '%b: bfloat16[5,33] = cast "b" (%h) {dtype="bfloat16"}',
             '%n: bool[5,33] = unary "n" (%k) {op="not"}',
             '%nb: float32[5,33] = cast "nb" (%n) {dtype="float32"}',
             '%z: float32[5,33] = elementwise "z" (%x, %nb) {op="mul"}']
    inputs = [("x", torch.float32, shape), ("k", torch.bool, shape)]
    check(fused(lines, inputs, ["b", "z", "n"]), [rand(shape, torch.float32, 5, 1e3), rand(shape, torch.float32, 6) > 0],
          "casts and bools")


def test_the_pass_fuses_chains_in_cuda_builds_and_matches_the_unfused_cpu_engine():
    def build(net, x, b):
        a = net.add_elementwise(x, b, "add")
        g = net.add_activation(a, "gelu_erf")
        s = net.add_reduce(a, "sum", axes=(1,), keepdim=True)    # a is also read outside the chain
        d = net.add_elementwise(g, s, "div")
        return [net.add_unary(d, "tanh"), s]

    x, b = rand((64, 129), torch.float16, 7), rand((129,), torch.float16, 8)
    cpu, gpu = both(build, [x, b])
    for g, c in zip(gpu, cpu):
        # fused on the GPU: float32 between the layers; the CPU rounds each layer to float16
        torch.testing.assert_close(g.float(), torch.as_tensor(c).float(), atol=4e-3, rtol=4e-3)
    net = tf.Network()
    xi, bi = net.add_input("x", torch.float16, (64, 129)), net.add_input("b", torch.float16, (129,))
    for i, o in enumerate(build(net, xi, bi)):
        net.mark_output(o, f"o{i}")
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    tactics = [t for _, kind, t in engine._engine.layers() if kind == "pointwise"]
    assert tactics and all(t == "cuda.pointwise.generated" for t in tactics), engine.inspect()
    assert len(tactics) == 2  # add + gelu before the reduce; div + tanh after it


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16))
def test_transposed_inputs_read_in_place(dtype):
    """fuse_pointwise reads a transpose (and Swin's window reverse: a reshape of a transpose) through
    its strides (input_views): the CUDA engine keeps no transpose and matches the CPU engine."""
    def build(net, w, r):
        t = net.add_transpose(w, (0, 1, 3, 2, 4, 5))  # [2, 2, 7, 2, 7, 16]
        v = net.add_reshape(t, (2, 14, 14, 16))
        return net.add_elementwise(r, v, "add")

    inputs = [rand((2, 2, 2, 7, 7, 16), dtype, 40), rand((2, 14, 14, 16), dtype, 41)]
    check(build, inputs, f"window reverse in place {dtype}")
    net = tf.Network()
    xs = [net.add_input(f"in{i}", dtype, tuple(t.shape)) for i, t in enumerate(inputs)]
    net.mark_output(build(net, *xs), "out")
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    kinds = [kind for _, kind, _ in engine._engine.layers()]
    assert "transpose" not in kinds and kinds.count("pointwise") == 1, kinds


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16, torch.bfloat16))
@pytest.mark.parametrize("heads,head_dim", [(2, 8), (3, 64)])
def test_rotary_embedding_reads_the_projection_in_place(dtype, heads, head_dim):
    """Llama's q * cos + rotate_half(q) * sin, q an as_strided view of a QKV projection and
    rotate_half a gather swapping the halves: the fused kernel reads both from the projection (the
    rotation through a negative stride), no gather or copy stays, and it matches the CPU engine."""
    b, s, d = 2, 5, head_dim
    half = d // 2
    index = torch.tensor(list(range(half, d)) + list(range(half)))
    sign = torch.tensor([-1.0] * half + [1.0] * half).to(dtype)
    cos, sin = rand((s, d), dtype, 42), rand((s, d), dtype, 43)

    def build(net, m):
        q = net.add_as_strided(m, (b, heads, s, d), (s * 3 * heads * d, d, 3 * heads * d, 1), offset=0)
        rot = net.add_gather(q, net.add_constant(index), axis=3)
        qc = net.add_elementwise(q, net.add_constant(cos), "mul")
        rs = net.add_elementwise(net.add_elementwise(rot, net.add_constant(sign), "mul"), net.add_constant(sin), "mul")
        return net.add_elementwise(qc, rs, "add")

    inputs = [rand((b * s, 3 * heads * d), dtype, 44)]
    cpu, gpu = both(build, inputs)
    # q * cos and rot * sin of size ~4 cancel in places, so one rounding of each product (the CPU
    # engine rounds every layer's result to the dtype; the fused kernel rounds once) moves the sum by
    # more than the dtype's usual tolerance allows near zero: both engines are held instead to a
    # float64 reference within a few units of roundoff of the terms' magnitude.
    m = inputs[0].double().as_strided((b, heads, s, d), (s * 3 * heads * d, d, 3 * heads * d, 1))
    qc, rs = m * cos.double(), m[..., index] * sign.double() * sin.double()
    bound = 3 * torch.finfo(dtype).eps * (qc.abs() + rs.abs()) + torch.finfo(dtype).tiny
    for name, out in (("CUDA", gpu[0]), ("CPU", torch.as_tensor(cpu[0]))):
        err = (out.double() - (qc + rs)).abs()
        assert bool((err <= bound).all()), f"{name} {dtype} {heads}x{head_dim}: error {float((err / bound).max()):.2f}x the bound"
    net = tf.Network()
    x = net.add_input("in0", dtype, tuple(inputs[0].shape))
    net.mark_output(build(net, x), "out")
    engine = tf.Builder(tf.BuilderConfig(device="cuda")).build(net)
    kinds = [kind for _, kind, _ in engine._engine.layers()]
    assert "gather" not in kinds and "as_strided" not in kinds and kinds.count("pointwise") == 1, kinds


@pytest.mark.parametrize("dtype", (torch.float32, torch.float16))
def test_sibling_copies_run_as_one_kernel(dtype):
    """GPT-2's key and value heads, two strided copies of the QKV projection returned as outputs,
    run as one generated kernel with two outputs (merge_sibling_copies) and match the CPU engine."""
    b, heads, s, d = 2, 3, 5, 8

    def build(net, m):
        return [net.add_as_strided(m, (b, heads, s, d), (s * 3 * heads * d, d, 3 * heads * d, 1),
                                   offset=k * heads * d) for k in (1, 2)]

    inputs = [rand((b * s, 3 * heads * d), dtype, 45)]
    check(build, inputs, f"sibling copies {dtype}")
    net = tf.Network()
    x = net.add_input("in0", dtype, tuple(inputs[0].shape))
    for i, o in enumerate(build(net, x)):
        net.mark_output(o, f"out{i}")
    kinds = [kind for _, kind, _ in tf.Builder(tf.BuilderConfig(device="cuda")).build(net)._engine.layers()]
    assert "as_strided" not in kinds and kinds.count("pointwise") == 1, kinds


def test_graph_replay_and_threads():
    shape = (1000, 3)
    lines = ['%e: float32[1000,3] = unary "e" (%x) {op="exp"}', '%r: float32[1000,3] = activation "r" (%e) {op="silu"}']
    engine = one_layer_engine(lines, "r", torch.float32, shape)
    ctx = engine.create_execution_context()
    xs = [torch.randn(shape, device="cuda") for _ in range(4)]
    outs = [torch.empty(shape, device="cuda") for _ in range(4)]
    for a, o in zip(xs, outs):
        ctx.execute([a], [o])
    torch.cuda.synchronize()
    assert ctx.cuda_graph_replays >= 3
    for a, o in zip(xs, outs):
        close(o.cpu(), torch.nn.functional.silu(torch.exp(a)).cpu(), "replayed")
