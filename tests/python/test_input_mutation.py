"""Graphs that write into their inputs in place (a key/value cache updated at its positions, as
Hugging Face's static cache does under torch.compile; a step counter in a module buffer): traced
functionally, the new values computed in the engine and copied back into the inputs (lowering's
_trace_mutating), so the caller sees the same tensors changed as in eager."""

import pytest
import torch

from tensorforge.dynamo import backend, engine_modules

OPTIONS = {"min_block_size": 1, "pass_through_build_failures": True}


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _run_both(fn, make_args, calls):
    """Runs `fn` eagerly and compiled on separate copies of the arguments `make_args(i)` gives for
    call i; returns [(eager output, compiled output, eager args, compiled args)] per call."""
    compiled = torch.compile(fn, backend="tensorforge", dynamic=False, options=OPTIONS)
    eager_state = compiled_state = None
    results = []
    with torch.no_grad():
        for i in range(calls):
            args = make_args(i)
            if eager_state is None:  # the state (cache, counter) carries over from call to call
                eager_state = [a.clone() for a in args[1]]
                compiled_state = [a.clone() for a in args[1]]
            want = fn(args[0], *eager_state, *args[2])
            got = compiled(args[0], *compiled_state, *args[2])
            results.append((want, got, [t.clone() for t in eager_state], [t.clone() for t in compiled_state]))
    return results


def _cache_step(x, cache, counter, pos):
    cache.index_copy_(1, pos, x)
    counter += 1
    return cache.softmax(-1).sum(1) * counter


def test_cache_and_counter_written_in_place():
    before = backend.STATS["graphs"]
    cache = torch.zeros(2, 6, 4)

    def args(i):
        return torch.randn(2, 1, 4, generator=torch.Generator().manual_seed(i)), [cache, torch.zeros(())], \
            [torch.tensor([i])]

    for want, got, eager_state, compiled_state in _run_both(_cache_step, args, calls=4):
        torch.testing.assert_close(got, want)
        for e, c in zip(eager_state, compiled_state):
            torch.testing.assert_close(c, e)
    reports = backend.reports_since(before)
    assert reports, "nothing was compiled"
    for r in reports:  # everything in the engine but the copies back into the inputs
        assert set(r.unsupported) == {"aten.copy_.default"}, r.unsupported
        assert r.unsupported["aten.copy_.default"]["count"] == 2
    # the cache's update is written into the cache itself (the counter's add is no update)
    assert [m.in_place for m in engine_modules()] == [{0: 1}] or \
        sorted(len(m.in_place) for m in engine_modules()) == [1], [m.in_place for m in engine_modules()]


def test_the_engine_writes_the_cache_itself():
    cache, x, pos = torch.zeros(2, 6, 4), torch.randn(2, 1, 4), torch.tensor([3])
    compiled = torch.compile(_cache_step, backend="tensorforge", dynamic=False, options=OPTIONS)
    address = cache.data_ptr()
    written = []
    module = None
    with torch.no_grad():
        compiled(x, cache, torch.zeros(()), pos)
        (module,) = engine_modules()
        forward = module.forward

        def spy(*args):
            outs = forward(*args)
            written.extend(t.data_ptr() for t in (outs if isinstance(outs, tuple) else (outs,)))
            return outs
        module.forward = spy
        compiled(x * 2, cache, torch.zeros(()), torch.tensor([4]))
    assert address in written  # one output is the cache's own memory
    torch.testing.assert_close(cache[:, 3], x[:, 0])
    torch.testing.assert_close(cache[:, 4], 2 * x[:, 0])


def _functional_update(x, cache, pos):
    return torch.ops.aten.index_put.default(cache, [None, pos], x), x * 2  # the caller's cache must not change


def test_an_update_not_written_back_leaves_its_input_alone():
    cache, x, pos = torch.randn(2, 6, 4), torch.randn(2, 1, 4), torch.tensor([3])
    kept = cache.clone()
    compiled = torch.compile(_functional_update, backend="tensorforge", dynamic=False, options=OPTIONS)
    with torch.no_grad():
        for _ in range(2):
            got, want = compiled(x, cache, pos), _functional_update(x, kept, pos)
            torch.testing.assert_close(cache, kept)
            torch.testing.assert_close(got, want)
    assert all(not m.in_place for m in engine_modules())


