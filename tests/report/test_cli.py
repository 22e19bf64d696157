"""``wfsim report`` as real subprocesses (cwd = the test's directory).

Rules: ``specs/cli.md`` CLI-11, ``specs/campaign.md`` CAMP-23. The commands of a test
start together, so each test pays for about one interpreter start at a time.
"""

from __future__ import annotations

import io
import os
import pathlib
import subprocess
import sys
from collections.abc import Sequence

import pytest

from wfsim._cli import main
from wfsim.campaign import run_campaign
from wfsim.scenario import load_scenario, run_scenario

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
    backoff = run_scenario(load_scenario(str(BACKOFF)))
    backoff.write_trace(tmp_path / "backoff.jsonl")
    digest = backoff.result.digest()
    first, second, stdout, traced, default = wfsim_many(
        tmp_path,
        ["report", str(SAGA), "--seed", "3", "-o", "a.html"],
        ["report", str(SAGA), "--seed", "3", "--output", "b.html"],
        ["report", str(BACKOFF), "-o", "-"],
        ["report", "backoff.jsonl", "-o", "t.html"],
        ["report", str(SAGA), "--seed", "3"],
        hash_seeds=("1", "2"),
    )
    for code, _, err in (first, second, stdout, traced, default):
        assert code == 0 and err == "", err
    # The page goes to the file and its path to stdout; without -o to ./wfsim-report.html.
    assert [first[1], second[1], traced[1]] == [f"wrote {n}.html\n" for n in ("a", "b", "t")]
    assert default[1] == "wrote wfsim-report.html\n"
    assert (tmp_path / "wfsim-report.html").read_bytes() == (tmp_path / "a.html").read_bytes()
    page = (tmp_path / "a.html").read_bytes()
    assert page == (tmp_path / "b.html").read_bytes()  # another process, another hash seed
    text = page.decode()
    found = Elements.of(text)
    assert found.count("svg", "gantt") == found.count("svg", "graph") == 1
    assert "<dt>seed</dt><dd>3</dd>" in text and "<dt>status</dt><dd>compensated</dd>" in text
    assert found.count("rect", "compensation") == 2

    assert Elements.of(stdout[1]).count("rect", "backoff") >= 1
    assert f"<dd>{digest}</dd>" in stdout[1]
    trace_page = (tmp_path / "t.html").read_text()
    assert f"<dd>{digest}</dd>" in trace_page
    # The trace's page draws the same timeline as the scenario's.
    start = stdout[1].index('<svg class="gantt"')
    assert stdout[1][start : stdout[1].index("</svg>", start)] in trace_page


@pytest.mark.spec("CLI-11", "CAMP-23")
def test_report_of_a_recorded_campaign(tmp_path: pathlib.Path) -> None:
    probe = write_probe(tmp_path)
    run_campaign([probe], seeds=20, store=tmp_path / "o" / "campaigns.sqlite")
    one, two, missing = wfsim_many(
        tmp_path,
        ["report", "--campaign", "1", "--out", "o", "-o", "c1.html"],
        ["report", "--campaign", "1", "--out", "o", "-o", "c2.html"],
        ["report", "--campaign", "7", "--out", "o"],
        hash_seeds=("3", "4"),  # the same page whatever the order of sets and dicts
    )
    assert one == (0, "wrote c1.html\n", "") and two == (0, "wrote c2.html\n", ""), one
    page = (tmp_path / "c1.html").read_text()
    assert page == (tmp_path / "c2.html").read_text()
    found = Elements.of(page)
    assert "makespan" in found.attr_values("svg", "histogram", "data-metric")
    assert found.count("table", "coverage") == 1 and found.count("svg", "graph") == 1
    assert "coverage probe &lt;with markup &amp; &quot;quotes&quot;&gt;" in page
    code, out, err = missing
    assert (code, out) == (2, "") and "no campaign 7 (campaigns: 1)" in err, err


BAD_INPUT = [
    (["report", "nope.wfsim.yaml"], "nope.wfsim.yaml: cannot read the file: no such file"),
    (["report", "bad.jsonl"], "bad.jsonl:2: not a trace event"),
    (["report", "bad.wfsim.yaml"], "bad.wfsim.yaml:2: workflow.stepz"),
    (["report"], "give a scenario file, a trace file (.jsonl) or --campaign ID"),
    (["report", str(SAGA), "--campaign", "1"], "give a FILE or --campaign ID, not both"),
    (["report", "bad.jsonl", "--seed", "1"], "--seed applies to a scenario file, not a trace"),
    (["report", str(SAGA), "-o", "no/such/dir/x.html"], "cannot write the report to 'no/such/"),
    (["report", "--campaign", "1", "--out", "empty"], "no campaign store at empty/campaigns"),
]


@pytest.mark.spec("CLI-11")
def test_report_bad_input_exits_2_with_a_message(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad.jsonl").write_text('{"seq": 0, "t": 0, "kind": "run_started"}\nnot json\n')
    (tmp_path / "bad.wfsim.yaml").write_text("scenario: x\nworkflow: {name: w, stepz: {}}\n")
    # Two as real processes (exit code, empty stdout, no traceback), all through main().
    results = wfsim_many(tmp_path, BAD_INPUT[0][0], BAD_INPUT[1][0])
    for (code, out, err), (_, message) in zip(results, BAD_INPUT, strict=False):
        assert (code, out) == (2, "") and message in err and "Traceback" not in err, err
    monkeypatch.chdir(tmp_path)
    for argv, message in BAD_INPUT:
        out, err = io.StringIO(), io.StringIO()
        assert main(argv, out=out, err=err) == 2, argv
        assert out.getvalue() == "" and message in err.getvalue(), (argv, err.getvalue())
