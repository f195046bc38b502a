"""Networks from a build function, for tests and benchmarks: inputs named in0, in1, ... after
example tensors, the layers `build(net, *inputs)` adds, and its result (one tensor or several)
marked as outputs out0, out1, ...."""

from __future__ import annotations

import tensorforge as tf


def network_of(build, inputs) -> tf.Network:
    """The network whose inputs take the dtypes and shapes of `inputs` (torch tensors)."""
    net = tf.Network()
    xs = [net.add_input(f"in{i}", t.dtype, tuple(t.shape)) for i, t in enumerate(inputs)]
    outs = build(net, *xs)
    for i, o in enumerate(outs if isinstance(outs, (list, tuple)) else [outs]):
        net.mark_output(o, f"out{i}")
    return net
