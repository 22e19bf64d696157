"""Minimising a failing seed: the smallest fault plan that still fails the same way.

A failing seed of a campaign with random faults ran the scenario's own faults
plus an explicit random list (:func:`~._random.plan_faults`). :func:`minimise`
takes the whole plan, shrinks it while the same failure key (an expectation,
invariant or oracle rule) persists, and writes the result as a scenario file:
the original document with ``faults:`` replaced by the minimal explicit list and
``seed:`` fixed, so ``wfsim run OUT`` shows the failure with no option at all
(CAMP-33).

Shrinking, each step kept only when the failure persists:

1. faults that never fired are dropped (they change nothing);
2. a probability fault becomes the explicit attempts it fired on;
3. faults are dropped, halves first, then one at a time, until none can go;
4. latencies, delivery delays, crash restart delays and outage windows are halved
   (to 1ms; a restart to 0) while they can be;
5. faults that differ only in their attempts become one (``attempts: [1, 2]``).
"""

from __future__ import annotations

import builtins
import os
import pathlib
import shlex
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import yaml

from wfsim._core._faults import Fault
from wfsim.scenario import Scenario, ScenarioRun, load_scenario
from wfsim.scenario._dump import fault_mapping
from wfsim.scenario._imports import search_path
from wfsim.scenario._runner import caused
from wfsim.scenario._yaml import read_yaml

from ._explore import Exploration
from ._random import RandomFaults, describe_plan, plan_for
from ._record import CampaignError, judge_run

__all__ = ["Minimised", "default_output", "minimise"]

#: No fault plan takes more runs than this to minimise.
MAX_RUNS = 2000
_MS = 1_000_000


@attrs.frozen
class Minimised:
    """The result of :func:`minimise`: the minimal plan, where it was written, how to run it.

    ``key`` is the failure kept (``invariants.status``, ``RETRY-3``); ``before``
    and ``faults`` the fault plans before and after shrinking; ``digest`` the
    trace digest of the minimal run (what ``wfsim run OUT`` prints); ``runs``
    how many runs minimising took; ``pythonpath`` the directory a run of the file
    needs on ``PYTHONPATH`` to import its ``python:`` workflow, when it is written
    where that module is not found (the run command then sets it), else "".
    """

    path: str
    seed: int
    key: str
    before: tuple[Fault, ...]
    faults: tuple[Fault, ...]
    digest: str
    runs: int
    pythonpath: str = ""

    @property
    def run_command(self) -> str:
        """The line that shows the failure: ``wfsim run OUT`` (CAMP-33).

        ``wfsim run`` checks expectations and invariants; an oracle's rule shows
        in a one-seed campaign of the file instead.
        """
        env = f"PYTHONPATH={shlex.quote(self.pythonpath)} " if self.pythonpath else ""
        if "." in self.key:
            return f"{env}wfsim run {self.path}"
        return f"{env}wfsim simulate {self.path} --seeds 1 --start-seed {self.seed} --workers 1"

    def format(self) -> str:
        lines = [
            f"minimised seed {self.seed}: {self.key} still fails with {len(self.faults)} of "
            f"{len(self.before)} faults ({self.runs} runs)",
            *(f"  {line}" for line in describe_plan(self.faults)),
            f"wrote {self.path}",
            f"  {self.run_command}",
        ]
        return "\n".join(lines)


