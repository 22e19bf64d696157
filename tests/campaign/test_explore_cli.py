"""``wfsim simulate`` exploration flags as real subprocesses: CAMP-40..44."""

from __future__ import annotations

import json
import pathlib

import pytest

from .conftest import write
from .test_cli import wfsim_many
from .test_explore import FORK, hang_file, starve_file


@pytest.mark.spec("CAMP-3", "CAMP-40", "CAMP-42", "CAMP-43", "CAMP-44", "CLI-6")
def test_exploration_from_the_command_line(tmp_path: pathlib.Path) -> None:
    starve = starve_file(tmp_path, 12).name
    big = starve_file(tmp_path, 14).name
    hang = hang_file(tmp_path, timeout=False).name
    fork = write(tmp_path, "fork.wfsim.yaml", FORK).name
    pct = ["--schedule", "pct", "--json", "--seeds", "30"]
    chaos = ["--chaos-phase", "1s"]
    results = wfsim_many(
        tmp_path,
        ["simulate", starve, *pct, "--workers", "2", "--out", "two"],
        ["simulate", starve, *pct, "--workers", "1", "--out", "one"],
        [
            "simulate",
            hang,
            "--seeds",
            "10",
            "--workers",
            "1",
            "--json",
            "--chaos-phase",
            "30s",
            "--liveness-bound",
            "1m",
        ],
        ["simulate", fork, "--exhaustive", "--max-faults", "1", "--json"],
        ["simulate", big, "--exhaustive"],
        ["simulate", big, "--exhaustive", "--max-runs", "10"],
        ["simulate", fork, "--exhaustive", "--seeds", "3", "--schedule", "pct", *chaos],
        ["simulate", fork, "--schedule", "pcT", "--seeds", "3"],
        ["simulate", fork],
        ["simulate", fork, "--seeds", "3", "--max-faults", "1"],
    )
    (c2, o2, e2), (c1, o1, e1), (ch, oh, eh), (cx, ox, ex) = results[:4]
    assert (c2, e2, c1, e1) == (1, "", 1, ""), e2 + e1
    two, one = json.loads(o2), json.loads(o1)
    failing = two["scenarios"][0]["failing"]
    assert [(f["seed"], f["trace_digest"]) for f in failing] == [
        (f["seed"], f["trace_digest"]) for f in one["scenarios"][0]["failing"]
    ]
    assert [f["seed"] for f in failing] == [12, 22]
    replay = failing[0]["replay"]
    assert replay == f"wfsim replay {starve} --seed 12 --schedule pct --pct-depth 3"

    assert (ch, eh) == (1, ""), eh
    hung = json.loads(oh)["scenarios"][0]["failing"]
    assert hung and all("CAMP-42" in [f["key"] for f in r["failures"]] for r in hung)
    assert hung[0]["replay"].endswith("--chaos-phase 30s --liveness-bound 1m")

    assert (cx, ex) == (0, ""), ex
    data = json.loads(ox)
    report = data["exhaustive"][0]
    assert (data["runs"], report["distinct_outcomes"], report["fault_placements"]) == (108, 5, 5)
    assert report["complete"] is True and report["distinct_digests"] == 108

    (cb, ob, eb), (cc, oc, ec) = results[4:6]
    assert (cb, ob) == (2, "")
    assert "too many runs for --exhaustive: an estimated 32768" in eb
    assert "give --max-runs N to explore the first N" in eb
    assert (cc, ec) == (0, "")
    assert "runs: 10 of an estimated 32768 (stopped at the run limit)" in oc
    # Two schedules may differ only where the trace does not show it (8 digests of 10).
    assert "distinct outcomes: 1  distinct trace digests: 8" in oc

    for code, out, err in results[6:]:
        assert (code, out) == (2, ""), err
        assert "Traceback" not in err
    assert "--exhaustive does not take --seeds, --schedule, --chaos-phase" in results[6][2]
    assert "invalid choice: 'pcT'" in results[7][2]
    assert "--seeds N is required (or give --exhaustive)" in results[8][2]
    assert "--max-faults and --max-runs need --exhaustive" in results[9][2]

    # Each replay line reproduces its run: same status, failures and digest.
    (rc, ro, re_), (hc, ho, _) = wfsim_many(
        tmp_path,
        [*replay.split()[1:], "--json"],
        [*hung[0]["replay"].split()[1:]],
    )
    assert (rc, re_) == (1, ""), re_
    assert json.loads(ro)["trace_digest"] == failing[0]["trace_digest"]
    assert hc == 1 and f"digest: {hung[0]['trace_digest']}" in ho
    assert "CAMP-42: no final status 1m after the chaos phase ended at 30s" in ho
