"""Properties of the policy, over stores in many zones, instants around DST changes and
overnight hours.

* No ``send`` while the store is closed, or closing within the margin, at ``now`` in its own
  zone (invariant 1); a ``defer`` only to an opening that leaves the margin.
* ``send_by`` is never after the store's closing minus the margin, and after ``not_before``.
* The same inputs give the same decision, byte for byte, with no clock or randomness read.
* The holdout share is within 2 points of ``holdout_pct`` over 10,000 customers.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from app.decisions.inputs import DecisionInputs
from app.decisions.policy import decide, holdout_bucket
from app.decisions.services.pipeline import explain
from app.decisions.settings import PolicySettings
from app.hours import compile_hours
from tests.decision_builders import customer, event, inputs, offer, store
from tests.purity import forbid_clock_and_randomness

UTC = dt.UTC
ZONES = (
    "Europe/Zurich",
    "Europe/London",
    "America/New_York",
    "America/St_Johns",  # -03:30, DST
    "America/Santiago",  # DST at midnight
    "America/Sao_Paulo",
    "Australia/Sydney",  # southern DST
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kolkata",  # +05:30, no DST
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Kiritimati",  # +14
    "Africa/Cairo",
    "UTC",
)
EXPRESSIONS = (
    "Mo-Sa 09:00-19:00",
    "Mo-Fr 08:00-12:00,13:30-18:30; Sa 10:00-14:00",
    "Mo-Su 22:00-02:00",  # overnight
    "Fr-Sa 18:00-03:00; Su 12:00-20:00",
    "Mo-Su 01:30-03:30",  # spans the usual DST hour
    "Mo-Su 02:00-02:45",
    "24/7",
    "Mo-Su 00:00-24:00",
    "Tu 10:00-10:25",  # shorter than most margins
    "Mo-Su 09:00-17:00 || unknown",
)


@functools.cache
def transitions(zone: str) -> tuple[dt.datetime, ...]:
    """The UTC-offset changes of ``zone`` in 2024-2026 (hour precision is enough here)."""
    tz = ZoneInfo(zone)
    found: list[dt.datetime] = []
    t = dt.datetime(2024, 1, 1, tzinfo=UTC)
    previous = t.astimezone(tz).utcoffset()
    while t.year < 2027:
        t += dt.timedelta(hours=1)
        offset = t.astimezone(tz).utcoffset()
        if offset != previous:
            found.append(t)
            previous = offset
    return tuple(found) or (dt.datetime(2025, 3, 30, 1, tzinfo=UTC),)


@st.composite
def instants(draw: st.DrawFn, zone: str) -> dt.datetime:
    if draw(st.booleans()):
        around = draw(st.sampled_from(transitions(zone)))
        return around + dt.timedelta(minutes=draw(st.integers(-26 * 60, 26 * 60)))
    return draw(
        st.datetimes(
            min_value=dt.datetime(2024, 1, 1),
            max_value=dt.datetime(2026, 12, 31),
            timezones=st.just(UTC),
        )
    )


@st.composite
def situations(draw: st.DrawFn) -> tuple[DecisionInputs, dt.datetime]:
    zone = draw(st.sampled_from(ZONES))
    expression = draw(st.sampled_from(EXPRESSIONS))
    now = draw(instants(zone))
    if draw(st.booleans()):
        # Close to an opening or closing, where margins and defers matter.
        change = compile_hours(expression, zone).next_change(now)
        if change is not None:
            now = change + dt.timedelta(minutes=draw(st.integers(-180, 60)))
    now = now.replace(microsecond=0)
    settings = PolicySettings(
        closing_margin_minutes=draw(st.integers(0, 90)),
        default_freshness_seconds=draw(st.integers(60, 4 * 3600)),
        # Quiet hours off, or sometimes on: they only ever add suppressions.
        quiet_hours_start="00:00",
        quiet_hours_end=draw(st.sampled_from(["00:00", "06:00"])),
    )
    campaigns = (
        offer("a-offer", freshness_seconds=draw(st.none() | st.integers(60, 7200))),
        offer(
            "b-defer",
            "20",
            0.5,
            defer_window_seconds=draw(st.none() | st.integers(60, 6 * 3600)),
        ),
    )
    built = inputs(
        *campaigns,
        customer=customer(at=now, timezone=zone),
        store=store(timezone=zone, country=None, opening_hours=expression),
        event=event(now, customer_timezone=draw(st.none() | st.sampled_from(ZONES))),
        settings=settings,
    )
    return built, now


@settings(max_examples=300, deadline=None)
@given(situations())
def test_no_send_while_closed_or_closing_and_send_by_before_closing(
    case: tuple[DecisionInputs, dt.datetime],
) -> None:
    built, now = case
    decision = decide(built, now)
    hours = compile_hours(built.store.opening_hours, built.store.timezone, built.store.country)
    margin = dt.timedelta(minutes=built.settings.closing_margin_minutes)
    if decision.outcome in ("suppress",):
        assert decision.send_by is None
        return
    assert decision.not_before is not None
    assert decision.send_by is not None
    start = decision.not_before
    # Compare instants, not datetimes: a wall time in a DST gap never compares equal across
    # zones (PEP 495), though it names the same instant.
    if decision.outcome == "send":
        assert start.timestamp() == now.timestamp()
    else:
        assert decision.outcome in ("defer", "holdout")
        assert start.timestamp() >= now.timestamp()
    assert hours.state(start) == "open", (decision.summary, hours, start)
    closes = hours.closes_at(start)
    if closes is not None:
        assert closes - start > margin, (decision.summary, closes, start)
        assert decision.send_by <= closes.astimezone(dt.UTC) - margin
    assert decision.send_by > start


@settings(max_examples=100, deadline=None)
@given(situations())
def test_same_inputs_same_decision_byte_for_byte(case: tuple[DecisionInputs, dt.datetime]) -> None:
    built, now = case
    with forbid_clock_and_randomness():
        first = decide(built, now)
        again = decide(built, now)
        shown = explain(first, built.event, None)  # sentences too: no clock in them
    assert msgspec.json.encode(first) == msgspec.json.encode(again)
    assert msgspec.json.encode(shown) == msgspec.json.encode(explain(again, built.event, None))


@settings(max_examples=25, deadline=None)
@given(
    pct=st.floats(0, 100, allow_nan=False),
    campaign_id=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
)
def test_holdout_share_within_two_points(pct: float, campaign_id: str) -> None:
    held = sum(holdout_bucket(f"customer-{i}", campaign_id) < pct for i in range(10_000))
    assert abs(held / 100 - pct) <= 2.0


def test_the_decision_uses_the_holdout_bucket() -> None:
    built = [
        inputs(offer("blend", holdout_pct=30), customer=customer(customer_id=f"customer-{i}"))
        for i in range(200)
    ]
    now = dt.datetime(2025, 3, 14, 11, 30, tzinfo=UTC)
    for each in built:
        expected = holdout_bucket(each.customer.customer_id, "blend") < 30
        assert (decide(each, now).outcome == "holdout") is expected
