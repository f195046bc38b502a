"""What every FX pass does after it edits a graph."""

from torch.fx import GraphModule


def finish(gm: GraphModule) -> GraphModule:
    """Drops nodes nothing reads any more, checks the graph and regenerates the module's code."""
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.recompile()
    return gm
