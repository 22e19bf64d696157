"""Pictures of workflows and runs: graphs (Mermaid, DOT) today; timelines later."""

from wfsim.report._graph import to_dot, to_mermaid

__all__ = ["to_dot", "to_mermaid"]
