"""Dynamo's precompile cache with the tensorforge backend (dynamo/precompile.py): a process that
compiles with `caching_precompile` on and saves the cache artifacts lets a new process skip dynamo's
tracing; the backend then compiles the restored graph once on its first call (made by four threads
at once), with the same result and the same frozen weights (the batch norm folded away, as when
dynamo traced), its ATen trace and its engine found in the caches the first process filled."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("torch._dynamo.precompile_context", reason="this PyTorch has no dynamo precompile cache")

CHILD = r"""
import json, sys, torch
torch._dynamo.config.caching_precompile = True
import tensorforge
from tensorforge.dynamo import STATS, engine_modules

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(8, 4)

    def forward(self, x):
        # arange: a tensor the restored graph holds as a constant (unpickling re-traces the code)
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3))) + torch.arange(4, dtype=x.dtype)

torch.manual_seed(0)
net = Net().eval()
with torch.no_grad():
    net.bn.running_mean.uniform_(-1, 1)
    net.bn.running_var.uniform_(0.5, 2)
x = torch.randn(2, 3, 8, 8)
compiled = torch.compile(net, backend="tensorforge", options={"min_block_size": 1, "cache_built_engines": True,
                                                             "reuse_cached_engines": True})
import threading
outs = [None] * 4

def call(i):
    with torch.no_grad():
        outs[i] = compiled(x)

if sys.argv[1] == "load":  # the restored graph's first call made by four threads at once
    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
else:
    call(0)
with torch.no_grad():
    out, want = outs[0], net(x)
    again = compiled(x)
same = all(o is not None and torch.equal(o, out) for o in outs) if sys.argv[1] == "load" else True
if sys.argv[1] == "save":
    torch.compiler.save_cache_artifacts()
from torch._dynamo.utils import counters
text = engine_modules()[-1].engine.inspect()
print("RESULT", json.dumps({"out": out.flatten().tolist(), "diff": (out - want).abs().max().item(),
                            "again": (again - out).abs().max().item(), "graphs": STATS["graphs"],
                            "traced": dict(counters["stats"]).get("unique_graphs", 0),
                            "trace_hits": STATS["trace_cache_hits"], "engine_hits": STATS["engine_cache_hits"],
                            "cache": dict(counters.get("dynamo_cache", {})),
                            "batch_norm": "[batch_norm]" in text, "threads_agree": same}))
