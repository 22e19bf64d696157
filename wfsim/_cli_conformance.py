"""``wfsim conformance``: a LlamaIndex workflow on the real runtime and on wfsim (CLI-15)."""

from __future__ import annotations

import argparse
import inspect
import os
import pathlib
from typing import Any, TextIO

from wfsim.errors import WfsimError

__all__ = ["add_parser"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"--scale takes real seconds per virtual second in (0, 1], e.g. 0.02; not {text!r}"
        )
    return value


def add_parser(sub: Any) -> None:
    """Register the ``conformance`` verb on the ``wfsim`` parser."""
    from wfsim._cli import _positive  # the count type every wfsim verb uses

    parser = sub.add_parser(
        "conformance",
        help="run LlamaIndex workflow classes on the real runtime and on wfsim and compare",
        description="Run each LlamaIndex Workflow class on the real llama-index-workflows "
        "runtime (asyncio, real time scaled by --scale) and on wfsim, and compare what the "
        "real engine makes deterministic: the outcome and StopEvent result, each "
        "collect_events return (as multisets where the real order is not fixed) and how "
        "often each step ran. TARGET is module:Class, a .py file (every public Workflow "
        "subclass it defines) or a scenario file with workflow.llama_index (its input is used). "
        "Exit 0 when all agree, 1 on a disagreement, 2 for bad input. Needs the llama extra.",
    )
    parser.add_argument("targets", nargs="+", metavar="TARGET")
    parser.add_argument(
        "--scale", type=_scale, default=0.02, metavar="S",
        help="real seconds per virtual second on the real runtime (default 0.02)",
    )
    parser.add_argument(
        "--seeds", type=_positive, default=16, metavar="N",
        help="wfsim seeds to try (default 16): the real run agrees if some seed's run "
        "does, since where the real order is not fixed each seed picks one",
    )
    parser.set_defaults(func=cmd_conformance)


def _import_file(path: pathlib.Path) -> Any:
    """Import the Python file ``path`` as pytest does: as a module of the package it is
    in (``examples/flows.py`` in a package ``examples`` is ``examples.flows``), searched
    from that package's folder and the rootdir (SCN-6), so it can import its siblings."""
    from wfsim.scenario._imports import import_module

    file = path.resolve()
    parts, folder = [file.stem], file.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return import_module(".".join(parts), str(folder))


def _cases(target: str) -> list[Any]:
    from workflows import Workflow

    from wfsim.llama._conformance import Case

    path = pathlib.Path(target)
    if target.endswith((".yaml", ".yml")):
        from wfsim.scenario import load_scenario

        scenario = load_scenario(path)
        cls = getattr(scenario.workflow, "llama_class", None)
        if cls is None:
            raise WfsimError(f"{target}: not a scenario of a llama_index: workflow")
        return [Case(cls, dict(scenario.input or {}))]
    if target.endswith(".py"):
        if not path.is_file():
            raise WfsimError(f"{target}: no such file")
        module = _import_file(path)
        found = [
            obj
            for name, obj in vars(module).items()
            if inspect.isclass(obj)
            and issubclass(obj, Workflow)
            and obj is not Workflow
            and obj.__module__ == module.__name__
            and not name.startswith("_")  # a private base class of the file's flows
        ]
        if not found:
            raise WfsimError(f"{target}: defines no LlamaIndex Workflow subclass")
        return [Case(cls) for cls in found]
    if ":" not in target:
        raise WfsimError(
            f"{target!r}: expected module:Class, a .py file or a .wfsim.yaml scenario file"
        )
    from wfsim.scenario._imports import import_attribute

    try:  # found from the current directory as replay-history's --workflow is (SCN-6)
        cls = import_attribute(target, os.getcwd())
    except (ValueError, ImportError, AttributeError) as exc:
        raise WfsimError(f"{target!r}: {type(exc).__name__}: {exc}") from None
    return [Case(cls if isinstance(cls, type) else type(cls))]


def cmd_conformance(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        from wfsim.llama._conformance import agreement, observe_real
    except ImportError as exc:
        print(f"wfsim: {exc}", file=err)
        return EXIT_BAD_INPUT
    cases = [case for target in args.targets for case in _cases(target)]
    disagree = 0
    for case in cases:
        name = case.cls.__qualname__
        real = observe_real(case, scale=args.scale)
        differences, seed = agreement(case, real, seeds=max(1, args.seeds))
        multisets = sum(1 for c in real.collected if list(c) == sorted(c))
        if differences:
            disagree += 1
            print(f"DIFFER {name}", file=out)
            for line in differences:
                print(f"  {line}", file=out)
        else:
            print(
                f"agree  {name}: {real.status}, result {real.result!r}, "
                f"{len(real.collected)} collect_events return(s)"
                + (f" ({multisets} compared as multisets)" if multisets else "")
                + f", step runs {dict(real.counts)} (wfsim seed {seed})",
                file=out,
            )
    print(f"{len(cases) - disagree} of {len(cases)} agree", file=out)
    return EXIT_FAILED if disagree else EXIT_OK
