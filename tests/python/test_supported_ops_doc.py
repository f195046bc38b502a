"""docs/supported_ops.md matches the converter registry (regenerate with tools/gen_supported_ops.py),
and the registry holds at least the 150 overloads the backend promises."""

import pathlib
import runpy

from tensorforge.dynamo.conversion import CONVERTERS

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_supported_ops_doc_is_current():
    render = runpy.run_path(str(ROOT / "tools" / "gen_supported_ops.py"))["render"]
    assert (ROOT / "docs" / "supported_ops.md").read_text() == render(), "run python3 tools/gen_supported_ops.py"


def test_at_least_150_overloads():
    assert len(CONVERTERS) >= 150, len(CONVERTERS)
