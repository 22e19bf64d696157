"""The HTML report's structure, read with the standard library's HTML and XML parsers.

Rules: ``specs/cli.md`` CLI-11 (the page of a run) and ``specs/campaign.md`` CAMP-23
(the page of a campaign). The headless-browser check is ``test_chromium.py``.
"""

from __future__ import annotations

import pathlib
import re
import xml.etree.ElementTree as ET

import pytest

import wfsim
from wfsim.campaign import CampaignStore, run_campaign
from wfsim.report import RunView, campaign_html, graph_svg, run_html, timeline_svg
from wfsim.report._html import makespan_bins
from wfsim.report._svg import ticks

from .conftest import HOSTILE, Elements, probe_page, write_probe

SVG = "{http://www.w3.org/2000/svg}"


def hostile_run() -> tuple[wfsim.Workflow, wfsim.RunResult]:
    flow = wfsim.Workflow("w<script>alert(1)</script>")
    flow.add_step(HOSTILE, duration=1, retry=wfsim.RetryPolicy(max_attempts=3, initial_interval=1))
    flow.add_step('b&"q"', after=[HOSTILE], duration=2)
    faults = [wfsim.Fault.error(HOSTILE, attempts=[1, 2], message="<b>boom</b>")]
    return flow, wfsim.run(flow, seed=1, faults=faults)


@pytest.mark.spec("CLI-11")
def test_the_timeline_has_a_row_per_step_a_bar_per_attempt_and_marks_retries_and_faults() -> None:
    _, result = hostile_run()
    svg = ET.fromstring(timeline_svg(result.trace))  # well-formed XML, names escaped
    rows = svg.findall(f"{SVG}g")
    assert [row.get("data-step") for row in rows] == [HOSTILE, 'b&"q"']
    bars = svg.findall(f".//{SVG}rect")
    attempts = [b for b in bars if "attempt" in (b.get("class") or "")]
    assert [(b.get("data-step"), b.get("data-attempt"), b.get("class")) for b in attempts] == [
        (HOSTILE, "1", "bar attempt failed"),
        (HOSTILE, "2", "bar attempt failed"),
        (HOSTILE, "3", "bar attempt succeeded"),
        ('b&"q"', "1", "bar attempt succeeded"),
    ]
    backoffs = [b for b in bars if b.get("class") == "backoff"]
    assert len(backoffs) == 2  # the 1s and 2s waits before attempts 2 and 3
    tips = [b.find(f"{SVG}title").text for b in backoffs]  # type: ignore[union-attr]
    assert tips == [
        f"{HOSTILE}: backoff before attempt 2 | 0s - 1s | delay 1s",
        f"{HOSTILE}: backoff before attempt 3 | 1s - 3s | delay 2s",
    ]
    faults = svg.findall(f".//{SVG}polygon[@class='fault']")
    assert len(faults) == 2
    tip = faults[0].find(f"{SVG}title").text  # type: ignore[union-attr]
    assert tip is not None and tip.startswith(f"fault on {HOSTILE} attempt 1 | 0s | kind=error")
    # The last bar ends at the right edge of the plot: x + width = label + plot width.
    last = attempts[-1]
    assert float(last.get("x", 0)) + float(last.get("width", 0)) == pytest.approx(190 + 760)


@pytest.mark.spec("CLI-11")
def test_user_text_is_escaped_everywhere() -> None:
    flow, result = hostile_run()
    page = run_html(
        RunView(
            title="<script>alert(2)</script>",
            trace=result.trace,
            facts=(("<b>", "</dd><script>x</script>"),),
            problems=("<script>alert(3)</script>",),
            workflow=flow,
        )
    )
    assert "<img" not in page and "<b>boom" not in page
    assert page.count("<script>") == 1  # the page's own script, nothing else
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "b&amp;&quot;q&quot;" in page
    ET.fromstring(graph_svg(flow))


@pytest.mark.spec("CLI-11")
def test_the_page_is_self_contained_and_the_same_for_the_same_run() -> None:
    flow, result = hostile_run()
    page = run_html(RunView(title="t", trace=result.trace, workflow=flow))
    _, again = hostile_run()
    assert run_html(RunView(title="t", trace=again.trace, workflow=flow)) == page
    # Nothing is fetched: no element with src/href, no @import, no url( but the marker's.
    found = Elements.of(page)
    assert not [e for e in found.items if {"src", "href", "xlink:href"} & set(e.attrs)]
    assert "@import" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    ).replace("https://", "")
    assert re.findall(r"url\(([^)]*)\)", page) == ["#arrow"]
    assert found.count("svg", "gantt") == 1 and found.count("svg", "graph") == 1
    assert found.count("g", "node") == 2 and found.count("path", "edge") == 1


@pytest.mark.spec("CLI-11")
def test_compensations_skips_and_the_graph_layout() -> None:
    flow = wfsim.Workflow("saga")
    flow.add_step("a", duration=1, compensate=wfsim.compensation("undo_a", duration=0.5))
    flow.add_step("b", after=["a"], duration=1)
    flow.add_step("c", after=["a"], duration=1)
    flow.add_step("d", after=["b", "c"], duration=1)
    result = wfsim.run(flow, seed=0, faults=[wfsim.Fault.error("b", retryable=False)])
    svg = ET.fromstring(timeline_svg(result.trace))
    rows = {row.get("data-step"): row.get("class") for row in svg.findall(f"{SVG}g")}
    assert rows["undo_a"] == "row compensation"
    comp = svg.findall(f".//{SVG}rect[@class='bar compensation succeeded']")
    assert [c.get("data-step") for c in comp] == ["undo_a"]
    skipped = svg.findall(f".//{SVG}polygon[@class='end skipped']")
    assert [s.get("data-step") for s in skipped] == ["d"]
    graph = ET.fromstring(graph_svg(flow, reached={"a": 3, "b": 3, "c": 3}))
    nodes = {n.get("data-step"): n for n in graph.findall(f"{SVG}g")}
    assert nodes["d"].get("class") == "node unreached"
    assert nodes["a"].get("class") == "node compensated"

    def x(name: str) -> float:
        return float(re.findall(r"[\d.]+", nodes[name].get("transform", ""))[0])

    assert x("a") < x("b") == x("c") < x("d")  # one layer per dependency depth
    assert len(graph.findall(f"{SVG}path")) == 4


