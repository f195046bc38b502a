"""A benchmark step in a new Python process: the call's JSON result back, or None (the child's
error output printed) when the process fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def call_in_child(module: str, function: str, args: tuple, what: str, timeout: int = 900):
    """`module.function(*args)` (a module of benchmarks/, plain arguments) run in a new process;
    its JSON-able result, or None after printing why `what` failed."""
    code = (f"import sys, json; sys.path.insert(0, {HERE!r}); import {module} as m; "
            f"print('RESULT', json.dumps(m.{function}(*{args!r})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.split(None, 1)[1])
    print(f"  {what}: the process failed:\n{r.stderr[-2000:]}", flush=True)
    return None
