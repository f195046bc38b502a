"""The engine cache across compilations (cache_built_engines, reuse_cached_engines, engine_cache_dir,
engine_cache_size): a second compilation of the same model takes its engine from the cache (no
conversion, no build) and computes the same; other weights miss; a damaged entry is dropped with a
warning and rebuilt; the options act separately; the folder stays within its size."""

import os
import warnings

import pytest
import torch

import tensorforge  # noqa: F401 - registers the backend
from tensorforge.dynamo.backend import STATS
from tensorforge.dynamo.settings import CompilationSettings


class Net(torch.nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.a, self.b = torch.nn.Linear(12, 16), torch.nn.Linear(16, 5)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)) * 2.0)


def run(model, x, folder, **options):
    torch._dynamo.reset()
    opts = {"min_block_size": 1, "engine_cache_dir": str(folder), **options}
    fn = torch.compile(model, backend="tensorforge", dynamic=False, options=opts)
    with torch.no_grad():
        return fn(x)


def entries(folder):
    return sorted(p for p in os.listdir(folder) if p.endswith(".tfcache")) if os.path.isdir(folder) else []


def test_a_second_compilation_takes_the_cached_engine(tmp_path):
    x = torch.randn(3, 12)
    model = Net()
    want = model(x)
    both = {"cache_built_engines": True, "reuse_cached_engines": True}
    built, hits = STATS["engines"], STATS["engine_cache_hits"]
    torch.testing.assert_close(run(model, x, tmp_path, **both), want)
    assert STATS["engines"] == built + 1 and STATS["engine_cache_hits"] == hits
    assert len(entries(tmp_path)) == 1
    torch.testing.assert_close(run(model, x, tmp_path, **both), want)
    assert STATS["engines"] == built + 1 and STATS["engine_cache_hits"] == hits + 1  # nothing built

    other = Net(seed=1)  # same code, other weights: another key
    torch.testing.assert_close(run(other, x, tmp_path, **both), other(x))
    assert STATS["engines"] == built + 2 and len(entries(tmp_path)) == 2

    # only reusing: a hit, and nothing new is written
    torch.testing.assert_close(run(model, x, tmp_path, reuse_cached_engines=True), want)
    assert STATS["engine_cache_hits"] == hits + 2
    # only caching: built again, the entry rewritten
    torch.testing.assert_close(run(model, x, tmp_path, cache_built_engines=True), want)
    assert STATS["engines"] == built + 3 and len(entries(tmp_path)) == 2
    # neither (the default): the folder is not touched
    run(Net(seed=2), x, tmp_path)
    assert len(entries(tmp_path)) == 2


