"""The ``wfsim`` command line: run, check, replay, graph, schema, simulate, report.

Exit codes (specs/cli.md CLI-2): 0 every expectation held, 1 an expectation failed,
2 bad input (usage, an unreadable or invalid scenario), 3 an internal error (a bug in
wfsim). No error shows a Python traceback unless ``--traceback`` or ``-v`` asks (CLI-13).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import re
import signal
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import wfsim
from wfsim._core._time import format_seconds
from wfsim.errors import ScenarioError, WfsimError

if TYPE_CHECKING:
    from wfsim.campaign._explore import Exploration
    from wfsim.campaign._random import RandomFaults
    from wfsim.scenario import Scenario, ScenarioRun

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
SUFFIX = ".wfsim.yaml"

#: A value that starts like a negative number (``-1``, ``-1s``, ``-.5``, ``-1e3``) is a
#: value, never an option: ``--time-budget -1s`` reaches the duration parser (CLI-13).
_NEGATIVE_VALUE = re.compile(r"^-\.?[0-9]")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse reads only plain negative numbers (-1, -0.5) as values; no wfsim
        # option looks like a number, so anything that starts like one is a value.
        self._negative_number_matcher = _NEGATIVE_VALUE

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _files(paths: Sequence[str]) -> tuple[list[pathlib.Path], list[str]]:
    """Expand directories into their ``*.wfsim.yaml`` files; report missing paths."""
    found: list[pathlib.Path] = []
    problems: list[str] = []
    for raw in paths:
        path = pathlib.Path(raw)
        if path.is_dir():
            matches = sorted(p for p in path.rglob(f"*{SUFFIX}") if p.is_file())
            if not matches:
                problems.append(f"{raw}: no {SUFFIX} files in this directory")
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            problems.append(f"{raw}: cannot read the scenario file: no such file or directory")
    return found, problems


def _load(path: pathlib.Path, err: TextIO) -> object | None:
    from wfsim.scenario import load_scenario

    try:
        return load_scenario(str(path))
    except ScenarioError as exc:
        print(str(exc), file=err)
        return None


class _BadTrace(WfsimError):
    """The trace could not be written where ``--trace`` said."""


def _write_trace(outcome: object, target: pathlib.Path) -> None:
    from wfsim.scenario import ScenarioRun

    assert isinstance(outcome, ScenarioRun)
    try:
        outcome.write_trace(target)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _BadTrace(f"cannot write the trace to {str(target)!r}: {reason}") from None


class _TraceNames:
    """File names for ``--trace DIR`` with several scenarios: ``<stem>-seed<N>.jsonl``.

    Two scenarios with the same file name (in different folders) get their parent
    folder's name in front, so no trace overwrites another.
    """

    def __init__(self, directory: str) -> None:
        self.directory = pathlib.Path(directory)
        self.used: set[str] = set()

    def target(self, scenario_path: str, seed: int) -> pathlib.Path:
        path = pathlib.Path(scenario_path)
        name = f"{path.name.removesuffix(SUFFIX)}-seed{seed}.jsonl"
        if name in self.used:
            name = f"{path.parent.name}__{name}"
        self.used.add(name)
        return self.directory / name


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim.scenario import Scenario, run_scenario

    files, problems = _files(args.files)
    for problem in problems:
        print(problem, file=err)
    code = EXIT_BAD_INPUT if problems else EXIT_OK
    passed = failed = invalid = 0
    # --trace names a file for one scenario file, a directory for anything more.
    single = len(args.files) == 1 and pathlib.Path(args.files[0]).is_file()
    names = _TraceNames(args.trace) if args.trace and not single else None
    width = max((len(str(path)) for path in files), default=0)
    for path in files:
        scenario = _load(path, err)
        if not isinstance(scenario, Scenario):
            code = EXIT_BAD_INPUT
            invalid += 1
            continue
        outcome = run_scenario(scenario, seed=args.seed)
        if args.trace:
            target = (
                names.target(scenario.path, outcome.seed) if names else pathlib.Path(args.trace)
            )
            _write_trace(outcome, target)
        if outcome.passed:
            passed += 1
        else:
            failed += 1
            code = max(code, EXIT_FAILED)
        if args.json:
            print(json.dumps(outcome.to_json()), file=out)
        elif args.verbose:
            _print_run_verbose(scenario, outcome, out)
        else:
            print(_run_line(outcome, width), file=out)
            if outcome.failures and not args.quiet:
                # The report without its headline, which the line above already says.
                _, _, body = outcome.report().partition("\n\n")
                print(_indent(body), file=out)
    if not args.json and len(files) > 1:
        summary = f"{passed} passed, {failed} failed"
        print(summary + (f", {invalid} invalid" if invalid else ""), file=out)
    return code


def _failed_keys(outcome: ScenarioRun) -> list[str]:
    """``expect.KEY`` / ``invariants.KEY`` of each failed expectation, in file order."""
    return list(dict.fromkeys(f"{f.block}.{f.key.split('.', 1)[0]}" for f in outcome.failures))


def _run_line(outcome: ScenarioRun, width: int) -> str:
    """``run``'s line for one scenario: verdict, file, seed, status, makespan, what failed."""
    mark = "ok  " if outcome.passed else "FAIL"
    line = (
        f"{mark}  {outcome.scenario.path:<{width}}  seed {outcome.seed}  "
        f"{outcome.result.status}  makespan {format_seconds(outcome.result.makespan_ns)}"
    )
    if outcome.expect_skipped:  # SCN-16
        line += f"  expect pinned to seed {outcome.scenario.seed}"
    keys = _failed_keys(outcome)
    return line + (f"  failed: {', '.join(keys)}" if keys else "")


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())


