"""The OpInfo conformance run outside pytest (tests/python/conformance_lib.py says what is compared).

    python3 scripts/conformance.py [--device cpu|cuda] [--samples N] [--json PATH]
        every OpInfo in every dtype the engine holds, up to N samples each (default: all); prints
        the summary (pairs, in an engine, fallen back, expected failures, failures) and the failures
    python3 scripts/conformance.py --slice [--update]
        the slice the test suite runs; --update rewrites tests/python/conformance_expected.json's
        list of pairs that run in an engine on this device
    python3 scripts/conformance.py --from-record FILE [--update]
        the same from the results a test run kept (TF_CONFORMANCE_RECORD=FILE pytest ...)

Exit status 1 if a pair fails outside the expected-failure list.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import sys
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import torch  # noqa: E402

import conformance_lib as conf  # noqa: E402
import test_conformance as suite  # noqa: E402


def _one_pair_a_line(data: dict) -> str:
    """The expected-pairs file with one [op, dtype] a line, so that diffs show what changed."""
    parts = []
    for device, entry in sorted(data.items()):
        pairs = ",\n    ".join(json.dumps(p) for p in entry["engine"])
        parts.append(f'  "{device}": {{\n   "torch": {json.dumps(entry["torch"])},\n   "engine": [\n    {pairs}\n   ]\n  }}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def run_all(args) -> list[dict]:
    rows = []
    for index, op in enumerate(conf.op_db()):
        dtypes = suite.slice_dtypes(index, args.device) if args.slice else conf.DTYPES
        samples = 1 if args.slice else args.samples
        for dt in dtypes:
            if dt not in op.supported_dtypes(args.device):
                continue
            r = conf.check_pair(op, dt, args.device, samples)
            key, dtype = conf.op_key(op), str(dt).removeprefix("torch.")
            xfail = suite.XFAIL.get((key, dtype, args.device), "")
            rows.append({"op": key, "dtype": dtype, "status": r.status, "samples": r.samples,
                         "failure": r.failure, "xfail": xfail, "note": r.note})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--samples", type=int, default=1_000_000, help="samples per pair (default: all)")
    p.add_argument("--slice", action="store_true", help="the test suite's slice (one sample, two dtypes per op)")
    p.add_argument("--update", action="store_true", help="with --slice: rewrite conformance_expected.json")
    p.add_argument("--json", type=pathlib.Path, help="write every pair's result here")
    p.add_argument("--from-record", type=pathlib.Path, help="summarize a test run's TF_CONFORMANCE_RECORD file")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    import logging
    logging.getLogger("torch._dynamo").setLevel(logging.ERROR)

    start = time.time()
    if args.from_record:
        rows = [json.loads(line) for line in args.from_record.read_text().splitlines() if line.strip()]
        args.device, args.slice = rows[0]["device"], True
        for r in rows:
            r["xfail"] = suite.XFAIL.get((r["op"], r["dtype"], r["device"]), "")
    else:
        rows = run_all(args)
    counts = collections.Counter(r["status"] for r in rows)
    failures = [r for r in rows if r["failure"] and not r["xfail"]]
    expected = [r for r in rows if r["failure"] and r["xfail"]]
    fixed = [r for r in rows if r["xfail"] and not r["failure"] and r["samples"]]
    ops = {r["op"] for r in rows if r["status"] != "skipped"}
    version = rows[0].get("torch", torch.__version__) if rows else torch.__version__
    summary = {"device": args.device, "torch": version, "slice": args.slice,
               "samples_per_pair": 1 if args.slice else args.samples, "ops": len(ops),
               "pairs": sum(1 for r in rows if r["status"] != "skipped"), "in_engine": counts["engine"],
               "fallback": counts["fallback"], "no_graph": counts["no-graph"], "skipped": counts["skipped"],
               "samples_compared": sum(r["samples"] for r in rows), "expected_failures": len(expected),
               "failures": len(failures), "xfail_now_passing": len(fixed), "seconds": round(time.time() - start)}
    print(json.dumps(summary))
    for r in failures:
        print(f"FAIL {r['op']} {r['dtype']} ({r['status']}): {r['failure']}")
    for r in fixed:
        print(f"XFAIL NOW PASSES {r['op']} {r['dtype']}: remove it from XFAIL")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "pairs": rows}, indent=1))
    if args.slice and args.update:
        data = json.loads(suite.EXPECTED_PATH.read_text()) if suite.EXPECTED_PATH.exists() else {}
        data[args.device] = {"torch": version,
                             "engine": sorted([r["op"], r["dtype"]] for r in rows if r["status"] == "engine")}
        suite.EXPECTED_PATH.write_text(_one_pair_a_line(data))
        print(f"wrote {suite.EXPECTED_PATH}: {len(data[args.device]['engine'])} pairs in an engine on {args.device}")
    return 1 if failures or fixed else 0


if __name__ == "__main__":
    raise SystemExit(main())