"""


def _child(mode: str, cache: str, code: str = CHILD, env: dict | None = None) -> dict:
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=os.path.join(cache, "inductor"), XDG_CACHE_HOME=cache, **(env or {}))
    r = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, env=env, timeout=600)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, r.stderr[-3000:]
    return json.loads(lines[0].split(None, 1)[1])


def test_a_new_process_skips_dynamo_and_gets_the_same_engine(tmp_path):
    saved = _child("save", str(tmp_path))
    assert saved["cache"] == {"dynamo_cache_miss": 1} and saved["traced"] == 1 and saved["graphs"] == 1
    loaded = _child("load", str(tmp_path))
    assert loaded["cache"] == {"dynamo_cache_hit": 1}
    assert loaded["traced"] == 0  # dynamo read its bytecode and guards instead of tracing
    assert loaded["graphs"] == 1  # the backend compiled the restored graph once, on its first call
    assert loaded["threads_agree"]  # four threads made that first call at once
    # The saving process compiled the graph as a restored one reads, so the new process's lowering
    # and engine come from the trace and engine caches.
    assert saved["trace_hits"] == 0 and saved["engine_hits"] == 0
    assert loaded["trace_hits"] == 1 and loaded["engine_hits"] == 1
    for r in (saved, loaded):
        assert r["diff"] < 1e-5 and r["again"] == 0.0
        assert not r["batch_norm"]  # the batch norm's buffers were frozen and folded, not engine inputs
    torch.testing.assert_close(torch.tensor(loaded["out"]), torch.tensor(saved["out"]), rtol=0, atol=0)


def test_without_the_flag_nothing_is_recorded():
    from tensorforge.dynamo import precompile

    assert not torch._dynamo.config.caching_precompile
    assert not precompile.enabled()


def test_a_graph_that_does_not_restore_is_compiled_as_given_and_not_recorded(monkeypatch, caplog):
    """A graph whose pickled form does not come back (its code re-traced on unpickling fails) is
    compiled as dynamo gave it, with a warning, and no artifact is recorded for it."""
    from tensorforge.dynamo import precompile

    recorded = []
    monkeypatch.setattr(precompile, "enabled", lambda: True)
    monkeypatch.setattr(precompile.PrecompileContext, "record_artifact", recorded.append)

    def fail(content):
        raise RuntimeError("cannot re-trace")

    monkeypatch.setattr(precompile, "_unpickle", fail)
    gm = torch.fx.symbolic_trace(torch.nn.ReLU())
    gm._backend_id = "graph_0"
    with caplog.at_level("WARNING", logger="tensorforge"):
        assert precompile.record(gm, [torch.randn(3)], {}, symbolic=False) is gm
    assert recorded == [] and "does not restore" in caplog.text
    monkeypatch.undo()
    monkeypatch.setattr(precompile, "enabled", lambda: True)
    monkeypatch.setattr(precompile.PrecompileContext, "record_artifact", recorded.append)
    restored = precompile.record(gm, [torch.randn(3)], {}, symbolic=False)  # restores: the restored form
    assert len(recorded) == 1 and restored is not gm and not hasattr(restored, "_backend_id")


DECORATED = r"""
import functools, json, sys, torch
torch._dynamo.config.caching_precompile = True
import tensorforge
from tensorforge.dynamo.precompile import restorable_guards

def deprecate(func):  # as Hugging Face's decorators: a flag the wrapped call reads from its closure
    legacy = False
    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        if legacy:
            raise RuntimeError("legacy")
        return func(*args, **kwargs)
    return wrapped

def check_inputs(func):
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        return func(self, *args, **kwargs)
    return wrapper

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)

    @check_inputs
    @deprecate
    def forward(self, x):
        return torch.relu(self.fc(x))

torch.manual_seed(0)
net = Net().eval()
x = torch.randn(2, 8)
compiled = torch.compile(net, backend="tensorforge", options={"min_block_size": 1, "guard_filter_fn": restorable_guards})
with torch.no_grad():
    out = compiled(x)
    want = net(x)
if sys.argv[1] == "save":
    torch.compiler.save_cache_artifacts()
from torch._dynamo.utils import counters
print("RESULT", json.dumps({"cache": dict(counters.get("dynamo_cache", {})), "diff": (out - want).abs().max().item(),
                            "traced": dict(counters["stats"]).get("unique_graphs", 0)}))
"""


def test_a_decorated_forward_restores_with_the_closure_guards_left_out(tmp_path):
    """A forward wrapped by decorators whose closures hold values dynamo guards (Hugging Face's
    models): with tensorforge's `restorable_guards` as the guard filter, a new process restores the
    entry instead of failing on the closure guards PyTorch cannot rebuild."""
    saved = _child("save", str(tmp_path), DECORATED)
    assert saved["cache"] == {"dynamo_cache_miss": 1} and saved["diff"] < 1e-5
    loaded = _child("load", str(tmp_path), DECORATED)
    assert loaded["cache"] == {"dynamo_cache_hit": 1} and loaded["traced"] == 0 and loaded["diff"] < 1e-5


# A decorator of another module, as Hugging Face's `transformers.utils.generic`: its wrapper (the
# compiled frame) runs in this module's globals, reads a flag of them, and returns an OrderedDict
# though the module imported only the class, not `collections`.
OTHER_MODULE = r"""
import functools
from collections import OrderedDict

_available = True


def returns_dict(func):
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        if not _available:
            raise RuntimeError("unavailable")
        return OrderedDict(out=func(self, *args, **kwargs))
    return wrapper
