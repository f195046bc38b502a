"""Lowering: a dynamo FX graph -> an ATen graph with frozen weights, ready for partitioning.

Steps: wrap the ops kept whole (custom_ops), trace to ATen with our decomposition table
(decompositions; or take the trace kept on disk by an earlier process, trace_cache), turn parameter
and buffer inputs into constants (freeze), then run the FX passes of passes.PASSES in order.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch._functorch.aot_autograd import aot_export_joint_simple, aot_export_module
from torch.fx import GraphModule

from tensorforge.dynamo.lowering import trace_cache
from tensorforge.dynamo.lowering.custom_ops import wrap_kept_ops
from tensorforge.errors import UnsupportedError
from tensorforge.dynamo.lowering.decompositions import decomposition_table
from tensorforge.dynamo.lowering.freeze import (RESTORED, STATE, freeze_inputs, frozen_positions, inline_scalars,
                                                scalar_positions, source_names)
from tensorforge.dynamo.lowering.passes import PASSES


@dataclasses.dataclass
class LoweredGraph:
    gm: GraphModule          # ATen graph; its placeholders are the user inputs, in order
    user_positions: list[int]  # which dynamo-graph inputs the ATen graph still takes
    from_cache: bool = False   # the ATen trace came from the trace cache
    trace: GraphModule | None = None  # with keep_trace: the ATen trace before freezing, for lower(trace=)


def _clone_outputs(gm: GraphModule) -> None:
    """aot_export refuses outputs that alias inputs; cloning every output prevents that without
    hiding input mutations from its check (the no-op pass drops the clones that are not needed)."""
    output = next(n for n in gm.graph.nodes if n.op == "output")

    def clone(arg):
        value = arg.meta.get("example_value", arg.meta.get("val")) if isinstance(arg, torch.fx.Node) else None
        if not isinstance(arg, torch.fx.Node) or (value is not None and not isinstance(value, torch.Tensor)):
            return arg  # a size or a number the graph returns
        with gm.graph.inserting_before(output):
            return gm.graph.call_function(torch.ops.aten.clone.default, (arg,))

    output.args = (torch.fx.node.map_aggregate(output.args[0], clone),)
    gm.recompile()


def lower(gm: GraphModule, example_inputs, settings, keep_trace: bool = False,
          trace: GraphModule | None = None) -> LoweredGraph:
    """The ATen form of a dynamo graph, with parameters and buffers frozen. `keep_trace` keeps a copy
    of the ATen trace before freezing (LoweredGraph.trace); `trace` lowers from such a copy instead
    of tracing, with the parameters of `example_inputs` (a graph with symbolic sizes called with
    another parameter set: its trace needs the symbolic inputs that only dynamo's compilation has)."""
    restored = getattr(gm, RESTORED, False)
    if restored or torch._guards.TracingContext.try_get() is None:
        # (inside dynamo's own compilation, its fake mode already knows the graph's constants)
        gm, example_inputs = _lift_tensor_attributes(gm, example_inputs)
    gm = wrap_kept_ops(gm)
    frozen = frozen_positions(gm, example_inputs)
    from_cache = False
    if trace is not None:
        aten_gm = _copy(trace)
    else:
        gm = inline_scalars(gm, scalar_positions(gm, example_inputs), example_inputs)
        _clone_outputs(gm)
        key = trace_cache.graph_key(gm, example_inputs, frozen)
        aten_gm = trace_cache.load(key, example_inputs) if key else None
        from_cache = aten_gm is not None
        if aten_gm is None:
            # A graph restored from dynamo's precompile cache traces alike wherever it is compiled:
            # outside dynamo's tracing context (whose fake mode would give the constants it holds
            # symbolic sizes when the first process compiles it inside dynamo's compilation).
            with torch._guards.tracing(None) if restored else contextlib.nullcontext():
                aten_gm = _trace(gm, example_inputs)
            if key:
                trace_cache.store(key, aten_gm)
    kept = _copy(aten_gm) if keep_trace else None
    changed = _changed_positions(aten_gm)  # inputs written in place: never frozen into constants
    frozen = [i for i in frozen if i not in changed]
    aten_gm = freeze_inputs(aten_gm, frozen, example_inputs, source_names(gm))
    for p in PASSES:
        aten_gm = p(aten_gm, settings)
    aten_gm.recompile()  # once, for freezing and every pass
    users = [i for i in range(len(example_inputs)) if i not in set(frozen)]
    return LoweredGraph(aten_gm, users, from_cache, kept)


def _lift_tensor_attributes(gm: GraphModule, example_inputs) -> tuple[GraphModule, list]:
    """A graph whose tensor attributes (get_attr nodes over tensors, such as the constants a graph
    restored from dynamo's precompile cache holds: unpickling re-traces its code, which turns a
    `torch.arange(128)` into one) are frozen inputs instead, placed after its own, with the example
    inputs extended by their values: outside dynamo's compilation aot_export traces on fake tensors
    of its own and refuses real tensors held by the module; freezing makes them engine constants as
    it does parameters."""
    attrs = [n for n in gm.graph.nodes
             if n.op == "get_attr" and isinstance(_attribute(gm, n.target), torch.Tensor)]
    if not attrs:
        return gm, example_inputs
    gm = _copy(gm)
    nodes = {n.name: n for n in gm.graph.nodes}
    last = [n for n in gm.graph.nodes if n.op == "placeholder"][-1:]
    values = []
    for attr in attrs:
        node = nodes[attr.name]
        value = _attribute(gm, node.target)
        if last:
            with gm.graph.inserting_after(last[0]):
                lifted = gm.graph.placeholder(f"lifted_{node.name}")
        else:
            with gm.graph.inserting_before(next(iter(gm.graph.nodes))):
                lifted = gm.graph.placeholder(f"lifted_{node.name}")
        last = [lifted]
        lifted.meta.update(node.meta)
        lifted.meta[STATE] = "module"
        node.replace_all_uses_with(lifted)
        gm.graph.erase_node(node)
        values.append(value)
    gm.recompile()
    return gm, list(example_inputs) + values


def _attribute(gm: GraphModule, target: str):
    value = gm
    for part in target.split("."):
        value = getattr(value, part, None)
    return value


def _copy(gm: GraphModule) -> GraphModule:
    """A GraphModule over a copy of gm's graph (node metadata shared), which freezing may change."""
    graph = torch.fx.Graph()
    graph.output(graph.graph_copy(gm.graph, {}))
    return GraphModule(gm, graph)


def _trace(gm: GraphModule, example_inputs) -> GraphModule:
    with torch.no_grad():
        try:
            aten_gm = aot_export_joint_simple(gm, list(example_inputs), trace_joint=False,
                                              decompositions=decomposition_table())
        except RuntimeError as e:
            if "input mutations" not in str(e):
                raise
            aten_gm = _trace_mutating(gm, example_inputs)
    return _check_inputs(aten_gm, example_inputs)


def _trace_mutating(gm: GraphModule, example_inputs) -> GraphModule:
    """The ATen form of a graph that changes some of its inputs in place (a key/value cache updated
    by index_copy_, a step counter incremented): traced functionally, each changed input's new value
    is computed like any other value and written back by an `aten.copy_` into the input at the end
    of the graph. The copies run in PyTorch; what computes the new values runs in the engines."""
    aten_gm, signature = aot_export_module(gm, list(example_inputs), trace_joint=False,
                                           decompositions=decomposition_table())
    if signature.buffers_to_mutate or signature.parameters_to_mutate or signature.input_tokens:
        raise UnsupportedError("the graph changes module state in place or orders side effects with tokens")
    if any(n.target in _TRAINING_NORMS for n in aten_gm.graph.nodes):
        # (their functional forms' metadata give the new statistics another dtype than the kernels
        # return in float16: an engine reading them would refuse the call)
        raise UnsupportedError("a batch norm in training mode updates its running statistics: the graph runs "
                               "in PyTorch")
    mutated = signature.user_inputs_to_mutate  # output name -> input name, the outputs first in this order
    graph = aten_gm.graph
    placeholders = {n.name: n for n in graph.nodes if n.op == "placeholder"}
    output = next(n for n in graph.nodes if n.op == "output")
    results = list(output.args[0])
    names = list(mutated)
    if [getattr(r, "name", None) for r in results[:len(names)]] != names:
        raise UnsupportedError(f"unexpected outputs of a graph with input mutations: {names}")
    with graph.inserting_before(output):
        for new in results[:len(names)]:
            target = placeholders[mutated[new.name]]
            graph.call_function(torch.ops.aten.copy_.default, (target, new))
    output.args = (tuple(results[len(names):]),)
    graph.lint()
    aten_gm.recompile()
    return aten_gm


_TRAINING_NORMS = {getattr(torch.ops.aten, name).default for name in
                   ("_batch_norm_with_update_functional", "_native_batch_norm_legit_functional")
                   if hasattr(torch.ops.aten, name)}


def _changed_positions(aten_gm: GraphModule) -> set[int]:
    """Positions of the inputs the graph writes back into (_trace_mutating's copies)."""
    placeholders = [n for n in aten_gm.graph.nodes if n.op == "placeholder"]
    targets = {n.args[0] for n in aten_gm.graph.nodes
               if n.op == "call_function" and n.target is torch.ops.aten.copy_.default}
    return {i for i, p in enumerate(placeholders) if p in targets}


def _check_inputs(aten_gm: GraphModule, example_inputs) -> GraphModule:
    placeholders = sum(1 for n in aten_gm.graph.nodes if n.op == "placeholder")
    if placeholders != len(example_inputs):  # effect tokens threaded through with_effects nodes
        raise UnsupportedError(f"the ATen graph takes {placeholders} inputs for the {len(example_inputs)} given: it "
                               "orders side effects with tokens (an op such as linalg's error checks has effects)")
    return aten_gm