def _print_run_verbose(scenario: Scenario, outcome: ScenarioRun, out: TextIO) -> None:
    """``run -v``: the title, the timeline, status and digest, every expectation, the report."""
    result = outcome.result
    print(f"scenario: {scenario.title}", file=out)
    print(f"file: {scenario.path}  seed: {outcome.seed}", file=out)
    print(result.trace.format(), file=out)
    print(
        f"status: {result.status}  makespan: {format_seconds(result.makespan_ns)}  "
        f"digest: {result.digest()}",
        file=out,
    )
    failed_keys = {(f.block, f.key.split(".", 1)[0]) for f in outcome.failures}
    if outcome.expect_skipped and scenario.expect:
        print(f"  skip expect: {outcome.expect_skipped}", file=out)
    for block in ("expect", "invariants"):
        if block == "expect" and outcome.expect_skipped:
            continue
        for key in getattr(scenario, block):
            mark = "FAIL" if (block, key) in failed_keys else "ok  "
            print(f"  {mark} {block}.{key}", file=out)
    if outcome.failures:
        print(outcome.report(), file=out)
    print(file=out)


def _counted(n: int, word: str) -> str:
    """``1 fault``, ``2 faults``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _describe_steps(workflow: object) -> str:
    if isinstance(workflow, wfsim.Workflow):
        return _counted(len(workflow.steps), "step")
    if isinstance(workflow, wfsim.EventWorkflow):
        return "an event workflow (its steps run as events arrive)"
    return "a workflow body (its steps appear as it runs)"


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim.scenario import Scenario
    from wfsim.scenario._names import name_problems

    files, problems = _files(args.files)
    for problem in problems:
        print(problem, file=err)
    code = EXIT_BAD_INPUT if problems else EXIT_OK
    for path in files:
        scenario = _load(path, err)
        if not isinstance(scenario, Scenario):
            code = EXIT_BAD_INPUT
            continue
        unknown = name_problems(scenario)  # names in expect/invariants the workflow lacks
        for name_error in unknown:
            print(str(name_error), file=err)
        if unknown:
            code = EXIT_BAD_INPUT
            continue
        print(
            f"ok: {scenario.path}: {_describe_steps(scenario.workflow)}, "
            f"{_counted(len(scenario.faults), 'fault')}, "
            f"{_counted(len(scenario.expect), 'expectation')}",
            file=out,
        )
    return code


def cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim.scenario import Scenario, run_scenario

    scenario = _load(pathlib.Path(args.file), err)
    if not isinstance(scenario, Scenario):
        return EXIT_BAD_INPUT
    random = _random_faults(args)
    exploration = _exploration(args)
    violations: tuple[tuple[str, str], ...] = ()
    if random is None and exploration is None:
        outcome = run_scenario(scenario, seed=args.seed)
    else:
        from wfsim.campaign._random import plan_for
        from wfsim.campaign._record import judge_run

        plan = None if random is None else plan_for(scenario, args.seed, random)
        outcome, failures = judge_run(
            scenario,
            args.seed,
            plan.faults if plan is not None else (),
            random.options if random is not None else "",
            exploration=exploration,
        )
        # Expectations print as a report below; the oracles' rules as lines of their own.
        violations = tuple(f for f in failures if "." not in f[0])
    if args.trace:
        _write_trace(outcome, pathlib.Path(args.trace))
    if args.json:
        data = outcome.to_json()
        if random is not None:
            data["random_faults"] = {
                "planned": len(outcome.extra_faults),
                "fired": outcome.extra_fired,
            }
        if violations:
            data["passed"] = False
            data["violations"] = [{"rule": r, "message": m} for r, m in violations]
        print(json.dumps(data), file=out)
    else:
        if args.timeline:
            print(outcome.result.trace.format(), file=out)
        print(
            f"seed: {outcome.seed}  status: {outcome.result.status}  "
            f"makespan: {format_seconds(outcome.result.makespan_ns)}",
            file=out,
        )
        print(f"digest: {outcome.result.digest()}", file=out)
        if random is not None:
            print(
                f"random faults: {len(outcome.extra_faults)} planned, "
                f"{outcome.extra_fired} fired"
                + ("; expect not checked, invariants are" if outcome.extra_fired else ""),
                file=out,
            )
        if outcome.expect_skipped:
            print(f"skip expect: {outcome.expect_skipped}", file=out)
        for rule, message in violations:
            print(f"{rule}: {message}", file=out)
        if outcome.failures:
            print(outcome.report(), file=out)
    return EXIT_OK if outcome.passed and not violations else EXIT_FAILED


def cmd_graph(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim.report import to_dot, to_mermaid
    from wfsim.scenario import Scenario

    scenario = _load(pathlib.Path(args.file), err)
    if not isinstance(scenario, Scenario):
        return EXIT_BAD_INPUT
    if not isinstance(scenario.workflow, wfsim.Workflow | wfsim.EventWorkflow):
        print(
            f"{scenario.path}: wfsim graph draws DAG and event workflows; "
            f"{scenario.workflow.name!r} is a workflow body whose steps exist only as it runs "
            "(see its trace: wfsim run)",
            file=err,
        )
        return EXIT_BAD_INPUT
    render = to_dot if args.format == "dot" else to_mermaid
    out.write(render(scenario.workflow))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim.scenario import schema

    print(json.dumps(schema(), indent=2), file=out)
    return EXIT_OK


STORE_FILE = "campaigns.sqlite"


def _store_path(out: str | None) -> pathlib.Path:
    return pathlib.Path(out or ".wfsim") / STORE_FILE


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (``kill``, a CI job's timeout, a service stop) stops a campaign as Ctrl-C does.

    Without it the process died where it stood and its store kept the campaign
    unfinished; now the campaign ends ``interrupted`` with its runs recorded
    (CAMP-5). The signal goes to whatever handles Ctrl-C at that moment (trio's
    handler inside a run, Python's otherwise), or raises KeyboardInterrupt when
    Ctrl-C is ignored (a background job).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum: int, frame: types.FrameType | None) -> None:
        ctrl_c = signal.getsignal(signal.SIGINT)
        if callable(ctrl_c):
            ctrl_c(signal.SIGINT, frame)  # raises KeyboardInterrupt, now or (trio) soon
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim.campaign import run_campaign
    from wfsim.scenario import Scenario

    files, problems = _files(args.files)
    for problem in problems:
        print(problem, file=err)
    # Validate every file before the first run: one campaign, no half-started work.
    loaded = [_load(path, err) for path in files]
    if problems or not all(isinstance(s, Scenario) for s in loaded):
        return EXIT_BAD_INPUT
    if args.exhaustive:
        return _exhaustive(args, files, out, err)
    if args.seeds is None:
        print("wfsim simulate: error: --seeds N is required (or give --exhaustive)", file=err)
        return EXIT_BAD_INPUT
    if args.max_faults or args.max_runs is not None:
        print("wfsim simulate: error: --max-faults and --max-runs need --exhaustive", file=err)
        return EXIT_BAD_INPUT
    if args.minimise and (args.chaos_phase is not None or args.liveness_bound is not None):
        print(
            "wfsim simulate: error: --minimise follows --schedule but not --chaos-phase or "
            "--liveness-bound: a minimised file has no phases",
            file=err,
        )
        return EXIT_BAD_INPUT
    with _sigterm_as_ctrl_c():
        summary = run_campaign(
            [str(path) for path in files],
            seeds=args.seeds,
            start_seed=args.start_seed,
            workers=args.workers,
            time_budget=args.time_budget,
            max_failures=args.max_failures,
            store=_store_path(args.out),
            resume=args.resume,
            progress=err,
            dask=args.dask,
            dask_timeout=args.dask_timeout,
            fault_rate=args.fault_rate,
            swarm=args.swarm,
            exploration=_exploration(args),
            fault_kinds=args.fault_kinds,
        )
    minimised = _minimise_failing(summary, args) if args.minimise else []
    if args.json:
        data = summary.to_json()
        if args.minimise:
            data["minimised"] = minimised
        print(json.dumps(data), file=out)
    else:
        # On a terminal the coverage tables are rich tables after the report (CAMP-22).
        if out.isatty():
            from wfsim.campaign._coverage import print_coverage_tables

            print(summary.format(coverage=False, end=False), file=out)
            print_coverage_tables(summary.scenarios, out)
            print(summary.format_end(), file=out)
        else:
            print(summary.format(), file=out)
        for m in minimised:
            print(f"minimised {m['file']} seed {m['seed']} ({m['key']}): {m['path']}", file=out)
            print(f"  {m['run']}", file=out)
    return EXIT_OK if summary.ok else EXIT_FAILED


def _exhaustive(
    args: argparse.Namespace, files: Sequence[pathlib.Path], out: TextIO, err: TextIO
) -> int:
    """``simulate --exhaustive``: every interleaving and fault placement (CAMP-43, CAMP-44)."""
    from wfsim.campaign._explore import explore_exhaustive

    clash = [
        flag
        for flag, given in (
            ("--seeds", args.seeds is not None),
            ("--schedule", args.schedule != "random"),
            ("--chaos-phase", args.chaos_phase is not None),
            ("--liveness-bound", args.liveness_bound is not None),
            ("--fault-rate", args.fault_rate is not None),
            ("--swarm", args.swarm),
            ("--fault-kinds", args.fault_kinds is not None),
            ("--resume", args.resume),
            ("--dask", args.dask is not None),
            ("--minimise", args.minimise),
        )
        if given
    ]
    if clash:
        print(f"wfsim simulate: error: --exhaustive does not take {', '.join(clash)}", file=err)
        return EXIT_BAD_INPUT
    reports = [
        explore_exhaustive(str(path), max_faults=args.max_faults, max_runs=args.max_runs)
        for path in files
    ]
    if args.json:
        data = {
            "exhaustive": [r.to_json() for r in reports],
            "runs": sum(r.runs for r in reports),
            "failed": sum(r.failed for r in reports),
        }
        print(json.dumps(data), file=out)
    else:
        for report in reports:
            print(report.format(), file=out)
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED


def _random_faults(args: argparse.Namespace) -> RandomFaults | None:
    from wfsim.campaign._random import random_faults_for

    return random_faults_for(args.fault_rate, args.swarm, args.fault_kinds)


def _minimise_failing(summary: object, args: argparse.Namespace) -> list[dict[str, object]]:
    """``simulate --minimise``: the first failing seed of each scenario, minimised (CAMP-33)."""
    from wfsim.campaign import CampaignSummary
    from wfsim.campaign._minimise import default_output, minimise

    assert isinstance(summary, CampaignSummary)
    random = _random_faults(args)
    done = []
    for scenario in summary.scenarios:
        if not scenario.failing:
            continue
        record = scenario.failing[0]
        m = minimise(
            scenario.path,
            record.seed,
            random_faults=random,
            key=record.failure_keys[0],
            out=default_output(scenario.path, record.seed, args.out or ".wfsim"),
            exploration=_exploration(args),
        )
        done.append(
            {"file": scenario.path, "seed": record.seed, "key": m.key, "path": m.path,
             "faults": len(m.faults), "digest": m.digest, "run": m.run_command}
        )
    return done


def cmd_minimise(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim.campaign._minimise import minimise
    from wfsim.scenario import Scenario

    if not isinstance(_load(pathlib.Path(args.file), err), Scenario):
        return EXIT_BAD_INPUT
    m = minimise(
        args.file,
        args.seed,
        random_faults=_random_faults(args),
        key=args.key,
        out=args.output,
        exploration=_exploration(args),
    )
    if args.json:
        print(json.dumps({"file": args.file, "seed": m.seed, "key": m.key, "path": m.path,
                          "faults_before": len(m.before), "faults": len(m.faults),
                          "digest": m.digest, "runs": m.runs, "run": m.run_command,
                          "pythonpath": m.pythonpath}), file=out)
    else:
        print(m.format(), file=out)
    return EXIT_OK


def _campaign_line(info: object) -> str:
    """One line of ``campaigns list``: id, start, seeds, runs, failures, files, notes."""
    from wfsim.campaign import CampaignInfo

    assert isinstance(info, CampaignInfo)
    seeds = f"{info.start_seed}-{info.start_seed + info.seeds - 1}"
    files = info.scenarios[0].path if info.scenarios else "-"
    if len(info.scenarios) > 1:
        files += f" (+{len(info.scenarios) - 1} more)"
    notes = [f"{info.reused} reused"] if info.reused else []
    if info.stopped:
        notes.append(f"stopped: {info.stopped.replace('_', ' ')}")
    if info.finished is None:
        notes.append("unfinished")
    line = f"{info.id:>4}  {info.started}  seeds {seeds}  {info.runs} runs, {info.failed} failed"
    return f"{line}  {files}" + (f"  ({'; '.join(notes)})" if notes else "")


def cmd_campaigns(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim.campaign import CampaignStore

    path = _store_path(args.out)
    if args.campaigns_command == "list" and not path.is_file():
        print(f"no campaigns recorded in {path}", file=out)
        return EXIT_OK
    with CampaignStore(path, create=False) as store:
        if args.campaigns_command == "list":
            infos = store.campaigns()
            if args.json:
                print(json.dumps([info.to_json() for info in infos]), file=out)
            else:
                for info in infos:
                    print(_campaign_line(info), file=out)
            return EXIT_OK
        if args.campaigns_command == "show":
            summary = store.summary(args.id)
            print(json.dumps(summary.to_json()) if args.json else summary.format(), file=out)
            return EXIT_OK if summary.ok else EXIT_FAILED
        diff = store.diff(args.a, args.b)
        print(json.dumps(diff.to_json()) if args.json else diff.format(), file=out)
        return EXIT_FAILED if diff.changes else EXIT_OK


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"fault rate must be a number from 0 to 1, not {text!r}"
        ) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"fault rate must be a number from 0 to 1, not {text}")
    return value


def _random_fault_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fault-rate", type=_rate, metavar="P",
        help="random faults: every attempt of every step fails with probability P, drawn "
        "per seed as explicit faults; expect then holds only where none fired, invariants always",
    )
    parser.add_argument(
        "--swarm", action="store_true",
        help="swarm testing: each seed also draws which fault kinds are on and their rates, "
        "up to --fault-rate (default 0.1): error, latency, hang, outage; crash for DAGs; "
        "drop, duplicate, delay for event workflows and signals",
    )
    parser.add_argument(
        "--fault-kinds", type=_fault_kinds, metavar="K1,K2",
        help="only these kinds of random fault (error, latency, hang, outage, crash, drop, "
        "duplicate, delay); without --swarm each is on at --fault-rate; a kind a workflow's "
        "style does not take is left out for it",
    )


def _fault_kinds(text: str) -> tuple[str, ...]:
    from wfsim.campaign._random import _kinds

    try:
        kinds = _kinds([k.strip() for k in text.split(",") if k.strip()])
    except WfsimError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    assert kinds is not None
    return kinds


def _integer(least: int, what: str = "expected") -> Callable[[str], int]:
    """An argparse type: an integer >= ``least``; errors read ``WHAT an integer >= LEAST``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} an integer >= {least}, not {text!r}"
            ) from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{what} an integer >= {least}, not {value}")
        return value

    return parse