@pytest.mark.spec("CAMP-23")
def test_the_campaign_page_has_histograms_failing_seeds_coverage_and_a_graph(
    tmp_path: pathlib.Path,
) -> None:
    probe = write_probe(tmp_path)
    page = probe_page(tmp_path, probe)
    found = Elements.of(page)
    metrics = found.attr_values("svg", "histogram", "data-metric")
    assert metrics == ["makespan", "attempts", "retry_delays", "failures", "step_failures"]
    assert found.count("table", "coverage") == 1 and found.count("table", "failing") == 1
    assert found.count("ul", "never") == 1
    assert found.count("svg", "graph") == 1 and found.count("svg", "gantt") == 1
    assert "error KeyError on notify" in page  # the fault rule that never fired
    assert f"wfsim replay {probe} --seed" in page
    # The same recorded campaign gives the same bytes.
    assert probe_page(tmp_path, probe, again=True) == page


@pytest.mark.spec("CAMP-23")
def test_campaign_bars_add_up_to_the_runs(tmp_path: pathlib.Path) -> None:
    probe = write_probe(tmp_path)
    summary = run_campaign([probe], seeds=25, store=tmp_path / "s.sqlite")
    assert summary.campaign_id is not None
    with CampaignStore(tmp_path / "s.sqlite", create=False) as store:
        records = store.runs(summary.campaign_id)
    svg = ET.fromstring(
        re.search(
            r'<svg class="histogram" data-metric="makespan".*?</svg>',
            campaign_html(summary, records),
        ).group(0)  # type: ignore[union-attr]
    )
    counts = [int(t.text or 0) for t in svg.findall(f".//{SVG}text[@class='count']")]
    assert sum(counts) == 25


def test_makespan_bins_and_ticks() -> None:
    assert makespan_bins([2_000_000_000, 1_000_000_000, 2_000_000_000]) == [("1s", 1), ("2s", 2)]
    many = makespan_bins(list(range(0, 100_000_000_000, 1_000_000_000)))
    assert len(many) == 20 and sum(n for _, n in many) == 100
    assert ticks(10) == [0, 2, 4, 6, 8, 10] and ticks(0) == [0]
    assert ticks(7, most=8) == list(range(8))


@pytest.mark.spec("CLI-11")
def test_crashes_and_cancellations_end_the_bars_they_cut_short() -> None:
    from wfsim.scenario import load_scenario, run_scenario

    repo = pathlib.Path(__file__).resolve().parents[2] / "scenarios"
    crash = run_scenario(load_scenario(str(repo / "crash_recovery_saga.wfsim.yaml")), seed=0)
    svg = ET.fromstring(timeline_svg(crash.result.trace))
    lost = svg.findall(f".//{SVG}rect[@class='bar attempt lost']")
    assert [(b.get("data-step"), b.get("data-attempt")) for b in lost] == [
        ("charge_payment", "1"),
        ("ship_order", "1"),
    ]
    engine = svg.find(f"{SVG}g[@data-step='engine']")
    assert engine is not None
    marks = [m.get("class") for m in engine.findall(f"{SVG}line")]
    assert marks == ["mark crashed", "mark recovered", "mark crashed", "mark recovered"]
    assert not svg.findall(f".//{SVG}rect[@class='bar attempt open']")

    flow = run_scenario(load_scenario(str(repo / "llamaindex_parallel_flow.wfsim.yaml")), seed=0)
    svg = ET.fromstring(timeline_svg(flow.result.trace))
    cancelled = svg.findall(f".//{SVG}rect[@class='bar attempt cancelled']")
    assert sorted(b.get("data-step") or "" for b in cancelled) == ["step_two", "step_two:3"]


@pytest.mark.spec("CLI-11")
def test_an_event_workflow_is_drawn_as_event_types_and_steps() -> None:
    from wfsim.report._layout import _Edge, _layers, _Node
    from wfsim.scenario import load_scenario

    repo = pathlib.Path(__file__).resolve().parents[2] / "scenarios"
    flow = load_scenario(str(repo / "llamaindex_parallel_flow.wfsim.yaml")).workflow
    assert isinstance(flow, wfsim.EventWorkflow)
    svg = ET.fromstring(graph_svg(flow))
    nodes = {n.get("data-step"): n.get("class") for n in svg.findall(f"{SVG}g")}
    assert nodes == {
        "event:StartEvent": "node event",
        "event:StepTwoEvent": "node event",
        "start": "node",
        "step_two": "node",
    }
    edges = [(e.get("data-from"), e.get("data-to")) for e in svg.findall(f"{SVG}path")]
    assert edges == [("event:StartEvent", "start"), ("event:StepTwoEvent", "step_two")]

    # Events may loop back: the edge closing a cycle does not push nodes right.
    loop = [_Node(k, k, k) for k in ("a", "b", "c")]
    ring = [_Edge("a", "b"), _Edge("b", "c"), _Edge("c", "a", dashed=True)]
    assert _layers(loop, ring) == [["a"], ["b"], ["c"]]
