"""The fuzz driver: runs a target over many generated inputs in child processes and reports every
crash, hang and untyped error with the input that caused it.

    python3 tools/fuzz/runner.py --target reader|network [--inputs N] [--seconds S] [--seed K]
                                 [--jobs J] [--out DIR]

Input i of a run is a pure function of (target, seed, i), so any failure can be replayed from its
index alone (--replay I). Each child writes the index it is about to try into a shared page before
trying it; when a child dies (a crash: a signal, or an exit without its summary) or stops advancing
for --hang-seconds, the parent knows the exact input, saves it under --out, and starts a new child
after it. Outcomes:
  typed     a tensorforge.Error (what bad input must get)
  ok        loaded or built (and maybe ran) without error
  skipped   a network with no output, or too large to build on this machine (network target)
  untyped   any other exception: a failure, saved with its traceback
  crash     the child died: a failure, saved
  hang      no progress for --hang-seconds: a failure, saved
  harness   the fuzzer failed to generate the input: a bug of the fuzzer, reported too
Each child runs under an address-space limit (--memory-mb), so an input that asks for more memory
than the machine has gets an allocation failure (which must be a tensorforge.Error) rather than
the kernel's out-of-memory killer.
Exit status 0 when there were no failures, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import mmap
import multiprocessing as mp
import os
import pathlib
import random
import resource
import struct
import sys
import tempfile
import threading
import time
import traceback

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = ROOT / "tests" / "fuzz_corpus"


# ---- targets: generate(seed, i) -> input; run(input) -> outcome name (raises on failure) ------

def _corpus() -> list[bytes]:
    files = sorted(CORPUS.glob("*.tfengine"))
    if not files:
        raise SystemExit(f"no seed corpus in {CORPUS}; run tools/fuzz/make_corpus.py")
    return [f.read_bytes() for f in files]


class ReaderTarget:
    """Damaged engine files through Engine.deserialize; those that load are run once."""

    suffix = ".tfengine"

    def __init__(self) -> None:
        sys.path.insert(0, str(HERE))
        import engine_format

        self.format = engine_format
        self.corpus = _corpus()

    def generate(self, seed: int, i: int) -> bytes:
        rng = random.Random(seed * 1_000_003 + i)
        return self.format.mutate(rng.choice(self.corpus), rng, self.corpus)

    def run(self, data: bytes) -> str:
        import numpy as np

        import tensorforge as tf

        try:
            engine = tf.Engine.deserialize(data)
        except tf.Error:
            return "typed"
        sizes = [int(np.prod(t.shape, dtype=np.float64)) for t in engine.io_tensors]
        if engine.arena_size > 64 << 20 or sum(sizes) > 8 << 20:
            return "ok"
        import torch

        feeds = [torch.zeros(t.shape, dtype=tf.engine_api.torch_dtype(t.dtype)) for t in engine.io_tensors
                 if t.is_input]
        try:
            engine(*feeds)
        except tf.Error:
            return "typed"
        return "ok"


class NetworkTarget:
    """Random networks through the Python API, built and (when small) run."""

    suffix = ".txt"

    def __init__(self) -> None:
        sys.path.insert(0, str(HERE))
        import network_gen

        self.gen = network_gen

    def generate(self, seed: int, i: int) -> int:
        return seed * 1_000_003 + i

    def run(self, key: int) -> str:
        outcome = self.gen.run_one(random.Random(key))
        if outcome in ("ran", "built-too-large-to-run"):
            return "ok"
        return "skipped" if outcome in ("no-output", "too-large-to-build") else "typed"


TARGETS = {"reader": ReaderTarget, "network": NetworkTarget}


# ---- child ------------------------------------------------------------------------------------

def _child(target_name: str, seed: int, start: int, stop: int, deadline: float, progress_path: str,
           queue, memory_mb: int) -> None:
    if memory_mb:  # an input that asks for more memory than this gets an allocation failure, not the OOM killer
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    import tensorforge  # noqa: F401 - loaded before the first input, so its import is not timed

    target = TARGETS[target_name]()
    with open(progress_path, "r+b") as f:
        page = mmap.mmap(f.fileno(), 8)
    counts = collections.Counter()
    failures = []
    i = start
    while i < stop and time.time() < deadline:
        struct.pack_into("<q", page, 0, i)
        try:
            data = target.generate(seed, i)
        except Exception as e:  # noqa: BLE001 - a bug of the fuzzer itself, reported apart
            counts["harness-error"] += 1
            failures.append((i, "harness", f"{type(e).__name__}: {e}"[:500], traceback.format_exc()[-2000:]))
            i += 1
            continue
        try:
            counts[target.run(data)] += 1
        except Exception as e:  # noqa: BLE001 - every other exception is the failure we look for
            counts["untyped"] += 1
            failures.append((i, "untyped", f"{type(e).__module__}.{type(e).__name__}: {e}"[:500],
                             traceback.format_exc()[-2000:]))
        i += 1
    struct.pack_into("<q", page, 0, i)
    queue.put((start, i, dict(counts), failures))


# ---- parent -----------------------------------------------------------------------------------

def _save(out: pathlib.Path, target_name: str, seed: int, i: int, kind: str, detail: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    target = TARGETS[target_name]()
    try:
        data = target.generate(seed, i)
    except Exception:  # noqa: BLE001 - a harness error: there is no input to keep
        data = None
    stem = out / f"{target_name}-seed{seed}-{i}-{kind}"
    if isinstance(data, bytes):
        (stem.with_suffix(".tfengine")).write_bytes(data)
    (stem.with_suffix(".txt")).write_text(f"{kind}: input {i} of target {target_name}, seed {seed}\n"
                                           f"replay: python3 tools/fuzz/runner.py --target {target_name} "
                                           f"--seed {seed} --replay {i}\n\n{detail}\n")


def _run_range(target_name, seed, start, stop, deadline, hang_seconds, memory_mb, out, totals, failures):
    """Runs inputs [start, stop) in children, restarting after each crash or hang."""
    ctx = mp.get_context("spawn")
    fd, progress_path = tempfile.mkstemp(prefix="tf-fuzz-")
    os.write(fd, struct.pack("<q", start))
    os.close(fd)
    try:
        while start < stop and time.time() < deadline:
            queue = ctx.Queue()
            child = ctx.Process(target=_child,
                                args=(target_name, seed, start, stop, deadline, progress_path, queue, memory_mb))
            child.start()
            last, last_change = start, time.time()
            result, hung = None, False
            while True:
                child.join(timeout=0.5)
                try:
                    result = queue.get_nowait()
                except Exception:  # noqa: BLE001 - queue.Empty; the summary has not arrived yet
                    result = None
                if result is not None or not child.is_alive():
                    break
                with open(progress_path, "rb") as f:
                    now = struct.unpack("<q", f.read(8))[0]
                if now != last:
                    last, last_change = now, time.time()
                elif time.time() - last_change > hang_seconds:
                    hung = True
                    child.kill()
                    child.join()
                    break
            if result is None:
                try:
                    result = queue.get(timeout=2)
                except Exception:  # noqa: BLE001 - the child died before reporting
                    result = None
            if result is not None:
                _, reached, counts, fails = result
                totals.update(counts)
                for i, kind, line, tb in fails:
                    failures.append({"input": i, "kind": kind, "error": line})
                    _save(out, target_name, seed, i, kind, tb)
                start = reached
                continue
            with open(progress_path, "rb") as f:
                bad = struct.unpack("<q", f.read(8))[0]
            kind = "hang" if hung else "crash"
            detail = (f"no progress for {hang_seconds} s" if hung else
                      f"child died with exit code {child.exitcode}" +
                      (" (SIGKILL: the kernel's out-of-memory killer?)" if child.exitcode == -9 else ""))
            totals[kind] += 1
            totals["inputs-before-failure"] += bad - start  # those inputs ran, outcome counts lost
            failures.append({"input": bad, "kind": kind, "error": detail})
            _save(out, target_name, seed, bad, kind, detail)
            start = bad + 1
    finally:
        os.unlink(progress_path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=sorted(TARGETS), required=True)
    p.add_argument("--inputs", type=int, default=10_000, help="inputs to try (default 10000)")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (0: no limit)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    p.add_argument("--hang-seconds", type=float, default=60)
    p.add_argument("--memory-mb", type=int, default=12288,
                   help="address-space limit of each child (0: none); larger requests fail as allocation errors")
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "fuzz-failures")
    p.add_argument("--json", type=pathlib.Path, help="write the summary here too")
    p.add_argument("--replay", type=int, help="run input REPLAY alone, in this process, and print the outcome")
    args = p.parse_args(argv)

    if args.replay is not None:
        target = TARGETS[args.target]()
        print(target.run(target.generate(args.seed, args.replay)))
        return 0

    deadline = time.time() + args.seconds if args.seconds else float("inf")
    began = time.time()
    chunk = -(-args.inputs // args.jobs)
    per_job = [(collections.Counter(), []) for _ in range(args.jobs)]  # merged after the joins
    workers = [threading.Thread(target=_run_range,
                                args=(args.target, args.seed, j * chunk, min(args.inputs, (j + 1) * chunk), deadline,
                                      args.hang_seconds, args.memory_mb, args.out, *per_job[j]))
               for j in range(args.jobs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    totals, failures = collections.Counter(), []
    for counts, fails in per_job:
        totals.update(counts)
        failures.extend(fails)
    ran = sum(v for k, v in totals.items() if k != "inputs-before-failure")
    summary = {"target": args.target, "seed": args.seed, "inputs": ran + totals["inputs-before-failure"],
               "seconds": round(time.time() - began, 1), "outcomes": dict(totals), "failures": failures}
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
