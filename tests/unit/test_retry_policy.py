"""Backoff with full jitter, Retry-After, the send_by cap, dead letters, circuit breaker."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from notifications.breaker import CircuitBreaker
from notifications.gateways.base import parse_retry_after
from notifications.retry import RetryPolicy

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@given(attempt=st.integers(min_value=1, max_value=80), seed=st.integers())
def test_full_jitter_stays_within_the_exponential_ceiling(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base=1.0, cap=300.0, rng=random.Random(seed))
    assert 0.0 <= policy.backoff(attempt) <= min(300.0, 2.0 ** (attempt - 1))


def test_jitter_spreads_retries_out() -> None:
    policy = RetryPolicy(base=1.0, cap=300.0, rng=random.Random(7))
    delays = {round(policy.backoff(6), 3) for _ in range(50)}
    assert len(delays) > 40


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    policy = RetryPolicy(base=0.01, cap=0.02, rng=random.Random(1))
    decision = policy.decide(attempt=1, now=NOW, send_by=NOW + timedelta(hours=1), retry_after=120)
    assert decision.action == "retry"
    assert decision.at == NOW + timedelta(seconds=120)


def test_a_retry_never_goes_past_send_by() -> None:
    policy = RetryPolicy(base=1.0, cap=1.0, rng=random.Random(1))
    decision = policy.decide(
        attempt=1, now=NOW, send_by=NOW + timedelta(seconds=30), retry_after=31
    )
    assert decision.action == "expire"


def test_attempts_used_up_dead_letter() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.decide(attempt=2, now=NOW, send_by=NOW + timedelta(hours=1)).action == "retry"
    assert policy.decide(attempt=3, now=NOW, send_by=NOW + timedelta(hours=1)).action == "fail"


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_circuit_opens_after_failures_and_lets_one_trial_through() -> None:
    clock = [0.0]
    breaker = CircuitBreaker(3, 10.0, clock=lambda: clock[0])
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock[0] = 10.0
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one at a time
    breaker.record_failure()
    assert breaker.state == "open"
    clock[0] = 20.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.allow()
