"""The trace: JSONL layout, digest, round trip, query helpers."""

from __future__ import annotations

import hashlib
import json
import types

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wfsim
from wfsim import Fault, RetryPolicy, Trace


@pytest.fixture
def result() -> wfsim.RunResult:
    wf = wfsim.Workflow("orders")
    wf.add_step("reserve", duration=1, output={"reserved": 1})
    wf.add_step(
        "charge", after=["reserve"], duration=2,
        retry=RetryPolicy(max_attempts=3, initial_interval=1),
    )
    wf.add_step("ship", after=["charge"], duration=1)
    wf.add_step("notify", after=["reserve"], duration=0.5)
    faults = [Fault.error("charge", attempts=[1], error=ConnectionError, message="reset")]
    return wfsim.run(wf, seed=1, faults=faults)


@pytest.mark.spec("TRACE-1")
def test_jsonl_key_order_and_sequence(result: wfsim.RunResult) -> None:
    lines = result.trace.to_jsonl().splitlines()
    assert len(lines) == len(result.trace)
    previous_t = 0.0
    for i, line in enumerate(lines):
        obj = json.loads(line)
        assert list(obj)[:5] == ["seq", "t", "kind", "step", "attempt"]
        assert obj["seq"] == i
        assert obj["t"] >= previous_t
        previous_t = obj["t"]
    assert lines[0] == '{"seq":0,"t":0.0,"kind":"run_started","step":null,"attempt":null,' \
        '"workflow":"orders","seed":1}'


@pytest.mark.spec("TRACE-2")
def test_event_kinds_and_their_fields(result: wfsim.RunResult) -> None:
    trace = result.trace
    assert trace[0].kind == "run_started"
    assert trace[-1].kind == "run_finished"
    assert trace[-1].fields == {"status": "completed", "result": None}
    by_kind = {e.kind: e for e in trace}
    assert set(by_kind) <= wfsim._core._trace.EVENT_KINDS
    assert by_kind["attempt_failed"].fields == {
        "error": "ConnectionError", "message": "reset", "retryable": True,
    }
    assert by_kind["retry_scheduled"].fields == {"delay": 1.0, "next_attempt": 2}
    assert by_kind["retry_scheduled"].attempt == 1
    assert by_kind["fault_injected"]["fault"]["error"] == "ConnectionError"
    assert trace.of_kind("attempt_succeeded")[0].fields == {"output": {"reserved": 1}}


@pytest.mark.spec("TRACE-3")
def test_digest_is_sha256_of_the_jsonl_and_round_trips(result: wfsim.RunResult) -> None:
    text = result.trace.to_jsonl()
    assert result.digest() == hashlib.sha256(text.encode()).hexdigest()
    again = Trace.from_jsonl(text)
    assert again.to_jsonl() == text
    assert again.digest() == result.digest()
    assert again == result.trace
    assert hash(again) == hash(result.trace)
    assert repr(again).startswith(f"<Trace {len(again)} events digest={result.digest()[:12]}")
    assert again.first_divergence(result.trace) is None


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_EVENTS = st.builds(
    wfsim.TraceEvent,
    seq=st.integers(0, 10**6),
    t_ns=st.integers(0, 10**15),
    kind=st.sampled_from(sorted(wfsim._core._trace.EVENT_KINDS)),
    step=st.none() | st.text(max_size=8),
    attempt=st.none() | st.integers(1, 9),
    fields=st.dictionaries(
        st.text(max_size=8).filter(lambda k: k not in {"seq", "t", "kind", "step", "attempt"}),
        _JSON_VALUES,
        max_size=4,
    ),
)


#: Events no engine writes, for the lines' plain way: fields named like a fixed key, a
#: read-only mapping of fields, a bool attempt, any text as kind and step.
_ODD_EVENTS = st.builds(
    wfsim.TraceEvent,
    seq=st.integers(0, 10**6),
    t_ns=st.integers(-(10**15), 10**18),
    kind=st.text(max_size=6),
    step=st.none() | st.text(max_size=6),
    attempt=st.none() | st.booleans() | st.integers(-(10**20), 10**20),
    fields=st.dictionaries(
        st.sampled_from(["seq", "t", "kind", "step", "attempt", "x", 'q"\\n']),
        _JSON_VALUES,
        max_size=3,
    ).flatmap(lambda d: st.sampled_from([d, types.MappingProxyType(d)])),
)


