"""The FX lowering passes, in the order they run (one pass per file)."""

from tensorforge.dynamo.lowering.passes.constant_folding import fold_constants
from tensorforge.dynamo.lowering.passes.recognize_gelu import recognize_gelu
from tensorforge.dynamo.lowering.passes.remove_noops import remove_noops

# Each pass: (GraphModule, settings) -> GraphModule.
PASSES = [
    remove_noops,
    fold_constants,
    remove_noops,
    recognize_gelu,
]
