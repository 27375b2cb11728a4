"""Structured weekly hours (JSON-friendly msgspec Structs) and their OSM expression form.

The structured form covers what a store owner usually edits: per weekday a list of
open/close times, "closed on public holidays", and dated exceptions. It converts to an
`opening_hours` expression and back:

* `WeeklyHours.to_expression()` always works, and
  `WeeklyHours.from_expression(w.to_expression()) == w` for every valid `w`.
* `WeeklyHours.from_expression(expr)` raises `OpeningHoursError` for an *invalid*
  expression, and returns **None** for a valid expression the structured form cannot
  express (comments, `unknown`, months/weeks/seasons, `PH` with hours, sunrise, ...).
  Before returning a structure it checks with the library that the structure's expression
  has the same schedule as `expr`, so a returned structure never changes meaning.

Times are "HH:MM". A range whose close is earlier than its open runs overnight into the
next day ("22:00"-"02:00"); "24:00" closes at midnight. In OSM semantics a closed date
(public holiday, dated exception) also cuts the early-morning part of the previous
evening's overnight range.
"""

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Final

import msgspec
from opening_hours import OpeningHours

from app.hours._errors import from_parser_message
from app.hours._lib import ParserError

__all__ = ["DayException", "TimeRange", "WeeklyHours"]

_TIME_RE = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_DATE_RE = re.compile(r"(?:(\d{4})-)?(\d{2})-(\d{2})")
_WEEKDAYS: Final = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_DAY_FIELDS: Final = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class TimeRange(msgspec.Struct, kw_only=True, frozen=True):
    """One opening range of a day.

    Attributes:
        open: Opening time "HH:MM" (00:00-23:59).
        close: Closing time "HH:MM", or "24:00" for midnight. Earlier than `open` means the
            range runs overnight and closes the next day.
    """

    open: str
    close: str

    def __post_init__(self) -> None:
        """Validate the times (msgspec reports a ValueError as a validation error)."""
        if not _TIME_RE.fullmatch(self.open):
            raise ValueError(f"open must be 'HH:MM' between 00:00 and 23:59, got {self.open!r}")
        if self.close != "24:00" and not _TIME_RE.fullmatch(self.close):
            raise ValueError(f"close must be 'HH:MM' or '24:00', got {self.close!r}")
        if self.open == self.close:
            raise ValueError(f"empty range {self.open}-{self.close}: use 00:00-24:00 for all day")

    @property
    def overnight(self) -> bool:
        """Whether the range ends on the next day."""
        return self.close != "24:00" and self.close < self.open

    def to_expression(self) -> str:
        """Return the range in OSM syntax, e.g. '09:00-18:00'."""
        return f"{self.open}-{self.close}"


def _check_ranges(ranges: tuple[TimeRange, ...], where: str) -> None:
    """Require sorted, non-overlapping ranges with an overnight range only in last place."""
    for index, item in enumerate(ranges):
        if item.overnight and index != len(ranges) - 1:
            raise ValueError(f"{where}: only the last range of a day may run overnight")
        if index:
            previous = ranges[index - 1]
            end = 24 * 60 if previous.close == "24:00" else _minutes(previous.close)
            if _minutes(item.open) < end or item.open <= previous.open:
                raise ValueError(f"{where}: ranges must be sorted and must not overlap")