def _slice_assignment(x, cache, pos):
    cache[:, pos] = x  # index_put
    return cache.sum(-1)


def test_slice_assignment_at_positions():
    before = backend.STATS["graphs"]

    def args(i):
        return torch.randn(3, 2, 5, generator=torch.Generator().manual_seed(i)), [torch.zeros(3, 8, 5)], \
            [torch.tensor([2 * i, -1])]

    for want, got, eager_state, compiled_state in _run_both(_slice_assignment, args, calls=3):
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(compiled_state[0], eager_state[0])
    assert all(set(r.unsupported) == {"aten.copy_.default"} for r in backend.reports_since(before))


class _Counter(torch.nn.Module):
    def __init__(self, as_parameter: bool):
        super().__init__()
        if as_parameter:  # parameters are frozen into engine constants unless written to
            self.calls = torch.nn.Parameter(torch.zeros(()), requires_grad=False)
        else:
            self.register_buffer("calls", torch.zeros(()))
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x):
        self.calls.add_(1)
        return self.linear(x) * self.calls


@pytest.mark.parametrize("as_parameter", [False, True])
def test_module_state_changed_in_place_is_not_frozen(as_parameter):
    torch.manual_seed(0)
    model = _Counter(as_parameter).eval()
    reference = _Counter(as_parameter).eval()
    reference.load_state_dict(model.state_dict())
    compiled = torch.compile(model, backend="tensorforge", options=OPTIONS)
    x = torch.randn(2, 4)
    with torch.no_grad():
        for _ in range(3):
            torch.testing.assert_close(compiled(x), reference(x))
            assert model.calls.item() == reference.calls.item()


def test_threads_writing_their_own_caches_at_once():
    # One compiled step called from several threads, each with its own cache and counter: each
    # cache ends as one thread alone would leave it.
    import concurrent.futures

    compiled = torch.compile(_cache_step, backend="tensorforge", dynamic=False, options=OPTIONS)
    steps = [torch.randn(2, 1, 4, generator=torch.Generator().manual_seed(i)) for i in range(6)]

    def run(compiled_fn, seed):
        cache, counter = torch.full((2, 6, 4), float(seed)), torch.zeros(())
        with torch.no_grad():
            outs = [compiled_fn(x * seed, cache, counter, torch.tensor([i])) for i, x in enumerate(steps)]
        return cache, counter, outs

    with torch.no_grad():
        run(compiled, 1)  # compiled once before the threads start
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda seed: run(compiled, seed), range(1, 9)))
    for seed, (cache, counter, outs) in zip(range(1, 9), results):
        want_cache, want_counter, want_outs = run(_cache_step, seed)
        torch.testing.assert_close(cache, want_cache)
        torch.testing.assert_close(counter, want_counter)
        for got, want in zip(outs, want_outs):
            torch.testing.assert_close(got, want)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_cuda_cache_written_in_place_across_steps(dtype):
    # The decode step on the GPU: the engine (captured as a CUDA graph after its first call) writes
    # into the cache tensor's own memory at each step's position; cache and outputs as eager's.
    device = torch.device("cuda")
    compiled = torch.compile(_cache_step, backend="tensorforge", dynamic=False, options=OPTIONS)
    cache, counter = torch.zeros(2, 8, 4, device=device, dtype=dtype), torch.zeros((), device=device, dtype=dtype)
    want_cache, want_counter = cache.clone(), counter.clone()
    address = cache.data_ptr()
    with torch.no_grad():
        for i in range(8):
            x = torch.randn(2, 1, 4, generator=torch.Generator().manual_seed(i)).to(device, dtype)
            pos = torch.tensor([i], device=device)
            got = compiled(x, cache, counter, pos)
            want = _cache_step(x, want_cache, want_counter, pos)
            # (float16: the engine's softmax computes in float32 and rounds once; the cache is copied exactly)
            torch.testing.assert_close(got, want, **({} if dtype == torch.float32 else dict(atol=5e-3, rtol=5e-3)))
            torch.testing.assert_close(cache, want_cache, atol=0, rtol=0)
            torch.testing.assert_close(counter, want_counter)
    assert cache.data_ptr() == address
    assert sorted(len(m.in_place) for m in engine_modules()) == [1]
