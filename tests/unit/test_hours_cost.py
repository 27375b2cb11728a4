"""Every accepted expression is evaluated within a bounded amount of work.

A request for a store's hours - `compile_hours`, then `state`, `next_change`, `opens_at`
and `closes_at` at an arbitrary instant, with every cache cold - must stay far below 50 ms
of CPU. Tests must not time anything (a loaded machine would make them flaky), so the
engine counts its work in units of about a microsecond (`app.hours._work`): library
calls, parsed and analysed characters, day evaluations weighted by the rules evaluated,
days walked, calendars and zone transitions loaded. These tests check that the count of
each request is within `COST_BUDGET` and within the bound computed when the expression
was accepted (`Plan.cost`); what cannot be bounded is rejected at compile time, on field
`opening_hours`. `kairos bench hours` times the same table.
"""

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opening_hours import OpeningHours

from app.hours import OPENING_HOURS_MAX_LENGTH, OpeningHoursError, WeeklyHours, compile_hours
from app.hours import weekly as weekly_module
from app.hours._expression import clear_caches
from app.hours._plan import COST_BUDGET, make_plan
from app.hours._work import Work, count_work
from tests.unit.test_hours_grammar import expressions

STORES = (
    ("Europe/London", "GB", None),
    ("Europe/London", "GB", "SCT"),
    ("America/New_York", "US", "NY"),
    ("Asia/Tokyo", "JP", None),
    ("Australia/Lord_Howe", "AU", "NSW"),
)
INSTANTS = (
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # London's spring gap
    datetime(2026, 12, 24, 23, 0, tzinfo=UTC),  # Christmas
    datetime(2031, 1, 1, 0, 5, tzinfo=UTC),
    datetime(2287, 6, 1, 12, tzinfo=UTC),  # far from any cached year
)


def pad(rule: str, separator: str = "; ", first: str = "") -> str:
    """`rule` repeated up to the length limit."""
    text = first
    while True:
        longer = f"{text}{separator}{rule}" if text else rule
        if len(longer) > OPENING_HOURS_MAX_LENGTH:
            return text
        text = longer


def minute_ranges(step: int, prefix: str = "Mo-Su ", suffix: str = "") -> str:
    """One-minute ranges every `step` minutes, up to the length limit."""
    text = prefix
    for start in range(0, 24 * 60 - 1, step):
        item = f"{start // 60:02d}:{start % 60:02d}-{(start + 1) // 60:02d}:{(start + 1) % 60:02d}"
        longer = text + ("," if text != prefix else "") + item
        if len(longer) + len(suffix) > OPENING_HOURS_MAX_LENGTH:
            break
        text = longer
    return text + suffix


MONTHS = ("Jan", "Mar", "May", "Jul", "Sep", "Nov")
FIFTY_EXCEPTIONS = "Mo-Fr 09:00-18:00; Sa 10:00-14:00; PH off; " + "; ".join(
    f"{MONTHS[i % 6]} {1 + i % 28:02d} off" for i in range(50)
)
# Realistic expressions, and spellings of 24/7 or of "never changes": all accepted.
ACCEPTED = {
    "24/7": "24/7",
    "Mo-Su 00:00-24:00": "Mo-Su 00:00-24:00",
    "00:00-24:00": "00:00-24:00",
    "Mo-Su 00:00-48:00": "Mo-Su 00:00-48:00",
    "Mo-Su 00:00-23:59": "Mo-Su 00:00-23:59",
    "Mo-Fr,Sa-Su 00:00-24:00": "Mo-Fr 00:00-24:00; Sa-Su 00:00-24:00",
    "Jan-Dec Mo-Su 00:00-24:00": "Jan-Dec Mo-Su 00:00-24:00",
    "week 1-53": "week 1-53 00:00-24:00",
    "2000-2100": "2000-2100 Mo-Su 00:00-24:00",
    "off": "off",
    "unknown": "unknown",
    "one day in 2030": "2030 Jan 01 10:00-12:00",
    "Christmas only": "Dec 25 10:00-12:00",
    "24/7 || unknown": "Mo-Su 00:00-24:00 || unknown",
    "24h rules to the limit": pad("Mo-Su 00:00-24:00"),
    "48h rules to the limit": pad("Mo-Su 00:00-48:00"),
    "per-day 24h rules to the limit": pad(
        "Mo 00:00-24:00; Tu 00:00-24:00; We 00:00-24:00; Th 00:00-24:00; Fr 00:00-24:00; "
        "Sa 00:00-24:00; Su 00:00-24:00"
    ),
    "fallback chain to the limit": pad("Mo-Fr 09:00-18:00", " || ")[:3000].rsplit(" ||", 1)[0],
    "long comment": 'Mo-Su 00:00-24:00 "' + "x" * 3970 + '"',
    "comment flips": "; ".join(f'Mo-Su {h:02d}:00-{h:02d}:30 off "c{h % 2}"' for h in range(24)),
    "fifty exceptions": FIFTY_EXCEPTIONS,
    "overnight and PH": "Mo-Su 22:00-02:00; PH off",
    "PH offsets": "Mo-Su 22:00-26:00; PH -1 day 10:00-14:00; PH off",
    "PH special hours": "Mo-Su 09:00-18:00; PH 10:00-14:00",
    "shop": "Mo-Fr 09:00-18:00; Sa 10:00-14:00; PH off",
    "lunch break": "Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00; PH off",
    "seasonal": "Jun-Aug Mo-Su 10:00-18:00 || unknown",
    "nth weekday": "Mo[1] 10:00-12:00",
    "easter": "easter 10:00-12:00",
    "sun": "sunrise-sunset",
    "December weekdays": "Dec Mo-Fr 10:00-12:00",
}
# Pathological expressions whose evaluation cannot be bounded: rejected.
REJECTED = {
    "a range every 2 minutes": minute_ranges(2),
    "unknown every 2 minutes": minute_ranges(2, suffix=" unknown"),
    "PH unions to the limit": pad("PH,Su 10:00-12:00"),
    "overnight PH rules to the limit": pad("Mo-Su 22:00-02:00; PH off"),
    "months to the limit": pad("Jan-Dec Mo-Su 00:00-24:00"),
    "weeks to the limit": pad("week 1-53 Mo-Su 00:00-24:00"),
    "the same date 199 times": pad('Dec 25 open "xmas"', first="Mo-Su 00:00-24:00"),
    "three PH offsets": "PH off; PH -1 day 10:00-12:00; PH +1 day 10:00-12:00",
    "far PH offset": "Mo-Su 10:00-18:00; PH +30 days off",
}


