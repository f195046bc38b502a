"""Issue 12's load bar: seconds from `tensorforge.load(path)` to the first output, in a new process,
for a model saved with `tensorforge.save`. For each model a first process saves it (timed: export,
lowering, build and writing), then a new process imports torch and tensorforge, makes the model's
inputs, and times what load() does (importing tensorforge.saving, torch.export.load, .module())
and the first and second calls (CUDA synchronized), with the engines' deserialization inside the
first call and its kernel-creation stages. The file's size is reported too.

    python3 benchmarks/load_time.py --models resnet50 gpt2            # the GPU, float16
    python3 benchmarks/load_time.py --device cpu --models bert        # the CPU, float32
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from child_process import call_in_child

HERE = os.path.dirname(os.path.abspath(__file__))


def _setup(name: str, batch: int, device: str):
    import torch

    sys.path.insert(0, HERE)
    import model_zoo

    dtype = torch.float16 if device == "cuda" else torch.float32
    model, inputs = model_zoo.make_model(name, batch, device=device, dtype=dtype)
    if hasattr(model, "config"):  # Hugging Face: no cache objects in the outputs (torch.export cannot return them)
        model.config.use_cache = False
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return model, inputs, dtype, sync


def save_child(name: str, batch: int, device: str, path: str) -> dict:
    """Saves the model to `path`; the seconds save() took."""
    import tensorforge

    model, inputs, dtype, _ = _setup(name, batch, device)
    start = time.perf_counter()
    tensorforge.save(model, path, inputs, options={"enabled_precisions": {dtype}})
    return {"save_s": time.perf_counter() - start, "bytes": os.path.getsize(path)}


def load_child(name: str, batch: int, device: str, path: str) -> dict:
    """Loads `path` in this (new) process and calls it twice: seconds for each step."""
    import torch
    import tensorforge

    _, inputs, _, sync = _setup(name, batch, device)
    sync()
    start = time.perf_counter()
    from tensorforge import saving  # part of a user's first load(); imports the runtime modules

    imported = time.perf_counter()
    program = torch.export.load(path)
    read = time.perf_counter()
    module = program.module()
    loaded = time.perf_counter()
    with torch.no_grad():
        module(*inputs)
        sync()
        first = time.perf_counter()
        module(*inputs)
        sync()
    second = time.perf_counter()
    # Where the first call went: deserializing the engines (their kernels' creation by tactic inside it).
    stages: dict = {}
    for _, runners in list(saving._RUNNERS.values()):
        for runner in runners.values():
            for stage, ms in dict(getattr(runner.engine, "build_times", {})).items():
                stages[stage] = round(stages.get(stage, 0.0) + ms, 1)
    return {"load_s": loaded - start, "first_output_s": first - start, "second_call_s": second - first,
            "import_s": imported - start, "export_load_s": read - imported, "module_s": loaded - read,
            "deserialize_s": saving.STATS["deserialize_s"], "engine_stages_ms": stages}


def _child(kind: str, name: str, batch: int, device: str, path: str) -> dict | None:
    return call_in_child("load_time", f"{kind}_child", (name, batch, device, path), f"{name} ({kind})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50", "vit_b_16", "mobilenet_v3_large", "bert", "gpt2"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            path = os.path.join(folder, f"{name}.pt2")
            row = {"model": name, "batch": args.batch, "device": args.device}
            saved = _child("save", name, args.batch, args.device, path)
            loaded = _child("load", name, args.batch, args.device, path) if saved else None
            row.update(saved or {})
            row.update(loaded or {})
            rows.append(row)
            if loaded:
                print(f"{name} b{args.batch} {args.device}: save {row['save_s']:.1f} s ({row['bytes'] / 1e6:.0f} MB); "
                      f"new process: load {row['load_s']:.2f} s, first output {row['first_output_s']:.2f} s after "
                      f"load() began, second call {row['second_call_s'] * 1e3:.1f} ms\n    of it: import "
                      f"{row['import_s']:.2f} s, torch.export.load {row['export_load_s']:.2f} s, .module() "
                      f"{row['module_s']:.2f} s, engines deserialized in the first call {row['deserialize_s']:.2f} s "
                      f"(kernels and memory: {row['engine_stages_ms']} ms)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
