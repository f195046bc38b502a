"""Partitioning: which ATen nodes the engine runs, grouped into blocks.

A node is supported when a converter accepts it (registry and capability validator), it is not
in torch_executed_ops, and every tensor it reads or produces has a dtype an engine can hold.
Connected supported nodes form blocks (torch.fx's CapabilityBasedPartitioner); blocks with fewer
than min_block_size ops stay in PyTorch. Block outputs that are strided views of what the block
computes are taken in PyTorch from that tensor (output_views.py).
"""

from __future__ import annotations

import dataclasses
import math
import operator

import torch
from torch.fx import GraphModule, Node
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner, Partition
from torch.fx.passes.operator_support import OperatorSupportBase

from tensorforge.dynamo.conversion.context import engine_representable
from tensorforge.dynamo.conversion.registry import CONVERTERS
from tensorforge.dynamo.conversion.sym_sizes import data_dependent, size_node
from tensorforge.dynamo.partitioning.output_views import hoist_output_views
from tensorforge.dynamo.settings import op_key


def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for x in value for v in _tensors(x)]
    return []


def _used_output_tensors(node: Node) -> list:
    """The node's output tensors that something reads: for a multi-output node only the outputs its
    getitem users take (an unused logsumexp or RNG state does not decide where the node runs)."""
    val = node.meta.get("val")
    if not isinstance(val, (tuple, list)):
        return _tensors(val)
    if any(u.target is not operator.getitem for u in node.users):
        return _tensors(val)
    return [t for u in node.users for t in _tensors(val[u.args[1]])]


def is_size(node: Node) -> bool:
    """A node computing a symbolic size (dynamo's dynamic shapes): sym_size, or Python arithmetic on
    sizes. An engine takes it as the expression of its value, so it has no converter."""
    return node.op == "call_function" and size_node(node)


def unsupported_reason(node: Node, settings) -> str | None:
    """Why `node` must run in PyTorch, or None if the engine can run it."""
    if node.op != "call_function":
        return "not an operator call"
    if any(data_dependent(n.meta.get("val")) for n in [node, *node.all_input_nodes]):
        return "a data-dependent size (from nonzero, unique, .item() and the like): known only when it runs"
    if is_size(node):
        return None
    if node.target is operator.getitem:
        src = node.args[0]
        return unsupported_reason(src, settings) if isinstance(src, Node) else "getitem of a non-node"
    if not isinstance(node.target, torch._ops.OpOverload):
        return f"{node.target} is not an ATen operator"
    overload, packet = op_key(node.target)
    if overload in settings.torch_executed_ops or packet in settings.torch_executed_ops:
        return "forced to PyTorch by torch_executed_ops"
    if node.target not in CONVERTERS:
        return "no converter"
    # float8 tensors live only inside an engine: as constants (a float8 weight) they may be read.
    constants = [t for n in node.all_input_nodes if n.op == "get_attr" for t in _used_output_tensors(n)]
    for v in _used_output_tensors(node) + [t for n in node.all_input_nodes for t in _used_output_tensors(n)]:
        if v.dtype == torch.float8_e4m3fn and any(v is c for c in constants):
            continue
        if not engine_representable(v.dtype, settings):
            hint = " (set truncate_long_and_double to run it as float32)" if v.dtype == torch.float64 else ""
            return f"dtype {v.dtype} is not supported by the engine{hint}"
    if not CONVERTERS.accepts(node, settings):
        return "the converter does not accept these arguments"
    return None


class _Support(OperatorSupportBase):
    """The partitioner's question, answered from the reasons partition() found for every call
    (each node's converter check runs once)."""

    def __init__(self, settings, reasons: dict[str, str]) -> None:
        super().__init__()
        self.settings, self.reasons = settings, reasons

    def is_node_supported(self, submodules, node: Node) -> bool:
        if node.op == "call_function":
            return node.name not in self.reasons
        return unsupported_reason(node, self.settings) is None


def op_count(nodes) -> int:
    """ATen ops in a block (getitem and size arithmetic do not count)."""
    return sum(1 for n in nodes if n.op == "call_function" and n.target is not operator.getitem and not is_size(n))


@dataclasses.dataclass
class PartitionResult:
    gm: GraphModule                  # the graph with accelerated blocks fused into submodules "_run_on_engine_N"
    blocks: list[str]                # names of the fused submodules
    all_block_sizes: list[int]       # op counts of every candidate block, kept or not
    reasons: dict[str, str]          # node name -> why it stays in PyTorch (unsupported nodes only)
    output_views: int = 0            # block outputs taken in PyTorch as views of another output


def _has_outputs(p: Partition) -> bool:
    """False for a block nothing outside reads (dead code, or only side-effect nodes such as
    aten._assert_tensor_metadata that lowering leaves around .to() calls): it would compute nothing
    the graph uses, and torch.fx cannot fuse a block without outputs."""
    return any(user not in p.nodes for node in p.nodes for user in node.users)


def _size_per_user(gm: GraphModule) -> None:
    """Gives each reader of a size its own copy of the size's computation (dynamo's size arithmetic:
    `s0 + 1`, `sym_size(x, 1)`; a few Python operations on integers). A size that two blocks read
    would otherwise be computed in one and be its output, which an engine cannot give (an engine's
    outputs are tensors); copied, each block computes it from its own inputs."""
    changed = False
    for node in reversed(gm.graph.nodes):  # users first: copies of a size add readers to what it reads
        if not is_size(node) or len(node.users) < 2:
            continue
        for user in list(node.users)[1:]:
            with gm.graph.inserting_after(node):
                copy = gm.graph.node_copy(node)
            user.replace_input_with(node, copy)
            changed = True
    if changed:
        gm.graph.lint()


def partition(gm: GraphModule, settings) -> PartitionResult:
    _size_per_user(gm)
    reasons = {}
    for node in gm.graph.nodes:
        if node.op == "call_function":
            r = unsupported_reason(node, settings)
            if r is not None:
                reasons[node.name] = r
    for node in reversed(gm.graph.nodes):  # users first: a size PyTorch reads is computed in PyTorch
        if is_size(node) and any(u.op != "call_function" or u.name in reasons for u in node.users):
            reasons[node.name] = "a size that PyTorch code reads too"
    partitioner = CapabilityBasedPartitioner(gm, _Support(settings, reasons), allows_single_node_partition=True)
    candidates: list[Partition] = partitioner.propose_partitions()
    sizes = [op_count(p.nodes) for p in candidates]
    threshold = settings.min_block_size
    kept = [] if math.isinf(threshold) else [p for p, s in zip(candidates, sizes)
                                             if s >= threshold and _has_outputs(p)]
    fused = partitioner.fuse_partitions(kept, prefix="_run_on_engine_") if kept else gm
    blocks = [n.target for n in fused.graph.nodes if n.op == "call_module" and n.target.startswith("_run_on_engine_")]
    views = sum(hoist_output_views(fused, b) for b in blocks)
    return PartitionResult(fused, blocks, sizes, reasons, views)
