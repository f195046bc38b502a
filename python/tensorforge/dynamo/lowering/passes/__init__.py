"""The FX lowering passes, in the order they run (one pass per file)."""

from tensorforge.dynamo.lowering.passes.as_strided_base import as_strided_base
from tensorforge.dynamo.lowering.passes.constant_folding import fold_constants
from tensorforge.dynamo.lowering.passes.quantized_weights import move_transposes_onto_quantized_weights
from tensorforge.dynamo.lowering.passes.recognize_gelu import recognize_gelu
from tensorforge.dynamo.lowering.passes.remove_noops import remove_noops

# Each pass: (GraphModule, settings) -> GraphModule, editing the graph; lower() regenerates the
# module's code once after the last.
PASSES = [
    as_strided_base,
    remove_noops,
    move_transposes_onto_quantized_weights,
    fold_constants,
    remove_noops,
    recognize_gelu,
]