class DayException(msgspec.Struct, kw_only=True, frozen=True):
    """Special hours for one date: either closed, or open during `intervals`.

    Attributes:
        date: "YYYY-MM-DD" for that day only, or "MM-DD" for that day every year.
        closed: True when the store is closed all day.
        intervals: The opening ranges of that day (when not closed).
    """

    date: str
    closed: bool = False
    intervals: tuple[TimeRange, ...] = ()

    def __post_init__(self) -> None:
        """Validate the date and that exactly one of closed / intervals is given."""
        match = _DATE_RE.fullmatch(self.date)
        if match is None:
            raise ValueError(f"date must be 'YYYY-MM-DD' or 'MM-DD', got {self.date!r}")
        year = int(match.group(1)) if match.group(1) else 2000  # 2000: leap year, Feb 29 ok
        try:
            date(year, int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise ValueError(f"no such date: {self.date!r}") from None
        if self.closed == bool(self.intervals):
            raise ValueError(f"{self.date}: give either closed=true or a non-empty intervals")
        _check_ranges(self.intervals, self.date)

    @property
    def yearly(self) -> bool:
        """Whether the exception recurs every year."""
        return len(self.date) == 5

    def to_expression(self) -> str:
        """Return the exception as one OSM rule, e.g. '2026 Dec 24 10:00-14:00'."""
        match = _DATE_RE.fullmatch(self.date)
        assert match is not None
        selector = f"{_MONTHS[int(match.group(2)) - 1]} {int(match.group(3))}"
        if match.group(1):
            selector = f"{match.group(1)} {selector}"
        body = "off" if self.closed else ",".join(r.to_expression() for r in self.intervals)
        return f"{selector} {body}"


class WeeklyHours(msgspec.Struct, kw_only=True, frozen=True):
    """A store's regular week, public-holiday closing, and dated exceptions.

    A weekday with no ranges is closed. Exceptions apply in list order (a later one wins on
    the same day); the same `date` string may not appear twice.

    Attributes:
        monday: Opening ranges on Mondays (likewise for the other days).
        public_holidays_closed: Closed all day on the public holidays of the store's
            country (OSM `PH off`).
        exceptions: Dated exceptions, overriding the weekday and public-holiday hours.
    """

    monday: tuple[TimeRange, ...] = ()
    tuesday: tuple[TimeRange, ...] = ()
    wednesday: tuple[TimeRange, ...] = ()
    thursday: tuple[TimeRange, ...] = ()
    friday: tuple[TimeRange, ...] = ()
    saturday: tuple[TimeRange, ...] = ()
    sunday: tuple[TimeRange, ...] = ()
    public_holidays_closed: bool = False
    exceptions: tuple[DayException, ...] = ()

    def __post_init__(self) -> None:
        """Validate each day's ranges and the uniqueness of exception dates."""
        for name in _DAY_FIELDS:
            _check_ranges(getattr(self, name), name)
        dates = [item.date for item in self.exceptions]
        if len(set(dates)) != len(dates):
            raise ValueError("exceptions: each date may appear only once")

    def days(self) -> tuple[tuple[TimeRange, ...], ...]:
        """Return the ranges of Monday..Sunday."""
        return tuple(getattr(self, name) for name in _DAY_FIELDS)

    def to_expression(self) -> str:
        """Return the equivalent OSM `opening_hours` expression.

        Weekday rules come first, then `PH off`, then the exceptions, so that the later,
        more specific rules override the earlier ones. When a range runs overnight, weekday
        rules are joined with the additional-rule separator ', ' instead of '; ', because
        with '; ' a rule for the next day would cut the overnight part short.
        """
        days = self.days()
        groups: dict[tuple[TimeRange, ...], list[int]] = {}
        for index, ranges in enumerate(days):
            if ranges:
                groups.setdefault(ranges, []).append(index)
        weekday_rules = [
            f"{_day_selector(indexes)} {','.join(r.to_expression() for r in ranges)}"
            for ranges, indexes in sorted(groups.items(), key=lambda item: item[1][0])
        ]
        overnight = any(r.overnight for ranges in days for r in ranges)
        parts = [(", " if overnight else "; ").join(weekday_rules)] if weekday_rules else []
        if self.public_holidays_closed:
            parts.append("PH off")
        parts.extend(item.to_expression() for item in self.exceptions)
        return "; ".join(parts) if parts else "closed"

    @classmethod
    def from_expression(cls, expression: str) -> "WeeklyHours | None":
        """Parse an expression into the structured form.

        Args:
            expression: An OSM `opening_hours` expression.

        Returns:
            The structure, or None when the expression is valid but cannot be expressed in
            the structured form (including a blank expression: hours unknown).

        Raises:
            OpeningHoursError: The expression is invalid.
        """
        text = expression.strip()
        if not text:
            return None
        try:
            rendered = str(OpeningHours(text, auto_country=False, auto_timezone=False))
        except ParserError as exc:
            raise from_parser_message(text, str(exc)) from None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # a Rust panic: certainly not something we can structure
            return None
        for candidate in _candidates(text):
            if candidate.to_expression() == text or _same_rules(text, rendered, candidate):
                return candidate
        return None


# -- expression -> structure -------------------------------------------------------------

_WD = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)"
_WD_ITEM = rf"{_WD}(?:\s*-\s*{_WD})?"
_WEEKDAY_RULE_RE = re.compile(rf"(?P<days>{_WD_ITEM}(?:\s*,\s*{_WD_ITEM})*)(?:\s+(?P<body>.+))?")
_MONTH_RE = "|".join(_MONTHS)
_DATE_RULE_RE = re.compile(
    rf"(?:(?P<year>\d{{4}})\s+)?(?P<month>{_MONTH_RE})\s+(?P<day>\d{{1,2}})(?:\s+(?P<body>.+))?"
)
_PH_RULE_RE = re.compile(r"PH(?:\s+(?P<body>.+))?")
_SPAN_RE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
# An additional-rule ',' is followed by blank space and a new selector; ',' without a
# space separates items of a list ("Mo,We", "09:00-12:00,14:00-18:00").
_ADDITIONAL_RE = re.compile(r",\s+(?=[A-Za-z]|\d{4}\s)")
_ALL_DAY: tuple[TimeRange, ...] = (TimeRange(open="00:00", close="24:00"),)


