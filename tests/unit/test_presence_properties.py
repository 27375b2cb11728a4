"""Presence hysteresis and ordering, as properties over random report sequences."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from app.events.services import Presence, advance, is_late, zone_of

T0 = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC)
DWELL = 120
ZONES = ("inside", "edge", "near", "outside")

zones = st.sampled_from(ZONES)
reports = st.lists(st.tuples(st.integers(min_value=0, max_value=3600), zones), max_size=40)


def replay(sequence: list[tuple[int, str]], row: Presence | None = None) -> tuple[Presence, list]:
    """What ingestion does for one geofence: reports in arrival order, late ones ignored."""
    row = row or Presence("g")
    watermark: dt.datetime | None = None
    steps = []
    for seconds, zone in sequence:
        at = T0 + dt.timedelta(seconds=seconds)
        if is_late(at, watermark):
            steps.append((at, zone, [], row.state))
            continue
        watermark = at
        changes = advance(row, zone, at, dwell_seconds=DWELL)  # type: ignore[arg-type]
        steps.append((at, zone, changes, row.state))
    return row, steps


@given(reports)
def test_enters_only_inside_and_exits_only_clearly_outside(sequence: list[tuple[int, str]]) -> None:
    _, steps = replay(sequence)
    for _, zone, changes, _ in steps:
        if "enter" in changes:
            assert zone == "inside"
        if "exit" in changes:
            assert zone == "outside"


@given(st.lists(st.tuples(st.integers(0, 3600), st.sampled_from(("edge", "near"))), max_size=40))
def test_a_wandering_fix_at_the_door_never_flaps(sequence: list[tuple[int, str]]) -> None:
    outside, steps = replay(sequence)
    assert all(not changes for _, _, changes, _ in steps)
    assert outside.state == "outside"
    inside = Presence("g", state="inside", entered_at=T0, last_seen_at=T0)
    inside_after, steps = replay(sequence, inside)
    assert all("exit" not in changes for _, _, changes, _ in steps)
    assert inside_after.inside


@given(reports)
def test_presence_never_moves_backwards(sequence: list[tuple[int, str]]) -> None:
    row, steps = replay(sequence)
    entered = [row_at for row_at, _, changes, _ in steps if "enter" in changes]
    exited = [row_at for row_at, _, changes, _ in steps if "exit" in changes]
    assert entered == sorted(entered)
    assert exited == sorted(exited)
    applied = [at for at, _, changes, _ in steps if changes]
    assert applied == sorted(applied)
    if row.entered_at and row.exited_at and row.state == "outside":
        assert row.exited_at >= row.entered_at


@given(reports)
def test_out_of_order_arrival_acts_on_the_reports_that_were_newest_when_they_came(
    sequence: list[tuple[int, str]],
) -> None:
    """Late reports are dropped, so the result equals replaying only the running maxima."""
    newest: list[tuple[int, str]] = []
    for seconds, zone in sequence:
        if not newest or seconds >= newest[-1][0]:
            newest.append((seconds, zone))
    assert replay(sequence)[0] == replay(newest)[0]


@given(reports)
def test_dwell_once_per_visit_and_only_after_the_dwell_time(
    sequence: list[tuple[int, str]],
) -> None:
    _, steps = replay(sorted(sequence))
    visit_start: dt.datetime | None = None
    dwelled = False
    for at, _, changes, _ in steps:
        if "enter" in changes:
            visit_start, dwelled = at, False
        if "dwell" in changes:
            assert visit_start is not None
            assert not dwelled
            assert at >= visit_start + dt.timedelta(seconds=DWELL)
            dwelled = True
        if "exit" in changes:
            visit_start = None


@given(reports)
def test_the_same_report_twice_changes_nothing_the_second_time(
    sequence: list[tuple[int, str]],
) -> None:
    row, _ = replay(sorted(sequence))
    if sequence:
        seconds, zone = max(sequence)
        at = T0 + dt.timedelta(seconds=seconds)
        again = advance(row, zone, at, dwell_seconds=DWELL)  # type: ignore[arg-type]
        assert "enter" not in again
        assert "exit" not in again


@given(
    st.floats(-2000, 2000, allow_nan=False),
    st.floats(-2000, 2000, allow_nan=False),
    st.floats(0, 500, allow_nan=False),
    st.floats(0, 100, allow_nan=False),
)
def test_zones_follow_the_distance(a: float, b: float, accuracy: float, buffer: float) -> None:
    """Deeper inside is never a weaker zone."""
    near, far = max(a, b), min(a, b)
    rank = {zone: n for n, zone in enumerate(ZONES)}
    assert rank[zone_of(near, accuracy, buffer)] <= rank[zone_of(far, accuracy, buffer)]
    assert zone_of(None, accuracy, buffer) == "outside"


def test_claims_override_the_zone() -> None:
    row = Presence("g")
    assert advance(row, "edge", T0, dwell_seconds=DWELL, claim="enter") == ["enter"]
    assert advance(row, "inside", T0, dwell_seconds=DWELL, claim="exit") == ["exit"]
    fresh = Presence("g")
    assert advance(fresh, "edge", T0, dwell_seconds=0, claim="dwell") == ["enter", "dwell"]
