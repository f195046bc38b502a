"""Points every aten.as_strided at the node that owns its input's storage.

as_strided reads its input's storage, not its elements. Once the graph is partitioned, the input
may be an engine's output or a value computed in another submodule: a fresh contiguous tensor that
holds none of the storage around the traced view. Rewritten over the storage's owner (the node
whose value covers the whole storage from its first element), with the offset made
explicit, as_strided reads the same elements however its input is produced: the engine's
as_strided layer and PyTorch's agree. An input whose storage no node owns that way (a graph input
that is itself a view) is left as it is; the converter then keeps the node in PyTorch, which reads
the caller's real storage."""

from __future__ import annotations

import contextlib

import torch
from torch.fx import GraphModule, Node
from torch.multiprocessing.reductions import StorageWeakRef

from tensorforge.dynamo.lowering.passes.graph_edit import finish

aten = torch.ops.aten

AS_STRIDED = (aten.as_strided.default, aten.as_strided_copy.default)


def _val(n):
    return n.meta.get("val") if isinstance(n, Node) else None


def _storage(v) -> int | None:
    try:
        return StorageWeakRef(v.untyped_storage()).cdata
    except (RuntimeError, NotImplementedError):
        return None


def covers_storage(v) -> bool:
    """True when tensor value `v` holds its whole storage, densely, from the storage's start."""
    try:
        nbytes = v.untyped_storage().nbytes()
    except (RuntimeError, NotImplementedError):
        return False
    return v.storage_offset() == 0 and v.numel() * v.element_size() == nbytes and _dense(v)


def _dense(v) -> bool:
    """True when `v`'s elements fill numel() consecutive storage slots, each once (some order of its
    dims is contiguous)."""
    expected = 1
    for d in sorted((d for d in range(v.dim()) if v.shape[d] != 1), key=lambda d: v.stride(d)):
        if v.stride(d) != expected:
            return False
        expected *= v.shape[d]
    return True


def storage_root(node: Node) -> Node | None:
    """The first node, following views' first arguments up from `node`, whose value shares `node`'s
    storage and whose own input does not (the op that created the storage); None for non-tensors."""
    v = _val(node)
    ref = _storage(v) if isinstance(v, torch.Tensor) else None
    if ref is None:
        return None
    cur = node
    while cur.op == "call_function" and cur.args:
        pv = _val(cur.args[0])
        if not isinstance(pv, torch.Tensor) or _storage(pv) != ref:
            break
        cur = cur.args[0]
    return cur


def _storage_order(v) -> list[int]:
    """The dims of dense `v` from the largest stride to the smallest: permuting `v` so makes its
    contiguous elements the storage's."""
    return sorted(range(v.dim()), key=lambda d: (-v.stride(d), d))


def _contiguous_storage(gm: GraphModule, root: Node) -> Node:
    """A node whose value is `root`'s storage as a contiguous tensor: root itself, or (when root's
    layout is a permutation, as an elementwise op on a transposed input leaves it) its permute copy."""
    v = _val(root)
    if v.is_contiguous():
        return root
    order = _storage_order(v)
    with gm.graph.inserting_after(root):
        permuted = gm.graph.call_function(aten.permute.default, (root, order))
    with gm.graph.inserting_after(permuted):
        copy = gm.graph.call_function(aten.clone.default, (permuted,), {"memory_format": torch.contiguous_format})
    mode = getattr(v, "fake_mode", None)
    with mode if mode is not None else contextlib.nullcontext():
        permuted.meta["val"] = v.permute(order)
        copy.meta["val"] = permuted.meta["val"].clone(memory_format=torch.contiguous_format)
    return copy


def as_strided_base(gm: GraphModule, settings) -> GraphModule:
    changed = False
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in AS_STRIDED or not isinstance(node.args[0], Node):
            continue
        x = node.args[0]
        root = storage_root(x)
        if root is None or not covers_storage(_val(root)):
            continue
        base = _contiguous_storage(gm, root)
        if base is x:
            continue
        offset = node.args[3] if len(node.args) > 3 else node.kwargs.get("storage_offset")
        if offset is None:
            offset = _val(x).storage_offset()
        node.args = (base, node.args[1], node.args[2], offset)
        node.kwargs = {}
        changed = True
    return finish(gm) if changed else gm
