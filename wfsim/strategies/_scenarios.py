"""Strategies for scenario documents (``*.wfsim.yaml``), as data and as YAML text."""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal
from typing import Any

import attrs
import yaml
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from wfsim._core._trace import EVENT_KINDS

from ._check import check_bool, check_int, check_order
from ._workflows import ERROR_NAMES, NON_RETRYABLE_NAMES, _after, _offsets, durations_ms

__all__ = ["scenario_texts", "scenarios"]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

#: Step and compensation names: YAML's awkward characters on purpose (``:``, ``#``,
#: ``&``, ``'``...), but no whitespace and no ``<``/``>`` (order chains use them) and no
#: glob characters ``*?[`` (a fault naming such a step would be read as a pattern).
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz_0123456789-.:#&!'\"%@/|,]{}"
#: Custom error names a scenario declares under ``errors:``.
_CUSTOM_ERRORS = ("ShippingUnavailable", "Unavailable")
_RUN_STATUSES = ("completed", "failed", "compensated", "compensation_failed", "timed_out")
_JITTERS = ("none", "full", "equal", "decorrelated")


@attrs.frozen
class _Options:
    min_steps: int
    max_steps: int
    max_faults: int
    compensations: bool
    expectations: bool


def _check(
    func: str,
    min_steps: int,
    max_steps: int,
    max_faults: int,
    compensations: bool,
    expectations: bool,
) -> _Options:
    check_int(func, "min_steps", min_steps, minimum=1)
    check_int(func, "max_steps", max_steps, minimum=1)
    check_order(func, "min_steps", min_steps, "max_steps", max_steps)
    check_int(func, "max_faults", max_faults, minimum=0)
    check_bool(func, "compensations", compensations)
    check_bool(func, "expectations", expectations)
    return _Options(min_steps, max_steps, max_faults, compensations, expectations)


def scenarios(
    *,
    min_steps: int = 1,
    max_steps: int = 8,
    max_faults: int = 5,
    compensations: bool = False,
    expectations: bool = False,
) -> SearchStrategy[dict[str, Any]]:
    """Scenario documents (plain dicts) that the loader accepts, for round-trip tests.

    Every document is valid against the scenario JSON Schema (``wfsim schema``)
    and builds: ``load_scenario_text(yaml.safe_dump(doc))`` never raises. It
    holds an inline DAG workflow of ``min_steps..max_steps`` steps whose names
    use YAML's awkward characters, every duration form (``1.5``, ``250ms``,
    ``2m``, ``" 3 s"``, ``1500000us``...), retry policies native and in every
    profile, outputs, timeouts, up to ``max_faults`` error and latency faults
    (builtin, declared and ``module:Class`` errors), ``input``, ``settings`` and
    a ``description``. ``compensations=True`` adds ``compensate`` (as a name or
    a mapping) and ``saga``, and faults on compensations. ``expectations=True``
    adds a structurally valid ``expect`` block (it need not hold when run: it
    is there for the loader). Attempts are always bounded, so a loaded scenario
    also runs to an end (``timed_out`` when a drawn ``settings.time_limit`` is
    short). Shrinks towards one ``null`` step and nothing else::

        @given(scenarios(compensations=True))
        def test_loader_round_trip(doc):
            scenario = load_scenario_text(yaml.safe_dump(doc, sort_keys=False))
            assert list(scenario.workflow.steps) == list(doc["workflow"]["steps"])
    """
    options = _check("scenarios", min_steps, max_steps, max_faults, compensations, expectations)
    return _scenarios(options)


def scenario_texts(
    *,
    min_steps: int = 1,
    max_steps: int = 8,
    max_faults: int = 5,
    compensations: bool = False,
    expectations: bool = False,
) -> SearchStrategy[str]:
    """:func:`scenarios` written as YAML text, in block, flow or mixed style.

    The text loads with ``wfsim.scenario.load_scenario_text`` to the document
    it was dumped from; some texts start with a comment line or ``---``.
    """
    options = _check(
        "scenario_texts", min_steps, max_steps, max_faults, compensations, expectations
    )
    return _texts(_scenarios(options))


# -- values ----------------------------------------------------------------------------------
# Strategies are built once, at import: building one per draw costs more than the draw.

_BOOL = st.booleans()
_FORM = st.integers(0, 11)
_ABOVE_MS = st.integers(0, 60_000)


