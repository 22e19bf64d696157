"""``wfsim report``: one self-contained HTML page of a run, a trace file or a campaign (CLI-11)."""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from wfsim._core._time import format_seconds
from wfsim.errors import WfsimError

if TYPE_CHECKING:  # imported where a page is made: `wfsim --help` builds this parser only
    from ._html import RunView

__all__ = ["ReportError", "add_parser", "cmd_report"]

TRACE_SUFFIXES = (".jsonl", ".ndjson")
EXIT_OK, EXIT_BAD_INPUT = 0, 2
#: Where the page goes without ``-o`` (never the terminal: HTML is not for reading there).
DEFAULT_OUTPUT = "wfsim-report.html"


class ReportError(WfsimError, ValueError):
    """``wfsim report`` cannot read its input or write the page."""


def _trace_view(path: pathlib.Path) -> RunView:
    from wfsim._core._trace import read_trace_file

    from ._html import RunView

    trace = read_trace_file(path, ReportError)
    first, last = trace[0], trace[-1]
    facts = [("trace", str(path))]
    if first.kind == "run_started":
        facts += [("workflow", str(first.get("workflow"))), ("seed", str(first.get("seed")))]
    if last.kind == "run_finished":
        facts.append(("status", str(last.get("status"))))
    facts += [("makespan", format_seconds(last.t_ns)), ("digest", trace.digest())]
    return RunView(title=f"Trace {path.name}", trace=trace, facts=tuple(facts))


def _scenario_view(path: pathlib.Path, seed: int | None) -> RunView:
    from wfsim.scenario import load_scenario, run_scenario

    from ._html import RunView

    scenario = load_scenario(str(path))
    outcome = run_scenario(scenario, seed=seed)
    result = outcome.result
    failed = {f.key.split(".", 1)[0] for f in outcome.failures}
    return RunView(
        title=scenario.title,
        trace=result.trace,
        facts=(
            ("scenario", scenario.title),
            ("file", scenario.path),
            ("seed", str(outcome.seed)),
            ("status", result.status),
            ("makespan", format_seconds(result.makespan_ns)),
            ("digest", result.digest()),
        ),
        checks=tuple((key, key not in failed) for key in scenario.expect),
        problems=(outcome.report(),) if outcome.failures else (),
        workflow=scenario.workflow,
    )


def _campaign_page(store_path: pathlib.Path, campaign: int) -> str:
    from wfsim.campaign import CampaignStore
    from wfsim.scenario import load_scenario, run_scenario

    from ._html import RunView, campaign_html

    with CampaignStore(store_path, create=False) as store:
        info = store.campaign(campaign)
        summary = store.summary(campaign)
        records = store.runs(campaign)
    workflows: dict[str, object] = {}
    examples: dict[str, RunView] = {}
    random_faults = bool(info.options.get("random_faults"))
    for ref, scenario_summary in zip(info.scenarios, summary.scenarios, strict=True):
        where = ref.abspath or ref.path
        if not _unchanged(where, ref.scenario_hash):
            continue  # the file changed or is gone: its runs are reported, not redrawn
        try:
            scenario = load_scenario(where)
        except WfsimError:
            continue
        workflows[ref.scenario_hash] = scenario.workflow
        if random_faults:
            continue  # its runs had random faults the file does not hold: no rerun to show
        seed = scenario_summary.failing[0].seed if scenario_summary.failing else summary.start_seed
        outcome = run_scenario(scenario, seed=seed)
        which = "first failing seed" if scenario_summary.failing else "first seed"
        examples[ref.scenario_hash] = RunView(
            title=f"Timeline of seed {seed} ({which})",
            trace=outcome.result.trace,
            facts=(
                ("seed", str(seed)),
                ("status", outcome.result.status),
                ("makespan", format_seconds(outcome.result.makespan_ns)),
                ("digest", outcome.result.digest()),
                ("replay", scenario_summary.replay_command(seed)),
            ),
        )
    return campaign_html(summary, records, workflows=workflows, examples=examples)


def _unchanged(path: str, scenario_hash: str) -> bool:
    from wfsim.campaign._record import CampaignError, file_hash

    try:
        return file_hash(path) == scenario_hash
    except CampaignError:
        return False


def cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write the HTML page; exit 0 when written, 2 for bad input (raised as WfsimError)."""
    from ._html import run_html

    if args.campaign is not None:
        if args.file is not None:
            print("wfsim report: give a FILE or --campaign ID, not both", file=err)
            return EXIT_BAD_INPUT
        store = pathlib.Path(args.out or ".wfsim") / args.store_file
        page = _campaign_page(store, args.campaign)
    elif args.file is None:
        print(
            "wfsim report: give a scenario file, a trace file (.jsonl) or --campaign ID", file=err
        )
        return EXIT_BAD_INPUT
    else:
        path = pathlib.Path(args.file)
        if not path.is_file():
            print(f"{args.file}: cannot read the file: no such file", file=err)
            return EXIT_BAD_INPUT
        if path.name.endswith(TRACE_SUFFIXES):
            if args.seed is not None:
                print("wfsim report: --seed applies to a scenario file, not a trace", file=err)
                return EXIT_BAD_INPUT
            page = run_html(_trace_view(path))
        else:
            page = run_html(_scenario_view(path, args.seed))
    if args.output == "-":
        out.write(page)
        return EXIT_OK
    target = DEFAULT_OUTPUT if args.output is None else args.output
    try:
        pathlib.Path(target).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target!r}: {exc.strerror or exc}") from None
    print(f"wrote {target}", file=out)
    return EXIT_OK


def add_parser(
    sub: argparse._SubParsersAction[Any],
    seed: Callable[[str], int],
    store_file: str,
) -> None:
    """Register the ``report`` verb on the ``wfsim`` parser."""
    report = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run or a campaign",
        description="Write one HTML file (inline CSS, script and SVG; nothing fetched): for a "
        "scenario FILE, a run of it (its own seed or --seed N) with its timeline in virtual "
        "time, expectations and workflow graph; for a trace FILE (.jsonl, as `run --trace` "
        "writes) its timeline; for --campaign ID, the recorded campaign's histograms, failing "
        "seeds, coverage, graph and one run's timeline. The same input gives the same bytes. "
        "Exit 0 when written, 2 for bad input.",
    )
    report.add_argument("file", nargs="?", metavar="FILE", help="scenario file or trace (.jsonl)")
    report.add_argument("--seed", type=seed, help="the seed to run (scenario files)")
    report.add_argument(
        "--campaign", type=int, metavar="ID", help="report a campaign recorded by simulate"
    )
    report.add_argument(
        "--out", metavar="DIR", help=f"directory of {store_file} for --campaign (default .wfsim)"
    )
    report.add_argument(
        "-o", "--output", metavar="HTML",
        help=f"the file to write (default: ./{DEFAULT_OUTPUT}; '-' for stdout)",
    )
    report.set_defaults(func=cmd_report, store_file=store_file)
