"""What every FX pass does after it edits a graph."""

from torch.fx import GraphModule


def finish(gm: GraphModule) -> GraphModule:
    """Drops nodes nothing reads any more and checks the graph. The module's code is regenerated
    once, by lower(), after the last pass (each regeneration of a large graph's code costs tens of
    milliseconds)."""
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    return gm