def _duration(what: str) -> Callable[[str], str]:
    """An argparse type: a positive duration, kept as written; errors name ``what``."""

    def parse(text: str) -> str:
        from wfsim._core._time import to_ns

        if text.strip().startswith("-"):
            try:
                to_ns(text.strip()[1:], what=what)
            except ValueError:
                pass  # not a duration with a minus sign: to_ns says what is wrong below
            else:
                raise argparse.ArgumentTypeError(f"{what} must be more than 0s, not {text!r}")
        try:
            ns = to_ns(text, what=what)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if ns <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be more than 0s, not {text!r}")
        return text

    return parse


_seed = _integer(0, "seed must be")
_positive = _integer(1)
_count = _integer(0)
_budget = _duration("time budget")


def _exploration_options(parser: argparse.ArgumentParser) -> None:
    """The exploration flags of ``simulate`` and ``replay`` (CAMP-40..42)."""
    from wfsim._core._schedules import SCHEDULES

    parser.add_argument(
        "--schedule", choices=SCHEDULES, default="random",
        help="how each seed orders simultaneous work: seeded random (default), PCT "
        "(random step priorities and change points) or delay-bounded (the canonical "
        "order with a few seeded deviations)",
    )
    parser.add_argument(
        "--pct-depth", type=_positive, default=3, metavar="D",
        help="--schedule pct: priority levels; D-1 priority change points (default 3)",
    )
    parser.add_argument(
        "--delay-bound", type=_count, default=1, metavar="K",
        help="--schedule delay-bounded: at most K deviations from the canonical order "
        "(default 1)",
    )
    parser.add_argument(
        "--chaos-phase", type=_duration("chaos phase"), metavar="D",
        help="faults apply only before virtual time D; after it, the quiet phase",
    )
    parser.add_argument(
        "--liveness-bound", type=_duration("liveness bound"), metavar="D",
        help="every run must reach a final status within D of virtual time after the "
        "chaos phase (from 0 without one), else it fails CAMP-42",
    )


