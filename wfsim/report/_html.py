"""Self-contained HTML reports of a run or a campaign (``wfsim report``, CLI-11, CAMP-23).

One file, nothing fetched: the CSS, the script and every picture (SVG) are
inline. Every text that comes from the user (scenario titles, step names, error
messages) is escaped. The page depends only on its input: the same run or the
same recorded campaign gives byte-identical HTML (no host time, no random ids).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from wfsim._core._events import EventWorkflow
from wfsim._core._time import format_seconds
from wfsim._core._trace import Trace
from wfsim._core._workflow import Workflow

from ._layout import graph_svg
from ._svg import esc, num
from ._timeline import timeline_svg

if TYPE_CHECKING:  # the campaign package is heavy: `wfsim --version` need not import it
    from wfsim.campaign._coverage import Coverage
    from wfsim.campaign._record import RunRecord
    from wfsim.campaign._summary import CampaignSummary, ScenarioSummary

__all__ = ["RunView", "campaign_html", "histogram_svg", "run_html"]

#: Bins of the makespan histogram when makespans take more distinct values than this.
MAKESPAN_BINS = 20
#: Failing seeds the campaign page lists per expectation or rule (the store has all).
FAILING_PER_KEY = 5

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;
color:#1d2330;background:#fafbfc}
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9d1e0}main{padding:8px 24px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e3e7ee;border-radius:8px;padding:12px 16px;
margin:16px 0;overflow-x:auto}h2{font-size:17px;margin:4px 0 10px}
h3{font-size:15px;margin:12px 0 6px}table{border-collapse:collapse;font-size:13px}
th,td{padding:3px 10px;border-bottom:1px solid #eef0f4;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f5f8}
td.zero{color:#b0b6c2}dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}
dl.facts dt{color:#5b6475}dl.facts dd{margin:0;font-family:ui-monospace,Menlo,monospace}
code,.mono{font-family:ui-monospace,Menlo,monospace;font-size:12.5px}
.status-completed{color:#157f3b}.status-failed,.status-error,.status-timed_out,
.status-compensation_failed{color:#b42318}.status-compensated{color:#a15c07}
.pass{color:#157f3b}.fail{color:#b42318}ul.never li{margin:2px 0}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}svg .label{text-anchor:end}
svg .tick{text-anchor:middle;fill:#5b6475}svg .grid{stroke:#eef0f4}
.gantt .row:hover{outline:1px solid #c9d1e0}.gantt .row.selected .label{font-weight:bold}
.bar.succeeded{fill:#3b82c4}.bar.failed{fill:#d9534f}.bar.timed_out{fill:#e58e26}
.bar.open,.bar.cancelled{fill:#9aa3b2}.bar.lost{fill:#2d2d2d}.bar.compensation.succeeded{fill:#8e6cc9}
.bar.compensation.failed{fill:#7a1f1f}.backoff{fill:none;stroke:#d9534f;stroke-dasharray:3 2}
.bar.instant{stroke:#1d2330;stroke-width:1.5}.wait{fill:#e3f1e6;stroke:#157f3b;stroke-dasharray:4 2}
table.failing td:last-child,p.more code,dl.facts dd{white-space:nowrap}
.fault{fill:#b42318}.end{fill:#9aa3b2}.mark{stroke-width:2}.mark.breaker{stroke:#a15c07}
.mark.breaker.open{stroke:#b42318}.mark.signal{stroke:#157f3b}.mark.cache{stroke:#3b82c4}
.mark.fallback{stroke:#a15c07}.mark.crashed{stroke:#2d2d2d}.mark.recovered{stroke:#157f3b}
.mark.delivery{stroke:#b42318}
.graph .node rect{fill:#eaf2fb;stroke:#3b82c4}.graph .node.unreached rect{fill:#f7f7f7;
stroke:#b0b6c2;stroke-dasharray:4 3}.graph .node.compensated rect{stroke-width:2}
.graph .edge{fill:none;stroke:#7b8496}.graph .edge.dashed{stroke-dasharray:4 3}
.graph .node.event rect{fill:#f3f0fa;stroke:#8e6cc9}.graph marker path{fill:#7b8496}
.graph .detail{fill:#5b6475;font-size:10px}.histogram .bin{fill:#3b82c4}
.histogram .bin.fail{fill:#d9534f}.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
footer{color:#5b6475;font-size:12px;padding:0 24px 24px}
"""

# The page works without it; it highlights a timeline row on click and leaves a
# summary of what it found in #js-check (what the headless-browser test reads).
_JS = """
(function(){
  var doc=document;
  doc.querySelectorAll('.gantt .row').forEach(function(row){
    row.addEventListener('click',function(){row.classList.toggle('selected');});
  });
  var out=doc.getElementById('js-check');
  if(out){
    var count=function(s){return doc.querySelectorAll(s).length;};
    out.setAttribute('data-bars',String(count('.gantt .bar')));
    out.setAttribute('data-nodes',String(count('.graph .node')));
    out.setAttribute('data-bins',String(count('.histogram .bin')));
    out.setAttribute('data-coverage-rows',String(count('table.coverage tbody tr')));
    out.textContent='script ran';
  }
})();
"""

