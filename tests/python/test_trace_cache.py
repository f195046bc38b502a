"""The trace cache (lowering/trace_cache.py): a second compilation of the same graph takes its ATen
trace from disk, rebuilt with the same nodes and the same values (shapes, strides, offsets, which
values share storage) as the traced one, and computes the same; keys tell apart what traces
differently; damaged or hostile entries are deleted with a warning and the graph traced again;
TENSORFORGE_TRACE_CACHE=off turns it off."""

import json
import os
import struct
import warnings

import pytest
import torch
from torch.multiprocessing.reductions import StorageWeakRef

import tensorforge  # noqa: F401 - registers the backend
from tensorforge.dynamo.backend import STATS
from tensorforge.dynamo.lowering import _clone_outputs, _trace, trace_cache
from tensorforge.dynamo.lowering.custom_ops import wrap_kept_ops
from tensorforge.dynamo.lowering.freeze import frozen_positions


class Net(torch.nn.Module):
    """Linear layers, a split, transposes and a slice: views that share storage with their base; a
    mean over a list of axes (a list argument, which a read entry must give back as a list)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = torch.nn.Linear(12, 16), torch.nn.Linear(8, 5)
        self.register_buffer("shift", torch.tensor([0.5, -1.0, 2.0, float("inf"), 0.0]))

    def forward(self, x):
        h = torch.relu(self.a(x))
        left, right = h.split(8, dim=-1)
        t = (left * right.sigmoid()).transpose(0, 1).contiguous().transpose(0, 1)
        y = self.b(t) + torch.clamp(self.shift, max=3.0)
        return y[:, 1:4], torch.nn.functional.gelu(h - h.mean((0,), keepdim=True), approximate="tanh").t()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORFORGE_TRACE_CACHE", str(tmp_path))
    return tmp_path


def entries(folder):
    return sorted(p for p in os.listdir(folder) if p.endswith(trace_cache.SUFFIX))


def run(model, x):
    torch._dynamo.reset()
    fn = torch.compile(model, backend="tensorforge", dynamic=False, options={"min_block_size": 1})
    with torch.no_grad():
        return fn(x)


def raw_dynamo_graph(model, *inputs):
    """The dynamo graph of `model` and its example inputs, as the backend receives them."""
    captured = []

    def backend(gm, example_inputs):
        captured.append((gm, list(example_inputs)))
        return gm.forward

    torch._dynamo.reset()
    with torch.no_grad():
        torch.compile(model, backend=backend, dynamic=False)(*inputs)
    return captured[0]


def dynamo_graph(model, *inputs):
    """The dynamo graph of `model` and its example inputs, prepared as lower() prepares them."""
    gm, example_inputs = raw_dynamo_graph(model, *inputs)
    gm = wrap_kept_ops(gm)
    _clone_outputs(gm)
    return gm, example_inputs


def test_a_second_compilation_takes_the_trace_from_the_cache(folder):
    model, x = Net().eval(), torch.randn(3, 12)
    want = model(x)
    hits = STATS["trace_cache_hits"]
    first = run(model, x)
    assert STATS["trace_cache_hits"] == hits and len(entries(folder)) == 1
    second = run(model, x)
    assert STATS["trace_cache_hits"] == hits + 1 and len(entries(folder)) == 1
    for got, ref, again in zip(first, want, second):
        torch.testing.assert_close(got, ref)
        torch.testing.assert_close(again, got, rtol=0, atol=0)
    run(model, torch.randn(4, 12))  # another input shape: another key
    assert STATS["trace_cache_hits"] == hits + 1 and len(entries(folder)) == 2


def _storage_classes(gm):
    """Nodes grouped by the storage of their values, as sorted tuples of node names."""
    groups = {}
    for node in gm.graph.nodes:
        vals = node.meta.get("val")
        for v in vals if isinstance(vals, (list, tuple)) else [vals]:
            if isinstance(v, torch.Tensor):
                groups.setdefault(StorageWeakRef(v.untyped_storage()).cdata, set()).add(node.name)
    return sorted(tuple(sorted(g)) for g in groups.values())


def _describe_values(gm):
    out = []
    for node in gm.graph.nodes:
        vals = node.meta.get("val")
        for v in vals if isinstance(vals, (list, tuple)) else [vals]:
            if isinstance(v, torch.Tensor):
                out.append((node.name, tuple(v.shape), v.stride(), v.storage_offset(), v.dtype,
                            v.untyped_storage().nbytes()))
    return out


@pytest.mark.parametrize("with_values", [True, False], ids=["stored values", "fake propagation"])
def test_a_read_entry_is_the_traced_graph(folder, with_values, monkeypatch):
    gm, inputs = dynamo_graph(Net().eval(), torch.randn(3, 12))
    traced = _trace(gm, inputs)
    if not with_values:  # the reader's other way: run the graph on fake tensors
        monkeypatch.setattr(trace_cache, "_encode_values", lambda gm: None)
    body = trace_cache.encode(traced)
    assert body is not None
    rebuilt = trace_cache.decode(body, inputs)
    assert rebuilt.code == traced.code
    assert [(n.op, n.name, n.target) for n in rebuilt.graph.nodes] == [(n.op, n.name, n.target) for n in traced.graph.nodes]
    assert _describe_values(rebuilt) == _describe_values(traced)
    assert _storage_classes(rebuilt) == _storage_classes(traced)
    for name, buf in traced.named_buffers():
        torch.testing.assert_close(getattr(rebuilt, name), buf, rtol=0, atol=0)
    with torch.no_grad():
        for got, want in zip(rebuilt(*inputs), traced(*inputs)):
            torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


def test_keys_tell_apart_what_traces_differently():
    model = Net().eval()
    gm, inputs = dynamo_graph(model, torch.randn(3, 12))
    frozen = frozen_positions(gm, inputs)
    key = trace_cache.graph_key(gm, inputs, frozen)
    assert key is not None and key == trace_cache.graph_key(gm, list(inputs), frozen)
    user = next(i for i, t in enumerate(inputs) if i not in frozen)
    variants = [
        [t.half() if i == user else t for i, t in enumerate(inputs)],                 # dtype
        [t.t().contiguous().t() if i == user else t for i, t in enumerate(inputs)],   # strides
        [torch.randn(13, 12)[1:] if i == user else t for i, t in enumerate(inputs)],  # storage offset
    ]
    keys = {trace_cache.graph_key(gm, v, frozen) for v in variants}
    assert len(keys) == 3 and key not in keys
    assert trace_cache.graph_key(gm, inputs, frozen[1:]) != key
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert trace_cache.graph_key(gm, inputs, frozen) != key
    # two inputs sharing storage trace differently from two separate ones
    shared = torch.randn(2, 3, 12)
    gm2, inputs2 = dynamo_graph(lambda a, b: a * b, shared[0], shared[1])
    apart = [t.clone() for t in inputs2]
    assert trace_cache.graph_key(gm2, inputs2, []) != trace_cache.graph_key(gm2, apart, [])


def _user_function(x):
    return x * 3


def test_graphs_calling_functions_outside_pytorch_are_not_cached():
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.output(graph.call_function(torch.add, (graph.call_function(_user_function, (x,)), 1)))
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    assert trace_cache.graph_key(gm, [torch.randn(2)], []) is None
    graph.find_nodes(op="call_function", target=_user_function)[0].target = torch.neg
    assert trace_cache.graph_key(gm, [torch.randn(2)], []) is not None


def _entry_path(folder):
    (name,) = entries(folder)
    return os.path.join(folder, name)


def _rewrite(path, edit):
    """Applies `edit` to the JSON header of the entry at `path`."""
    data = open(path, "rb").read()[len(trace_cache.MAGIC):]
    n = struct.unpack_from("<Q", data)[0]
    header = json.loads(data[8:8 + n])
    edit(header)
    new = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(trace_cache.MAGIC + struct.pack("<Q", len(new)) + new + data[8 + n:])


def _call_os_system(header):
    node = next(n for n in header["nodes"] if n["op"] == "call_function")
    node["target"] = {"op": "os::system", "overload": "default"}


def _python_eval(header):
    node = next(n for n in header["nodes"] if n["op"] == "call_function")
    node["target"] = {"python": "builtins.eval"}


def _forward_reference(header):
    header["nodes"][1]["args"] = [{"node": header["nodes"][-1]["name"]}]


def _huge_view(header):
    for value in header["values"][0]:
        if isinstance(value, dict) and "tensor" in value:
            value["tensor"][0] = [1 << 20] * len(value["tensor"][0])
            return


@pytest.mark.parametrize("damage", ["truncate", "magic", "garbage", _call_os_system, _python_eval, _forward_reference,
                                    _huge_view], ids=lambda d: d if isinstance(d, str) else d.__name__.strip("_"))
def test_a_damaged_entry_is_deleted_and_the_graph_traced_again(folder, damage):
    model, x = Net().eval(), torch.randn(3, 12)
    want = model(x)
    run(model, x)
    path = _entry_path(folder)
    data = open(path, "rb").read()
    if damage == "truncate":
        open(path, "wb").write(data[:len(data) // 2])
    elif damage == "magic":
        open(path, "wb").write(b"x" + data[1:])
    elif damage == "garbage":
        open(path, "wb").write(trace_cache.MAGIC + os.urandom(300))
    else:
        _rewrite(path, damage)
    hits = STATS["trace_cache_hits"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = run(model, x)
    assert any("trace cache entry" in str(w.message) and "unusable" in str(w.message) for w in caught)
    assert STATS["trace_cache_hits"] == hits
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
    assert len(entries(folder)) == 1  # traced again and written again
    assert open(_entry_path(folder), "rb").read() == data


def test_off_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORFORGE_TRACE_CACHE", "off")
    assert trace_cache.default_dir() is None
    model, x = Net().eval(), torch.randn(3, 12)
    hits = STATS["trace_cache_hits"]
    run(model, x)
    run(model, x)
    assert STATS["trace_cache_hits"] == hits


def test_threads_reading_one_entry_at_once_get_the_same_graph(folder):
    """Graphs with symbolic sizes compile each shape at call time, so threads may lower at once:
    four threads rebuilding one entry together get the graph and values one thread gets."""
    import copy
    import threading

    from tensorforge.dynamo.lowering import lower
    from tensorforge.dynamo.settings import CompilationSettings

    gm, inputs = raw_dynamo_graph(Net().eval(), torch.randn(3, 12))
    settings = CompilationSettings.from_options({})
    first = lower(copy.deepcopy(gm), inputs, settings)
    assert not first.from_cache and len(entries(folder)) == 1
    results, errors = [None] * 4, []
    start = threading.Barrier(4)

    def work(i):
        try:
            start.wait()
            results[i] = lower(copy.deepcopy(gm), inputs, settings)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        assert r.from_cache and r.gm.code == first.gm.code
        assert _describe_values(r.gm) == _describe_values(first.gm)
        assert _storage_classes(r.gm) == _storage_classes(first.gm)