class _Shrinker:
    def __init__(
        self, scenario: Scenario, seed: int, key: str, exploration: Exploration | None
    ) -> None:
        self.scenario = attrs.evolve(scenario, faults=())
        self.seed = seed
        self.key = key
        self.exploration = exploration
        self.runs = 0

    def judge(self, faults: Sequence[Fault]) -> tuple[bool, Any]:
        """Whether the run with exactly ``faults`` still fails with the key, and the run."""
        if self.runs >= MAX_RUNS:
            return False, None
        self.runs += 1
        scenario = attrs.evolve(self.scenario, faults=tuple(faults))
        try:
            outcome, failures = judge_run(scenario, self.seed, exploration=self.exploration)
        except Exception as exc:  # a crash is a failure key too: error.CLASS
            return self.key == f"error.{type(exc).__name__}", None
        return self.key in {k for k, _ in failures}, outcome

    def fails(self, faults: Sequence[Fault]) -> bool:
        return self.judge(faults)[0]

    def drop(self, faults: list[Fault]) -> list[Fault]:
        """Drop faults while the failure persists: halves, quarters, ..., then singles."""
        chunk = max(1, len(faults) // 2)
        while faults:
            i = 0
            changed = False
            while i < len(faults):
                trial = faults[:i] + faults[i + chunk :]
                if self.fails(trial):
                    faults = trial
                    changed = True
                else:
                    i += chunk
            if chunk == 1 and not changed:
                break
            chunk = max(1, chunk // 2)
        return faults

    def merge(self, faults: list[Fault]) -> list[Fault]:
        """One fault per step and kind where the plan allows: ``attempts: [1, 2]``, not two faults.

        Faults that differ only in their attempts become one with the union of
        them, kept only if the failure persists (the run is the same one).
        """
        merged: list[Fault] = []
        for fault in faults:
            twin = next((i for i, m in enumerate(merged) if _mergeable(m, fault)), None)
            if twin is None:
                merged.append(fault)
                continue
            attempts = (*(merged[twin].attempts or ()), *(fault.attempts or ()))
            merged[twin] = attrs.evolve(merged[twin], attempts=attempts)
        if len(merged) < len(faults) and self.fails(merged):
            return merged
        return faults

    def simplify(self, faults: list[Fault]) -> list[Fault]:
        """Halve latencies and outage windows while the failure persists."""
        for i, fault in enumerate(faults):
            while True:
                smaller = _smaller(fault)
                if smaller is None or not self.fails([*faults[:i], smaller, *faults[i + 1 :]]):
                    break
                fault = faults[i] = smaller
        return faults


def _mergeable(a: Fault, b: Fault) -> bool:
    return (
        a.attempts is not None
        and b.attempts is not None
        and not set(a.attempts) & set(b.attempts)
        and attrs.evolve(a, attempts=b.attempts) == b
    )


def _smaller(fault: Fault) -> Fault | None:
    if fault.kind in ("latency", "delay") and fault.shape == "fixed" and fault.extra_ns > _MS:
        return attrs.evolve(fault, extra_ns=max(_MS, fault.extra_ns // 2 // _MS * _MS))
    if fault.kind == "crash" and fault.restart_ns > 0:
        return attrs.evolve(fault, restart_ns=fault.restart_ns // 2 // _MS * _MS)
    if fault.kind == "outage":
        start, end = fault.window_ns
        if end - start > _MS:
            return attrs.evolve(fault, window_ns=(start, start + (end - start) // 2 // _MS * _MS))
    return None


def _fired(fault: Fault, trace: Any) -> list[tuple[str, int]]:
    """The (step, attempt) pairs whose ``fault_injected`` event this fault caused.

    For a delivery fault: the (event type or signal, occurrence) pairs (its
    events name no step, FAULT-20).
    """
    out = []
    for e in trace:
        if e.kind == "fault_injected" and caused(fault, e):
            if fault.delivery is None:
                out.append((e.step, e.attempt))
            else:
                seen = e.fields["fault"]
                out.append((seen[fault.delivery], seen.get("occurrence")))
    return out


def _explicit(fault: Fault, fired: list[tuple[str, int]]) -> list[Fault]:
    """A probability fault as explicit faults on the attempts it fired on, one per step."""
    steps: dict[str, list[int]] = {}
    for step, attempt in fired:
        steps.setdefault(step, []).append(attempt)
    return [
        attrs.evolve(fault, step=step, attempts=tuple(sorted(set(attempts))), probability=None)
        for step, attempts in steps.items()
    ]


def default_output(path: str, seed: int, directory: str | os.PathLike[str] = ".wfsim") -> str:
    """``DIRECTORY/minimised/NAME-seedN.min.wfsim.yaml``: under the campaign's directory.

    Never beside the scenario file, where ``wfsim run scenarios/`` would pick it up
    as one more (failing) scenario.
    """
    stem = pathlib.Path(path).name.removesuffix(".wfsim.yaml").removesuffix(".yaml")
    return os.path.join(directory, "minimised", f"{stem}-seed{seed}.min.wfsim.yaml")


def minimise(
    path: str | os.PathLike[str],
    seed: int,
    *,
    random_faults: RandomFaults | None = None,
    key: str | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
    exploration: Exploration | None = None,
) -> Minimised:
    """Shrink the fault plan of seed ``seed`` of the scenario at ``path`` and write the result.

    The plan is the file's faults plus, with ``random_faults``, the seed's random
    faults. ``key`` picks the failure to keep (default: the run's first). The
    minimal scenario goes to ``out`` (default :func:`default_output`): the
    original document with ``faults`` made explicit, ``seed`` fixed and, unless
    the failure is one of ``expect``, without ``expect`` (it describes the
    original plan; ``invariants`` stay). With an ``exploration`` schedule (PCT,
    delay bounding) every run follows it, and the file records the minimal run's
    choices as ``settings.choices``, so it replays that schedule by itself.

    Raises :class:`CampaignError` when the seed passes or ``key`` is not among
    its failures, or for a chaos phase or liveness bound (not supported);
    :class:`~wfsim.errors.ScenarioError` for a file that does not load.

    Example::

        m = minimise("orders.wfsim.yaml", 412, random_faults=RandomFaults(0.05))
        print(m.format())   # ... wfsim run .wfsim/minimised/orders-seed412.min.wfsim.yaml
    """
    path = os.fspath(path)
    scenario = load_scenario(path)
    extra = (
        () if random_faults is None else plan_for(scenario, seed, random_faults).faults
    )
    options = "" if random_faults is None else random_faults.options
    if exploration is not None and exploration.plain:
        exploration = None
    if exploration is not None:
        if exploration.chaos_phase_ns is not None or exploration.liveness_bound_ns is not None:
            raise CampaignError(
                "minimise follows --schedule but not --chaos-phase or --liveness-bound: "
                "a minimised file has no phases"
            )
        options += exploration.options
    outcome: ScenarioRun | None
    try:
        outcome, failures = judge_run(scenario, seed, extra, options, exploration=exploration)
    except Exception as exc:  # a run that raises fails error.CLASS, as in a campaign
        outcome, failures = None, ((f"error.{type(exc).__name__}", str(exc)),)
    keys = list(dict.fromkeys(k for k, _ in failures))
    if not keys:
        raise CampaignError(
            f"{path}: seed {seed}{options} passes; only a failing seed can be minimised"
        )
    if key is None:
        key = keys[0]
    elif key not in keys:
        raise CampaignError(
            f"{path}: seed {seed}{options} does not fail {key!r}; it fails: {', '.join(keys)}"
        )
    before = scenario.faults + tuple(extra)
    shrinker = _Shrinker(scenario, seed, key, exploration)
    # 1 and 2: what never fired goes; a probability fault becomes the attempts it hit.
    faults: list[Fault] = []
    for fault in before:
        fired = [] if outcome is None else _fired(fault, outcome.result.trace)
        if outcome is None or fault.kind == "outage" or fault.shape != "fixed":
            faults.append(fault)  # fired or not is not read from its description
        elif fired:
            faults += _explicit(fault, fired) if fault.probability is not None else [fault]
    if not shrinker.fails(faults):
        faults = list(before)
    faults = shrinker.drop(faults)
    faults = shrinker.simplify(faults)
    faults = shrinker.merge(faults)
    ok, final = shrinker.judge(faults)
    if not ok:  # cannot happen unless the run budget ran out mid-way
        raise CampaignError(f"{path}: seed {seed}: minimising lost the failure {key!r}")
    target = out if out is not None else default_output(path, seed)
    tape = None if exploration is None or final is None else final.result.choices
    pythonpath = _write(path, target, seed, faults, key, options, len(before), tape)
    if progress is not None:
        plural = "" if len(faults) == 1 else "s"
        progress(f"minimised {path} seed {seed} to {len(faults)} fault{plural}")
    return Minimised(
        os.fspath(target),
        seed,
        key,
        tuple(before),
        tuple(faults),
        "" if final is None else final.result.digest(),  # a run that raised has none
        shrinker.runs,
        pythonpath,
    )


def _error_name(fault: Fault) -> str:
    """How the minimised file names a fault's error class, as the original could.

    A builtin, a name the file declares under ``errors`` (no class) or
    ``InjectedError`` keep their name; a class the original named ``module:Class``
    is written that way again, or the loader would not find it.
    """
    cls = fault.error_type
    if cls is None or getattr(builtins, fault.error_name, None) is cls:
        return fault.error_name
    return f"{cls.__module__}:{cls.__qualname__}"


def _write(
    source: str,
    target: str | os.PathLike[str],
    seed: int,
    faults: Sequence[Fault],
    key: str,
    options: str,
    before: int,
    choices: Sequence[int] | None = None,
) -> str:
    """Write the minimal scenario; return the PYTHONPATH entry a run of it needs, or ""."""
    text = pathlib.Path(source).read_text(encoding="utf-8")
    doc, _ = read_yaml(text, source)
    out: dict[str, Any] = {}
    for name, value in doc.items():
        if name == "expect" and not key.startswith("expect."):
            continue  # it describes the original plan; this file is another
        if name not in ("faults", "seed"):
            out[name] = value
        if name == "scenario":
            out["seed"] = seed
    if choices is not None:  # the explored schedule, replayed by any run of the file
        out["settings"] = {**out.get("settings", {}), "choices": list(choices)}
    out["faults"] = [fault_mapping(f, error_name=_error_name) for f in faults]
    if "seed" not in out:
        out = {"seed": seed, **out}
    workflow = doc.get("workflow") if isinstance(doc, dict) else None
    python = (workflow.get("python") or workflow.get("llama_index")) if isinstance(
        workflow, dict
    ) else None
    pythonpath = _import_dir(python, source, target) if isinstance(python, str) else ""
    env = f"PYTHONPATH={shlex.quote(pythonpath)} " if pythonpath else ""
    header = (
        f"# Minimised by wfsim from {source} --seed {seed}{options}:\n"
        f"# {len(faults)} of {before} faults keep {key} failing. Run: {env}wfsim run {target}\n"
    )
    body = yaml.safe_dump(out, sort_keys=False, allow_unicode=True, default_flow_style=None)
    try:
        pathlib.Path(target).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(target).write_text(header + body, encoding="utf-8")
    except OSError as exc:
        raise CampaignError(
            f"cannot write the minimised scenario to {os.fspath(target)!r}: "
            f"{exc.strerror or type(exc).__name__}"
        ) from None
    return pythonpath


def _import_dir(python: str, source: str, target: str | os.PathLike[str]) -> str:
    """Where ``source``'s ``python:`` module is imported from, when a file at ``target``
    would not search there (SCN-6), else "": relative to the current directory when
    under it. A module found on no scenario search path (an installed one) needs none.
    """
    top = python.partition(":")[0].split(".")[0]

    def holds(entry: str) -> bool:
        return (pathlib.Path(entry) / f"{top}.py").is_file() or (
            pathlib.Path(entry) / top / "__init__.py"
        ).is_file()

    found = next(
        (e for e in search_path(os.path.dirname(os.path.abspath(source))) if holds(e)), None
    )
    if found is None:
        return ""
    searched = search_path(os.path.dirname(os.path.abspath(target)))
    if any(os.path.samefile(found, entry) for entry in searched if os.path.isdir(entry)):
        return ""
    relative = os.path.relpath(found)
    return found if relative.startswith("..") else relative