_LEGEND = (
    '<p class="legend"><span><i style="background:#3b82c4"></i>attempt succeeded</span>'
    '<span><i style="background:#d9534f"></i>attempt failed</span>'
    '<span><i style="background:#e58e26"></i>timed out</span>'
    '<span><i style="background:#8e6cc9"></i>compensation</span>'
    '<span><i style="border:1px dashed #d9534f;height:2px"></i>retry backoff</span>'
    '<span><i style="background:#b42318;width:8px"></i>fault injected</span>'
    '<span><i style="background:#9aa3b2;width:8px"></i>skipped / cancelled / never ended</span>'
    '<span><i style="background:#2d2d2d;width:8px"></i>lost in a crash</span>'
    '<span><i style="background:#e3f1e6;border:1px dashed #157f3b"></i>'
    "waiting (signal, sleep)</span>"
    '<span><i style="background:#d9534f;outline:1.5px solid #1d2330;width:6px"></i>failed at once'
    "</span>"
    "</p>"
)


def _page(title: str, subtitle: str, sections: Iterable[str]) -> str:
    body = "".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="wfsim">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
        f"<body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f'<main>{body}<p id="js-check" hidden></p></main>'
        "<footer>Made by wfsim report. Times are virtual unless marked as wall time.</footer>"
        f"<script>{_JS}</script></body></html>\n"
    )


