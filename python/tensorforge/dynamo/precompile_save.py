"""Saving dynamo's precompile cache so that a forward wrapped by another module's decorators restores
(docs/backend.md, "Skipping dynamo's tracing").

Dynamo (PyTorch 2.11-2.13) records two things wrongly for such a forward (Hugging Face's `BertModel`
and `GPT2Model`, whose `forward` is `functools.wraps`' wrapper from `transformers.utils.generic`):

- the module whose globals the compiled code runs in: it takes the wrapper's `__module__`, which
  `functools.wraps` copied from the wrapped function, so a new process installs dynamo's compiled
  functions in the model's module and checks the guards on the decorator module's globals there
  (`KeyError on G['_is_torch_available']`: dynamo traces again);
- the modules its code loads under names dynamo made (`___module_collections_<id>_c0`, to rebuild
  an `OrderedDict` output when the frame's module did not import `collections` by that name): they
  are not among the entry's imports, so a new process fails with a `NameError` on its first call.

`save_cache_artifacts` mends both in copies of the recorded entries (the module found by the code's
file; each such name's module by the id the name holds) and then saves as PyTorch does.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys

import torch

logger = logging.getLogger("tensorforge")

# The global dynamo installs for a module the frame's globals do not hold under its own name
# (torch/_dynamo/codegen.py, create_load_python_module): prefix, the module's id, the compile's id.
_MODULE_GLOBAL = re.compile(r"___module_\w+?_(\d+)_c\d+")


def save_cache_artifacts():
    """`torch.compiler.save_cache_artifacts()`, after the entries dynamo recorded in this process are
    mended as this module's docstring says (when dynamo's precompile cache is on). Returns what
    PyTorch's returns."""
    if getattr(torch._dynamo.config, "caching_precompile", False):
        mend_recorded_entries()
    return torch.compiler.save_cache_artifacts()


def mend_recorded_entries() -> int:
    """Replaces each entry that dynamo recorded for the precompile cache by a mended copy where it
    needs one; returns how many code entries changed. An entry of a shape this PyTorch does not have
    is left as it is, with a warning."""
    try:
        from torch._dynamo.precompile_context import PrecompileContext
    except ImportError:
        return 0
    entries = getattr(PrecompileContext, "_dynamo_cache_entries", None)
    if not isinstance(entries, dict):
        logger.warning("tensorforge: this PyTorch keeps dynamo's precompile entries elsewhere; saved as recorded")
        return 0
    modules = _modules_by_id()
    changed = 0
    for key, entry in list(entries.items()):
        try:
            codes = [mend_code_entry(code, modules) for code in entry.codes]
            count = sum(new is not old for new, old in zip(codes, entry.codes))
            if count:
                entries[key] = dataclasses.replace(entry, codes=codes)
                changed += count
        except (AttributeError, TypeError) as e:  # another PyTorch's entry layout
            logger.warning("tensorforge: dynamo's precompile entry %s left as recorded: %s", key, e)
    return changed


def mend_code_entry(code, modules: dict[int, str]):
    """One recorded code entry (`_DynamoCodeCacheEntry`) mended, or the same object when it is right:
    `python_module` made the module whose file holds the code, and every module-valued global that
    its compiled code loads added to `import_sources`. `modules`: module name by the module's id."""
    changes = {}
    module = _module_of_file(code.python_code.co_filename)
    if module is not None and module != code.python_module:
        changes["python_module"] = module
    missing = {}
    for guarded in code.guarded_codes:
        for name in _global_names(guarded.dynamo_code):
            match = _MODULE_GLOBAL.fullmatch(name)
            if match and name not in code.import_sources and int(match.group(1)) in modules:
                missing[name] = modules[int(match.group(1))]
    if missing:
        changes["import_sources"] = {**code.import_sources, **missing}
    return dataclasses.replace(code, **changes) if changes else code


def _global_names(code) -> set[str]:
    """The names a serialized code object and the code objects among its constants load."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names") and hasattr(const, "co_consts"):
            names |= _global_names(const)
    return names


def _modules_by_id() -> dict[int, str]:
    return {id(m): name for name, m in list(sys.modules.items()) if m is not None}


def _module_of_file(filename: str) -> str | None:
    """The one loaded module whose source is `filename`; None when none or several are."""
    if not filename or filename.startswith("<"):
        return None
    path = os.path.realpath(filename)
    found = [name for name, m in list(sys.modules.items())
             if m is not None and getattr(m, "__file__", None) and os.path.realpath(m.__file__) == path]
    return found[0] if len(found) == 1 else None
