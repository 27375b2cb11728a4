"""Compiled store hours: DST-correct queries over an OSM `opening_hours` expression.

How instants are evaluated
--------------------------
The `opening-hours-py` library is only ever given *naive local wall-clock* times; its own
time-zone support is not used because it is wrong around DST changes (see the module
docstring of `app.hours`). The rule is:

    state(instant) = library_state(wall clock of `instant` in the store's zone)

Everything else (next change, intervals, opens/closes at) is derived from that rule, so the
answers are always mutually consistent:

* **Spring-forward gap** (e.g. 02:00-03:00 does not exist): no instant has a wall time in
  the gap, so a store opening at 02:30 opens at the first instant after the gap (03:00 new
  time), and a store closing at 02:30 closes at that same instant.
* **Autumn fold** (e.g. 01:00-02:00 happens twice): both passes have the same wall time, so
  the store is open during *both* passes if the wall clock says open ("local wall clock"
  rule). A store with hours 01:00-02:00 is open for two real hours that night; a store with
  hours 01:40-03:00 is open 01:40-02:00 (first pass), closed 01:00-01:40 (second pass) and
  open again 01:40-03:00.

To find changes, time is cut into segments of constant UTC offset (between two transitions
of the zone). Within a segment wall time and instants map one-to-one, so the library's naive
`next_change` is exact; at each transition the state is re-evaluated at the new wall time.

Caching
-------
`compile_hours` caches compiled stores by (expression, timezone, country). Each compiled
store also caches one *window*: the state timeline from the start of the state-run around
the last cache miss to at least 7 days later. State is constant between changes, so queries
inside the window are answered with a binary search, without calling the library. A `state`
query that misses the window far (> 8 days) from the previous miss is answered with a single
library call instead, so random one-off instants do not pay for a window each time.
"""

import bisect
import functools
import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from opening_hours import OpeningHours, State

from app.hours._countries import ISO_3166_ALPHA2
from app.hours._dst import EPOCH, next_transition, offset_at, wall_time
from app.hours._errors import OpeningHoursError, from_parser_message
from app.hours._lib import ParserError, UnknownCountryError

