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
from wfsim.report._command import _campaign_page
from wfsim.report._html import makespan_bins
from wfsim.report._svg import time_ticks

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
        # Injected errors fail these attempts at once: zero-length, drawn 6px wide, outlined.
        (HOSTILE, "1", "bar attempt failed instant"),
        (HOSTILE, "2", "bar attempt failed instant"),
        (HOSTILE, "3", "bar attempt succeeded"),
        ('b&"q"', "1", "bar attempt succeeded"),
    ]
    assert [float(b.get("width", 0)) for b in attempts[:2]] == [6.0, 6.0]
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


@pytest.mark.spec("CLI-11")
def test_time_axes_tick_in_one_unit_on_steps_that_read_well() -> None:
    s, h = 10**9, 3600 * 10**9

    def labels(end_ns: int) -> list[str]:
        return [label for _, label in time_ticks(end_ns)]

    # A 4-hour run: not "0s, 2000s, 4000s, 100m, 8000s ..." but hours.
    assert labels(4 * h + 2 * s) == ["0", "1h", "2h", "3h", "4h"]
    assert labels(100 * 60 * s) == ["0", "15m", "30m", "45m", "60m", "75m", "90m"]
    assert labels(3 * s) == ["0", "1s", "2s", "3s"]
    assert labels(1_500_000_000) == ["0", *(f"{n}ms" for n in range(200, 1500, 200))]
    assert labels(72 * h) == ["0", "1d", "2d", "3d"]
    assert labels(0) == ["0"]
    for end in (7, 999, 12 * s, 5 * h + 1, 40 * 24 * h):
        found = time_ticks(end)
        assert 2 <= len(found) <= 9 and found[-1][0] <= end
        assert len({re.sub(r"[0-9]", "", label) for _, label in found[1:]}) == 1  # one unit


@pytest.mark.spec("CLI-11")
def test_crashes_and_cancellations_end_the_bars_they_cut_short() -> None:
    from wfsim.scenario import load_scenario, run_scenario

    repo = pathlib.Path(__file__).resolve().parents[2] / "scenarios"
    crash = run_scenario(load_scenario(str(repo / "crash_recovery_saga.wfsim.yaml")), seed=0)
    svg = ET.fromstring(timeline_svg(crash.result.trace))
    lost = [
        b
        for b in svg.findall(f".//{SVG}rect")
        if (b.get("class") or "").startswith("bar attempt lost")
    ]
    assert [(b.get("data-step"), b.get("data-attempt"), b.get("class")) for b in lost] == [
        ("charge_payment", "1", "bar attempt lost"),
        ("ship_order", "1", "bar attempt lost instant"),  # the crash came as it started
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


@pytest.mark.spec("CLI-11")
def test_waits_are_drawn_and_lost_attempts_do_not_look_like_compensations() -> None:
    from wfsim.report._html import _CSS
    from wfsim.scenario import load_scenario, run_scenario

    repo = pathlib.Path(__file__).resolve().parents[2] / "scenarios"
    human = run_scenario(load_scenario(str(repo / "sequencely_approval_human.wfsim.yaml")))
    svg = ET.fromstring(timeline_svg(human.result.trace))
    row = svg.find(f"{SVG}g[@data-step='waits']")
    assert row is not None
    [wait] = row.findall(f"{SVG}rect[@class='wait']")
    tip = wait.find(f"{SVG}title").text  # type: ignore[union-attr]
    assert tip == "waiting for signal approval | 500ms - 4h | waited 3h59m59.5s"
    assert float(wait.get("width", 0)) > 700  # nearly all of the 4-hour run
    ticks = [t.text for t in svg.findall(f"{SVG}text[@class='tick']")]
    assert ticks == ["0", "1h", "2h", "3h", "4h"]

    def fill(selector: str) -> str:
        return re.search(re.escape(selector) + r"\{fill:(#[0-9a-f]{6})", _CSS).group(1)  # type: ignore[union-attr]

    def rgb(colour: str) -> tuple[int, ...]:
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))

    lost, comp = rgb(fill(".bar.lost")), rgb(fill(".bar.compensation.succeeded"))
    assert sum(abs(a - b) for a, b in zip(lost, comp, strict=True)) > 200


@pytest.mark.spec("CAMP-23")
def test_the_campaign_page_lists_the_first_failing_seeds_per_rule(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "slow.wfsim.yaml"
    path.write_text(
        "scenario: always too slow\nworkflow:\n  steps:\n    a: {duration: 2s}\n"
        "expect:\n  makespan: 1s\n"
    )
    store = tmp_path / "out" / "campaigns.sqlite"
    run_campaign([path], seeds=12, store=store, workers=1)
    page = _campaign_page(store, 1)
    found = Elements.of(page)
    assert found.count("table", "failing") == 1
    table = page.split('<table class="failing">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(\d+)</td>", table)
    assert rows == [("expect.makespan", "12", "0")] + [("", "", str(n)) for n in range(1, 5)]
    assert (
        "The first 5 seeds of each; all 12 failing seeds are in the campaign store: "
        "<code>wfsim campaigns show 1 --json</code>"
    ) in page
    assert "table.failing td:last-child" in page and "white-space:nowrap" in page
