"""``wfsim report`` as real subprocesses (cwd = the test's directory).

Rules: ``specs/cli.md`` CLI-11, ``specs/campaign.md`` CAMP-23. The commands of a test
start together, so each test pays for about one interpreter start at a time.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Sequence

import pytest

from .conftest import Elements, write_probe

TIMEOUT = 90
REPO = pathlib.Path(__file__).resolve().parents[2]
SAGA = REPO / "scenarios" / "sequencely_purchase_saga.wfsim.yaml"
BACKOFF = REPO / "scenarios" / "pyworkflow_retry_backoff.wfsim.yaml"


def wfsim_many(
    cwd: pathlib.Path, *argvs: Sequence[str], hash_seeds: Sequence[str] = ()
) -> list[tuple[int, str, str]]:
    """Run ``python -m wfsim ARGV`` for each argv at once: (exit code, stdout, stderr)."""
    procs = []
    for i, argv in enumerate(argvs):
        env = dict(os.environ)
        if i < len(hash_seeds):
            env["PYTHONHASHSEED"] = hash_seeds[i]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "wfsim", *argv],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
            )
        )
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT)
        done.append((proc.returncode, out, err))
    return done


@pytest.mark.spec("CLI-11")
def test_report_of_a_scenario_run_and_of_its_trace(tmp_path: pathlib.Path) -> None:
    first, second, stdout, traced = wfsim_many(
        tmp_path,
        ["report", str(SAGA), "--seed", "3", "-o", "a.html"],
        ["report", str(SAGA), "--seed", "3", "--output", "b.html"],
        ["report", str(BACKOFF)],
        ["run", str(BACKOFF), "-q", "--trace", "backoff.jsonl"],
        hash_seeds=("1", "2"),
    )
    for code, _, err in (first, second, stdout):
        assert code == 0 and err == "", err
    assert first[1] == "" and second[1] == ""  # -o: nothing on stdout
    page = (tmp_path / "a.html").read_bytes()
    assert page == (tmp_path / "b.html").read_bytes()  # another process, another hash seed
    text = page.decode()
    found = Elements.of(text)
    assert found.count("svg", "gantt") == found.count("svg", "graph") == 1
    assert "<dt>seed</dt><dd>3</dd>" in text and "<dt>status</dt><dd>compensated</dd>" in text
    assert found.count("rect", "compensation") == 2

    assert traced[0] == 0, traced
    digest = next(line for line in traced[1].splitlines() if "digest:" in line).split()[-1]
    backoff = Elements.of(stdout[1])
    assert backoff.count("rect", "backoff") >= 1 and f"<dd>{digest}</dd>" in stdout[1]
    code, out, err = wfsim_many(tmp_path, ["report", "backoff.jsonl", "-o", "t.html"])[0]
    assert (code, out, err) == (0, "", "")
    trace_page = (tmp_path / "t.html").read_text()
    assert f"<dd>{digest}</dd>" in trace_page
    # The trace's page draws the same timeline as the scenario's.
    start = stdout[1].index('<svg class="gantt"')
    assert stdout[1][start : stdout[1].index("</svg>", start)] in trace_page


@pytest.mark.spec("CLI-11", "CAMP-23")
def test_report_of_a_recorded_campaign(tmp_path: pathlib.Path) -> None:
    probe = write_probe(tmp_path)
    simulated = wfsim_many(
        tmp_path, ["simulate", probe.name, "--seeds", "20", "--workers", "1", "--out", "o"]
    )[0]
    assert simulated[0] in (0, 1), simulated
    one, two, missing = wfsim_many(
        tmp_path,
        ["report", "--campaign", "1", "--out", "o", "-o", "c1.html"],
        ["report", "--campaign", "1", "--out", "o", "-o", "c2.html"],
        ["report", "--campaign", "7", "--out", "o"],
        hash_seeds=("3", "4"),  # the same page whatever the order of sets and dicts
    )
    assert one == two == (0, "", ""), one
    page = (tmp_path / "c1.html").read_text()
    assert page == (tmp_path / "c2.html").read_text()
    found = Elements.of(page)
    assert "makespan" in found.attr_values("svg", "histogram", "data-metric")
    assert found.count("table", "coverage") == 1 and found.count("svg", "graph") == 1
    assert "coverage probe &lt;with markup &amp; &quot;quotes&quot;&gt;" in page
    code, out, err = missing
    assert (code, out) == (2, "") and "no campaign 7 (campaigns: 1)" in err, err


@pytest.mark.spec("CLI-11")
def test_report_bad_input_exits_2_with_a_message(tmp_path: pathlib.Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"seq": 0, "t": 0, "kind": "run_started"}\nnot json\n')
    (tmp_path / "bad.wfsim.yaml").write_text("scenario: x\nworkflow: {name: w, stepz: {}}\n")
    results = wfsim_many(
        tmp_path,
        ["report", "nope.wfsim.yaml"],
        ["report", "bad.jsonl"],
        ["report", "bad.wfsim.yaml"],
        ["report"],
        ["report", str(SAGA), "--campaign", "1"],
        ["report", "bad.jsonl", "--seed", "1"],
        ["report", str(SAGA), "-o", "no/such/dir/x.html"],
        ["report", "--campaign", "1", "--out", "empty"],
    )
    expected = [
        "nope.wfsim.yaml: cannot read the file: no such file",
        "bad.jsonl:2: not a trace event",
        "bad.wfsim.yaml:2: workflow.stepz",
        "give a scenario file, a trace file (.jsonl) or --campaign ID",
        "give a FILE or --campaign ID, not both",
        "--seed applies to a scenario file, not a trace",
        "cannot write the report to 'no/such/dir/x.html'",
        "no campaign store at empty/campaigns.sqlite",
    ]
    for (code, out, err), message in zip(results, expected, strict=True):
        assert (code, out) == (2, ""), (code, out, err)
        assert message in err and "Traceback" not in err, err
