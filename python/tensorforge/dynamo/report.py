"""Operator-coverage and dry-run reports: what the engine runs, what stays in PyTorch and why,
each engine's inputs, outputs and op count, and the min_block_size values that would change the
number of engines. Printed as text; the same data as JSON."""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import operator
import re

from torch.fx import GraphModule, Node

from tensorforge.dynamo.partitioning import PartitionResult, is_size, op_count


def _source(node: Node) -> str:
    trace = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+)', trace)
    return f"{frames[-1][0]}:{frames[-1][1]}" if frames else ""


def _describe(node: Node) -> str:
    v = node.meta.get("val")
    return f"{str(v.dtype).removeprefix('torch.')}{list(v.shape)}" if hasattr(v, "shape") else type(v).__name__


@dataclasses.dataclass
class Report:
    graph_index: int
    op_counts: dict             # op -> how many times it appears in the lowered graph
    total_ops: int
    supported_ops: int
    unsupported: dict           # op -> {"count": n, "reason": str}
    kept_in_pytorch: list       # {"node", "op", "reason", "source"}
    engines: list               # {"name", "ops", "inputs", "outputs", "build_ms"; dynamic engines: "sizes";
    #                             engines with int8 products: "quantized" ({"int8, calibrated": n, ...})}
    block_sizes: list
    min_block_size: float
    fewer_engines_at: float | None
    more_engines_at: int | None
    seconds: dict = dataclasses.field(default_factory=dict)  # "lower", "partition", "convert", "build"

    def build_ms(self) -> dict:
        """The engines' build times summed by part ("optimize", "kernels <tactic>", "memory"), ms."""
        total = collections.Counter()
        for e in self.engines:
            total.update(e.get("build_ms", {}))
        return dict(total)

    @property
    def coverage(self) -> float:
        return 100.0 * self.supported_ops / self.total_ops if self.total_ops else 100.0

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["coverage_percent"] = round(self.coverage, 2)
        if math.isinf(d["min_block_size"]):
            d["min_block_size"] = "inf"
        return d

    def to_text(self) -> str:
        lines = [f"TensorForge report, graph {self.graph_index}",
                 f"  operators: {self.total_ops} total, {self.supported_ops} supported ({self.coverage:.1f}%)"]
        if self.unsupported:
            lines.append("  unsupported or excluded operators:")
            for op, info in sorted(self.unsupported.items(), key=lambda kv: -kv[1]["count"]):
                lines.append(f"    {op} x{info['count']}: {info['reason']}")
        lines.append(f"  engines: {len(self.engines)} (min_block_size={self.min_block_size})")
        for e in self.engines:
            sizes = "".join(f", size {n} {lo}..{hi} (opt {opt})" for n, (lo, opt, hi) in e.get("sizes", {}).items())
            quantized = "".join(f", {n} quantized products ({kind})" for kind, n in e.get("quantized", {}).items())
            lines.append(f"    {e['name']}: {e['ops']} ops, inputs {', '.join(e['inputs']) or '-'}, "
                         f"outputs {', '.join(e['outputs'])}{sizes}{quantized}")
        if self.kept_in_pytorch:
            lines.append(f"  nodes kept in PyTorch: {len(self.kept_in_pytorch)}")
            for k in self.kept_in_pytorch:
                where = f"  at {k['source']}" if k["source"] else ""
                lines.append(f"    {k['node']} ({k['op']}): {k['reason']}{where}")
        counts = collections.Counter(self.block_sizes)
        if self.block_sizes:
            lines.append("  candidate blocks (ops: how many): " +
                         ", ".join(f"{s}: {counts[s]}" for s in sorted(counts, reverse=True)))
        if self.seconds:
            lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
            parts = sorted(self.build_ms().items(), key=lambda kv: -kv[1])
            if parts:
                lines.append("  build: " + ", ".join(f"{k} {v / 1e3:.2f} s" for k, v in parts))
        if self.fewer_engines_at is not None:
            lines.append(f"  min_block_size={self.fewer_engines_at} would give fewer engines")
        if self.more_engines_at is not None:
            lines.append(f"  min_block_size={self.more_engines_at} would give more engines")
        return "\n".join(lines)

    def write_json(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=2)


def build_report(aten_gm_nodes: list[Node], result: PartitionResult, settings, graph_index: int,
                 engine_specs: dict[str, dict], seconds: dict | None = None) -> Report:
    """`aten_gm_nodes`: the lowered graph's nodes before fusing; `engine_specs`: name -> inputs/outputs
    (and build_ms); `seconds`: time per compile phase."""
    ops = [n for n in aten_gm_nodes if n.op == "call_function" and n.target is not operator.getitem and not is_size(n)]
    unsupported = {}
    for n in ops:
        if n.name in result.reasons:
            info = unsupported.setdefault(str(n.target), {"count": 0, "reason": result.reasons[n.name]})
            info["count"] += 1
    remaining = {n.name for n in result.gm.graph.nodes}  # fused nodes moved into the engine submodules
    kept = []
    for n in ops:
        if n.name in remaining:
            reason = result.reasons.get(n.name, f"in a block smaller than min_block_size={settings.min_block_size}"
                                        if not math.isinf(settings.min_block_size) else "dry run")
            kept.append({"node": n.name, "op": str(n.target), "reason": reason, "source": _source(n)})
    sizes = sorted(result.all_block_sizes, reverse=True)
    current = settings.min_block_size
    above = [s for s in sizes if s >= current]
    below = [s for s in sizes if s < current]
    fewer = (min(above) + 1) if above else None
    more = max(below) if below else None
    engines = []
    for name in result.blocks:
        sub = getattr(result.gm, name)
        spec = engine_specs.get(name, {})
        graph_nodes = list(sub.graph.nodes) if hasattr(sub, "graph") else []
        engines.append({"name": name, "ops": spec.get("ops", op_count(graph_nodes)),
                        "inputs": spec.get("inputs", [_describe(n) for n in graph_nodes if n.op == "placeholder"]),
                        "outputs": spec.get("outputs", []),
                        **({"build_ms": spec["build_ms"]} if "build_ms" in spec else {}),
                        **({"quantized": spec["quantized"]} if "quantized" in spec else {}),
                        **({"sizes": spec["sizes"]} if "sizes" in spec else {})})
    supported = len(ops) - sum(i["count"] for i in unsupported.values())
    op_counts = dict(collections.Counter(str(n.target) for n in ops))
    return Report(graph_index, op_counts, len(ops), supported, unsupported, kept, engines, sizes,
                  current, fewer, more, dict(seconds or {}))