def _exploration(args: argparse.Namespace) -> Exploration | None:
    from wfsim.campaign._explore import Exploration

    found = Exploration.make(
        args.schedule,
        pct_depth=args.pct_depth,
        delay_bound=args.delay_bound,
        chaos_phase=args.chaos_phase,
        liveness_bound=args.liveness_bound,
    )
    return None if found.plain else found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wfsim",
        description="Deterministic simulation of workflows: run scenario files under a "
        "virtual clock with injected faults and check their expectations.",
        epilog="Exit codes: 0 all expectations held, 1 an expectation failed, 2 bad input.",
    )
    parser.add_argument("--version", action="version", version=f"wfsim {wfsim.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser(
        "run", help="run scenarios and check their expectations",
        description="Run each scenario (files, or directories searched for *.wfsim.yaml) "
        "and print one line for it: ok or FAIL, file, seed, status, makespan and the "
        "expectations that failed, each failure's report under it; -v adds the timeline "
        "in virtual time, the digest and the result of each expectation.",
    )
    run.add_argument("files", nargs="+", metavar="FILE", help="scenario files or directories")
    run.add_argument("--seed", type=_seed, help="override the scenario's seed (an integer >= 0)")
    run.add_argument(
        "--trace", metavar="OUT",
        help="write the trace as JSON Lines to OUT: a file for one scenario file, else a "
        "directory of <name>-seed<N>.jsonl files",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object per scenario")
    level = run.add_mutually_exclusive_group()
    level.add_argument(
        "-q", "--quiet", action="store_true",
        help="only the one line per scenario, without the failure reports",
    )
    level.add_argument(
        "-v", "--verbose", action="store_true",
        help="print each scenario's timeline (its trace), digest and every expectation",
    )
    run.set_defaults(func=cmd_run)

    check = sub.add_parser(
        "check", help="validate scenarios without running them",
        description="Load and validate each scenario; report every error with file:line.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="scenario files or directories")
    check.set_defaults(func=cmd_check)

    replay = sub.add_parser(
        "replay", help="rerun a scenario with a given seed and print its digest",
        description="Rerun one scenario with the given seed (the line a failing test prints) "
        "and print the trace digest; the same seed always prints the same digest.",
    )
    replay.add_argument("file", metavar="FILE")
    replay.add_argument("--seed", type=_seed, required=True, help="the seed to replay")
    replay.add_argument("--trace", metavar="OUT", help="write the trace as JSON Lines to OUT")
    replay.add_argument("--timeline", action="store_true", help="also print the timeline")
    replay.add_argument("--json", action="store_true", help="print one JSON object")
    _random_fault_options(replay)
    _exploration_options(replay)
    replay.set_defaults(func=cmd_replay)

    minimise = sub.add_parser(
        "minimise", help="shrink a failing seed's faults and write them as a scenario file",
        description="Rerun one failing seed (with the campaign's random-fault and --schedule "
        "options), shrink "
        "its fault plan (drop faults, make probabilities explicit, halve latencies and outage "
        "windows) while the same failure persists, and write the minimal reproduction: the "
        "scenario with its faults explicit and the seed fixed. Exit 0 when written, 2 for bad "
        "input or a seed that passes.",
    )
    minimise.add_argument("file", metavar="FILE")
    minimise.add_argument("--seed", type=_seed, required=True, help="the failing seed")
    _random_fault_options(minimise)
    _exploration_options(minimise)
    minimise.add_argument(
        "--key", metavar="KEY",
        help="the failure to keep (e.g. invariants.status, RETRY-3); default: the run's first",
    )
    minimise.add_argument(
        "-o", "--output", metavar="OUT",
        help="where to write it (default: .wfsim/minimised/NAME-seedN.min.wfsim.yaml, "
        "never next to FILE)",
    )
    minimise.add_argument("--json", action="store_true", help="print one JSON object")
    minimise.set_defaults(func=cmd_minimise)

    graph = sub.add_parser(
        "graph", help="draw a scenario's workflow",
        description="Print the workflow's dependency graph as Mermaid or Graphviz DOT.",
    )
    graph.add_argument("file", metavar="FILE")
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    graph.set_defaults(func=cmd_graph)

    simulate = sub.add_parser(
        "simulate", help="run many seeds of scenarios and report what failed",
        description="Run seeds S..S+N-1 of every scenario, check its expectations and every "
        "oracle, record each run in the campaign store and report failures by expectation "
        "or rule, makespan percentiles, attempts and retry delays, and a replay line per "
        "failing seed. Exit 0 if every run passed, 1 if any failed, 2 for bad input.",
    )
    simulate.add_argument("files", nargs="+", metavar="FILE", help="scenario files or directories")
    simulate.add_argument(
        "--seeds", type=_positive, metavar="N",
        help="how many seeds to run (required unless --exhaustive)",
    )
    simulate.add_argument(
        "--start-seed", type=_seed, default=0, metavar="S", help="the first seed (default 0)"
    )
    simulate.add_argument(
        "--workers", type=_positive, default=os.cpu_count() or 1, metavar="K",
        help="worker processes; 1 runs in this process (default: the number of CPUs)",
    )
    simulate.add_argument(
        "--time-budget", type=_budget, metavar="D",
        help="stop after this much wall-clock time (e.g. 90s, 10m, 1h)",
    )
    simulate.add_argument(
        "--max-failures", type=_positive, metavar="M", help="stop once M runs have failed"
    )
    simulate.add_argument("--json", action="store_true", help="print one JSON object")
    simulate.add_argument(
        "--out", metavar="DIR",
        help=f"directory of the campaign store {STORE_FILE} (default .wfsim)",
    )
    simulate.add_argument(
        "--resume", action="store_true",
        help="reuse the runs earlier campaigns recorded for the same file text and seed",
    )
    _random_fault_options(simulate)
    simulate.add_argument(
        "--minimise", action="store_true",
        help="minimise the first failing seed of each scenario and write it as a scenario "
        "file under the campaign's directory (--out, default .wfsim: "
        "DIR/minimised/NAME-seedN.min.wfsim.yaml)",
    )
    simulate.add_argument(
        "--dask", metavar="ADDRESS|local",
        help="run the batches on a Dask cluster (the dask extra): 'local' starts one of "
        "--workers processes; an address such as tcp://host:8786 uses that scheduler's "
        "workers (--workers is then not used)",
    )
    simulate.add_argument(
        "--dask-timeout", type=_duration("Dask timeout"), default="10s", metavar="D",
        help="how long to wait for the Dask scheduler at ADDRESS to answer (default 10s)",
    )
    _exploration_options(simulate)
    simulate.add_argument(
        "--exhaustive", action="store_true",
        help="instead of seeds, run every interleaving of each (small) scenario and every "
        "placement of up to --max-faults injected errors on step attempts",
    )
    simulate.add_argument(
        "--max-faults", type=_count, default=0, metavar="K",
        help="--exhaustive: place up to K faults on step attempts (default 0)",
    )
    simulate.add_argument(
        "--max-runs", type=_positive, metavar="N",
        help="--exhaustive: make at most N runs (without it, a space estimated above "
        "10000 runs is refused)",
    )
    simulate.set_defaults(func=cmd_simulate)

    campaigns = sub.add_parser(
        "campaigns", help="list, show and compare recorded campaigns",
        description=f"Read the campaign store (DIR/{STORE_FILE}) that simulate writes.",
    )
    verbs = campaigns.add_subparsers(
        dest="campaigns_command", metavar="ACTION", parser_class=_Parser
    )
    verbs.required = True
    listing = verbs.add_parser("list", help="one line per recorded campaign")
    show = verbs.add_parser("show", help="the report of one recorded campaign")
    show.add_argument("id", type=int, metavar="ID")
    diff = verbs.add_parser(
        "diff", help="seeds whose outcome or digest changed between two campaigns",
        description="Compare two campaigns seed by seed (same scenario file, same seed) and "
        "list the seeds whose outcome, status, failures or trace digest changed. Exit 0 when "
        "nothing changed, 1 when something did.",
    )
    diff.add_argument("a", type=int, metavar="A")
    diff.add_argument("b", type=int, metavar="B")
    for verb in (listing, show, diff):
        verb.add_argument(
            "--out", metavar="DIR", help=f"directory of {STORE_FILE} (default .wfsim)"
        )
        verb.add_argument("--json", action="store_true", help="print JSON")
    campaigns.set_defaults(func=cmd_campaigns)

    from wfsim.report._command import add_parser as add_report

    add_report(sub, _seed, STORE_FILE)

    from wfsim._cli_diff import add_parser as add_diff

    add_diff(sub, _seed, _count)

    from wfsim._cli_history import add_parser as add_replay_history

    add_replay_history(sub)

    from wfsim._cli_conformance import add_parser as add_conformance

    add_conformance(sub)

    schema = sub.add_parser(
        "schema", help="print the scenario file JSON Schema",
        description="Print the JSON Schema (draft 2020-12) of *.wfsim.yaml files.",
    )
    schema.set_defaults(func=cmd_schema)
    _debug_options(parser, top=True)
    return parser


def _debug_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--traceback`` and ``-v`` on ``wfsim`` and on every verb (before or after it).

    A verb that has its own ``-v`` (``run -v``: say more) keeps it; it asks for the
    traceback too. Before the verb they have their own names, as a verb's defaults
    would overwrite them.
    """
    prefix = "top_" if top else ""
    default: Any = False if top else argparse.SUPPRESS
    if "--traceback" not in parser._option_string_actions:
        parser.add_argument(
            "--traceback", action="store_true", default=default, dest=f"{prefix}traceback",
            help="on an error, also print the Python traceback (for reporting a bug)",
        )
    if "-v" not in parser._option_string_actions:
        parser.add_argument(
            "-v", "--verbose", action="store_true", default=default, dest=f"{prefix}verbose",
            help="say more on errors: the Python traceback, as --traceback",
        )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb in dict.fromkeys(action.choices.values()):
                _debug_options(verb)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Entry point of ``wfsim`` and ``python -m wfsim``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    show_traceback = any(
        getattr(args, name, False)
        for name in ("top_traceback", "top_verbose", "traceback", "verbose")
    )
    try:
        code: int = args.func(args, out, err)
    except WfsimError as exc:
        # Bad input found late (a trace that cannot be written, a store that is not
        # one, a workflow whose code breaks a rule of the engine): one line.
        if show_traceback:
            traceback.print_exc(file=err)
        print(f"wfsim: {exc}", file=err)
        return EXIT_BAD_INPUT
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt) or (
            isinstance(exc, BaseExceptionGroup) and exc.split(KeyboardInterrupt)[1] is None
        )
        if not (interrupted or isinstance(exc, Exception | BaseExceptionGroup)):
            raise  # SystemExit and friends: not ours to report
        if show_traceback:
            traceback.print_exc(file=err)
        if interrupted:
            print("wfsim: interrupted", file=err)
            return EXIT_INTERRUPTED
        hint = "" if show_traceback else "; rerun with --traceback to see where"
        print(
            f"wfsim: internal error: {type(exc).__name__}: {exc} (a bug in wfsim, please "
            f"report it{hint})",
            file=err,
        )
        return EXIT_INTERNAL
    return code


def console_main() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `wfsim schema | head -1`: the reader left; that is not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    sys.exit(code)