__all__ = [
    "HORIZON_DAYS",
    "HoursState",
    "StoreHours",
    "compile_hours",
    "validate_expression",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

HoursState = Literal["open", "closed", "unknown"]

#: How far queries look ahead for the next change / opening (and back for an interval start).
HORIZON_DAYS: Final = 400
MAX_EXPRESSION_LENGTH: Final = 4096

_DAY = 86_400.0
_HORIZON = HORIZON_DAYS * _DAY
_FORWARD = 7 * _DAY  # minimum look-ahead of a cached window
# State-query misses further apart than this are answered without building a window.
_LOCALITY = 8 * _DAY
# The library evaluates years 1900..9999 only; keep every walk (queries +/- the horizon and
# the window) comfortably inside that range.
_MIN_TS = datetime(1902, 1, 1, tzinfo=UTC).timestamp()
_MAX_TS = datetime(9997, 1, 1, tzinfo=UTC).timestamp()
_INF = math.inf

_STATES: dict[State, HoursState] = {
    State.OPEN: "open",
    State.CLOSED: "closed",
    State.UNKNOWN: "unknown",
}
# Exceptions never swallowed when shielding callers from library failures (Rust panics
# surface as pyo3's PanicException, a BaseException subclass).
_PASSTHROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)
_COMMENT_RE = re.compile(r'"[^"]*"')
_PH_RE = re.compile(r"\bPH\b")
_SH_RE = re.compile(r"\bSH\b")
_FALLBACK_RE = re.compile(r"\|\|")
_SUN_RE = re.compile(r"\b(?:sunrise|sunset|dawn|dusk)\b")
_TIME_RE = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")


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
        # False when the first run began before `lo` (nothing changed in the look-back).
        self.exact_lo = exact_lo

    def run_start(self, index: int, ts: float) -> float:
        """Start of the run `index` as seen from `ts`, clamped to the look-back horizon."""
        if index == 0 and not self.exact_lo:
            # Deterministic regardless of where the window was anchored.
            return ts - _HORIZON
        return self.changes[index]


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
        "_expression",
        "_last_miss",
        "_oh",
        "_scan_minutes",
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
        tz: ZoneInfo,
        oh: OpeningHours | None,
        scan_minutes: tuple[int, ...] | None = None,
    ) -> None:
        """Wrap a parsed expression; use `compile_hours` instead of calling this."""
        self._expression = expression
        self._timezone = timezone
        self._country = country
        self._tz = tz
        self._oh = oh
        # Minutes of the day at which the state may change, when the library's own
        # next_change cannot be trusted (fallback rules); None: trust the library.
        self._scan_minutes = scan_minutes
        self._last_miss = -_INF  # instant of the last window-cache miss of `state`
        self._warnings: tuple[str, ...] = tuple(oh.warnings) if oh is not None else ()
        # No expression: 'unknown' for all time, which the window expresses directly.
        self._window: _Window | None = (
            None if oh is not None else _Window([-_INF], ["unknown"], _INF, exact_lo=True)
        )

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
    def tz(self) -> ZoneInfo:
        """The store's zone."""
        return self._tz

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings the library emitted while parsing (the expression is still usable)."""
        return self._warnings

    def __repr__(self) -> str:
        return (
            f"StoreHours({self._expression!r}, timezone={self._timezone!r}, "
            f"country={self._country!r})"
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
                    # Misses far apart (random instants): one library call is ~40x
                    # cheaper than computing a window that the next query would not use.
                    assert self._oh is not None
                    return self._lib_state(wall_time(ts, offset_at(self._tz, ts)))
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
        if self._oh is None:
            return None
        try:
            _state, text = self._oh.state(wall_time(ts, offset_at(self._tz, ts)))
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

    def _lib_state(self, wall: datetime) -> HoursState:
        assert self._oh is not None
        return _STATES[self._oh.state(wall)[0]]

    def _walk(
        self, start: float, stop: float, need_after: float | None = None
    ) -> tuple[HoursState, list[float], list[HoursState], float]:
        """Walk the timeline from `start`, one constant-offset segment at a time.

        Without `need_after`, collects the changes in (start, stop]. With it, keeps
        walking past `stop` until a change after `need_after` is seen (at most
        `need_after + 400 days`) and stops at the first change that is both > need_after
        and >= stop.

        Returns:
            (state at start, change instants, state after each change, hi) where the
            timeline is fully known on [start, hi); hi is +inf when the state provably
            never changes again.
        """
        oh = self._oh
        assert oh is not None
        tz = self._tz
        limit = stop if need_after is None else min(max(stop, need_after + _HORIZON), _MAX_TS)
        pos = start
        off = offset_at(tz, pos)
        current = self._lib_state(wall_time(pos, off))
        first = current
        changes: list[float] = []
        states: list[HoursState] = []
        # From this instant on, the library state is provably constant (see below).
        const_from = _INF
        while True:
            seg_end = next_transition(tz, pos, limit)
            wall = wall_time(pos, off)
            seg_until = wall_time(limit if seg_end is None else seg_end, off)
            while True:
                if self._scan_minutes is not None:
                    nxt = self._scan_next(wall, seg_until)
                    if nxt is None:
                        break  # nothing up to the end of the segment; not "forever"
                else:
                    nxt = oh.next_change(wall)
                if nxt is None:
                    # Constant for all walls >= `wall`. A fold moves the wall clock back by
                    # less than a day, so every instant a day later has a wall >= `wall`.
                    const_from = min(const_from, (wall - EPOCH).total_seconds() - off + _DAY)
                    break
                ts = (nxt - EPOCH).total_seconds() - off
                # A change at a transition instant is handled by the re-evaluation below.
                if (seg_end is not None and ts >= seg_end) or ts > limit:
                    break
                new = _STATES[oh.state(nxt)[0]]
                if new != current:  # skip comment-only changes
                    changes.append(ts)
                    states.append(new)
                    current = new
                    if need_after is not None and ts > need_after and ts >= stop:
                        return first, changes, states, ts
                wall = nxt
            if seg_end is None:
                break
            pos = seg_end
            off = offset_at(tz, pos)
            new = self._lib_state(wall_time(pos, off))
            if new != current:
                changes.append(pos)
                states.append(new)
                current = new
                if need_after is not None and pos > need_after and pos >= stop:
                    return first, changes, states, pos
        if need_after is not None and const_from <= limit:
            return first, changes, states, _INF
        return first, changes, states, limit

    def _scan_next(self, wall: datetime, until: datetime) -> datetime | None:
        """Find the next state change after `wall` (up to `until`) by probing candidates.

        Used instead of the library's `next_change`, which is wrong for expressions with a
        fallback rule (`A || B`): it reports no further change after the first closing.
        Changes can only happen at the times written in the expression or at midnight, so
        probing those per day is exact.
        """
        assert self._scan_minutes is not None
        current = self._lib_state(wall)
        day = wall.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= until:
            for minute in self._scan_minutes:
                candidate = day + timedelta(minutes=minute)
                if candidate <= wall:
                    continue
                if candidate > until:
                    return None
                if self._lib_state(candidate) != current:
                    return candidate
            day += timedelta(days=1)
        return None

    def _build(self, ts: float) -> _Window:
        """Compute (and cache) the window around `ts`."""
        back = _DAY
        while True:
            start = ts - back
            first, changes, states, _hi = self._walk(start, ts)
            if changes or back >= _HORIZON:
                break
            back = min(back * 8, _HORIZON)
        if changes:
            lo, lo_state = changes[-1], states[-1]
        else:
            lo, lo_state = start, first
        _now, ahead, ahead_states, hi = self._walk(ts, ts + _FORWARD, need_after=ts)
        window = _Window([lo, *ahead], [lo_state, *ahead_states], hi, exact_lo=bool(changes))
        self._window = window  # a single reference swap: safe to share across threads
        return window

    def _locate(self, ts: float) -> tuple[_Window, int]:
        window = self._window
        if window is None or not window.lo <= ts < window.hi:
            window = self._build(ts)
        return window, bisect.bisect_right(window.changes, ts) - 1

    def _next_change(self, ts: float) -> tuple[float, HoursState] | None:
        window, index = self._locate(ts)
        if index + 1 >= len(window.changes):
            if window.hi == _INF or window.hi >= ts + _HORIZON:
                return None
            # The window ends before the horizon: re-anchor it here and look again.
            window = self._build(ts)
            index = bisect.bisect_right(window.changes, ts) - 1
            if index + 1 >= len(window.changes):
                return None
        change = window.changes[index + 1]
        if change > ts + _HORIZON:
            return None
        return change, window.states[index + 1]

    def _interval(self, ts: float) -> tuple[float, float | None] | None:
        window, index = self._locate(ts)
        if window.states[index] != "open":
            return None
        start = window.run_start(index, ts)
        found = self._next_change(ts)
        return start, None if found is None else found[0]

    def _opens_at(self, ts: float) -> float | None:
        window, index = self._locate(ts)
        if window.states[index] == "open":
            return window.run_start(index, ts)
        limit = ts + _HORIZON
        cursor = ts
        while True:
            found = self._next_change(cursor)
            if found is None or found[0] > limit:
                return None
            cursor, state = found
            if state == "open":
                return cursor

    def _closes_at(self, ts: float) -> float | None:
        opening = self._opens_at(ts)
        if opening is None:
            return None
        found = self._next_change(max(opening, ts))
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
    if tz is None or name not in _known_zones():
        raise OpeningHoursError(
            f"Unknown time zone {name!r}: expected an IANA zone name such as 'Europe/London'",
            field="timezone",
            value=name,
            fragment=name,
        )
    return tz


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _uses(pattern: re.Pattern[str], expression: str) -> bool:
    return pattern.search(_COMMENT_RE.sub("", expression)) is not None


def _parse(expression: str, country: str | None) -> OpeningHours:
    try:
        return OpeningHours(expression, country=country, auto_country=False, auto_timezone=False)
    except ParserError as exc:
        raise from_parser_message(expression, str(exc)) from None
    except UnknownCountryError:
        raise
    except _PASSTHROUGH:
        raise
    except BaseException as exc:  # e.g. a Rust panic inside the parser
        raise OpeningHoursError(
            f"Invalid opening_hours expression: the parser failed ({type(exc).__name__})",
            expression=expression,
            value=expression,
            fragment=expression,
        ) from None


@functools.lru_cache(maxsize=16_384)
def _compile(expression: str, timezone: str, country: str | None) -> StoreHours:
    tz = _valid_zone(timezone)
    if country is not None and (
        not _COUNTRY_RE.fullmatch(country) or country not in ISO_3166_ALPHA2
    ):
        raise OpeningHoursError(
            f"Unknown country {country!r}: expected an ISO 3166-1 alpha-2 code such as 'GB'",
            field="country",
            value=country,
            fragment=country,
        )
    if not expression:
        return StoreHours(expression="", timezone=timezone, country=country, tz=tz, oh=None)
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise OpeningHoursError(
            f"opening_hours is too long ({len(expression)} > {MAX_EXPRESSION_LENGTH} chars)",
            expression=expression,
            value=expression,
        )
    try:
        oh = _parse(expression, country)
    except UnknownCountryError:
        # A real country without a holiday calendar in the library (e.g. 'IN'): fine unless
        # the hours depend on public holidays, which we could then not honour.
        oh = _parse(expression, None)
        if _uses(_PH_RE, expression):
            raise OpeningHoursError(
                f"Public holidays (PH) are not available for country {country!r}; "
                "list the closing dates explicitly instead (e.g. 'Jan 26 off')",
                field="country",
                expression=expression,
                value=country,
                fragment=country,
            ) from None
    if _uses(_SH_RE, expression):
        # The library has no school-holiday calendars: 'SH off' would silently never apply
        # and the store would look open when it is closed.
        position = _COMMENT_RE.sub(lambda m: " " * len(m.group()), expression).find("SH")
        raise OpeningHoursError(
            "School holidays (SH) are not supported; list the dates explicitly instead",
            expression=expression,
            value=expression,
            position=position,
            fragment="SH",
        )
    scan_minutes = None
    if _uses(_FALLBACK_RE, expression):
        if _uses(_SUN_RE, expression):
            raise OpeningHoursError(
                "Fallback rules ('||') cannot be combined with sun times (sunrise, sunset, "
                "dawn, dusk)",
                expression=expression,
                value=expression,
                fragment="||",
                position=expression.find("||"),
            )
        stripped = _COMMENT_RE.sub("", expression)
        scan_minutes = tuple(
            sorted(
                {0} | {(int(h) * 60 + int(m)) % (24 * 60) for h, m in _TIME_RE.findall(stripped)}
            )
        )
    hours = StoreHours(
        expression=expression,
        timezone=timezone,
        country=country,
        tz=tz,
        oh=oh,
        scan_minutes=scan_minutes,
    )
    # Evaluate once now, so an expression the library cannot evaluate fails at compile
    # time (a 422) instead of at query time.
    probe = datetime(2026, 1, 1)
    try:
        oh.state(probe)
        oh.next_change(probe)
    except _PASSTHROUGH:
        raise
    except BaseException as exc:
        raise OpeningHoursError(
            f"opening_hours cannot be evaluated ({type(exc).__name__})",
            expression=expression,
            value=expression,
            fragment=expression,
        ) from None
    return hours


def _normalise_country(country: str | None) -> str | None:
    if country is None:
        return None
    if not isinstance(country, str):
        raise OpeningHoursError("country must be a string", field="country")
    country = country.strip().upper()
    return country or None


def compile_hours(expression: str | None, timezone: str, country: str | None = None) -> StoreHours:
    """Compile a store's hours once; later calls with the same inputs hit a cache.

    Args:
        expression: OSM `opening_hours` expression. None or blank means "no hours known":
            the store is always 'unknown' (the library itself would read '' as 24/7).
        timezone: The store's IANA zone name, e.g. 'Europe/London'.
        country: ISO 3166-1 alpha-2 code (case-insensitive) for public holidays (PH).

    Returns:
        The compiled hours (shared between callers: treat it as immutable).

    Raises:
        OpeningHoursError: invalid expression (field 'opening_hours', with position and
            fragment), unknown zone (field 'timezone') or country (field 'country'), or
            `PH` used with a country whose holidays are not available.
    """
    if expression is not None and not isinstance(expression, str):
        raise OpeningHoursError("opening_hours must be a string", value=None)
    normalised = (expression or "").strip()
    return _compile(normalised, timezone, _normalise_country(country))


def validate_expression(
    expression: str | None, timezone: str = "UTC", country: str | None = None
) -> None:
    """Raise `OpeningHoursError` if the hours cannot be compiled, else return None.

    Args:
        expression: The expression (None/blank is valid: hours unknown).
        timezone: Optional zone to validate together with the expression.
        country: Optional country to validate together with the expression.
    """
    compile_hours(expression, timezone, country)