def _section(ident: str, title: str, *content: str) -> str:
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>{"".join(content)}</section>'


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs)
    return f'<dl class="facts">{items}</dl>'


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, cls: str = "", numeric: bool = True
) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            zero = numeric and i > 0 and str(cell) == "0"
            attr = ' class="zero"' if zero else ""
            cells.append(f"<td{attr}>{esc(cell)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def histogram_svg(metric: str, rows: Sequence[tuple[str, int]], *, fail: bool = False) -> str:
    """Horizontal bars, one per ``(label, count)``: ``<svg class="histogram" data-metric=...>``."""
    label_width, plot, bar, gap = 230, 420, 14, 4
    top = max((n for _, n in rows), default=0) or 1
    height = max(len(rows), 1) * (bar + gap) + 4
    width = label_width + plot + 70
    parts = [
        f'<svg class="histogram" data-metric="{esc(metric)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(metric)}">'
    ]
    for i, (label, n) in enumerate(rows):
        y = 2 + i * (bar + gap)
        w = plot * n / top
        shown = label if len(label) <= 36 else label[:35] + "\u2026"
        parts.append(
            f'<g class="bin-row" transform="translate(0,{y})">'
            f'<text class="label" x="{label_width - 8}" y="{bar - 3}">{esc(shown)}</text>'
            f'<rect class="bin{" fail" if fail else ""}" x="{label_width}" '
            f'width="{num(max(w, 1.0) if n else 0)}" height="{bar}"><title>{esc(label)}: {n}'
            f"</title></rect>"
            f'<text class="count" x="{num(label_width + w + 6)}" y="{bar - 3}">{n}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def makespan_bins(makespans: Sequence[int]) -> list[tuple[str, int]]:
    """Each makespan when they take few values, else :data:`MAKESPAN_BINS` equal-width bins."""
    counts = Counter(makespans)
    if len(counts) <= MAKESPAN_BINS:
        return [(format_seconds(ns), n) for ns, n in sorted(counts.items())]
    low, high = min(counts), max(counts)
    width = -(-(high - low + 1) // MAKESPAN_BINS)
    bins: Counter[int] = Counter()
    for ns, n in counts.items():
        bins[(ns - low) // width] += n
    return [
        (
            f"{_ms(low + i * width)}-{_ms(low + (i + 1) * width)}",
            bins.get(i, 0),
        )
        for i in range(MAKESPAN_BINS)
        if low + i * width <= high
    ]


def _ms(ns: int) -> str:
    # Bin edges read better rounded to the millisecond above a second.
    return format_seconds(round(ns, -6) if ns >= 1_000_000_000 else ns)


def _coverage_section(coverage: Coverage, ident: str) -> str:
    unit = "call site" if coverage.call_sites else "step"
    headers = [unit] + [h for h, _ in coverage.COLUMNS]
    parts = [
        f"<p>Runs that reached each point, of {coverage.runs}. "
        + (
            "This workflow is a body whose steps exist only as it runs: rows are call sites "
            "(the step name without its call number); sites no run reached cannot be listed."
            if coverage.call_sites
            else "Dashed graph nodes were never reached."
        )
        + "</p>",
        _table(headers, coverage.step_rows(), cls="coverage"),
    ]
    if coverage.depth_note():
        parts.append(f"<p>{esc(coverage.depth_note())}</p>")
    never = coverage.never_by_kind()
    parts.append("<h3>Never exercised</h3>")
    if never:
        items = "".join(
            f"<li><b>{esc(what)}</b>: {esc(', '.join(items))}</li>" for what, items in never.items()
        )
        parts.append(f'<ul class="never">{items}</ul>')
    else:
        parts.append('<p class="never">Nothing the scenario declares.</p>')
    if coverage.fault_points:
        parts.append("<h3>Fault points</h3>")
        parts.append(
            _table(
                ["fault", "step", "attempt", "runs"],
                [(f, s, a, n) for (f, s, a), n in coverage.fault_points.items()],
                cls="fault-points",
            )
        )
    if coverage.depths:
        parts.append("<h3>Retry depths (deepest attempt per run)</h3>")
        parts.append(
            _table(
                [unit, "attempts", "runs"],
                [(s, d, n) for (s, d), n in coverage.depths.items()],
                cls="retry-depths",
            )
        )
    if coverage.breaker_states:
        parts.append("<h3>Breaker states</h3>")
        parts.append(
            _table(
                ["breaker", "state", "runs"],
                [(b, s, n) for (b, s), n in coverage.breaker_states.items()],
                cls="breaker-states",
            )
        )
    paths = [(" > ".join(p) or "(none)", n) for p, n in coverage.compensation_paths.items()]
    if any(p != "(none)" for p, _ in paths):
        parts.append("<h3>Compensation paths</h3>")
        parts.append(
            _table(["compensations in the order they ran", "runs"], paths, cls="compensation-paths")
        )
    return _section(ident, "Coverage", *parts)


@attrs.frozen
class RunView:
    """One run for a report: its trace and what to say about it.

    ``facts`` are ``(name, value)`` lines shown at the top (scenario, seed,
    status, digest...); ``checks`` are ``(expectation key, passed)``;
    ``workflow`` draws the graph when it is a DAG or an event workflow.
    """

    title: str
    trace: Trace
    facts: tuple[tuple[str, str], ...] = ()
    checks: tuple[tuple[str, bool], ...] = ()
    problems: tuple[str, ...] = ()
    workflow: object = None


def _run_sections(view: RunView, prefix: str = "") -> list[str]:
    sections = []
    if view.facts or view.checks or view.problems:
        content = [_facts(view.facts)]
        if view.checks:
            items = "".join(
                f'<li class="{"pass" if ok else "fail"}">{"ok" if ok else "FAIL"} '
                f"<code>expect.{esc(key)}</code></li>"
                for key, ok in view.checks
            )
            content.append(f'<ul class="checks">{items}</ul>')
        if view.problems:
            content.append('<pre class="problems mono">' + esc("\n".join(view.problems)) + "</pre>")
        sections.append(_section(f"{prefix}run", "Run", *content))
    sections.append(
        _section(f"{prefix}timeline", "Timeline (virtual time)", _LEGEND, timeline_svg(view.trace))
    )
    if isinstance(view.workflow, Workflow | EventWorkflow):
        sections.append(_section(f"{prefix}graph", "Workflow graph", graph_svg(view.workflow)))
    return sections


def run_html(view: RunView) -> str:
    """The report page of one run: facts, expectations, the timeline and the graph."""
    status = next((v for k, v in view.facts if k == "status"), "")
    return _page(view.title, f"one run{', ' + status if status else ''}", _run_sections(view))


def _scenario_sections(
    index: int,
    scenario: ScenarioSummary,
    records: Sequence[RunRecord],
    workflow: object,
    example: RunView | None,
    campaign_id: int | None = None,
) -> str:
    prefix = f"s{index}-"
    facts = [
        ("file", scenario.path),
        ("runs", str(scenario.runs)),
        ("passed", str(scenario.passed)),
        ("failed", str(scenario.failed)),
        ("statuses", ", ".join(f"{s} {n}" for s, n in scenario.statuses.items()) or "-"),
    ]
    if scenario.makespan:
        facts.append(("virtual makespan", scenario.makespan.format()))
    parts = [_facts(facts)]
    charts = []
    makespans = [r.makespan_ns for r in records if r.status != "error"]
    if makespans:
        charts.append(("virtual makespan", "makespan", makespan_bins(makespans), False))
    if scenario.attempts:
        rows = [(f"{k} attempt{'s' if k != 1 else ''}", n) for k, n in scenario.attempts.items()]
        charts.append(("attempts per step execution", "attempts", rows, False))
    if scenario.retry_delays:
        rows = [(b.label, b.count) for b in scenario.retry_delays]
        charts.append(("retry delays", "retry_delays", rows, False))
    if scenario.failures_by_key:
        rows = list(scenario.failures_by_key.items())
        charts.append(("failed runs by expectation or rule", "failures", rows, True))
    steps = sorted({*scenario.failed_attempts, *scenario.failed_runs})
    if steps:
        rows = [(s, scenario.failed_attempts.get(s, 0)) for s in steps]
        charts.append(("failed attempts per step", "step_failures", rows, True))
    for title, metric, rows, fail in charts:
        parts.append(f"<h3>{esc(title)}</h3>{histogram_svg(metric, rows, fail=fail)}")
    if scenario.failing:
        parts.append("<h3>Failing seeds</h3>")
        parts.append(_failing_table(scenario, campaign_id))
    out = [_section(f"{prefix}summary", scenario.title, *parts)]
    if scenario.coverage is not None:
        out.append(_coverage_section(scenario.coverage, f"{prefix}coverage"))
        if isinstance(workflow, Workflow | EventWorkflow):
            reached = {row.step: row.reached for row in scenario.coverage.steps}
            out.append(
                _section(f"{prefix}graph", "Workflow graph", graph_svg(workflow, reached=reached))
            )
    elif isinstance(workflow, Workflow | EventWorkflow):
        out.append(_section(f"{prefix}graph", "Workflow graph", graph_svg(workflow)))
    if example is not None:
        out.append(
            _section(
                f"{prefix}example",
                example.title,
                _facts(example.facts),
                _LEGEND,
                timeline_svg(example.trace),
            )
        )
    return f'<div class="scenario" data-file="{esc(scenario.path)}">{"".join(out)}</div>'


def _failing_table(scenario: ScenarioSummary, campaign_id: int | None) -> str:
    """Per expectation or rule (most frequent first): its count of failed runs and its
    first :data:`FAILING_PER_KEY` seeds with their replay lines; every seed is in the store."""
    rows = []
    for key, count in scenario.failures_by_key.items():
        runs = [r for r in scenario.failing if key in r.failure_keys]
        for i, r in enumerate(runs[:FAILING_PER_KEY]):
            first = i == 0
            rows.append(
                (key if first else "", count if first else "", r.seed, r.status,
                 scenario.replay_command(r.seed))
            )
    table = _table(
        ["failed", "runs", "seed", "status", "replay"], rows, cls="failing", numeric=False
    )
    if all(n <= FAILING_PER_KEY for n in scenario.failures_by_key.values()):
        return table
    show = f"wfsim campaigns show {campaign_id} --json" if campaign_id is not None else ""
    where = f": <code>{esc(show)}</code>" if show else ""
    return (
        f'{table}<p class="more">The first {FAILING_PER_KEY} seeds of each; all '
        f"{len(scenario.failing)} failing seeds are in the campaign store{where}</p>"
    )


def campaign_html(
    summary: CampaignSummary,
    records: Sequence[RunRecord],
    *,
    workflows: Mapping[str, object] | None = None,
    examples: Mapping[str, RunView] | None = None,
) -> str:
    """The report page of a campaign: totals, then per scenario file its histograms
    (virtual makespan, attempts, retry delays, failures by key, step failures), the
    failing seeds with their replay lines, the coverage tables, the workflow graph
    (``workflows``: scenario hash -> workflow) and one run's timeline (``examples``:
    scenario hash -> :class:`RunView`). ``records`` are the campaign's runs.
    """
    workflows = workflows or {}
    examples = examples or {}
    by_hash: dict[str, list[RunRecord]] = {}
    for record in records:
        by_hash.setdefault(record.scenario_hash, []).append(record)
    last = summary.start_seed + summary.seeds - 1
    title = f"Campaign {summary.campaign_id}" if summary.campaign_id is not None else "Campaign"
    totals = [
        ("seeds", f"{summary.seeds} ({summary.start_seed}-{last})"),
        ("scenario files", str(len(summary.scenarios))),
        ("runs", str(summary.runs)),
        ("passed", str(summary.passed)),
        ("failed", str(summary.failed)),
        ("reused runs", str(summary.reused)),
        ("wall time", f"{summary.wall_seconds:.2f}s ({summary.runs_per_second:.0f} runs/s)"),
    ]
    if summary.stopped:
        totals.append(("stopped early", summary.stopped.replace("_", " ")))
    if summary.store:
        totals.append(("store", summary.store))
    sections = [_section("totals", "Totals", _facts(totals))]
    for index, scenario in enumerate(summary.scenarios):
        sections.append(
            _scenario_sections(
                index,
                scenario,
                by_hash.get(scenario.scenario_hash, []),
                workflows.get(scenario.scenario_hash),
                examples.get(scenario.scenario_hash),
                summary.campaign_id,
            )
        )
    subtitle = f"{summary.runs} runs, {summary.failed} failed"
    return _page(title, subtitle, sections)
