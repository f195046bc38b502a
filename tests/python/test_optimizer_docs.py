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
