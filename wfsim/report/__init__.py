"""Pictures of workflows and runs: graphs (Mermaid, DOT, SVG), timelines, HTML reports.

``run_html(RunView(...))`` and ``campaign_html(summary, records)`` make the
self-contained pages of ``wfsim report`` (specs/cli.md, CLI-11; specs/campaign.md,
CAMP-23); ``timeline_svg(trace)`` and ``graph_svg(workflow)`` are their pictures.
"""

from wfsim.report._graph import to_dot, to_mermaid
from wfsim.report._html import RunView, campaign_html, run_html
from wfsim.report._layout import graph_svg
from wfsim.report._timeline import timeline_svg

__all__ = [
    "RunView",
    "campaign_html",
    "graph_svg",
    "run_html",
    "timeline_svg",
    "to_dot",
    "to_mermaid",
]