class _Unsupported(Exception):
    """The expression is valid but outside the structured subset."""


def _day_selector(indexes: list[int]) -> str:
    runs: list[list[int]] = []
    for index in indexes:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return ",".join(
        _WEEKDAYS[run[0]] if len(run) == 1 else f"{_WEEKDAYS[run[0]]}-{_WEEKDAYS[run[-1]]}"
        for run in runs
    )


def _parse_days(selector: str) -> list[int]:
    days: list[int] = []
    for item in re.split(r"\s*,\s*", selector):
        bounds = [_WEEKDAYS.index(part) for part in re.split(r"\s*-\s*", item)]
        first, last = bounds[0], bounds[-1]
        span = (last - first) % 7  # "Sa-Mo" wraps around the week
        days.extend((first + offset) % 7 for offset in range(span + 1))
    return days


def _parse_body(body: str | None) -> tuple[TimeRange, ...]:
    """Parse a rule body: None (all day), 'off'/'closed', or a list of time spans."""
    if body is None:
        return _ALL_DAY
    body = body.strip()
    if body in ("off", "closed"):
        return ()
    if body == "open":
        return _ALL_DAY
    ranges = []
    for piece in re.split(r"\s*,\s*", body):
        match = _SPAN_RE.fullmatch(piece)
        if match is None:
            raise _Unsupported(piece)
        start = int(match.group(1)) * 60 + int(match.group(2))
        end = int(match.group(3)) * 60 + int(match.group(4))
        if start >= 24 * 60 or end > 48 * 60 or int(match.group(2)) > 59:
            raise _Unsupported(piece)
        if end > 24 * 60:  # "22:00-26:00" is "22:00-02:00"
            end -= 24 * 60
            if end >= start:
                raise _Unsupported(piece)  # longer than a day
        close = "24:00" if end == 24 * 60 else f"{end // 60:02d}:{end % 60:02d}"
        ranges.append(TimeRange(open=f"{start // 60:02d}:{start % 60:02d}", close=close))
    return tuple(sorted(ranges, key=lambda r: r.open))


def _split_rules(text: str) -> list[tuple[str, str]]:
    """Split into (separator-before, rule) pairs; the first separator is ';'."""
    rules: list[tuple[str, str]] = []
    for chunk in text.split(";"):
        for index, rule in enumerate(_ADDITIONAL_RE.split(chunk)):
            rules.append(("," if index else ";", rule.strip()))
    return rules


