"""Property tests of the hours engine: consistency of every query at random instants.

Instants are drawn from 2026-2030, half of them within a few hours of a DST transition of
the zone, for a set of representative expressions. The oracle for `state` is the rule the
module documents: the library's state at the instant's naive local wall time.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from holidays import country_holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opening_hours import OpeningHours, State

from app.hours import TimeRange, WeeklyHours, compile_hours
from app.hours.weekly import DayException

ZONES = (
    ("Europe/London", "GB"),
    ("America/New_York", "US"),
    ("Australia/Sydney", "AU"),
    ("Asia/Kolkata", "IN"),
    ("Australia/Lord_Howe", "AU"),
)
EXPRESSIONS = (
    "Mo-Fr 09:00-18:00; Sa 10:00-14:00; PH off",
    "24/7",
    "Fr-Sa 22:00-02:00",
    "Mo-Su 01:00-02:00",
    "Mo-Su 01:40-03:00",
    "Mo-Su 02:30-04:00",
    "Mo-Su 01:30-02:15,02:45-03:10",
    "Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00",
    "Dec 24 10:00-14:00; Dec 25 off",
    "Mo-Su 09:00-18:00; Dec 24 10:00-14:00; Dec 25 off",
    "Jun-Aug Mo-Su 10:00-18:00",
    "Mo-Fr 09:00-18:00 || unknown",
    'Mo-Fr 09:00-18:00; Sa unknown "call us"',
    "Mo-Su 22:00-26:00",
    "off",
)
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2031, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
STATES = {State.OPEN: "open", State.CLOSED: "closed", State.UNKNOWN: "unknown"}
PHYSICAL_PH = "PH"


def _transitions(zone: str) -> list[datetime]:
    """UTC instants where the zone's offset changes in 2026-2030 (hourly probe + bisect)."""
    tz = ZoneInfo(zone)
    found = []
    t = START
    step = timedelta(hours=1)
    while t < END:
        if (t + step).astimezone(tz).utcoffset() != t.astimezone(tz).utcoffset():
            lo, hi = t, t + step
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(microsecond=0) + timedelta(seconds=hi.microsecond > 0))
        t += step
    return found


TRANSITIONS = {zone: _transitions(zone) for zone, _country in ZONES}
_ORACLES: dict[tuple[str, str | None], OpeningHours] = {}


def before(moment: datetime) -> datetime:
    """The instant 1 µs earlier (in UTC: aware arithmetic in a zone is wall-clock based)."""
    return moment.astimezone(UTC) - MICRO


def same(left: datetime | None, right: datetime | None) -> bool:
    """Instant equality (`==` in one zone compares wall clocks and ignores fold)."""
    if left is None or right is None:
        return left is right
    return left.timestamp() == right.timestamp()


def oracle_state(expression: str, country: str | None, zone: str, at: datetime) -> str:
    """The documented rule: library state at the naive local wall time.

    Public holidays come from the `holidays` package, not from the library: the oracle
    only supports `PH` as a final "PH off" rule, which closes the whole holiday.
    """
    key = (expression, None)
    if key not in _ORACLES:
        _ORACLES[key] = OpeningHours(expression)
    wall = at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    if PHYSICAL_PH in expression:
        assert expression.endswith("; PH off"), expression
        if country is not None and wall.date() in country_holidays(country, years=wall.year):
            return "closed"
    return STATES[_ORACLES[key].state(wall)[0]]


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, str, str | None, datetime]:
    """An (expression, zone, country, instant) case; half the instants are near DST."""
    expression = draw(st.sampled_from(EXPRESSIONS))
    zone, country = draw(st.sampled_from(ZONES))
    transitions = TRANSITIONS[zone]
    if transitions and draw(st.booleans()):
        base = draw(st.sampled_from(transitions))
        at = base + timedelta(seconds=draw(st.integers(-4 * 3600, 4 * 3600)))
    else:
        span = int((END - START).total_seconds())
        at = START + timedelta(seconds=draw(st.integers(0, span - 1)))
    at += timedelta(microseconds=draw(st.sampled_from([0, 0, 1, 999_999])))
    return expression, zone, country, at


SETTINGS = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@SETTINGS
@given(case=cases())
def test_state_matches_the_wall_clock_rule(case: tuple[str, str, str | None, datetime]) -> None:
    expression, zone, country, at = case
    hours = compile_hours(expression, zone, country)
    assert hours.state(at) == oracle_state(expression, country, zone, at)


