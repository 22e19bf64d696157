"""Retry policies: the pure backoff function, jitter, validation, other engines' profiles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wfsim
from wfsim import RetryPolicy, backoff_ns, retry_delay

S = 1_000_000_000


def delays(policy: RetryPolicy, n: int) -> list[float]:
    return [backoff_ns(policy, k) / S for k in range(1, n + 1)]


@pytest.mark.spec("RETRY-2")
def test_temporal_default_schedule_caps_at_100x_initial() -> None:
    # specs/sources.md 1: default policy delays [1, 2, 4, ..., 64, 100, 100, 100]
    assert delays(RetryPolicy(), 10) == [1, 2, 4, 8, 16, 32, 64, 100, 100, 100]


@pytest.mark.spec("RETRY-2")
def test_capped_schedule_matches_temporal_measurements() -> None:
    assert delays(RetryPolicy(initial_interval=15, max_interval=60), 6) == [
        15, 30, 60, 60, 60, 60,
    ]
    assert delays(RetryPolicy(initial_interval=5, backoff_coefficient=1), 5) == [5] * 5


@pytest.mark.spec("RETRY-2")
def test_backoff_is_exact_in_integer_nanoseconds() -> None:
    policy = RetryPolicy(initial_interval="100ms", backoff_coefficient=1.5)
    assert [backoff_ns(policy, k) for k in (1, 2, 3)] == [100_000_000, 150_000_000, 225_000_000]


@pytest.mark.spec("RETRY-2")
def test_huge_attempt_numbers_cap_instead_of_overflowing() -> None:
    policy = RetryPolicy(initial_interval=1, max_interval=60)
    assert backoff_ns(policy, 10_000) == 60 * S


@pytest.mark.spec("RETRY-1")
def test_attempt_counting_is_total_attempts() -> None:
    assert RetryPolicy(max_attempts=0).allows_attempt(10_000)
    assert RetryPolicy(max_attempts=1).allows_attempt(1)
    assert not RetryPolicy(max_attempts=1).allows_attempt(2)
    assert RetryPolicy(max_attempts=5).allows_attempt(5)
    assert not RetryPolicy(max_attempts=5).allows_attempt(6)


@pytest.mark.spec("RETRY-6")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backoff_coefficient": 0.5}, "backoff_coefficient cannot be less than 1"),
        ({"initial_interval": 10, "max_interval": 5}, "max_interval (5.0 s) cannot be less than"),
        ({"max_attempts": -1}, "max_attempts cannot be negative"),
        ({"jitter": "fuzzy"}, "jitter must be one of none, full, equal, decorrelated"),
        ({"initial_interval": "soon"}, "initial_interval 'soon' is not a duration"),
        ({"non_retryable": [42]}, "non_retryable entries must be exception classes"),
    ],
)
def test_invalid_policies_are_rejected_with_a_reason(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        RetryPolicy(**kwargs)
    assert message in str(info.value)


@pytest.mark.spec("RETRY-6")
def test_max_attempts_one_skips_the_other_checks_like_temporal() -> None:
    RetryPolicy(max_attempts=1, backoff_coefficient=0.5)


@pytest.mark.spec("RETRY-6")
def test_policy_errors_are_wfsim_errors() -> None:
    with pytest.raises(wfsim.RetryPolicyError):
        RetryPolicy(max_attempts=-1)


@pytest.mark.spec("RETRY-3")
@given(draw=st.floats(0, 1, exclude_max=True), k=st.integers(1, 30))
def test_jitter_stays_in_its_documented_range(draw: float, k: int) -> None:
    base = RetryPolicy(initial_interval=1, max_interval=60)
    v = backoff_ns(base, k)
    full_policy = RetryPolicy(initial_interval=1, max_interval=60, jitter="full")
    full = retry_delay(full_policy, k, draw=draw)
    assert 0 <= full <= v
    equal = retry_delay(
        RetryPolicy(initial_interval=1, max_interval=60, jitter="equal"), k, draw=draw
    )
    assert v // 2 <= equal <= v
    deco_policy = RetryPolicy(initial_interval=1, max_interval=60, jitter="decorrelated")
    prev = retry_delay(deco_policy, k, draw=draw)
    assert 1 * S <= prev <= 60 * S
    nxt = retry_delay(deco_policy, k + 1, draw=draw, previous_ns=prev)
    assert 1 * S <= nxt <= min(60 * S, 3 * prev)


@pytest.mark.spec("RETRY-3")
def test_no_jitter_ignores_the_draw() -> None:
    assert retry_delay(RetryPolicy(), 3, draw=0.99) == 4 * S


@pytest.mark.spec("RETRY-3", "DET-3")
def test_engine_draws_jitter_from_the_seeded_jitter_stream() -> None:
    policy = RetryPolicy(max_attempts=4, initial_interval=10, jitter="full")
    wf = wfsim.Workflow("jittery")
    wf.add_step("flaky", duration=1, retry=policy)
    faults = [wfsim.Fault.error("flaky", attempts=[1, 2, 3])]
    first = wfsim.run(wf, seed=5, faults=faults)
    again = wfsim.run(wf, seed=5, faults=faults)
    other = wfsim.run(wf, seed=6, faults=faults)
    got = first.trace.retry_delays_ns("flaky")
    assert got == again.trace.retry_delays_ns("flaky")
    assert got != other.trace.retry_delays_ns("flaky")
    expected = []
    source = wfsim.SeededChoices(5)
    for k in (1, 2, 3):
        expected.append(retry_delay(policy, k, draw=source.uniform("jitter")))
    assert got == expected
    assert all(0 <= d <= backoff_ns(policy, k + 1) for k, d in enumerate(got))


@pytest.mark.spec("RETRY-7")
def test_pyworkflow_profile_counts_retries() -> None:
    policy = RetryPolicy.pyworkflow(
        max_retries=5, retry_delay=1, retry_backoff=2, max_retry_delay=60
    )
    assert policy.max_attempts == 6
    assert delays(policy, 5) == [1, 2, 4, 8, 16]


@pytest.mark.spec("RETRY-7")
def test_celery_profile_matches_measured_countdowns() -> None:
    # specs/sources.md 1: retry_backoff=True, max_retries=8 -> [1, 2, 4, ..., 128], 9 executions
    policy = RetryPolicy.celery(max_retries=8, retry_backoff=True)
    assert policy.max_attempts == 9
    assert delays(policy, 8) == [1, 2, 4, 8, 16, 32, 64, 128]
    policy = RetryPolicy.celery(max_retries=5, retry_backoff=3, retry_backoff_max=20)
    assert delays(policy, 5) == [3, 6, 12, 20, 20]
    assert RetryPolicy.celery(retry_backoff=2.7).initial_interval == 2  # int(max(1, 2.7))
    no_backoff = RetryPolicy.celery()
    assert no_backoff.max_attempts == 4
    assert delays(no_backoff, 3) == [180, 180, 180]
    assert RetryPolicy.celery(retry_backoff=True, retry_jitter=True).jitter == "full"


@pytest.mark.spec("RETRY-7")
def test_prefect_profile_repeats_the_last_delay() -> None:
    policy = RetryPolicy.prefect(retries=5, retry_delay_seconds=[1, 10, 100])
    assert policy.max_attempts == 6
    assert delays(policy, 5) == [1, 10, 100, 100, 100]
    assert delays(RetryPolicy.prefect(retries=3, retry_delay_seconds=0.5), 3) == [0.5] * 3
    with pytest.raises(wfsim.RetryPolicyError, match="more than 50 retry delays"):
        RetryPolicy.prefect(retries=60, retry_delay_seconds=list(range(51)))


@pytest.mark.spec("RETRY-7")
def test_tenacity_profile_matches_wait_exponential() -> None:
    # specs/sources.md 1 measured sleeps
    assert delays(RetryPolicy.tenacity(multiplier=1, max=60), 8) == [1, 2, 4, 8, 16, 32, 60, 60]
    assert delays(RetryPolicy.tenacity(multiplier=0.5, min=2, max=10), 8) == [
        2, 2, 2, 4, 8, 10, 10, 10,
    ]
    assert delays(RetryPolicy.tenacity(multiplier=1, exp_base=3, max=100), 8) == [
        1, 3, 9, 27, 81, 100, 100, 100,
    ]


@pytest.mark.spec("RETRY-7")
def test_temporal_profile_uses_temporal_names() -> None:
    policy = RetryPolicy.temporal(
        maximum_attempts=5, maximum_interval=60, non_retryable_error_types=["ValueError"]
    )
    assert policy.max_attempts == 5
    assert delays(policy, 4) == [1, 2, 4, 8]
    assert policy.non_retryable == ("ValueError",)
    assert not policy.is_retryable("ValueError")
    assert policy.is_retryable("ValueErrorX")  # exact names, not substrings


@pytest.mark.spec("RETRY-4")
def test_non_retryable_accepts_classes_and_names() -> None:
    policy = RetryPolicy(non_retryable=[KeyError, "Boom"])
    assert policy.non_retryable == ("KeyError", "Boom")


@pytest.mark.spec("RETRY-2", "RETRY-3")
def test_min_interval_is_a_floor_after_the_jitter() -> None:
    policy = RetryPolicy(initial_interval=10, max_interval=60, min_interval=4, jitter="full")
    assert retry_delay(policy, 1, draw=0.0) == 4 * S
    assert retry_delay(policy, 1, draw=0.5) == 5 * S


@pytest.mark.spec("RETRY-7", "RETRY-3")
def test_celery_jitter_differs_as_the_spec_says() -> None:
    """Celery: retry_jitter defaults to True, whole seconds in [0, v]; wfsim's celery
    profile defaults to no jitter and draws nanoseconds in [0, v)."""
    assert RetryPolicy.celery(retry_backoff=True).jitter == "none"
    jittered = RetryPolicy.celery(retry_backoff=True, retry_backoff_max=600, retry_jitter=True)
    v = 2**5 * 10**9  # Celery's countdown after 5 retries, before the jitter
    assert wfsim.retry_delay(jittered, 6, draw=0.0) == 0
    top = wfsim.retry_delay(jittered, 6, draw=0.999999999)
    assert v - 10**9 < top < v  # never v itself, and not a whole number of seconds
    assert top % 10**9 != 0
