"""docs/optimizer.md's pass table lists every pass of the pipeline, in order, with its level and
devices (the table is written by hand; this keeps it true)."""

import pathlib
import re

import tensorforge as tf

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "optimizer.md"


def test_the_pass_table_matches_the_pipeline():
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \| (\w+) \|", DOC.read_text(), flags=re.MULTILINE)
    documented = [(name, int(level), devices) for name, level, devices in rows]
    assert documented == [(name, level, devices) for name, level, devices, _ in tf.optimizer_passes()]


def test_every_pass_has_a_summary():
    for name, level, devices, summary in tf.optimizer_passes():
        assert summary and level >= 1 and devices in ("all", "CUDA", "CPU"), name


def test_every_pass_has_a_golden_test():
    """Issue 9: each pass of the pipeline has a golden IR test (a `TEST(PassGolden, ...)` in
    tests/cpp that runs the pass's function on network text and compares the text it makes and the
    outputs), found here by the function each pipeline entry names in src/opt/pipeline.cc."""
    root = DOC.parents[1]
    entries = re.findall(r'\{"(\w+)", \d+, \w+, (\w+),', (root / "src" / "opt" / "pipeline.cc").read_text())
    assert [name for name, _ in entries] == [name for name, *_ in tf.optimizer_passes()]
    golden = ""
    for path in sorted((root / "tests" / "cpp").glob("*.cc")):
        # each golden test's body: from its TEST(PassGolden, line to the next TEST(
        golden += "".join(re.findall(r"TEST\(PassGolden,.*?(?=\nTEST\(|\Z)", path.read_text(), flags=re.S))
    missing = [name for name, function in entries if not re.search(rf"\b{function}\b", golden)]
    assert not missing, f"passes without a golden test: {missing}"
