"""Turns one accelerated FX submodule into an engine Network.

Placeholders whose value comes from a frozen constant of the parent graph become engine constants;
the others become engine inputs. Each call_function node goes through its registered converter;
getitem picks an element of a multi-output converter. Engine inputs keep the model's dtypes except
float64 (cast to float32 by the runtime when truncation is on); outputs are cast back inside the
engine to the model's dtypes where the engine can hold them.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

import torch
from torch.fx import GraphModule, Node

import tensorforge as tf
from tensorforge.dynamo.conversion.context import ConversionContext, ENGINE_DTYPES
from tensorforge.dynamo.conversion.registry import CONVERTERS
from tensorforge.dynamo.conversion.sym_sizes import SizedNetwork, check_shapes, size_text, symbolic
from tensorforge.dynamo.runtime.io_spec import IOSpec
from tensorforge.errors import UnsupportedError


@dataclasses.dataclass
class ConvertedBlock:
    network: tf.Network
    inputs: list[IOSpec]
    outputs: list[IOSpec]
    runtime_args: list[int]   # which submodule arguments are bound at run time (the rest are constants)
    op_count: int
    dynamic: bool = False     # the network has named sizes (Builder.build_dynamic builds it)


def _is_dynamic(sub: GraphModule) -> bool:
    """True when a placeholder of `sub` is a symbolic size or a tensor with one."""
    for node in sub.graph.nodes:
        val = node.meta.get("val") if node.op == "placeholder" else None
        if symbolic(val) or (isinstance(val, torch.Tensor) and any(symbolic(d) for d in val.shape)):
            return True
    return False


def _shape(val) -> tuple:
    """A value's shape for an IOSpec: extents, and the text of each symbolic one."""
    return tuple(size_text(d) if symbolic(d) else int(d) for d in val.shape)


def convert_block(sub: GraphModule, constants: dict[int, torch.Tensor], settings) -> ConvertedBlock:
    """Converts `sub`; `constants` maps placeholder positions to frozen tensors of the parent graph.
    A block with symbolic sizes (dynamo's dynamic shapes) converts to a network with named sizes, one
    per dynamo symbol (sym_sizes.SizedNetwork): its integer placeholders and size computations become
    size expressions, and its IOSpecs give each symbolic extent as text."""
    dynamic = _is_dynamic(sub)
    net = SizedNetwork() if dynamic else tf.Network()
    ctx = ConversionContext(net, settings)
    env: dict[Node, Any] = {}
    inputs, outputs, runtime_args = [], [], []
    op_count = 0
    position = 0
    marked: set[int] = set()
    converted: list = []  # dynamic blocks: (engine tensor, the node's symbolic shape, the node) for check_shapes
    size_positions: dict[str, int] = {}  # a size carrier's input name -> its integer placeholder's position
    # Placeholders first (fusing interleaves them with the ops): every input that gives a size is
    # declared before a layer uses the size.
    for node in sorted(sub.graph.nodes, key=lambda n: n.op != "placeholder"):
        ctx.node = node
        if node.op == "placeholder":
            val = node.meta.get("val")
            if position in constants:
                ctx.attr_values[node] = constants[position]
                env[node] = ctx.const(constants[position], name=node.name)
            elif isinstance(val, torch.SymInt):  # a size: the engine reads its value from the input shapes
                env[node] = val
                if dynamic:  # or, where none gives it, from a carrier input (sym_sizes.SizedNetwork)
                    net.take_size(val, f"{node.name}_size")
                    size_positions[f"{node.name}_size"] = position
            else:
                engine_in = val.dtype if val.dtype in ENGINE_DTYPES else ctx.dtype_of(val.dtype)
                t = net.add_input(node.name, engine_in, tuple(val.shape))
                env[node] = ctx.cast(t, ctx.dtype_of(val.dtype))
                inputs.append(IOSpec(node.name, _shape(val), val.dtype, engine_in))
                runtime_args.append(position)
            position += 1
        elif node.op == "get_attr":
            ctx.attr_values[node] = getattr(sub, node.target)
            env[node] = ctx.const(ctx.attr_values[node], name=node.name)
        elif node.op == "call_function":
            args = torch.fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
            if node.target is operator.getitem:
                env[node] = args[0][args[1]]
                continue
            if isinstance(node.meta.get("val"), torch.SymInt):  # size arithmetic: its value's expression
                env[node] = node.meta["val"]
                continue
            entry = CONVERTERS.get(node.target)
            if entry is None:
                raise UnsupportedError(f"no converter for {node.target} (node {node.name})")
            env[node] = entry.fn(ctx, node, args, kwargs)
            op_count += 1
            val = node.meta.get("val")
            if dynamic and isinstance(env[node], tf.Tensor) and isinstance(val, torch.Tensor):
                converted.append((env[node], tuple(val.shape), f"node {node.name} ({node.target})"))
        elif node.op == "output":
            results = node.args[0] if isinstance(node.args[0], (tuple, list)) else (node.args[0],)
            for i, r in enumerate(results):
                val = r.meta["val"]
                if not isinstance(val, torch.Tensor):
                    raise UnsupportedError(f"output {i} of the block is a {type(val).__name__}, not a tensor")
                t = env[r]
                engine_out = val.dtype if val.dtype in ENGINE_DTYPES else ctx.dtype_of(val.dtype)
                t = ctx.cast(t, engine_out)
                if t.id in marked or any(t.id == x.id for x in net.inputs):
                    t = net.add_reshape(t, tuple(val.shape), name=f"output_{i}_copy")  # an output needs its own tensor
                marked.add(t.id)
                name = f"output_{i}"
                net.mark_output(t, name)
                outputs.append(IOSpec(name, _shape(val), val.dtype, engine_out))
        else:
            raise UnsupportedError(f"cannot convert FX node {node.name} of kind {node.op}")
    if dynamic:
        for carrier, value in net.carriers:  # the caller passes the integer; the stitched graph makes the carrier
            inputs.append(IOSpec(carrier, (size_text(value),), torch.uint8, torch.uint8))
            runtime_args.append(size_positions[carrier])
    if dynamic and net.sizes:
        check_shapes(net, converted)
    return ConvertedBlock(net, inputs, outputs, runtime_args, op_count, dynamic and bool(net.sizes))
