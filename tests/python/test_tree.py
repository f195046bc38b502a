"""The source tree itself: no symbolic links are committed (one to an absolute path on a developer's
machine once was, python/tensorforge/dynamo/dynamo: dangling in every other checkout and a loop in
that one)."""

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_no_symbolic_links_are_committed():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an sdist or an installed copy): nothing to read the index from")
    entries = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    links = [line.split("\t", 1)[1] for line in entries if line.startswith("120000 ")]
    assert not links, f"symbolic links in the tree: {links}"