"""

DECORATED_ELSEWHERE = r"""
import json, sys, torch
torch._dynamo.config.caching_precompile = True
import tensorforge
from tensorforge.dynamo import precompile
import decorators

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)

    @decorators.returns_dict
    def forward(self, x):
        return torch.relu(self.fc(x))

torch.manual_seed(0)
net = Net().eval()
x = torch.randn(2, 8)
compiled = torch.compile(net, backend="tensorforge",
                         options={"min_block_size": 1, "guard_filter_fn": precompile.restorable_guards})
if sys.argv[1] == "load":
    torch.compiler.set_stance("fail_on_recompile")  # a guard that fails is an error, not a new trace
with torch.no_grad():
    out = compiled(x)["out"]
    want = net(x)["out"]
mended = 0
if sys.argv[1] == "save":
    mended = precompile.mend_recorded_entries()
    precompile.save_cache_artifacts()
from torch._dynamo.utils import counters
print("RESULT", json.dumps({"cache": dict(counters.get("dynamo_cache", {})), "diff": (out - want).abs().max().item(),
                            "traced": dict(counters["stats"]).get("unique_graphs", 0), "mended": mended}))
"""


def test_a_forward_decorated_in_another_module_restores(tmp_path):
    """A forward wrapped by another module's decorator (Hugging Face's BERT and GPT-2): dynamo records
    the wrapper's module as the model's and leaves out the modules its code loads by made-up names;
    `precompile.save_cache_artifacts` mends both, so the new process's guards pass and its first
    call runs the restored code."""
    (tmp_path / "decorators.py").write_text(OTHER_MODULE)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    saved = _child("save", str(tmp_path), DECORATED_ELSEWHERE, env)
    assert saved["cache"] == {"dynamo_cache_miss": 1} and saved["diff"] < 1e-5
    assert saved["mended"] == 1  # the one code entry: its module and its imports
    loaded = _child("load", str(tmp_path), DECORATED_ELSEWHERE, env)
    assert loaded["cache"] == {"dynamo_cache_hit": 1} and loaded["traced"] == 0 and loaded["diff"] < 1e-5


def test_mending_leaves_a_right_entry_alone():
    """A code entry whose module holds its code and whose compiled code loads no made-up module
    name is returned as it is; a made-up name of a module not loaded here is not added."""
    from types import SimpleNamespace

    from tensorforge.dynamo.precompile_save import mend_code_entry

    code = SimpleNamespace(co_filename=__file__, co_names=("torch",), co_consts=())
    compiled = SimpleNamespace(co_names=("___module_nothing_1_c0",), co_consts=(None,))
    entry = SimpleNamespace(python_code=code, python_module=__name__, import_sources={},
                            guarded_codes=[SimpleNamespace(dynamo_code=compiled)])
    assert mend_code_entry(entry, {id(torch): "torch"}) is entry


def test_restorable_guards_leave_out_what_a_later_process_cannot_rebuild():
    """The guard filter keeps value and tensor guards and leaves out the guards read through a
    closure and the identity guards PyTorch's cache cannot save (whose presence makes it give up the
    whole entry: T5 and BART on torch 2.13)."""
    from types import SimpleNamespace

    from tensorforge.dynamo.precompile import restorable_guards

    def guard(name, kind, derived=()):
        return SimpleNamespace(name=name, guard_type=kind, derived_guard_types=derived)

    guards = [guard("L['x']", "TENSOR_MATCH"), guard("G['flag']", "TRUE_MATCH"),
              guard("L['self'].forward.__closure__[0].cell_contents", "FALSE_MATCH"),
              guard("G['Output']", "CLASS_MATCH"), guard("G['helper']", "FUNCTION_MATCH"),
              guard("G['torch']", "MODULE_MATCH"), guard("G['Iterable']", "TYPE_MATCH", ("CLASS_MATCH",))]
    assert restorable_guards(guards) == [True, True, False, False, False, False, False]