def _exact_seconds(ns: int) -> str:
    text = format(Decimal(ns).scaleb(-9), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _form(draw: DrawFn, ns: int) -> int | float | str:
    """``ns`` (whole milliseconds) in one of the forms a scenario accepts, all exact."""
    forms: list[int | float | str] = [
        f"{ns // NS_PER_MS}ms",
        f"{_exact_seconds(ns)}s",
        f"{ns}ns",
        f"{ns // 1000}us",
        float(_exact_seconds(ns)),
        f" {ns // NS_PER_MS} ms ",
        f"{ns // NS_PER_MS}e-3s",
    ]
    if ns % NS_PER_S == 0:
        forms.insert(0, ns // NS_PER_S)
    for unit, size in (("m", 60), ("h", 3600), ("d", 86400)):
        if ns and ns % (size * NS_PER_S) == 0:
            forms.append(f"{ns // (size * NS_PER_S)}{unit}")
    return forms[draw(_FORM) % len(forms)]


@st.composite
def _duration_literals(draw: DrawFn, positive: bool) -> int | float | str:
    return _form(draw, draw(durations_ms(positive=positive)) * NS_PER_MS)


def _at_least(draw: DrawFn, low_ms: int) -> int | float | str:
    return _form(draw, (low_ms + draw(_ABOVE_MS)) * NS_PER_MS)


_DURATIONS = _duration_literals(False)
_POSITIVE_DURATIONS = _duration_literals(True)
_MAYBE_MS = st.none() | durations_ms()
_NAMES = st.text(alphabet=_NAME_CHARS, min_size=1, max_size=8)
_TITLES = st.text(max_size=20).filter(lambda s: re.search(r"\S", s) is not None)
_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**40), 2**40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_MAPPINGS = st.dictionaries(st.text(max_size=8), _JSON, max_size=3)
_COEFFICIENTS = st.sampled_from((2, 1, 1.5, 3)) | st.floats(1, 4, allow_nan=False)
_NON_RETRYABLE = st.lists(st.sampled_from(NON_RETRYABLE_NAMES))
_DELAY_LISTS = st.lists(_DURATIONS, min_size=1, max_size=4)
_PROFILES = st.sampled_from((None, "temporal", "celery", "prefect", "tenacity", "pyworkflow"))
_ATTEMPTS = st.integers(1, 6)
_OFFSETS = _offsets(64, 3)
_CELERY_BACKOFF = st.none() | st.booleans() | st.integers(0, 5) | st.floats(0, 5)


def _optional(draw: DrawFn, doc: dict[str, Any], key: str, values: SearchStrategy[Any]) -> None:
    """Maybe set ``doc[key]``; absent is simpler, so it shrinks away."""
    if draw(_BOOL):
        doc[key] = draw(values)


# -- retry policies --------------------------------------------------------------------------


@st.composite
def _retry_docs(draw: DrawFn) -> dict[str, Any]:
    """A ``retry`` mapping, native or in a profile, always with bounded attempts."""
    profile = draw(_PROFILES)
    attempts = draw(_ATTEMPTS)
    doc: dict[str, Any] = {}
    if profile is None:
        doc["max_attempts"] = attempts
        initial = draw(_MAYBE_MS)  # absent: 1s
        if initial is not None:
            doc["initial_interval"] = _form(draw, initial * NS_PER_MS)
        _optional(draw, doc, "backoff_coefficient", _COEFFICIENTS)
        if draw(_BOOL):
            doc["max_interval"] = _at_least(draw, 1000 if initial is None else initial)
        _optional(draw, doc, "min_interval", _DURATIONS)
        _optional(draw, doc, "jitter", st.sampled_from(_JITTERS))
        _optional(draw, doc, "non_retryable", _NON_RETRYABLE)
        _optional(draw, doc, "delays", _DELAY_LISTS)
        return doc
    doc["profile"] = profile
    if profile == "temporal":
        doc["maximum_attempts"] = attempts
        initial = draw(_MAYBE_MS)  # absent: 1s
        if initial is not None:
            doc["initial_interval"] = _form(draw, initial * NS_PER_MS)
        _optional(draw, doc, "backoff_coefficient", _COEFFICIENTS)
        if draw(_BOOL):
            doc["maximum_interval"] = _at_least(draw, 1000 if initial is None else initial)
        _optional(draw, doc, "non_retryable_error_types", _NON_RETRYABLE)
    elif profile == "celery":
        _optional(draw, doc, "max_retries", st.just(attempts - 1))
        backoff = draw(_CELERY_BACKOFF)
        if backoff is not None:
            doc["retry_backoff"] = backoff
        if draw(_BOOL):  # the cap must not be below the first backoff delay
            doc["retry_backoff_max"] = _at_least(draw, 1000 * int(max(1.0, float(backoff or 0))))
        _optional(draw, doc, "default_retry_delay", _DURATIONS)
        _optional(draw, doc, "retry_jitter", _BOOL)
    elif profile == "prefect":
        _optional(draw, doc, "retries", st.just(attempts - 1))
        _optional(draw, doc, "retry_delay_seconds", _DURATIONS | _DELAY_LISTS)
    elif profile == "tenacity":
        doc["stop_after_attempt"] = attempts
        _optional(draw, doc, "multiplier", _DURATIONS)
        _optional(draw, doc, "exp_base", _COEFFICIENTS)
        _optional(draw, doc, "max", _DURATIONS)
        _optional(draw, doc, "min", _DURATIONS)
    else:  # pyworkflow
        _optional(draw, doc, "max_retries", st.just(attempts - 1))
        delay = draw(_MAYBE_MS)  # absent: 1s
        if delay is not None:
            doc["retry_delay"] = _form(draw, delay * NS_PER_MS)
        _optional(draw, doc, "retry_backoff", _COEFFICIENTS)
        if draw(_BOOL):
            doc["max_retry_delay"] = _at_least(draw, 1000 if delay is None else delay)
    return doc


_RETRY_DOCS = _retry_docs()


# -- the workflow ----------------------------------------------------------------------------


@st.composite
def _work_docs(draw: DrawFn) -> dict[str, Any]:
    """The fields a step and a mapping compensation share."""
    doc: dict[str, Any] = {}
    _optional(draw, doc, "duration", _DURATIONS)
    _optional(draw, doc, "output", _MAPPINGS)
    _optional(draw, doc, "retry", _RETRY_DOCS)
    _optional(draw, doc, "timeout", _POSITIVE_DURATIONS)
    return doc


_WORK_DOCS = _work_docs()


@attrs.frozen
class _StepBlock:
    """One step's choices, independent of its position (so any step can shrink away)."""

    name: str
    offsets: list[int]
    null: bool  # written `name: ~` when it has no after and no compensation
    after_as_text: bool  # a single dependency written `after: x`, not `after: [x]`
    empty_after: bool  # no dependency written `after: []`
    work: dict[str, Any]
    undo: dict[str, Any] | None  # the compensation's fields; {} is `compensate: name`
    undo_as_name: bool

    @property
    def undo_name(self) -> str:
        return f"undo~{self.name}"  # '~' is not in _NAME_CHARS: never a step's name

    def document(self, after: list[str]) -> dict[str, Any] | None:
        if not after and self.undo is None and self.null:
            return None
        doc: dict[str, Any] = {}
        if len(after) == 1 and self.after_as_text:
            doc["after"] = after[0]
        elif after or self.empty_after:
            doc["after"] = list(after)
        doc.update(self.work)
        if self.undo is not None:
            if self.undo_as_name:
                doc["compensate"] = self.undo_name
            else:
                doc["compensate"] = {"name": self.undo_name, **self.undo}
        return doc


@st.composite
def _step_blocks(draw: DrawFn, compensations: bool) -> _StepBlock:
    name = draw(_NAMES)
    offsets = draw(_OFFSETS)
    null, as_text, empty, as_name = (not draw(_BOOL)), draw(_BOOL), draw(_BOOL), draw(_BOOL)
    work = draw(_WORK_DOCS)
    undo = draw(_WORK_DOCS) if compensations and draw(_BOOL) else None
    return _StepBlock(name, offsets, null, as_text, empty, work, undo, as_name)


_FAULT_ERRORS = (
    st.sampled_from(ERROR_NAMES) | st.sampled_from(_CUSTOM_ERRORS) | st.just("builtins:LookupError")
)
_FAULT_ATTEMPTS = st.integers(1, 7) | st.lists(st.integers(1, 7), min_size=1, max_size=3)
_AT = st.sampled_from(("start", "end"))
_MESSAGES = st.text(max_size=10)


@st.composite
def _fault_docs(draw: DrawFn, targets: SearchStrategy[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {"step": draw(targets)}
    if draw(_BOOL):
        doc["latency"] = draw(_DURATIONS)
    else:
        doc["error"] = draw(_FAULT_ERRORS)
        _optional(draw, doc, "at", _AT)
        _optional(draw, doc, "retryable", _BOOL)
        _optional(draw, doc, "message", _MESSAGES)
    _optional(draw, doc, "attempts", _FAULT_ATTEMPTS)
    return doc


_ZONES = st.sampled_from((_dt.UTC, _dt.timezone(_dt.timedelta(hours=2))))
_EPOCHS = st.datetimes(
    min_value=_dt.datetime(2000, 1, 1), max_value=_dt.datetime(2100, 1, 1), timezones=_ZONES
).map(lambda m: m.isoformat()) | st.dates(
    min_value=_dt.date(2000, 1, 1), max_value=_dt.date(2100, 1, 1)
).map(lambda d: d.isoformat())
_LIMITS = st.none() | st.integers(1, 8)


@st.composite
def _settings_docs(draw: DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    _optional(draw, doc, "time_limit", _POSITIVE_DURATIONS | st.just("30d"))
    _optional(draw, doc, "epoch", _EPOCHS)
    _optional(draw, doc, "max_concurrency", _LIMITS)
    return doc


_SETTINGS_DOCS = _settings_docs()
_STATUSES = st.sampled_from(_RUN_STATUSES)
_MAKESPANS = (
    st.tuples(st.sampled_from(("", "<= ", "< ", ">= ", "> ", "== ")), durations_ms()).map(
        lambda p: f"{p[0]}{p[1]}ms"
    )
    | _DURATIONS
)
_KINDS = st.sampled_from(sorted(EVENT_KINDS))
_SAGA_REGISTER = st.sampled_from(("after", "before"))
_SAGA_ON_ERROR = st.sampled_from(("stop", "continue"))


def _expect(
    draw: DrawFn, names: list[str], deps: list[list[int]], compensations: list[str]
) -> dict[str, Any]:
    """A structurally valid ``expect`` mapping about these steps (it need not hold)."""
    doc: dict[str, Any] = {}
    some = st.sampled_from(names)
    edges = [f"{names[d]} < {names[i]}" for i, after in enumerate(deps) for d in after]
    _optional(draw, doc, "status", _STATUSES)
    if edges:
        chains = st.sampled_from(edges)
        _optional(draw, doc, "order", chains | st.lists(chains, min_size=1, max_size=3))
    _optional(draw, doc, "attempts", st.dictionaries(some, _ATTEMPTS, max_size=3))
    _optional(draw, doc, "retry_delays", st.dictionaries(some, st.lists(_DURATIONS, max_size=3)))
    for key in ("completed", "failed", "skipped", "never_started"):
        _optional(draw, doc, key, some | st.lists(some, min_size=1, max_size=3))
    _optional(draw, doc, "makespan", _MAKESPANS)
    pattern = st.fixed_dictionaries({"kind": _KINDS}, optional={"step": some, "attempt": _ATTEMPTS})
    _optional(draw, doc, "trace_contains", st.lists(pattern, max_size=3))
    if compensations:
        _optional(draw, doc, "compensations", st.lists(st.sampled_from(compensations), max_size=3))
    return doc


def _scenarios(options: _Options) -> SearchStrategy[dict[str, Any]]:
    blocks = st.lists(
        _step_blocks(options.compensations),
        min_size=options.min_steps,
        max_size=options.max_steps,
        unique_by=lambda b: b.name,
    )
    return _documents(options, blocks)


@st.composite
def _documents(
    draw: DrawFn, options: _Options, steps: SearchStrategy[list[_StepBlock]]
) -> dict[str, Any]:
    doc: dict[str, Any] = {"scenario": draw(_TITLES)}
    _optional(draw, doc, "description", _MESSAGES)
    _optional(draw, doc, "seed", _SEEDS)
    workflow: dict[str, Any] = {}
    _optional(draw, workflow, "name", _NAMES)
    _optional(draw, workflow, "max_concurrency", _LIMITS)
    if options.compensations:
        _optional(draw, workflow, "saga", _SAGA_DOCS)
    blocks = draw(steps)
    names = [b.name for b in blocks]
    deps = [_after(i, b.offsets) for i, b in enumerate(blocks)]
    workflow["steps"] = {
        b.name: b.document([names[d] for d in after]) for b, after in zip(blocks, deps, strict=True)
    }
    doc["workflow"] = workflow
    _optional(draw, doc, "input", _MAPPINGS)
    undo_names = [b.undo_name for b in blocks if b.undo is not None]
    targets = st.sampled_from([*names, *undo_names])
    faults = draw(st.lists(_fault_docs(targets), max_size=options.max_faults))
    declared = sorted({f["error"] for f in faults if f.get("error") in _CUSTOM_ERRORS})
    if declared or draw(_BOOL) is True:
        doc["errors"] = declared
    if faults or draw(_BOOL) is True:
        doc["faults"] = faults
    _optional(draw, doc, "settings", _SETTINGS_DOCS)
    if options.expectations:
        doc["expect"] = _expect(draw, names, deps, undo_names)
    return doc


@st.composite
def _saga_docs(draw: DrawFn) -> dict[str, Any]:
    saga: dict[str, Any] = {}
    _optional(draw, saga, "register", _SAGA_REGISTER)
    _optional(draw, saga, "parallel", _BOOL)
    _optional(draw, saga, "on_error", _SAGA_ON_ERROR)
    return saga


_SAGA_DOCS = _saga_docs()
_SEEDS = st.integers(0, 2**32)


_DUMP_STYLES = st.sampled_from((False, None, True))


@st.composite
def _texts(draw: DrawFn, documents: SearchStrategy[dict[str, Any]]) -> str:
    doc = draw(documents)
    text = yaml.safe_dump(
        doc,
        sort_keys=False,
        default_flow_style=draw(_DUMP_STYLES),
        allow_unicode=draw(_BOOL),
        explicit_start=draw(_BOOL),
    )
    if draw(_BOOL):
        text = "# a generated wfsim scenario\n" + text
    return text
