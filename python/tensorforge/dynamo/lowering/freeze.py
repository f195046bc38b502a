"""Freezing: placeholders that carry module parameters or buffers become constants of the graph
(get_attr nodes over buffers of the GraphModule), so converters see weights as engine constants.

Dynamo passes parameters and buffers as graph inputs; a placeholder is frozen when its dynamo source
reads a module's parameters or buffers, or its example value is an nn.Parameter. Python numbers that
dynamo passes as 0-d tensors (unspecialized floats, under dynamic=True) are frozen by value. The constants are
the parameters themselves, not copies (copying every weight took a second of a GPT-2 compile on the
CPU); once the engines are built, the backend copies the few that parts left in PyTorch still read
(backend.py, _own_buffers). Like engines built by TensorRT, the compiled module then holds its own
weights: changing them after compiling has no effect until the next compile. Dynamo does not guard on which tensors the parameters of
inlined modules are, so the backend checks that itself at each call (backend.py, _FrozenGuard).
"""

from __future__ import annotations

import torch
from torch.fx import GraphModule


STATE = "tensorforge_state"
"""Placeholder meta that stands in for dynamo's grapharg where a graph was rebuilt without it (a
graph from dynamo's precompile cache, dynamo/precompile.py): "module" (a parameter or buffer),
"number" (a Python number passed as a new 0-d tensor at each call) or absent."""


RESTORED = "_tensorforge_restored"
"""Attribute set (True) on a graph restored from dynamo's precompile cache (dynamo/precompile.py)."""


def _from_module_state(source) -> bool:
    while source is not None:
        name = type(source).__name__
        if name in ("UnspecializedParamBufferSource", "ParamBufferSource", "NNModuleSource",
                    "UnspecializedNNModuleSource", "FSDPNNModuleSource"):
            return True
        if getattr(source, "member", None) in ("_parameters", "_buffers"):
            return True
        source = getattr(source, "base", None)
    return False


def frozen_positions(dynamo_gm: GraphModule, example_inputs) -> list[int]:
    """Positions of the dynamo graph's inputs that are parameters or buffers."""
    placeholders = [n for n in dynamo_gm.graph.nodes if n.op == "placeholder"]
    frozen = []
    for i, (node, value) in enumerate(zip(placeholders, example_inputs)):
        grapharg = node.meta.get("grapharg")
        if isinstance(value, torch.nn.Parameter) or (
                grapharg is not None and isinstance(value, torch.Tensor) and _from_module_state(grapharg.source)) \
                or _passed_number(node, value) or (node.meta.get(STATE) == "module" and isinstance(value, torch.Tensor)):
            frozen.append(i)
    return frozen


def _passed_number(node, value) -> bool:
    """A Python number that dynamo passes as a new 0-d tensor at each call, without guarding on its
    value (an unspecialized float: BatchNorm's eps, math.pi, under dynamic=True)."""
    grapharg = node.meta.get("grapharg")
    passed = bool(getattr(grapharg, "pass_arg_as_tensor", False)) if grapharg is not None else \
        node.meta.get(STATE) == "number"
    return passed and isinstance(value, torch.Tensor) and value.dim() == 0


def scalar_positions(dynamo_gm: GraphModule, example_inputs) -> list[int]:
    """The frozen positions that hold a Python number which dynamo passes as a new 0-d tensor at each
    call: they are frozen by value, so the backend compares their values, not their identity, at
    each call."""
    placeholders = [n for n in dynamo_gm.graph.nodes if n.op == "placeholder"]
    return [i for i, (node, value) in enumerate(zip(placeholders, example_inputs)) if _passed_number(node, value)]


def inline_scalars(dynamo_gm: GraphModule, positions: list[int], example_inputs) -> GraphModule:
    """A copy of the graph with `.item()` of the frozen numbers at `positions` replaced by their
    values, so that tracing sees a constant rather than a data-dependent scalar (the graph itself is
    kept for later compilations with other values)."""
    if not positions:
        return dynamo_gm
    graph = torch.fx.Graph()
    graph.output(graph.graph_copy(dynamo_gm.graph, {}))  # node metadata shared
    dynamo_gm = GraphModule(dynamo_gm, graph)
    placeholders = [n for n in dynamo_gm.graph.nodes if n.op == "placeholder"]
    for i in positions:
        value = example_inputs[i].item()
        for item in [u for u in placeholders[i].users if u.op == "call_method" and u.target == "item"]:
            for user in list(item.users):
                user.args = torch.fx.node.map_arg(user.args, lambda n: value if n is item else n)
                user.kwargs = torch.fx.node.map_arg(user.kwargs, lambda n: value if n is item else n)
            dynamo_gm.graph.erase_node(item)
    dynamo_gm.recompile()
    return dynamo_gm


SOURCE = "tensorforge_source"
"""Meta of a frozen constant: the dynamo source's name of the parameter or buffer it holds (such as
"L['self']._tf_quant_0_scale"), where dynamo gave one; converters read where a value came from."""


def source_names(dynamo_gm: GraphModule) -> list[str | None]:
    """Each placeholder's dynamo source name (a parameter's or buffer's path), None where unknown
    (a graph restored from dynamo's precompile cache, or compiled outside dynamo)."""
    names = []
    for node in (n for n in dynamo_gm.graph.nodes if n.op == "placeholder"):
        source = getattr(node.meta.get("grapharg"), "source", None)
        name = getattr(source, "name", None)
        try:
            name = name() if callable(name) else name  # a method in older PyTorch, a property in newer
        except Exception:  # noqa: BLE001 - a source that cannot name itself
            name = None
        names.append(name if isinstance(name, str) else None)
    return names


def freeze_inputs(aten_gm: GraphModule, positions: list[int], example_inputs,
                  sources: list[str | None] | None = None) -> GraphModule:
    """Replaces the placeholders at `positions` of a traced graph with constants over their values
    (the same tensors, detached: nothing may write to them); `sources` (source_names of the dynamo
    graph) goes into each constant's meta under SOURCE."""
    placeholders = [n for n in aten_gm.graph.nodes if n.op == "placeholder"]
    keep = set(positions)
    for i, node in enumerate(placeholders):
        if i not in keep:
            continue
        name = f"_frozen_{i}"
        aten_gm.register_buffer(name, example_inputs[i].detach())
        with aten_gm.graph.inserting_before(node):
            const = aten_gm.graph.get_attr(name)
        const.meta.update(node.meta)
        if sources is not None and i < len(sources) and sources[i]:
            const.meta[SOURCE] = sources[i]
        node.replace_all_uses_with(const)
        aten_gm.graph.erase_node(node)
    aten_gm.graph.lint()
    return aten_gm  # its code is regenerated by lower() after the passes