@SETTINGS
@given(case=cases(), fractions=st.lists(st.floats(0, 1, exclude_max=True), max_size=6))
def test_state_is_constant_until_next_change(
    case: tuple[str, str, str | None, datetime], fractions: list[float]
) -> None:
    expression, zone, country, at = case
    hours = compile_hours(expression, zone, country)
    state = hours.state(at)
    change = hours.next_change(at)
    if change is None:
        end = at + timedelta(days=3)
    else:
        assert change > at
        assert change.tzinfo == ZoneInfo(zone)
        assert hours.state(change) != state
        assert oracle_state(expression, country, zone, change) != state
        end = change
        assert hours.state(before(change)) == state
    for fraction in fractions:
        # Clamp: float rounding may land exactly on `end`.
        probe = min(at + (end - at) * fraction, before(end))
        assert hours.state(probe) == state
        assert oracle_state(expression, country, zone, probe) == state


@SETTINGS
@given(case=cases())
def test_interval_and_open_close_queries_agree(
    case: tuple[str, str, str | None, datetime],
) -> None:
    expression, zone, country, at = case
    hours = compile_hours(expression, zone, country)
    state = hours.state(at)
    interval = hours.interval(at)
    assert (interval is None) == (state != "open")
    assert hours.is_open(at) == (state == "open")
    if interval is not None:
        start, end = interval
        assert start <= at
        assert end is None or at < end
        assert same(hours.opens_at(at), start)
        assert same(hours.closes_at(at), end)
        assert same(hours.next_change(at), end)
        minutes = hours.minutes_to_close(at)
        if end is None:
            assert minutes is None
        else:
            assert minutes is not None
            assert abs(minutes - (end - at).total_seconds() / 60) < 1e-6
        if start > at - timedelta(days=400):  # not clamped by the look-back
            assert hours.state(start) == "open"
            assert hours.state(before(start)) != "open"
    else:
        assert hours.minutes_to_close(at) is None
        opening = hours.opens_at(at)
        if opening is not None:
            assert opening > at
            assert hours.state(opening) == "open"
            assert hours.state(before(opening)) != "open"
            closing = hours.closes_at(at)
            next_interval = hours.interval(opening)
            assert next_interval is not None
            assert same(closing, next_interval[1])
        else:
            assert hours.closes_at(at) is None


@SETTINGS
@given(case=cases())
def test_queries_never_raise_and_return_store_zone(
    case: tuple[str, str, str | None, datetime],
) -> None:
    expression, zone, country, at = case
    hours = compile_hours(expression, zone, country)
    other = at.astimezone(ZoneInfo("Pacific/Kiritimati"))  # same instant, another zone
    assert hours.state(other) == hours.state(at)
    for value in (hours.opens_at(other), hours.closes_at(other), hours.next_change(other)):
        assert value is None or value.tzinfo == ZoneInfo(zone)
    assert hours.comment(at) is None or isinstance(hours.comment(at), str)


# -- structured form ------------------------------------------------------------------


@st.composite
def time_ranges(draw: st.DrawFn) -> tuple[TimeRange, ...]:
    """A valid day: sorted non-overlapping ranges, the last possibly overnight."""
    points = sorted(draw(st.sets(st.integers(0, 24 * 4 - 1), max_size=6)))
    ranges = []
    for start, end in zip(points[::2], points[1::2], strict=False):
        ranges.append(TimeRange(open=_hhmm(start * 15), close=_hhmm(end * 15)))
    if draw(st.booleans()) and ranges:
        last = ranges[-1]
        if draw(st.booleans()):
            ranges[-1] = TimeRange(open=last.open, close="24:00")
        elif last.open > "00:15":
            ranges[-1] = TimeRange(open=last.open, close="00:15")  # overnight
    return tuple(ranges)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def exceptions(draw: st.DrawFn) -> DayException:
    """A dated (or yearly) exception."""
    day = draw(st.dates(datetime(2026, 1, 1).date(), datetime(2030, 12, 31).date()))
    when = day.isoformat() if draw(st.booleans()) else day.isoformat()[5:]
    ranges = draw(time_ranges())
    return DayException(date=when, closed=not ranges, intervals=ranges)


@st.composite
def weekly(draw: st.DrawFn) -> WeeklyHours:
    """A valid WeeklyHours value."""
    days = {name: draw(time_ranges()) for name in WeeklyHours.__struct_fields__[:7]}
    items = draw(st.lists(exceptions(), max_size=3, unique_by=lambda item: item.date))
    return WeeklyHours(
        **days,
        public_holidays_closed=draw(st.booleans()),
        exceptions=tuple(items),
    )


@settings(max_examples=200, deadline=None, database=None)
@given(value=weekly())
def test_structured_round_trips_through_expression(value: WeeklyHours) -> None:
    expression = value.to_expression()
    compile_hours(expression, "Europe/London", "GB")  # always a valid expression
    assert WeeklyHours.from_expression(expression) == value
    assert msgspec.json.decode(msgspec.json.encode(value), type=WeeklyHours) == value