@pytest.mark.parametrize("damage", ("truncate", "garbage"))
def test_a_damaged_entry_is_dropped_with_a_warning_and_rebuilt(tmp_path, damage):
    x = torch.randn(2, 12)
    model = Net()
    both = {"cache_built_engines": True, "reuse_cached_engines": True}
    run(model, x, tmp_path, **both)
    (name,) = entries(tmp_path)
    path = tmp_path / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:40] + b"\x00" * 64 + data[104:])
    built = STATS["engines"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.testing.assert_close(run(model, x, tmp_path, **both), model(x))
    assert any("engine cache entry" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert STATS["engines"] == built + 1
    assert path.read_bytes() == data  # rewritten whole
    hits = STATS["engine_cache_hits"]
    run(model, x, tmp_path, **both)
    assert STATS["engine_cache_hits"] == hits + 1


def test_the_folder_keeps_within_its_size(tmp_path):
    x = torch.randn(2, 12)
    run(Net(0), x, tmp_path, cache_built_engines=True)
    (first,) = entries(tmp_path)
    one = os.path.getsize(tmp_path / first)
    run(Net(1), x, tmp_path, cache_built_engines=True, engine_cache_size=one + one // 2)
    assert len(entries(tmp_path)) == 1 and entries(tmp_path) != [first]  # the older one went


def test_engine_cache_options_are_checked(tmp_path):
    s = CompilationSettings.from_options({"cache_built_engines": True, "reuse_cached_engines": True,
                                          "engine_cache_dir": str(tmp_path), "engine_cache_size": 1 << 20})
    assert s.cache_built_engines and s.reuse_cached_engines and s.engine_cache_size == 1 << 20
    assert not CompilationSettings().cache_built_engines and not CompilationSettings().reuse_cached_engines
    with pytest.raises(tensorforge.InvalidArgumentError, match="engine_cache_size"):
        CompilationSettings.from_options({"engine_cache_size": -1})
    with pytest.raises(tensorforge.InvalidArgumentError, match="cache_built_engines"):
        CompilationSettings.from_options({"cache_built_engines": "yes"})
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(tensorforge.InvalidArgumentError, match="engine_cache_dir"):
        CompilationSettings.from_options({"engine_cache_dir": str(f)})


def test_writers_and_readers_at_once_see_whole_entries(tmp_path):
    """Threads storing and loading one key at once (as processes sharing the folder do): every load
    is a miss or a whole engine, never a damaged one, and the entry left behind loads."""
    import threading

    import tensorforge as tf
    from tensorforge.dynamo import engine_cache
    from tensorforge.dynamo.engine_cache import CachedBlock
    from tensorforge.dynamo.conversion.interpreter import IOSpec

    net = tf.Network()
    x = net.add_input("x", torch.float32, (64, 64))
    net.mark_output(net.add_unary(x, "tanh"), "y")
    engine = tf.Builder().build(net)
    spec = [IOSpec("x", (64, 64), torch.float32, torch.float32)]
    block = CachedBlock(spec, [IOSpec("y", (64, 64), torch.float32, torch.float32)], [0], 1)
    problems = []

    def write():
        for _ in range(20):
            engine_cache.store(str(tmp_path), "k" * 64, engine, block, 1 << 30)

    def read():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(40):
                got = engine_cache.load(str(tmp_path), "k" * 64)
                if got is not None and got[1].inputs[0].shape != (64, 64):
                    problems.append("wrong block")
        problems.extend(str(w.message) for w in caught)

    threads = [threading.Thread(target=f) for f in (write, write, read, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    loaded, _ = engine_cache.load(str(tmp_path), "k" * 64)
    a = torch.randn(64, 64)
    torch.testing.assert_close(torch.as_tensor(loaded(a)[0]), torch.tanh(a))


def test_dynamic_engines_are_cached_with_their_opt_plan(tmp_path):
    """A graph with symbolic sizes: its dynamic engine is cached (with the opt plan: a hit builds
    nothing, not even that plan); the hit still converts the block, so that dynamo's guards are
    installed, and serves every shape in range; another range is another key."""
    from tensorforge.dynamo import engine_modules

    model = Net()
    both = {"min_block_size": 1, "engine_cache_dir": str(tmp_path), "cache_built_engines": True,
            "reuse_cached_engines": True}

    def compile_and_run(sizes, mark=None):
        torch._dynamo.reset()
        fn = torch.compile(model, backend="tensorforge", dynamic=True, options=both)
        with torch.no_grad():
            for b in sizes:
                x = torch.randn(b, 12)
                if mark:
                    torch._dynamo.mark_dynamic(x, 0, min=mark[0], max=mark[1])
                torch.testing.assert_close(fn(x), model(x))
        (module,) = engine_modules()
        return module

    built, hits = STATS["engines"], STATS["engine_cache_hits"]
    first = compile_and_run([3, 5])
    assert STATS["engines"] == built + 1 and STATS["dynamic_engines"] >= 1 and len(entries(tmp_path)) == 1
    again = compile_and_run([3, 7, 9])
    assert STATS["engines"] == built + 1 and STATS["engine_cache_hits"] == hits + 1
    assert again.engine.plans_built == 2  # 7 and 9: the opt plan (3) came with the entry
    assert again.engine.sizes == first.engine.sizes
    compile_and_run([3], mark=(2, 20))  # another range: another entry
    assert STATS["engines"] == built + 2 and len(entries(tmp_path)) == 2


def test_weights_hash_alike_on_one_thread_and_several(monkeypatch):
    """Weights of 64 MB and more are hashed on several threads: the same key as one thread gives,
    and any changed byte changes it."""
    import hashlib

    from tensorforge.dynamo import cache_files

    weights = [torch.randn(1 << 22), torch.arange(1 << 22, dtype=torch.int32), torch.zeros(0), torch.ones(3, 5)]

    def key(threads):
        monkeypatch.setattr(cache_files, "_HASH_THREADS", threads)
        h = hashlib.sha256()
        cache_files.hash_tensors(h, weights)
        return h.hexdigest()

    before = key(4)
    assert before == key(1)
    weights[1][12345] += 1
    changed = key(4)
    assert changed == key(1) != before
    weights[3] = torch.ones(5, 3)  # the same bytes in another shape
    assert key(4) not in (changed, before)
