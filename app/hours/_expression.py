"""Compiled store hours: DST-correct queries over an OSM `opening_hours` expression.

How instants are evaluated
--------------------------
The `opening-hours-py` library is only ever given *naive local wall-clock* times; its own
time-zone support is not used because it is wrong around DST changes (see the module
docstring of `app.hours`). The rule is:

    state(instant) = library_state(wall clock of `instant` in the store's zone)

with the store's public holidays for `PH` (see below). Everything else (next change,
intervals, opens/closes at) is derived from that rule, so the answers are always mutually
consistent:

* **Spring-forward gap** (e.g. 02:00-03:00 does not exist): no instant has a wall time in
  the gap, so a store opening at 02:30 opens at the first instant after the gap (03:00 new
  time), and a store closing at 02:30 closes at that same instant.
* **Autumn fold** (e.g. 01:00-02:00 happens twice): both passes have the same wall time, so
  the store is open during *both* passes if the wall clock says open ("local wall clock"
  rule). A store with hours 01:00-02:00 is open for two real hours that night; a store with
  hours 01:40-03:00 is open 01:40-02:00 (first pass), closed 01:00-01:40 (second pass) and
  open again 01:40-03:00.

To find changes, time is cut into segments of constant UTC offset (between two transitions
of the zone); within a segment wall time and instants map one-to-one, and at each
transition the state is re-evaluated at the new wall time.

Bounded cost
------------
Every accepted expression is evaluated within `COST_BUDGET` work units (about 25 ms of
CPU) per request, cold caches included; `app.hours._plan` explains the cost model and
rejects what would exceed it. In short:

* *Periodic* expressions (days selected by weekday only, plus `PH` and fixed-date rules
  such as ``Dec 25 off``: nearly all real ones) are evaluated once per weekday into day
  profiles (`_DayProfile`); every query is then arithmetic on the profiles, however far it
  looks. `Mo-Su 00:00-24:00` costs what `24/7` costs. A day that a fixed-date rule may
  select (or a holiday) is evaluated on its own, with the fixed-date rules of its month;
  other days leave them out, which is exact: a rule that does not match a day (nor the
  day before) changes nothing in it - unless it is a fallback rule, never left out.
* *General* expressions (months, weeks, years, `easter`, `Mo[1]`) are walked with the
  library, at most 8 days per call.
* The library's `next_change` is never used: it scans up to year 9999 (seconds of CPU for
  `Mo-Su 00:00-24:00`) and is wrong for fallback rules. Changes come from
  `intervals(start, end)` over bounded ranges; with fallback rules (``||``), whose
  `intervals` go wrong across days, one day per call.

Public holidays
---------------
The library evaluates `PH` with its own calendars, which have gaps and no regions, and its
Python API takes no calendar. So the library is never given a country (`PH` never matches
for it) and the engine evaluates each day with the `PH` selectors rewritten for that day
(`app.hours._plan.PhGroup`): a day whose schedule does not depend on a holiday uses the
plain text; a holiday uses the text where `PH` matches it. Calendars come from
`app.hours._holidays` (the `holidays` package, with regions).

Caching
-------
`compile_hours` caches compiled stores by (expression, timezone, country, region). Each
compiled store also caches one *window*: the state timeline from one day before the last
cache miss to at least 7 days after it, extended when a query looks further. State is
constant between changes, so queries inside the window are a binary search. A `state`
query that misses the window far (> 8 days) from the previous miss is answered with a
single evaluation instead, so random one-off instants do not pay for a window each time.
"""

import bisect
import functools
import logging
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from opening_hours import OpeningHours, State

from app.hours import _holidays
from app.hours._countries import ISO_3166_ALPHA2
from app.hours._dst import EPOCH, _transitions, next_transition, offset_at
from app.hours._errors import OpeningHoursError, from_parser_message
from app.hours._lib import ParserError
from app.hours._plan import (
    CHUNK_DAYS,
    COST_BUDGET,
    HORIZON_DAYS,
    OPENING_HOURS_MAX_LENGTH,
    Costs,
    Plan,
    _ordinal_spans,
    make_plan,
    mask_comments,
    merged_spans,
)
from app.hours._work import WORK

