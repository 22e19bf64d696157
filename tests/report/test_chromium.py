"""The HTML report opened in headless Chromium: the browser builds the DOM, runs the
page's script (which counts what it finds into ``#js-check``), and we read the DOM back.

Rules: ``specs/cli.md`` CLI-11, ``specs/campaign.md`` CAMP-23. Skipped, with the reason,
when no Chromium is installed, unless ``WFSIM_REQUIRE_CHROMIUM=1`` (set by ``.ci/run``)
makes its absence a failure.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

import wfsim
from wfsim.report import RunView, run_html

from .conftest import HOSTILE, Elements, probe_page, write_probe

TIMEOUT = 90
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    found = os.environ.get("WFSIM_CHROMIUM") or next(filter(None, map(shutil.which, NAMES)), None)
    if found:
        return found
    if os.environ.get("WFSIM_REQUIRE_CHROMIUM") == "1":
        pytest.fail("WFSIM_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("headless Chromium is not installed (apt-get install chromium)")


def dump_dom(pages: dict[str, str], tmp_path: pathlib.Path) -> dict[str, tuple[str, str]]:
    """Open each page in its own headless Chromium, all at once: name -> (DOM, stderr)."""
    browser = chromium()
    procs = {}
    for name, page in pages.items():
        path = tmp_path / f"{name}.html"
        path.write_text(page, encoding="utf-8")
        procs[name] = subprocess.Popen(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / ('profile-' + name)}",
                "--enable-logging=stderr",
                "--dump-dom",
                path.as_uri(),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
    out = {}
    for name, proc in procs.items():
        dom, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, f"chromium exited {proc.returncode}\n{err[-2000:]}"
        out[name] = (dom, err)
    return out


def checked(dom: str, err: str) -> dict[str, str]:
    """The counts the page's script wrote, after checking it ran without an error."""
    assert "Uncaught" not in err, err[-2000:]
    found = Elements.of(dom)
    check = found.by_id("js-check")
    assert check is not None, dom[:500]
    assert "script ran" in dom
    return {k.removeprefix("data-"): v for k, v in check.attrs.items() if k.startswith("data-")}


@pytest.mark.spec("CLI-11", "CAMP-23")
def test_chromium_renders_the_run_and_campaign_pages_and_runs_their_script(
    tmp_path: pathlib.Path,
) -> None:
    flow = wfsim.Workflow("hostile")
    flow.add_step(HOSTILE, duration=1, retry=wfsim.RetryPolicy(max_attempts=3, initial_interval=1))
    flow.add_step("next", after=[HOSTILE], duration=2)
    result = wfsim.run(flow, seed=1, faults=[wfsim.Fault.error(HOSTILE, attempts=[1, 2])])
    run_page = run_html(RunView(title=f"run of {HOSTILE}", trace=result.trace, workflow=flow))
    campaign_page = probe_page(tmp_path, write_probe(tmp_path))
    doms = dump_dom({"run": run_page, "campaign": campaign_page}, tmp_path)

    dom, err = doms["run"]
    assert checked(dom, err) == {"bars": "4", "nodes": "2", "bins": "0", "coverage-rows": "0"}
    found = Elements.of(dom)
    assert found.count("svg", "gantt") == 1 and found.count("svg", "graph") == 1
    assert found.count("rect", "backoff") == 2 and found.count("polygon", "fault") == 2
    assert found.count("img") == 0  # the step name stayed text
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom

    dom, err = doms["campaign"]
    counts = checked(dom, err)
    found = Elements.of(dom)
    assert counts["coverage-rows"] == "6"  # book, pay, ship, notify, unbook, refund
    assert int(counts["bins"]) == found.count("rect", "bin") > 0
    assert int(counts["bars"]) == found.count("rect", "bar") > 0
    assert counts["nodes"] == "4"
    assert found.attr_values("svg", "histogram", "data-metric") == [
        "makespan",
        "attempts",
        "retry_delays",
        "failures",
        "step_failures",
    ]
    assert found.count("table", "coverage") == 1 and found.count("table", "failing") == 1
