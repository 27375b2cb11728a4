"""Store opening hours: "open now / opens at / closes in", right in every time zone.

Hours are OpenStreetMap `opening_hours` expressions (e.g. ``Mo-Fr 09:00-18:00; PH off``),
evaluated with the `opening-hours-py` library in the store's IANA zone and with the public
holidays of the store's country and region. `compile_hours` parses once and caches; the
returned `StoreHours` answers queries at aware instants.

Semantics (details in `app.hours._expression`):

* Evaluation follows the store's *local wall clock*. In a spring-forward gap, hours that
  start (or end) inside the missing hour start (or end) at the first instant after it:
  "02:30-04:00" on a night where 02:00-03:00 does not exist opens at 03:00. In an autumn
  fold, the repeated wall-clock hour is open in *both* passes when the hours say open:
  "01:00-02:00" is open for two real hours that night.
* `opens_at(at)`: when open, the start of the current open interval; otherwise the start
  of the next open interval strictly after `at`. `closes_at(at)`: the end of the current
  interval when open, else the end of the next one. Lookahead is 400 days; None means
  "not within 400 days" (24/7 never closes; a store closed for good never opens).
* 'unknown' is the library's unknown state (``unknown`` rules, ``|| unknown``
  fallbacks) and the state of a store without hours (expression None or blank).
  `is_open` is False when unknown: we never invite when unsure. Comments do not change the
  state (``open "call us"`` is open); read them with `StoreHours.comment`.
* `PH` means the public holidays of the `holidays` package for the store's country, and
  with a `region` (ISO 3166-2 subdivision as `holidays` names it: "SCT", "BY", "NSW",
  "ON", "CA") its regional ones too; without a region, those of the whole country. Observed
  (substitute) days are holidays. The package covers years up to about 2100; without a
  country `PH` never applies.
* Cost is bounded: every accepted expression is evaluated within `COST_BUDGET` work units
  (about 25 ms of CPU) per request, cold caches included; expressions that cannot be
  (e.g. hundreds of time ranges a day, hundreds of rules with month or week selectors)
  and expressions longer than `OPENING_HOURS_MAX_LENGTH` (4,000) characters are rejected
  with an `OpeningHoursError` on field 'opening_hours' (see `app.hours._plan`).

Library issues worked around (opening-hours-py 2.1.4), pinned by tests:

* Its time-zone mode resolves ambiguous autumn-fold times to the *second* pass, so its
  `next_change` reports a 01:00 opening one hour late, contradicting its own `state`.
* Its time-zone mode skips changes caused by the repeated hour: with hours 01:40-03:00 it
  reports open 01:50 (first pass) until 03:00 although it is closed 01:00-01:40 (second).
* An aware datetime inside a DST gap raises ValueError; a non-ZoneInfo tzinfo (e.g.
  `datetime.timezone.utc`) raises TypeError.
* Its `next_change` scans day by day up to year 9999 when no rule lets it skip: 1-3 s of
  CPU for `Mo-Su 00:00-24:00` (0.1 ms for `24/7`). It is never called; changes come from
  `intervals` over bounded ranges.
* With a fallback rule (``Mo-Fr 09:00-18:00 || unknown``) its `next_change` / `intervals`
  report "closed forever" after the first closing; for such expressions the module
  evaluates each day with its own `intervals` call, which is right.
* A rule that does not match a day but follows a fallback separator still changes that
  day (it drops the previous day's ranges past midnight); fixed-date fallback rules are
  therefore never left out of an evaluation.
* Its public-holiday calendars have gaps (GB lacks New Year's Day), no regions, and its
  Python API takes no calendar: it is given none, and `PH` is rewritten per day instead.
* A blank expression parses as 24/7 (we map it to unknown); "" raises a bare parse error.
* ``SH`` (school holidays) never matches: such expressions are rejected rather than
  silently ignoring closures.

Hence the library is only given naive wall-clock times and the module does the zone
arithmetic itself, segment by segment between UTC-offset transitions.
"""

from datetime import datetime

from app.hours._errors import ErrorField, OpeningHoursError
from app.hours._expression import (
    COST_BUDGET,
    HORIZON_DAYS,
    OPENING_HOURS_MAX_LENGTH,
    HoursState,
    StoreHours,
    compile_hours,
    validate_expression,
)
from app.hours.weekly import DayException, TimeRange, WeeklyHours

__all__ = [
    "COST_BUDGET",
    "HORIZON_DAYS",
    "OPENING_HOURS_MAX_LENGTH",
    "DayException",
    "ErrorField",
    "HoursState",
    "OpeningHoursError",
    "StoreHours",
    "TimeRange",
    "WeeklyHours",
    "closes_at",
    "compile_hours",
    "interval",
    "is_open",
    "minutes_to_close",
    "next_change",
    "opens_at",
    "state",
    "validate_expression",
]


def state(
    expression: str | None,
    timezone: str,
    country: str | None,
    at: datetime,
    *,
    region: str | None = None,
) -> HoursState:
    """Return the store's state at `at`; see `StoreHours.state`."""
    return compile_hours(expression, timezone, country, region).state(at)


def is_open(
    expression: str | None,
    timezone: str,
    country: str | None,
    at: datetime,
    *,
    region: str | None = None,
) -> bool:
    """Return whether the store is open at `at`; see `StoreHours.is_open`."""
    return compile_hours(expression, timezone, country, region).is_open(at)


def opens_at(
    expression: str | None,
    timezone: str,
    country: str | None,
    at: datetime,
    *,
    region: str | None = None,
) -> datetime | None:
    """Return when the store opens; see `StoreHours.opens_at`."""
    return compile_hours(expression, timezone, country, region).opens_at(at)


def closes_at(
    expression: str | None,
    timezone: str,
    country: str | None,
    at: datetime,
    *,
    region: str | None = None,
) -> datetime | None:
    """Return when the store closes; see `StoreHours.closes_at`."""
    return compile_hours(expression, timezone, country, region).closes_at(at)


def minutes_to_close(
    expression: str | None,
    timezone: str,
    country: str | None,
    at: datetime,
    *,
    region: str | None = None,
) -> float | None:
    """Return the minutes until the store closes; see `StoreHours.minutes_to_close`."""
    return compile_hours(expression, timezone, country, region).minutes_to_close(at)


def interval(
    expression: str | None,
    timezone: str,
    country: str | None,
    at: datetime,
    *,
    region: str | None = None,
) -> tuple[datetime, datetime | None] | None:
    """Return the open interval containing `at`; see `StoreHours.interval`."""
    return compile_hours(expression, timezone, country, region).interval(at)


def next_change(
    expression: str | None,
    timezone: str,
    country: str | None,
    at: datetime,
    *,
    region: str | None = None,
) -> datetime | None:
    """Return the next change of state after `at`; see `StoreHours.next_change`."""
    return compile_hours(expression, timezone, country, region).next_change(at)