@pytest.mark.spec("TRACE-3")
@settings(max_examples=60, deadline=None)
@given(st.lists(_EVENTS | _ODD_EVENTS, max_size=12))
def test_digest_is_sha256_of_the_canonical_jsonl_for_any_trace(events: list) -> None:
    """The fast digest (one reused encoder, one hash) equals the plain definition."""
    canonical = "".join(
        json.dumps(e.to_dict(), separators=(",", ":"), ensure_ascii=False) + "\n"
        for e in events
    )
    trace = Trace(events)
    assert trace.to_jsonl() == canonical
    # The engine's rows (each event made only when read) hash the same.
    rows = Trace.of_rows([(e.seq, e.t_ns, e.kind, e.step, e.attempt, e.fields) for e in events])
    assert rows.to_jsonl() == canonical
    assert len(rows) == len(events)
    assert list(rows) == events
    assert rows.to_jsonl() == canonical  # once the events are made too
    assert "".join(e.to_json() + "\n" for e in events) == canonical
    assert trace.digest() == hashlib.sha256(canonical.encode()).hexdigest()


class _Name(str):
    """A str subclass: equal to its text, but not the exact type the engine records."""


@pytest.mark.spec("TRACE-3")
@pytest.mark.parametrize("kept", [4096, 0])
def test_the_pieces_kept_across_traces_never_write_an_equal_value_of_another_type(
    kept: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``t`` and kind/step/attempt texts kept from one trace serve the next only for
    values of the same type: ``attempt=True`` equals ``1`` but is written ``true``."""
    from wfsim._core import _trace

    monkeypatch.setattr(_trace, "_PIECES_KEPT", kept)
    monkeypatch.setattr(_trace, "_TIMES", {})
    monkeypatch.setattr(_trace, "_HEADS", {})
    plain = [
        wfsim.TraceEvent(0, 1_000_000_000, "attempt_started", "a", 1),
        wfsim.TraceEvent(1, 1_500_000_000, "attempt_failed", "a", 1, {"error": "E"}),
    ]
    odd = [
        wfsim.TraceEvent(0, 1_000_000_000, "attempt_started", "a", True),  # type: ignore[arg-type]
        wfsim.TraceEvent(1, 1_500_000_000, "attempt_failed", _Name("a"), 1, {"error": "E"}),
        wfsim.TraceEvent(2, True, "attempt_started", "a", 1),  # type: ignore[arg-type]
        wfsim.TraceEvent(3, 1_000_000_000, "attempt_started", "a", 1, {"t": 1}),
    ]
    for events in (plain, odd, plain, odd):
        canonical = "".join(
            json.dumps(e.to_dict(), separators=(",", ":"), ensure_ascii=False) + "\n"
            for e in events
        )
        assert Trace(events).to_jsonl() == canonical
        rows = [(e.seq, e.t_ns, e.kind, e.step, e.attempt, e.fields) for e in events]
        assert Trace.of_rows(rows).to_jsonl() == canonical
    assert '"attempt":true' in Trace(odd).to_jsonl()
    assert len(_trace._TIMES) <= kept and len(_trace._HEADS) <= kept


def test_events_made_from_rows_are_the_events_init_makes(result: wfsim.RunResult) -> None:
    """Trace rows become events without attrs' ``__init__``: the events must be the same
    (fails if TraceEvent gains a field, a default the rows lack, a validator or a converter)."""
    import pickle

    from wfsim._core._trace import _events_of

    fields = attrs.fields(wfsim.TraceEvent)
    assert [f.name for f in fields] == ["seq", "t_ns", "kind", "step", "attempt", "fields"]
    assert all(f.validator is None and f.converter is None for f in fields)
    assert wfsim.TraceEvent.__setattr__ is not object.__setattr__  # still frozen
    rows = [(e.seq, e.t_ns, e.kind, e.step, e.attempt, e.fields) for e in result.trace]
    made = _events_of(rows)
    by_init = tuple(wfsim.TraceEvent(*row) for row in rows)
    assert made == by_init
    assert [repr(e) for e in made] == [repr(e) for e in by_init]
    assert [attrs.asdict(e) for e in made] == [attrs.asdict(e) for e in by_init]
    assert pickle.loads(pickle.dumps(made)) == by_init
    assert attrs.evolve(made[3], seq=99) == attrs.evolve(by_init[3], seq=99)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made[0].seq = 5  # type: ignore[misc]
    assert Trace.of_rows(rows)[:] == by_init


@pytest.mark.spec("TRACE-3")
def test_the_jsonl_is_the_same_without_the_c_encoder_and_refuses_what_json_refuses(
    result: wfsim.RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = result.trace.to_jsonl()
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    assert Trace(list(result.trace)).to_jsonl() == text
    monkeypatch.undo()
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="Circular reference"):
        Trace([wfsim.TraceEvent(0, 0, "run_started", fields={"x": loop})]).to_jsonl()
    with pytest.raises(TypeError, match="not JSON serializable"):
        Trace([wfsim.TraceEvent(0, 0, "run_started", fields={"x": object()})]).to_jsonl()
    assert Trace(list(result.trace)).to_jsonl() == text  # a failed encoding leaves nothing


@pytest.mark.spec("TRACE-3")
def test_first_divergence_finds_the_first_different_event(result: wfsim.RunResult) -> None:
    events = list(result.trace)
    changed = [*events[:5], wfsim.TraceEvent(5, 0, "step_ready", "x"), *events[6:]]
    assert result.trace.first_divergence(Trace(changed)) == 5
    assert result.trace.first_divergence(Trace(events[:-1])) == len(events) - 1


@pytest.mark.spec("TRACE-4")
def test_query_helpers(result: wfsim.RunResult) -> None:
    trace = result.trace
    attempts = trace.attempts("charge")
    assert [(a.number, a.started, a.ended, a.outcome, a.error) for a in attempts] == [
        (1, 1.0, 1.0, "failed", "ConnectionError"),
        (2, 2.0, 4.0, "succeeded", None),
    ]
    assert trace.retry_delays("charge") == [1.0]
    assert trace.retry_delays_ns("charge") == [1_000_000_000]
    assert trace.completion_order() == ["reserve", "notify", "charge", "ship"]
    assert trace.start_order() == ["reserve", "charge", "notify", "ship"] or \
        trace.start_order() == ["reserve", "notify", "charge", "ship"]
    assert trace.happened_before("reserve", "charge")
    assert trace.happened_before("charge", "ship")
    assert not trace.happened_before("ship", "charge")
    assert not trace.happened_before("notify", "charge")  # they started together
    assert not trace.happened_before("missing", "ship")
    assert trace.step_status("ship") == "completed"
    assert trace.step_status("missing") is None
    assert trace.max_concurrency() == 2
    assert [e.kind for e in trace.for_step("notify")] == [
        "step_ready", "attempt_started", "attempt_succeeded", "step_completed",
    ]
    assert trace[1:3][0].seq == 1


@pytest.mark.spec("TRACE-4")
def test_attempt_that_never_ended_is_listed_open() -> None:
    wf = wfsim.Workflow("open")
    wf.add_step("forever", duration="2d")
    trace = wfsim.run(wf, time_limit="1d").trace
    (attempt,) = trace.attempts("forever")
    assert (attempt.ended, attempt.outcome) == (None, None)
    assert trace.step_status("forever") == "cancelled"


def test_readable_timeline(result: wfsim.RunResult) -> None:
    text = result.trace.format()
    assert text.splitlines()[0] == '[      0s] #0 run_started  workflow="orders" seed=1'
    assert 'attempt_failed charge#1 error="ConnectionError" message="reset" retryable=true' in text
    assert "[      1s] #" in text


def test_long_fields_are_shortened_in_the_timeline() -> None:
    event = wfsim.TraceEvent(0, 0, "attempt_succeeded", "s", 1, {"output": {"k": "x" * 100}})
    assert event.describe().endswith('...')
    assert event.get("missing", 3) == 3
    assert event.to_dict()["output"] == {"k": "x" * 100}


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=400))


@pytest.mark.spec("TRACE-2")
@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.one_of(st.text(max_size=30), st.integers()), _SCALARS, max_size=8)
    | _SCALARS
    | st.lists(_SCALARS, max_size=4)
)
def test_outputs_and_fields_are_what_their_json_round_trip_gives(value: object) -> None:
    """The trace keeps an output or event fields as JSON would read them back (and only
    when they are JSON-able and short); the shortcut for flat dicts gives the same."""
    from wfsim._core._values import _MAX_OUTPUT_CHARS, _MISSING, _jsonable

    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        expected = _MISSING if value is None or len(text) > _MAX_OUTPUT_CHARS else json.loads(text)
    except (TypeError, ValueError):
        expected = _MISSING
    got = _jsonable(value)
    if expected is _MISSING:
        assert got is _MISSING
    else:
        assert json.dumps(got) == json.dumps(expected)
        assert type(got) is type(expected)
