"""``wfsim diff``: where two runs part (CLI-12).

Each side is a trace file (``.jsonl``/``.ndjson``, as ``run --trace`` writes) or
a scenario file run with a seed. The comparison is
:func:`wfsim._core._tracediff.diff_traces`, the code ``check_determinism`` and
``campaigns diff`` use too.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from wfsim.errors import WfsimError

if TYPE_CHECKING:  # imported where a diff is made: `wfsim --help` builds the parser only
    from wfsim._core._trace import Trace

__all__ = ["add_parser", "cmd_diff"]

TRACE_SUFFIXES = (".jsonl", ".ndjson")
EXIT_OK, EXIT_DIFFER = 0, 1


class DiffError(WfsimError, ValueError):
    """``wfsim diff`` was given inputs it cannot compare."""


def _is_trace(path: str) -> bool:
    return path.endswith(TRACE_SUFFIXES)


def _sides(args: argparse.Namespace) -> list[tuple[str, int | None]]:
    """``[(path, seed), (path, seed)]`` from FILE [FILE], --against and --seed."""
    files: list[str] = list(args.files)
    seeds: list[int] = list(args.seed or [])
    if len(files) > 2:
        raise DiffError(f"diff compares two runs, not {len(files)}: give at most two FILEs")
    if args.against is not None:
        if len(files) == 2:
            raise DiffError("give the second run as a second FILE or as --against, not both")
        files.append(args.against)
    if len(seeds) > 2:
        raise DiffError(f"--seed may be given twice at most (one seed a side), not {len(seeds)}")
    if len(files) == 1:
        if len(seeds) != 2:
            raise DiffError(
                f"nothing to compare {files[0]} with: give a second FILE, --against FILE, "
                "or a second --seed"
            )
        files.append(files[0])
    scenarios = [path for path in files if not _is_trace(path)]
    if seeds and not scenarios:
        raise DiffError(
            f"--seed applies to scenario files, and {files[0]} and {files[1]} are traces"
        )
    if len(seeds) == 2 and len(scenarios) < 2:
        trace = next(path for path in files if _is_trace(path))
        raise DiffError(
            f"two seeds need two scenario files to run, and {trace} is a trace; give one --seed"
        )
    if len(seeds) == 2:
        return [(files[0], seeds[0]), (files[1], seeds[1])]
    seed = seeds[0] if seeds else None
    return [(path, None if _is_trace(path) else seed) for path in files]


def _load(path: str, seed: int | None) -> tuple[Trace, str]:
    """The trace of one side, and its name in the output."""
    from wfsim._core._trace import read_trace_file

    if _is_trace(path):
        return read_trace_file(path, DiffError), path
    from wfsim.scenario import load_scenario, run_scenario

    if not pathlib.Path(path).is_file():
        raise DiffError(
            f"{path}: no such file (give a trace, {'/'.join(TRACE_SUFFIXES)}, or a scenario file)"
        )
    outcome = run_scenario(load_scenario(path), seed=seed)
    return outcome.result.trace, f"{path} --seed {outcome.seed}"


def cmd_diff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from wfsim._core._tracediff import diff_traces

    (a_path, a_seed), (b_path, b_seed) = _sides(args)
    a, a_name = _load(a_path, a_seed)
    b, b_name = _load(b_path, b_seed)
    diff = diff_traces(a, b, a_name=a_name, b_name=b_name, context=args.context)
    print(json.dumps(diff.to_json()) if args.json else diff.format(), file=out)
    return EXIT_OK if diff.identical else EXIT_DIFFER


def add_parser(sub: Any, seed: Callable[[str], int], count: Callable[[str], int]) -> None:
    """Register the ``diff`` verb on the ``wfsim`` parser."""
    diff = sub.add_parser(
        "diff",
        help="show the first event where two runs differ",
        description="Compare two runs: two trace files (A.jsonl B.jsonl, as `run --trace` "
        "writes), a scenario FILE run with --seed N against OTHER_FILE (--against), or one "
        "scenario with two seeds (--seed N --seed M). Prints the first diverging event with "
        "the events around it from both sides, aligned by index, then a summary: the events "
        "only in A and only in B (aligned by content) and the steps whose attempts or "
        "outcome differ. Exit 0 when the runs are identical, 1 when they differ, 2 for bad "
        "input.",
    )
    diff.add_argument(
        "files", nargs="+", metavar="FILE", help="A and B: trace files (.jsonl) or scenario files"
    )
    diff.add_argument(
        "--against", metavar="OTHER_FILE", help="B, when FILE is the only positional argument"
    )
    diff.add_argument(
        "--seed", type=seed, action="append", metavar="N",
        help="the seed to run scenario files with (default: each file's own); "
        "twice: A's seed, then B's",
    )
    diff.add_argument(
        "--context", type=count, default=3, metavar="K",
        help="events to show before and after the first difference (default 3)",
    )
    diff.add_argument("--json", action="store_true", help="print one JSON object")
    diff.set_defaults(func=cmd_diff)
