"""Pictures of workflows and runs: graphs (Mermaid, DOT, SVG), timelines, HTML reports.

``run_html(RunView(...))`` and ``campaign_html(summary, records)`` make the
self-contained pages of ``wfsim report`` (specs/cli.md, CLI-11; specs/campaign.md,
CAMP-23); ``timeline_svg(trace)`` and ``graph_svg(workflow)`` are their pictures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wfsim._lazy import lazy_dir, lazy_name

if TYPE_CHECKING:
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

#: Where each name lives, imported on first use (PEP 562): ``wfsim --help`` builds the
#: ``report`` verb's parser (:mod:`._command`) without the page makers.
_HOME = {
    "RunView": "wfsim.report._html",
    "campaign_html": "wfsim.report._html",
    "graph_svg": "wfsim.report._layout",
    "run_html": "wfsim.report._html",
    "timeline_svg": "wfsim.report._timeline",
    "to_dot": "wfsim.report._graph",
    "to_mermaid": "wfsim.report._graph",
}


def __getattr__(name: str) -> Any:
    return lazy_name(__name__, _HOME, globals(), name)


def __dir__() -> list[str]:
    return lazy_dir(globals(), __all__)