def cold_request(
    hours_expression: str, zone: str, country: str, region: str | None, at: datetime
) -> Work:
    """The work of one request with every cache cold."""
    clear_caches()
    with count_work() as work:
        hours = compile_hours(hours_expression, zone, country, region)
        hours.state(at)
        hours.next_change(at)
        hours.opens_at(at)
        hours.closes_at(at)
    return work


def plan_cost(hours_expression: str) -> float:
    return make_plan(hours_expression, str(OpeningHours(hours_expression))).cost


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_accepted_expressions_stay_within_their_bound(name: str) -> None:
    hours_expression = ACCEPTED[name]
    bound = plan_cost(hours_expression)
    assert bound <= COST_BUDGET
    for zone, country, region in STORES:
        for at in INSTANTS:
            work = cold_request(hours_expression, zone, country, region, at)
            assert work.units <= bound, (zone, at, work)


@pytest.mark.parametrize("name", list(REJECTED))
def test_unbounded_expressions_are_rejected(name: str) -> None:
    with pytest.raises(OpeningHoursError) as caught:
        compile_hours(REJECTED[name], "Europe/London", "GB")
    assert caught.value.field == "opening_hours"
    assert caught.value.message


@pytest.mark.parametrize(
    "spelling",
    ["Mo-Su 00:00-24:00", "00:00-24:00", "Mo-Su 00:00-48:00", "Mo-Su", "Mo-Fr,Sa,Su open"],
)
def test_spellings_of_24_7_cost_what_24_7_costs(spelling: str) -> None:
    at = datetime(2026, 6, 10, 12, tzinfo=UTC)
    baseline = cold_request("24/7", "Europe/Paris", "FR", None, at)
    work = cold_request(spelling, "Europe/Paris", "FR", None, at)
    assert work.units <= baseline.units + 100
    assert work.calls <= baseline.calls + 2
    assert compile_hours(spelling, "Europe/Paris", "FR").next_change(at) is None


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    hours_expression=expressions(long=True),
    store=st.sampled_from(STORES),
    at=st.datetimes(
        min_value=datetime(1950, 1, 1), max_value=datetime(2400, 1, 1), timezones=st.just(UTC)
    ),
)
def test_generated_expressions_are_bounded_or_rejected(
    hours_expression: str, store: tuple[str, str, str | None], at: datetime
) -> None:
    zone, country, region = store
    try:
        work = cold_request(hours_expression, zone, country, region, at)
    except OpeningHoursError as error:
        field = error.field
        assert field == "opening_hours"
        return
    assert work.units <= plan_cost(hours_expression) <= COST_BUDGET


def test_length_limit() -> None:
    assert OPENING_HOURS_MAX_LENGTH == 4000
    longest = "Mo-Fr 09:00-18:00 " + '"' + "x" * (OPENING_HOURS_MAX_LENGTH - 20) + '"'
    assert len(longest) == OPENING_HOURS_MAX_LENGTH
    assert compile_hours(longest, "UTC").expression == longest
    with pytest.raises(OpeningHoursError) as caught:
        compile_hours(longest + "x", "UTC")
    assert caught.value.field == "opening_hours"
    assert "too long" in caught.value.message
    # Surrounding blanks do not count.
    assert compile_hours(f"  {longest}  ", "UTC").expression == longest


def test_structured_form_check_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """`WeeklyHours.from_expression` (run when a store is read) stays cheap as well.

    A candidate structure that renders like the expression is accepted at once; other
    candidates are compared over sample windows only while that is cheap.
    """
    weekly = WeeklyHours.from_expression(FIFTY_EXCEPTIONS)
    assert weekly is not None
    assert len(weekly.exceptions) == 50
    # Same rules, other spelling ("closed" for "off", no leading zeros): still recognised.
    respelled = re.sub(r"([a-z]) 0(\d)", r"\1 \2", FIFTY_EXCEPTIONS.replace(" off", " closed"))
    assert respelled != FIFTY_EXCEPTIONS
    assert WeeklyHours.from_expression(respelled) == weekly
    # Same schedule, other rules: compared over windows only when that is cheap.
    variant = "Mo 00:00-24:00; " + pad("Mo-Su 00:00-24:00")[:1000].rsplit(";", 1)[0]
    assert WeeklyHours.from_expression(variant) is not None
    monkeypatch.setattr(weekly_module, "_SCHEDULE_CHECK_BUDGET", 10_000)
    assert WeeklyHours.from_expression(variant) is None