__all__ = [
    "COST_BUDGET",
    "HORIZON_DAYS",
    "OPENING_HOURS_MAX_LENGTH",
    "HoursState",
    "StoreHours",
    "compile_hours",
    "validate_expression",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

HoursState = Literal["open", "closed", "unknown"]


_DAY = 86_400.0
_HORIZON = HORIZON_DAYS * _DAY
_FORWARD = 7 * _DAY  # look-ahead of a freshly built window
# State-query misses further apart than this are answered without building a window.
_LOCALITY = 8 * _DAY
# The library evaluates years 1900..9999 only; keep every walk (queries +/- the horizon and
# the window) comfortably inside that range.
_MIN_TS = datetime(1902, 1, 1, tzinfo=UTC).timestamp()
_MAX_TS = datetime(9997, 1, 1, tzinfo=UTC).timestamp()
_INF = math.inf
# A window stops growing past this many changes (memory), it is rebuilt instead.
_MAX_WINDOW_CHANGES = 20_000
# Day profiles kept per compiled store (PH rewrites x weekdays, or dated holidays).
_MAX_PROFILES = 512
# Day index (days since 1970-01-01) of Monday 2024-01-01: the week periodic profiles use.
_REFERENCE_MONDAY = (date(2024, 1, 1) - date(1970, 1, 1)).days
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ALL_DAYS: Final = frozenset(range(7))

_STATES: dict[State, HoursState] = {
    State.OPEN: "open",
    State.CLOSED: "closed",
    State.UNKNOWN: "unknown",
}
# Exceptions never swallowed when shielding callers from library failures (Rust panics
# surface as pyo3's PanicException, a BaseException subclass).
_PASSTHROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


class _Stop:
    """Marker: stop a scan at the first change, whatever the new state."""


_ANY_CHANGE: Final = _Stop()
_StopAt = HoursState | _Stop | None
# How a day is evaluated: the PH code per offset, and the fixed-date rules kept.
_Key = tuple[tuple[str, ...], frozenset[int]]


def _naive(wall: float) -> datetime:
    """Naive datetime of wall-clock seconds since the (naive) epoch."""
    return EPOCH + timedelta(seconds=wall)


def _wall(moment: datetime) -> float:
    """Wall-clock seconds since the naive epoch of a naive datetime."""
    return (moment - EPOCH).total_seconds()


def _weekday(day: int) -> int:
    """Weekday (Monday 0) of a day index; 1970-01-01 was a Thursday."""
    return (day + 3) % 7


def _year(day: int) -> int:
    return date.fromordinal(day + _EPOCH_ORDINAL).year


class _DayProfile:
    """The states of one wall-clock day: `states[i]` holds from `seconds[i]` to the next.

    `seconds[0]` is 0 (midnight); consecutive states differ.
    """

    __slots__ = ("has", "seconds", "states")

    def __init__(self, seconds: list[float], states: list[HoursState]) -> None:
        self.seconds = seconds
        self.states = states
        self.has = frozenset(states)

    def at(self, second: float) -> HoursState:
        return self.states[bisect.bisect_right(self.seconds, second) - 1]

    def before(self, second: float) -> HoursState:
        """The state just before `second` (> 0) of the day."""
        return self.states[bisect.bisect_left(self.seconds, second) - 1]


def _lib_parse(text: str) -> OpeningHours:
    WORK.calls += 1
    WORK.parsed_chars += len(text)
    return OpeningHours(text, auto_country=False, auto_timezone=False)


class _Text:
    """A parsed text and the work units of evaluating one day of it."""

    __slots__ = ("day_cost", "oh")

    def __init__(self, oh: OpeningHours, day_cost: float) -> None:
        self.oh = oh
        self.day_cost = day_cost


class _Engine:
    """Evaluates wall-clock ranges of one expression, with the store's holidays."""

    def __init__(
        self, plan: Plan, parsed: OpeningHours, country: str | None, region: str | None
    ) -> None:
        self.plan = plan
        full_cost = Costs.day(plan.rules, plan.spans)
        self.country = country if plan.uses_ph else None
        self.region = region
        # The library is given no calendar, so the parsed expression is the whole
        # expression with PH never matching. The base text also leaves out the fixed-date
        # rules of a periodic expression (the weekly profile is computed from it).
        self._none: frozenset[int] = frozenset()
        if plan.dated:
            self.base = self._parse(plan.text(dated=self._none), frozenset())
        elif plan.uses_ph:
            self.base = self._parse(plan.text(), None)
        else:
            self.base = _Text(parsed, full_cost)
        self._variants: dict[_Key, _Text] = {}
        self._profiles: dict[object, _DayProfile] = {}
        self._holiday_years: dict[int, frozenset[int]] = {}
        self._dated_years: dict[
            int, tuple[list[int], list[int], dict[tuple[int, int], frozenset[int]]]
        ] = {}
        self.weekly: tuple[_DayProfile, ...] = ()
        # The state of every ordinary day when the weekly profile never changes.
        self.base_constant: HoursState | None = None
        # The state for all time (periodic, constant and no day to evaluate apart).
        self.constant: HoursState | None = None
        self.special_days = self.country is not None or bool(plan.dated)
        if plan.periodic:
            self._build_weekly()
        else:
            # Fail at compile time (a 422), not at query time, if the library cannot
            # evaluate it.
            self.points(self.base, _REFERENCE_MONDAY * _DAY, (_REFERENCE_MONDAY + 1) * _DAY)

    # -- library access (counted) -------------------------------------------------------

    def _parse(self, text: str, dated: frozenset[int] | None) -> _Text:
        """Parse a rewrite of the expression that keeps the `dated` fixed-date rules."""
        plan = self.plan
        if dated is None or not plan.dated:
            rules, spans = plan.rules, plan.spans
        else:
            dropped = len(plan.dated) - len(dated)
            rules, spans = plan.rules - dropped, plan.spans
        return _Text(_lib_parse(text), Costs.day(rules, spans))

    def lib_state(self, text: _Text, wall: float) -> HoursState:
        WORK.calls += 1
        WORK.day_units += text.day_cost
        return _STATES[text.oh.state(_naive(wall))[0]]

    def points(self, text: _Text, start: float, end: float) -> list[tuple[float, HoursState]]:
        """The state changes of `text` on walls [start, end), the first at `start`."""
        WORK.calls += 1
        days = math.floor((end - 1e-6) / _DAY) - math.floor(start / _DAY) + 1
        WORK.day_units += text.day_cost * days
        found: list[tuple[float, HoursState]] = []
        for begin, _end, kind, _comment in text.oh.intervals(_naive(start), _naive(end)):
            WORK.items += 1
            state = _STATES[kind]
            if not found or found[-1][1] != state:
                found.append((max(start, _wall(begin)), state))
        return found

    def day_profile(self, oh: _Text, day: int) -> _DayProfile:
        """Evaluate one day of `oh`.

        One `intervals` call per day is right even with fallback rules: the library
        evaluates a day with the same code as `state`, and only its stitching of days
        together is wrong for them (it skips days after a fallback rule).
        """
        start = day * _DAY
        seconds: list[float] = []
        states: list[HoursState] = []
        for wall, state in self.points(oh, start, start + _DAY):
            seconds.append(wall - start)
            states.append(state)
        return _DayProfile(seconds, states)

    def _build_weekly(self) -> None:
        if self.plan.fallback:
            # Day by day: see `day_profile`.
            profiles = [self.day_profile(self.base, _REFERENCE_MONDAY + i) for i in range(7)]
        else:
            start = _REFERENCE_MONDAY * _DAY
            points = self.points(self.base, start, start + 7 * _DAY)
            profiles = []
            for i in range(7):
                day_start = start + i * _DAY
                index = bisect.bisect_right([wall for wall, _ in points], day_start) - 1
                seconds, states = [0.0], [points[index][1]]
                for wall, state in points[index + 1 :]:
                    if wall >= day_start + _DAY:
                        break
                    seconds.append(wall - day_start)
                    states.append(state)
                profiles.append(_DayProfile(seconds, states))
        self.weekly = tuple(profiles)
        kinds = {state for profile in profiles for state in profile.states}
        if len(kinds) == 1:
            self.base_constant = kinds.pop()
            if not self.special_days:
                self.constant = self.base_constant

    # -- public holidays ------------------------------------------------------------------

    def is_holiday(self, day: int) -> bool:
        if self.country is None:
            return False
        year = _year(day)
        days = self._holiday_years.get(year)
        if days is None:
            misses = _holidays.holiday_dates.cache_info().misses
            dates = _holidays.holiday_dates(self.country, self.region, year)
            WORK.calendars += _holidays.holiday_dates.cache_info().misses - misses
            days = frozenset(holiday.toordinal() - _EPOCH_ORDINAL for holiday in dates)
            self._holiday_years[year] = days
        return day in days

    def dated_rules(self, day: int) -> frozenset[int]:
        """The fixed-date rules kept on `day`.

        None if no fixed-date rule may select the day (or, with spill, the day before),
        else all those of its calendar month: one text to parse per month, not per day.
        """
        if not self.plan.dated:
            return self._none
        year = _year(day)
        kept = self._dated_years.get(year)
        if kept is None:
            merged, months = merged_spans(
                self.plan.rule_spans, self.plan.dated, year, self.plan.spill
            )
            WORK.steps += sum(len(self.plan.rule_spans[i].dates) for i in self.plan.dated)
            kept = (
                [low - _EPOCH_ORDINAL for low, _ in merged],
                [high - _EPOCH_ORDINAL for _, high in merged],
                {month: frozenset(indices) for month, indices in months.items()},
            )
            self._dated_years[year] = kept
        lows, highs, by_month = kept
        index = bisect.bisect_right(lows, day) - 1
        if index < 0 or day > highs[index]:
            return self._none
        moment = date.fromordinal(day + _EPOCH_ORDINAL)
        return by_month[(moment.year, moment.month)]

    def key(self, day: int) -> "_Key | None":
        """How `day` is evaluated; None: from the weekly profile (or the plain text).

        The key holds, per PH offset: '' (never), 'all' (every day: the day and the day
        before are both holidays, or there is no spill), or a weekday digit (only that
        weekday matches); and last the fixed-date rules kept that day.
        """
        if not self.special_days:
            return None
        codes: list[str] = []
        affected = False
        if self.country is not None:
            for offset in self.plan.ph_offsets:
                today = self.is_holiday(day - offset)
                yesterday = self.plan.spill and self.is_holiday(day - 1 - offset)
                if today and (yesterday or not self.plan.spill):
                    code = "all"
                elif today:
                    code = str(_weekday(day))
                elif yesterday:
                    code = str(_weekday(day - 1))
                else:
                    code = ""
                affected = affected or bool(code)
                codes.append(code)
        dated = self.dated_rules(day)
        if not affected and not dated:
            return None
        return (tuple(codes), dated)

    def variant(self, key: "_Key") -> _Text:
        oh = self._variants.get(key)
        if oh is None:
            codes, dated = key
            weekdays = {
                offset: _ALL_DAYS if code == "all" else frozenset({int(code)})
                for offset, code in zip(self.plan.ph_offsets, codes, strict=True)
                if code
            }
            if not weekdays and not dated:
                oh = self.base
            else:
                kept = dated if self.plan.dated else None
                oh = self._parse(self.plan.text(weekdays, dated=kept), kept)
            self._variants[key] = oh
        return oh

    def profile(self, day: int, key: "_Key | None") -> _DayProfile:
        if key is None and self.plan.periodic:
            return self.weekly[_weekday(day)]
        # A periodic PH rewrite depends on the weekday only; otherwise on the date.
        if self.plan.periodic and key is not None and not key[1]:
            cache_key: object = (key, _weekday(day))
        else:
            cache_key = (key, day)
        profile = self._profiles.get(cache_key)
        if profile is None:
            oh = self.base if key is None else self.variant(key)
            profile = self.day_profile(oh, day)
            if len(self._profiles) >= _MAX_PROFILES:
                self._profiles.clear()
            self._profiles[cache_key] = profile
        return profile

    # -- evaluation -----------------------------------------------------------------------

    def state_at(self, wall: float) -> HoursState:
        day = math.floor(wall / _DAY)
        key = self.key(day)
        if self.plan.periodic:
            return self.profile(day, key).at(wall - day * _DAY)
        return self.lib_state(self.base if key is None else self.variant(key), wall)

    def comment_at(self, wall: float) -> str:
        day = math.floor(wall / _DAY)
        key = self.key(day)
        text = self.base if key is None else self.variant(key)
        WORK.calls += 1
        WORK.day_units += text.day_cost
        return text.oh.state(_naive(wall))[1]

    def changes(
        self, start: float, end: float, current: HoursState | None, want: HoursState | None
    ) -> tuple[list[tuple[float, HoursState]], HoursState, HoursState]:
        """State changes on walls [start, end) relative to `current` (the state before).

        With `current` None, the state at `start` is taken as given (no change there).
        With `want`, changes into other states may be left out (a walk to the next
        opening does not need them). Returns the changes, the state just before `end`
        and the state at `start`.
        """
        found: list[tuple[float, HoursState]] = []
        initial: HoursState | None = None
        day = math.floor(start / _DAY)
        while day * _DAY < end:
            WORK.steps += 1
            key = self.key(day)
            if key is None and self.base_constant is not None:
                # An ordinary day of a constant week: nothing changes in it.
                state = self.base_constant
                if current is not None and state != current:
                    found.append((max(start, day * _DAY), state))
                current = state
                initial = state if initial is None else initial
                day += 1
                continue
            if key is None and not self.plan.periodic:
                # A run of ordinary days: one library call for all of it.
                last = day + 1
                while last * _DAY < end and self.key(last) is None:
                    last += 1
                at_start, current = self._run(day, last, start, end, current, found)
                day = last
            else:
                profile = self.profile(day, key)
                at_start, current = self._emit(profile, day, start, end, current, found, want)
                day += 1
            initial = at_start if initial is None else initial
        assert current is not None
        assert initial is not None
        return found, current, initial

    @staticmethod
    def _emit(
        profile: _DayProfile,
        day: int,
        start: float,
        end: float,
        current: HoursState | None,
        found: list[tuple[float, HoursState]],
        want: HoursState | None,
    ) -> tuple[HoursState, HoursState]:
        """Append the changes of one day's profile on walls [start, end) to `found`.

        Returns the state at the start of the range and the state just before its end.
        """
        day_start = day * _DAY
        low = max(start, day_start) - day_start
        high = min(end, day_start + _DAY) - day_start
        index = bisect.bisect_right(profile.seconds, low) - 1
        at_start = profile.states[index]
        if current is not None and at_start != current:
            found.append((day_start + low, at_start))
        current = at_start
        if want is not None and want not in profile.has:
            return at_start, profile.before(high)
        for second, state in zip(
            profile.seconds[index + 1 :], profile.states[index + 1 :], strict=True
        ):
            if second >= high:
                break
            if state != current:
                found.append((day_start + second, state))
                current = state
        return at_start, current

    def _run(
        self,
        day: int,
        last: int,
        start: float,
        end: float,
        current: HoursState | None,
        found: list[tuple[float, HoursState]],
    ) -> tuple[HoursState, HoursState]:
        """Append the changes of ordinary days [day, last) clipped to [start, end)."""
        if self.plan.fallback:
            # Day by day: see `day_profile`.
            at_start: HoursState | None = None
            for each in range(day, last):
                profile = self.day_profile(self.base, each)
                state, current = self._emit(profile, each, start, end, current, found, None)
                at_start = state if at_start is None else at_start
            assert at_start is not None
            assert current is not None
            return at_start, current
        points = self.points(self.base, max(start, day * _DAY), min(end, last * _DAY))
        for wall, state in points:
            if current is not None and state != current:
                found.append((wall, state))
            current = state
        assert current is not None
        return points[0][1], current


class _Window:
    """A cached stretch of the state timeline: `states[i]` holds on [changes[i], next)."""

    __slots__ = ("changes", "exact_lo", "hi", "lo", "states")

    def __init__(
        self, changes: list[float], states: list[HoursState], hi: float, *, exact_lo: bool
    ) -> None:
        self.changes = changes
        self.states = states
        self.lo = changes[0]
        self.hi = hi  # the timeline is fully known on [lo, hi); may be +inf
        # False when `lo` is where the walk started, not a change.
        self.exact_lo = exact_lo


def _instant(at: datetime) -> float:
    """Validate a query instant and return its epoch timestamp."""
    if not isinstance(at, datetime):
        raise TypeError(f"expected an aware datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime (an instant), e.g. in UTC")
    ts = at.timestamp()
    if not _MIN_TS <= ts < _MAX_TS:
        raise ValueError("instant out of the supported range (years 1902 to 9996)")
    return ts


class StoreHours:
    """A store's compiled opening hours, queried at aware instants.

    Build it with `compile_hours` (cached). All query methods take an aware `datetime`
    (any tzinfo; a naive datetime raises ValueError) and return aware datetimes in the
    store's zone. Queries look at most `HORIZON_DAYS` (400) days ahead: a change further
    away is reported as None ("never").

    Semantics:
        * `state` is 'open', 'closed' or 'unknown'. 'unknown' comes from the expression
          (`unknown` rules, `|| unknown` fallbacks, or no expression at all).
        * `opens_at`: when open, the start of the current open interval; otherwise the start
          of the next open interval strictly after `at`.
        * `closes_at`: when open, the end of the current interval; otherwise the end of the
          next open interval. None if that interval never ends (24/7) or there is none.
        * Intervals are half-open [start, end): at exactly `end` the store is closed.
        * An open interval "starts" at the latest change at or before `at`; if the store has
          been open for the whole 400-day look-back (24/7), the start is `at - 400 days`.
    """

    __slots__ = (
        "__weakref__",
        "_country",
        "_engine",
        "_expression",
        "_last_miss",
        "_last_opening",
        "_region",
        "_timezone",
        "_tz",
        "_warnings",
        "_window",
    )

    def __init__(
        self,
        *,
        expression: str,
        timezone: str,
        country: str | None,
        region: str | None,
        tz: ZoneInfo,
        engine: _Engine | None,
        warnings: tuple[str, ...] = (),
    ) -> None:
        """Wrap a compiled expression; use `compile_hours` instead of calling this."""
        self._expression = expression
        self._timezone = timezone
        self._country = country
        self._region = region
        self._tz = tz
        self._engine = engine
        self._last_miss = -_INF  # instant of the last window-cache miss of `state`
        # (instant, answer) of the last `opens_at` walk: `closes_at` repeats it.
        self._last_opening: tuple[float, float | None] = (_INF, None)
        self._warnings = warnings
        self._window: _Window | None = None
        if engine is None:
            # No expression: 'unknown' for all time, which the window expresses directly.
            self._window = _Window([-_INF], ["unknown"], _INF, exact_lo=True)
        elif engine.constant is not None:
            self._window = _Window([-_INF], [engine.constant], _INF, exact_lo=False)

    # -- identity ---------------------------------------------------------------------

    @property
    def expression(self) -> str:
        """The expression as compiled ('' when the store has no hours: always unknown)."""
        return self._expression

    @property
    def timezone(self) -> str:
        """The store's IANA zone name."""
        return self._timezone

    @property
    def country(self) -> str | None:
        """The store's ISO 3166-1 alpha-2 country (upper case), used for public holidays."""
        return self._country

    @property
    def region(self) -> str | None:
        """The store's subdivision code for regional public holidays, as `holidays` names it."""
        return self._region

    @property
    def tz(self) -> ZoneInfo:
        """The store's zone."""
        return self._tz

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings the library emitted while parsing (the expression is still usable)."""
        return self._warnings

    def __repr__(self) -> str:
        region = f", region={self._region!r}" if self._region else ""
        return (
            f"StoreHours({self._expression!r}, timezone={self._timezone!r}, "
            f"country={self._country!r}{region})"
        )

    # -- public queries ---------------------------------------------------------------

    def state(self, at: datetime) -> HoursState:
        """Return 'open', 'closed' or 'unknown' at instant `at`."""
        ts = _instant(at)
        try:
            window = self._window
            if window is not None:
                if window.lo <= ts < window.hi:
                    return window.states[bisect.bisect_right(window.changes, ts) - 1]
                last_miss, self._last_miss = self._last_miss, ts
                if abs(ts - last_miss) > _LOCALITY:
                    # Misses far apart (random instants): one evaluation is much cheaper
                    # than computing a window that the next query would not use.
                    assert self._engine is not None
                    return self._engine.state_at(ts + offset_at(self._tz, ts))
            window, index = self._locate(ts)
            return window.states[index]
        except _PASSTHROUGH:
            raise
        except BaseException:
            # Never let a library failure crash a request; unsure means "unknown".
            _log.exception("opening hours evaluation failed for %r", self)
            return "unknown"

    def is_open(self, at: datetime) -> bool:
        """Return True only if the store is open at `at` ('unknown' counts as not open)."""
        return self.state(at) == "open"

    def comment(self, at: datetime) -> str | None:
        """Return the expression's comment in force at `at` (e.g. "call us"), if any."""
        ts = _instant(at)
        if self._engine is None:
            return None
        try:
            text = self._engine.comment_at(ts + offset_at(self._tz, ts))
        except _PASSTHROUGH:
            raise
        except BaseException:
            _log.exception("opening hours evaluation failed for %r", self)
            return None
        return text or None

    def next_change(self, at: datetime) -> datetime | None:
        """Return the first instant after `at` where the state differs from `state(at)`.

        The state is constant on [at, next_change). None if there is no change within 400
        days (e.g. 24/7, or closed for good).
        """
        ts = _instant(at)
        found = self._guard(self._next_change, ts)
        return None if found is None else self._aware(found[0])

    def interval(self, at: datetime) -> tuple[datetime, datetime | None] | None:
        """Return the open interval [start, end) containing `at`, or None if not open.

        `end` is None when the store does not close within 400 days.
        """
        ts = _instant(at)
        found = self._guard(self._interval, ts)
        if found is None:
            return None
        start, end = found
        return self._aware(start), None if end is None else self._aware(end)

    def opens_at(self, at: datetime) -> datetime | None:
        """Return when the store opens: the current interval's start if open, else the next.

        When closed or unknown this is the start of the next open interval strictly after
        `at` (within 400 days), else None.
        """
        ts = _instant(at)
        found = self._guard(self._opens_at, ts)
        return None if found is None else self._aware(found)

    def closes_at(self, at: datetime) -> datetime | None:
        """Return when the store closes: the end of the current or else the next interval.

        None when that interval never ends within the horizon (24/7) or there is no next
        opening.
        """
        ts = _instant(at)
        found = self._guard(self._closes_at, ts)
        return None if found is None else self._aware(found)

    def minutes_to_close(self, at: datetime) -> float | None:
        """Return real elapsed minutes until closing, or None if not open or never closing.

        Minutes are elapsed time, so across a DST change they differ from wall-clock
        arithmetic (e.g. 22:00-02:00 on a spring-forward night lasts 180 minutes).
        """
        ts = _instant(at)
        found = self._guard(self._interval, ts)
        if found is None or found[1] is None:
            return None
        return (found[1] - ts) / 60.0

    # -- internals --------------------------------------------------------------------

    def _aware(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self._tz)

    def _guard(self, func: Callable[[float], _T], ts: float) -> _T | None:
        try:
            return func(ts)
        except _PASSTHROUGH:
            raise
        except BaseException:
            _log.exception("opening hours evaluation failed for %r", self)
            return None

    def _scan(
        self,
        start: float,
        limit: float,
        *,
        before: HoursState | None = None,
        stop: _StopAt = None,
    ) -> tuple[HoursState, list[float], list[HoursState], float]:
        """Walk the timeline from `start`, one constant-offset segment at a time.

        Collects the changes in (start, limit) - and at `start` itself when `before`,
        the state just before `start`, is given and differs. With `stop`, returns at the
        first change (`_ANY_CHANGE`) or the first change into that state; the walk may
        then leave out changes into other states.

        Returns:
            (state at start, change instants, state after each change, hi) where the
            timeline is known on [start, hi).
        """
        engine = self._engine
        assert engine is not None
        tz = self._tz
        want = stop if isinstance(stop, str) else None
        pos = start
        off = offset_at(tz, pos)
        if pos >= limit:
            return engine.state_at(pos + off), [], [], limit
        changes: list[float] = []
        states: list[HoursState] = []
        first: HoursState | None = None
        current: HoursState | None = None
        chunk = CHUNK_DAYS * _DAY
        while pos < limit:
            seg_end = next_transition(tz, pos, limit)
            piece_end = limit if seg_end is None else seg_end
            wall, wall_end = pos + off, piece_end + off
            while wall < wall_end:
                step_end = min(wall_end, wall + chunk)
                found, current, at_start = engine.changes(wall, step_end, current, want)
                if first is None:
                    first = at_start
                    if before is not None and before != first:
                        changes.append(start)
                        states.append(first)
                        if stop is _ANY_CHANGE or stop == first:
                            return first, changes, states, start
                for change_wall, state in found:
                    ts = change_wall - off
                    changes.append(ts)
                    states.append(state)
                    if stop is _ANY_CHANGE or (want is not None and state == want):
                        return first, changes, states, ts
                wall = step_end
            if seg_end is None:
                break
            pos = seg_end
            off = offset_at(tz, pos)
        assert first is not None
        return first, changes, states, limit

    def _build(self, ts: float) -> _Window:
        """Compute (and cache) the window around `ts`."""
        start = max(ts - _DAY, _MIN_TS)
        first, changes, states, hi = self._scan(start, min(ts + _FORWARD, _MAX_TS))
        window = _Window([start, *changes], [first, *states], hi, exact_lo=False)
        self._window = window  # a single reference swap: safe to share across threads
        return window

    def _locate(self, ts: float) -> tuple[_Window, int]:
        window = self._window
        if window is None or not window.lo <= ts < window.hi:
            window = self._build(ts)
        return window, bisect.bisect_right(window.changes, ts) - 1

    def _replace(self, old: _Window, new: _Window) -> None:
        if self._window is old and len(new.changes) <= _MAX_WINDOW_CHANGES:
            self._window = new

    def _next_change(self, ts: float) -> tuple[float, HoursState] | None:
        window, index = self._locate(ts)
        limit = min(ts + _HORIZON, _MAX_TS)
        if index + 1 < len(window.changes):
            change = window.changes[index + 1]
            return (change, window.states[index + 1]) if change <= limit else None
        if window.hi >= limit:
            return None
        _first, changes, states, hi = self._scan(
            window.hi, limit, before=window.states[-1], stop=_ANY_CHANGE
        )
        self._replace(
            window,
            _Window(window.changes + changes, window.states + states, hi, exact_lo=window.exact_lo),
        )
        if changes and changes[0] <= limit:
            return changes[0], states[0]
        return None

    def _run_start(self, ts: float, window: _Window, index: int) -> float:
        """Start of the run (of constant state) in force at `ts`, clamped to the horizon."""
        if index > 0 or window.exact_lo:
            return window.changes[index]
        floor = max(ts - _HORIZON, _MIN_TS)
        if window.lo <= floor:
            return floor
        found = self._last_change(window.lo, floor)
        changes = window.changes[1:]
        if found is None:
            self._replace(
                window, _Window([floor, *changes], window.states, window.hi, exact_lo=False)
            )
            return floor
        self._replace(window, _Window([found, *changes], window.states, window.hi, exact_lo=True))
        return found

    def _last_change(self, end: float, floor: float) -> float | None:
        """The latest change in (floor, end], walking back in chunks."""
        assert self._engine is not None
        step = (32 if self._engine.plan.periodic else CHUNK_DAYS) * _DAY
        high = end
        while high > floor:
            low = max(floor, high - step)
            _first, changes, _states, _hi = self._scan(low, high + 1.0)
            inside = [change for change in changes if change <= high]
            if inside:
                return inside[-1]
            high = low
        return None

    def _interval(self, ts: float) -> tuple[float, float | None] | None:
        window, index = self._locate(ts)
        if window.states[index] != "open":
            return None
        start = self._run_start(ts, window, index)
        found = self._next_change(ts)
        return start, None if found is None else found[0]

    def _opens_at(self, ts: float) -> float | None:
        last_ts, last_opening = self._last_opening
        if last_ts == ts:
            return last_opening
        opening = self._find_opening(ts)
        self._last_opening = (ts, opening)
        return opening

    def _find_opening(self, ts: float) -> float | None:
        window, index = self._locate(ts)
        if window.states[index] == "open":
            return self._run_start(ts, window, index)
        limit = min(ts + _HORIZON, _MAX_TS)
        for change, state in zip(
            window.changes[index + 1 :], window.states[index + 1 :], strict=True
        ):
            if change > limit:
                return None
            if state == "open":
                return change
        if window.hi >= limit:
            return None
        _first, changes, states, _hi = self._scan(
            window.hi, limit, before=window.states[-1], stop="open"
        )
        if changes and states[-1] == "open" and changes[-1] <= limit:
            return changes[-1]
        return None

    def _closes_at(self, ts: float) -> float | None:
        window, index = self._locate(ts)
        if window.states[index] == "open":
            found = self._next_change(ts)
        else:
            opening = self._opens_at(ts)
            if opening is None:
                return None
            found = self._next_change(opening)
        return None if found is None else found[0]


def _valid_zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise OpeningHoursError(
            "timezone is required (an IANA zone name such as 'Europe/London')",
            field="timezone",
            value=name if isinstance(name, str) else None,
        )
    try:
        tz = ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for malformed keys, ...
        tz = None
    if tz is None or name not in _KNOWN_ZONES:
        raise OpeningHoursError(
            f"Unknown time zone {name!r}: expected an IANA zone name such as 'Europe/London'",
            field="timezone",
            value=name,
            fragment=name,
        )
    return tz


# Listing the zones reads the tz database (~50 ms): once, at import, not in a request.
_KNOWN_ZONES: Final = frozenset(available_timezones())


def _uses(token: str, masked: str) -> int:
    """Position of `token` as a word outside comments, or -1."""
    position = masked.find(token)
    while position >= 0:
        end = position + len(token)
        before = masked[position - 1] if position else " "
        after = masked[end] if end < len(masked) else " "
        if not before.isalnum() and not after.isalnum():
            return position
        position = masked.find(token, position + 1)
    return -1


def _parse(expression: str) -> OpeningHours:
    try:
        WORK.calls += 1
        WORK.parsed_chars += len(expression)
        return OpeningHours(expression, auto_country=False, auto_timezone=False)
    except ParserError as exc:
        raise from_parser_message(expression, str(exc)) from None
    except _PASSTHROUGH:
        raise
    except BaseException as exc:  # e.g. a Rust panic inside the parser
        raise OpeningHoursError(
            f"Invalid opening_hours expression: the parser failed ({type(exc).__name__})",
            expression=expression,
            value=expression,
            fragment=expression,
        ) from None


def _check_country(country: str | None) -> None:
    if country is not None and (len(country) != 2 or country not in ISO_3166_ALPHA2):
        raise OpeningHoursError(
            f"Unknown country {country!r}: expected an ISO 3166-1 alpha-2 code such as 'GB'",
            field="country",
            value=country,
            fragment=country,
        )


def _too_costly(expression: str, plan: Plan) -> OpeningHoursError:
    if plan.dated:
        advice = "use fewer dated exceptions (remove past ones), rules or times of day"
    elif plan.periodic:
        advice = "use fewer rules or times of day"
    else:
        advice = (
            "use fewer rules or times of day; with month, date, week or year selectors "
            "at most a few dozen rules can be evaluated"
        )
    if plan.fallback:
        advice += ", or avoid fallback rules ('||')"
    return OpeningHoursError(
        f"opening_hours is too complex to evaluate within bounds (cost {plan.cost:,.0f} > "
        f"{COST_BUDGET:,} units): {advice}",
        expression=expression,
        value=expression,
    )


@functools.lru_cache(maxsize=16_384)
def _compile(expression: str, timezone: str, country: str | None, region: str | None) -> StoreHours:
    tz = _valid_zone(timezone)
    _check_country(country)
    region = _holidays.check_region(country, region)
    if not expression:
        return StoreHours(
            expression="", timezone=timezone, country=country, region=region, tz=tz, engine=None
        )
    if len(expression) > OPENING_HOURS_MAX_LENGTH:
        raise OpeningHoursError(
            f"opening_hours is too long ({len(expression)} > {OPENING_HOURS_MAX_LENGTH} "
            "characters)",
            expression=expression,
            value=expression,
        )
    parsed = _parse(expression)
    masked = mask_comments(expression)
    school = _uses("SH", masked)
    if school >= 0:
        # The library has no school-holiday calendars: 'SH off' would silently never apply
        # and the store would look open when it is closed.
        raise OpeningHoursError(
            "School holidays (SH) are not supported; list the dates explicitly instead",
            expression=expression,
            value=expression,
            position=school,
            fragment="SH",
        )
    WORK.analysed_chars += len(expression)
    plan = make_plan(expression, str(parsed))
    WORK.analysed_ranges += sum(len(plan.rule_spans[index].dates) for index in plan.dated)
    if plan.fallback and any(
        _uses(event, masked.lower()) >= 0 for event in ("sunrise", "sunset", "dawn", "dusk")
    ):
        raise OpeningHoursError(
            "Fallback rules ('||') cannot be combined with sun times (sunrise, sunset, dawn, dusk)",
            expression=expression,
            value=expression,
            fragment="||",
            position=expression.find("||"),
        )
    if plan.uses_ph and country is not None and not _holidays.has_calendar(country):
        raise OpeningHoursError(
            f"Public holidays (PH) are not available for country {country!r}; "
            "list the closing dates explicitly instead (e.g. 'Jan 26 off')",
            field="country",
            expression=expression,
            value=country,
            fragment=country,
        )
    if plan.cost > COST_BUDGET:
        raise _too_costly(expression, plan)
    try:
        engine = _Engine(plan, parsed, country, region)
    except _PASSTHROUGH:
        raise
    except BaseException as exc:
        raise OpeningHoursError(
            f"opening_hours cannot be evaluated ({type(exc).__name__})",
            expression=expression,
            value=expression,
            fragment=expression,
        ) from None
    return StoreHours(
        expression=expression,
        timezone=timezone,
        country=country,
        region=region,
        tz=tz,
        engine=engine,
        warnings=tuple(parsed.warnings),
    )


def clear_caches() -> None:
    """Forget compiled stores, holiday calendars and zone transitions (tests, benchmarks).

    After this the next request for a store pays every first-time cost again: what the
    cost bound (`COST_BUDGET`) is about.
    """
    _compile.cache_clear()
    _holidays.holiday_dates.cache_clear()
    _transitions.cache_clear()
    _ordinal_spans.cache_clear()


def _normalise_country(country: str | None) -> str | None:
    if country is None:
        return None
    if not isinstance(country, str):
        raise OpeningHoursError("country must be a string", field="country")
    country = country.strip().upper()
    return country or None


def _normalise_region(region: str | None) -> str | None:
    if region is None:
        return None
    if not isinstance(region, str):
        raise OpeningHoursError("region must be a string", field="region")
    return region.strip() or None


def compile_hours(
    expression: str | None,
    timezone: str,
    country: str | None = None,
    region: str | None = None,
) -> StoreHours:
    """Compile a store's hours once; later calls with the same inputs hit a cache.

    Args:
        expression: OSM `opening_hours` expression (at most `OPENING_HOURS_MAX_LENGTH`
            characters). None or blank means "no hours known": the store is always
            'unknown' (the library itself would read '' as 24/7).
        timezone: The store's IANA zone name, e.g. 'Europe/London'.
        country: ISO 3166-1 alpha-2 code (case-insensitive) for public holidays (PH).
        region: Subdivision for regional public holidays, as the `holidays` package names
            it (ISO 3166-2 without the country: 'SCT', 'BY', 'NSW', 'ON', 'CA'); codes
            are case-insensitive. None: the holidays of the whole country.

    Returns:
        The compiled hours (shared between callers: treat it as immutable).

    Raises:
        OpeningHoursError: invalid or too costly expression (field 'opening_hours', with
            position and fragment when known), unknown zone (field 'timezone'), country
            (field 'country') or region (field 'region'), or `PH` used with a country
            whose holidays are not available.
    """
    if expression is not None and not isinstance(expression, str):
        raise OpeningHoursError("opening_hours must be a string", value=None)
    normalised = (expression or "").strip()
    return _compile(normalised, timezone, _normalise_country(country), _normalise_region(region))


def validate_expression(
    expression: str | None,
    timezone: str = "UTC",
    country: str | None = None,
    region: str | None = None,
) -> None:
    """Raise `OpeningHoursError` if the hours cannot be compiled, else return None.

    Args:
        expression: The expression (None/blank is valid: hours unknown).
        timezone: Optional zone to validate together with the expression.
        country: Optional country to validate together with the expression.
        region: Optional region (subdivision of `country`) to validate as well.
    """
    compile_hours(expression, timezone, country, region)
