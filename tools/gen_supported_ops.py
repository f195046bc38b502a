"""Writes docs/supported_ops.md from the converter registry: every ATen overload the tensorforge
backend converts, grouped by converter module. Run after adding converters:

    python3 tools/gen_supported_ops.py          (tests/python/test_supported_ops_doc.py checks it)
"""

from __future__ import annotations

import collections
import pathlib
import sys

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "supported_ops.md"


def render() -> str:
    from tensorforge.dynamo.conversion import CONVERTERS

    groups = collections.defaultdict(list)
    for name in CONVERTERS.supported_ops():
        entry = CONVERTERS.get(eval(f"__import__('torch').ops.{name}"))  # noqa: S307 - names come from the registry
        family = entry.fn.__module__.rsplit(".", 1)[-1]
        note = " (conditions apply)" if entry.capability is not None else ""
        groups[family].append(f"- `{name}`{note}")
    lines = ["# Supported ATen operators", "",
             "Generated from the converter registry by `tools/gen_supported_ops.py`; do not edit by hand.",
             f"{len(CONVERTERS)} overloads. \"Conditions apply\" marks converters with a capability validator:",
             "nodes it rejects (an unsupported argument or dtype) run in PyTorch, and the dry-run report says why.", ""]
    for family in sorted(groups):
        lines += [f"## {family}", ""] + groups[family] + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if DOC.exists() and DOC.read_text() == text else 1)
    DOC.write_text(text)
    print(f"wrote {DOC}")
