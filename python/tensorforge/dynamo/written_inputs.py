"""Engine outputs written into the input they replace (docs/backend.md, "Generating text").

A graph that writes into an input in place (a key/value cache updated at its positions) lowers to a
functional update whose result is copied back into the input at the end (lowering's
_trace_mutating): `cache_new = index_put(cache, [pos], kv)` in an engine, then
`copy_(cache, cache_new)` in PyTorch. Computed out of place, every step writes the whole cache
anew and copies it back. When the engine's output is that update of that input, which nothing else
reads, the engine can write the output into the input's own memory: its scatter then skips the
copy of the unchanged elements (it does when input and output are one buffer), and the copy back
finds the input already holding its new value (`copy_` of a tensor onto itself does nothing).
"""

from __future__ import annotations

import operator

import torch
from torch.fx import GraphModule, Node

aten = torch.ops.aten

# Ops whose output is their first argument with some elements replaced, computed by the engine's
# scatter (which reads its first input only to copy it): the output may share that input's memory.
_UPDATES = {aten.index_put.default, aten.scatter.src, aten.scatter.value, aten.scatter_add.default}


def in_place_outputs(sub: GraphModule, call: Node, runtime_args: list[int]) -> dict[int, int]:
    """{output index: input index} of engine block `sub` (called by `call` in the stitched graph,
    with the block's arguments at `runtime_args` becoming the engine's inputs, in order) whose
    output may be written into that input's memory: the output is an update (_UPDATES) of that
    input, the block reads the input nowhere else, and in the stitched graph the input is a tensor
    the graph copies the output back into, read by nothing but this call and that copy."""
    placeholders = [n for n in sub.graph.nodes if n.op == "placeholder"]
    output = next(n for n in sub.graph.nodes if n.op == "output")
    single = not isinstance(output.args[0], (tuple, list))
    results = [output.args[0]] if single else list(output.args[0])
    pairs: dict[int, int] = {}
    for k, result in enumerate(results):
        if not (isinstance(result, Node) and result.op == "call_function" and result.target in _UPDATES):
            continue
        source = result.args[0]
        if not (isinstance(source, Node) and source.op == "placeholder" and len(source.users) == 1) or \
                results.count(result) != 1:
            continue
        position = placeholders.index(source)
        if position not in runtime_args or position >= len(call.args):
            continue
        written = call.args[position]
        if isinstance(written, Node) and _copied_back(call, k, single, written):
            pairs[k] = runtime_args.index(position)
    return pairs


def _copied_back(call: Node, k: int, single: bool, written: Node) -> bool:
    """Whether the stitched graph copies output `k` of `call` into `written`, which only `call` and
    that copy read."""
    value = call if single else next((u for u in call.users if u.target is operator.getitem and u.args[1] == k), None)
    if value is None or written.op != "placeholder":
        return False
    copies = [u for u in value.users if u.target is aten.copy_.default and u.args[0] is written and u.args[1] is value]
    if len(copies) != 1:
        return False
    return set(written.users) == {call, copies[0]} and list(call.args).count(written) == 1
