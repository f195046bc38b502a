"""A bounded fuzz run on every test run (CI included): damaged engine files through the reader and
random networks through the Python API, each for TF_FUZZ_SECONDS (default 40) in child processes
(tools/fuzz/runner.py). Any crash, hang or error that is not a tensorforge.Error fails the test;
its input is saved under build/fuzz-failures with the command that replays it. The seed changes
every day (TF_FUZZ_SEED fixes it), so CI keeps meeting new inputs; scripts/fuzz.sh is the long run."""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("TF_FUZZ_SECONDS", "40"))
SEED = int(os.environ.get("TF_FUZZ_SEED", str(int(time.time()) // 86400)))


@pytest.mark.parametrize("target,minimum", [("reader", 1000), ("network", 300)])
def test_bounded_fuzz(target, minimum, tmp_path):
    if SECONDS <= 0:
        pytest.skip("TF_FUZZ_SECONDS=0 turns the bounded fuzz run off")
    summary_path = tmp_path / "summary.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(pathlib.Path(p).resolve()) for p in sys.path if p and os.path.isdir(p)])
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz" / "runner.py"), "--target", target,
                        "--inputs", "100000000", "--seconds", str(SECONDS), "--seed", str(SEED), "--jobs", "2",
                        "--hang-seconds", "60", "--out", str(ROOT / "build" / "fuzz-failures"),
                        "--json", str(summary_path)], capture_output=True, text=True, env=env,
                       timeout=SECONDS + 300)
    assert summary_path.exists(), r.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert not summary["failures"], (f"seed {SEED}: {summary['failures'][:5]} (inputs saved under "
                                     f"build/fuzz-failures)")
    assert r.returncode == 0, r.stderr[-3000:]
    assert summary["inputs"] >= minimum, summary  # the run really exercised the target