def _candidates(text: str) -> Iterable[WeeklyHours]:
    """Yield structures that may be equivalent to `text` (checked by the caller)."""
    try:
        days: list[tuple[TimeRange, ...]] = [()] * 7
        set_by: list[int | None] = [None] * 7  # which ';'-rule last set each day
        public_holidays_closed = False
        exceptions: list[DayException] = []
        phase = 0  # 0: weekday rules, 1: PH, 2: dated exceptions (OSM: later rules win)
        for number, (separator, rule) in enumerate(_split_rules(text)):
            ranges: tuple[TimeRange, ...]
            if rule in ("24/7", "24/7 open"):
                selected, ranges = list(range(7)), _ALL_DAY
            elif rule in ("off", "closed", "24/7 off", "24/7 closed"):
                selected, ranges = list(range(7)), ()
            elif match := _WEEKDAY_RULE_RE.fullmatch(rule):
                selected, ranges = _parse_days(match["days"]), _parse_body(match["body"])
            elif _SPAN_RE.match(rule):
                selected, ranges = list(range(7)), _parse_body(rule)
            elif match := _PH_RULE_RE.fullmatch(rule):
                if phase > 1 or separator != ";" or _parse_body(match["body"]):
                    raise _Unsupported(rule)
                public_holidays_closed, phase = True, 1
                continue
            elif match := _DATE_RULE_RE.fullmatch(rule):
                if separator != ";":
                    raise _Unsupported(rule)
                month = _MONTHS.index(match["month"]) + 1
                day = int(match["day"])
                when = f"{month:02d}-{day:02d}"
                if match["year"]:
                    when = f"{match['year']}-{when}"
                ranges = _parse_body(match["body"])
                exceptions.append(DayException(date=when, closed=not ranges, intervals=ranges))
                phase = 2
                continue
            else:
                raise _Unsupported(rule)
            if phase:
                raise _Unsupported(rule)  # a weekday rule after PH/exceptions overrides them
            for day in selected:
                if separator == ";":
                    days[day] = ranges
                    set_by[day] = number
                else:
                    days[day] = tuple(sorted(days[day] + ranges, key=lambda r: r.open))
        fields = dict(zip(_DAY_FIELDS, days, strict=True))
        plain = WeeklyHours(
            **fields,
            public_holidays_closed=public_holidays_closed,
            exceptions=tuple(exceptions),
        )
    except (_Unsupported, ValueError, msgspec.ValidationError):
        return
    yield plain
    # With '; ', a rule for the next day cuts an overnight range at midnight (OSM): offer
    # the variant where such ranges end at 24:00.
    trimmed = list(days)
    for day in range(7):
        follower = (day + 1) % 7
        ranges = trimmed[day]
        if ranges and ranges[-1].overnight and set_by[follower] not in (None, set_by[day]):
            last = TimeRange(open=ranges[-1].open, close="24:00")
            trimmed[day] = (*ranges[:-1], last)
    if trimmed != days:
        try:
            yield msgspec.structs.replace(plain, **dict(zip(_DAY_FIELDS, trimmed, strict=True)))
        except ValueError:
            return


def _schedule(expression: str, windows: list[tuple[datetime, datetime]]) -> list[object]:
    oh = OpeningHours(expression, auto_country=False, auto_timezone=False)
    timeline: list[object] = []
    for start, end in windows:
        previous = None
        for begin, _end, state, _comment in oh.intervals(start, end):
            if state != previous:  # ignore comment-only boundaries
                timeline.append((begin, state))
                previous = state
    return timeline


def _same_rules(expression: str, rendered: str, candidate: WeeklyHours) -> bool:
    """Check with the library that `candidate` means the same as `expression`.

    Equal renderings by the library (its canonical form of the parsed rules: "off" and
    "closed", "Dec 05" and "Dec 5" read alike) mean equal rules. Otherwise the schedules
    are compared over sample windows, a cost that grows with the windows and the
    expression: beyond `_SCHEDULE_CHECK_BUDGET` the structure is not offered (None).
    """
    try:
        theirs = str(
            OpeningHours(candidate.to_expression(), auto_country=False, auto_timezone=False)
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        return False
    return rendered == theirs or _same_schedule(expression, candidate)


# Days x characters `_same_schedule` may evaluate (about 0.25 us each: 15 ms at most).
_SCHEDULE_CHECK_BUDGET: Final = 60_000


def _same_schedule(expression: str, candidate: WeeklyHours) -> bool:
    """Check with the library that `candidate` has the schedule of `expression`."""
    windows = [(datetime(2026, 1, 5), datetime(2026, 1, 20))]  # two weeks from a Monday
    for item in candidate.exceptions:
        match = _DATE_RE.fullmatch(item.date)
        assert match is not None
        years = [int(match.group(1))] if match.group(1) else [2026, 2027, 2028]
        for year in years:
            try:
                day = datetime(year, int(match.group(2)), int(match.group(3)))
            except ValueError:  # Feb 29 in a common year
                continue
            windows.append((day - timedelta(days=1), day + timedelta(days=2)))
    days = sum((end - start).days for start, end in windows)
    if days * (len(expression) + len(candidate.to_expression())) > _SCHEDULE_CHECK_BUDGET:
        return False
    try:
        return _schedule(expression, windows) == _schedule(candidate.to_expression(), windows)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        return False
