"""Bad input is one line and exit 2; nothing shows a traceback unless asked (CLI-2, CLI-13).

In-process (``wfsim._cli.main`` with its own output streams), so these cases cost no
interpreter start: the subprocess tests in test_cli.py show ``main`` is the program.
"""

from __future__ import annotations

import io
import pathlib

import pytest

from wfsim import _cli

REPO = pathlib.Path(__file__).resolve().parents[2]
INVALID = REPO / "tests" / "scenario" / "invalid"
RUNS = REPO / "tests" / "scenario" / "runs"
#: Issue 13's reproducers: `wfsim check` said ok, `wfsim run` printed a traceback.
T_CASES = sorted(INVALID.glob("fuzz0*.wfsim.yaml"))


def wfsim(*argv: str | pathlib.Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code = _cli.main([str(a) for a in argv], out=out, err=err)
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # messages name files as the tests name them


@pytest.mark.spec("CLI-2", "SCN-10")
@pytest.mark.parametrize("case", T_CASES, ids=lambda p: p.name.removesuffix(".wfsim.yaml"))
def test_a_file_check_refuses_is_refused_by_run_with_the_same_line(case: pathlib.Path) -> None:
    rel = case.relative_to(REPO).as_posix()
    line = case.with_suffix("").with_suffix(".error").read_text()
    for verb in ("check", "run"):
        assert wfsim(verb, rel) == (2, "", line), verb


@pytest.mark.spec("CLI-2", "CLI-13", "CACHE-1", "SCN-10")
@pytest.mark.parametrize(
    "case", sorted(RUNS.glob("*.wfsim.yaml")), ids=lambda p: p.name.removesuffix(".wfsim.yaml")
)
def test_files_that_crashed_runs_now_run_to_a_status(case: pathlib.Path) -> None:
    """Issue 13's cache reproducer and what the fuzzer found: each holds its expectations."""
    rel = case.relative_to(REPO).as_posix()
    code, out, err = wfsim("run", "-q", rel)
    assert (code, err) == (0, ""), out + err
    assert out.startswith(f"ok    {rel}  seed 0  "), out


@pytest.mark.spec("CLI-13")
def test_negative_looking_values_are_values_rejected_with_their_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = "scenarios/"
    cases = {
        ("simulate", file, "--seeds", "1", "--time-budget", "-1s"):
            "argument --time-budget: time budget must be more than 0s, not '-1s'",
        ("simulate", file, "--seeds", "1", "--time-budget", "-.5m"):
            "argument --time-budget: time budget must be more than 0s, not '-.5m'",
        ("simulate", file, "--seeds", "1", "--time-budget", "-1x"):
            "argument --time-budget: time budget '-1x' is not a duration: expected seconds "
            "or a number with a unit (ns, us, ms, s, m, h, d), e.g. '250ms', '1.5s', '2m', '1h'",
        ("simulate", file, "--seeds", "1", "--chaos-phase", "-2m"):
            "argument --chaos-phase: chaos phase must be more than 0s, not '-2m'",
        ("simulate", file, "--seeds", "1", "--fault-rate", "-1e-3"):
            "argument --fault-rate: fault rate must be a number from 0 to 1, not -1e-3",
        ("simulate", file, "--seeds", "-5"):
            "argument --seeds: expected an integer >= 1, not -5",
        ("replay", file, "--seed", "-1"):
            "argument --seed: seed must be an integer >= 0, not -1",
    }
    for argv, message in cases.items():
        code = wfsim(*argv)[0]
        out, err = capsys.readouterr()  # argparse writes usage errors to sys.stderr
        assert (code, out) == (2, ""), (argv, err)
        assert err.endswith(f"wfsim {argv[0]}: error: {message}\n"), (argv, err)
        assert "expected one argument" not in err and "Traceback" not in err


@pytest.mark.spec("CLI-13")
def test_an_engine_error_is_one_line_and_a_traceback_only_when_asked(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "broken_key.wfsim.yaml"
    path.write_text(
        "scenario: a cache_key function that raises\n"
        "workflow: {python: 'tests.scenario.flows:broken_cache_key'}\n"
        "input: {id: r1}\n"
    )
    line = (
        "wfsim: step 'lookup' (attempt 1): unexpected LookupError inside the engine: "
        "the key service is down\n"
    )
    assert wfsim("run", "-q", path) == (2, "", line)
    for asked in (("--traceback", "run", "-q", path), ("run", path, "-v")):
        code, _, err = wfsim(*asked)
        assert code == 2
        assert err.startswith("Traceback (most recent call last):"), err
        assert "LookupError: the key service is down" in err
        assert err.endswith(line)


@pytest.mark.spec("CLI-13")
def test_an_internal_error_exits_3_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(_cli, "cmd_check", broken)
    assert wfsim("check", "scenarios/") == (
        3,
        "",
        "wfsim: internal error: RuntimeError: boom (a bug in wfsim, please report it; "
        "rerun with --traceback to see where)\n",
    )
    code, _, err = wfsim("-v", "check", "scenarios/")
    assert code == 3
    assert err.startswith("Traceback (most recent call last):")
    assert err.endswith("wfsim: internal error: RuntimeError: boom (a bug in wfsim, please "
                        "report it)\n")


@pytest.mark.spec("CLI-13")
def test_ctrl_c_is_one_line_even_from_inside_a_trio_nursery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*args: object) -> int:
        raise BaseExceptionGroup("from a nursery", [KeyboardInterrupt()])

    monkeypatch.setattr(_cli, "cmd_check", interrupted)
    assert wfsim("check", "scenarios/") == (130, "", "wfsim: interrupted\n")
