"""Evaluating an engine's size expressions (the grammar of sym_sizes.size_text) in Python: what a
saved program's engine calls use to give their output shapes, with plain ints or torch.SymInts
while torch.export traces. A light module: loading a saved program imports no conversion code."""

from __future__ import annotations

import ast
import operator

import torch

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
           ast.Mod: operator.mod}


def evaluate(text: str, values: dict):
    """The value of a size expression's text (size_text's grammar) with its sizes bound by `values`
    (ints, or torch.SymInts while tracing: the result is then symbolic). Raises ValueError for text
    outside the grammar or a size `values` does not bind."""
    def ev(node):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ValueError(f"size expression {text!r}: no value for size {node.id}")
            return values[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("max", "min") and \
                len(node.args) == 2 and not node.keywords:
            a, b = ev(node.args[0]), ev(node.args[1])
            return torch.sym_max(a, b) if node.func.id == "max" else torch.sym_min(a, b)
        raise ValueError(f"size expression {text!r}: {ast.dump(node)[:60]} is outside the grammar")

    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ValueError(f"size expression {text!r} does not parse") from None
    return ev(tree.body)
