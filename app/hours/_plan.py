"""Static analysis of an expression: how to evaluate it, and what that can cost at most.

Two facts decide the cost of evaluating an `opening_hours` expression with the library:

* The library evaluates a day by running every rule against it, and it steps through time
  day by day whenever a rule matches every day (`Mo-Su 00:00-24:00` is stepped through
  day by day; `24/7` is not). So a look-ahead of 400 days over an expression of R rules
  costs about 400 * R rule evaluations.
* Parsing costs about a microsecond per character.

The engine therefore evaluates *periodic* expressions - those whose rules select days by
weekday only (no month, week, year, `easter` or `Mo[1]` selectors), apart from rules for
fixed dates (``Dec 25 off``) - from a weekly profile computed once: seven day profiles,
then pure arithmetic. Public holidays (`PH`) are evaluated with our calendars by
rewriting the `PH` selectors per day (see `PhGroup`); fixed-date rules are kept only on
the days they may select (see `Rule`). Other (*general*) expressions are walked with the
library, in chunks of 8 days.

`Plan` records all of that, and `Plan.cost` bounds, in work units of about a microsecond
each, what the worst request (compile, then `state`, `next_change`, `opens_at` and
`closes_at` at any instant) can cost. Expressions above `COST_BUDGET` are rejected.
The engine counts the same units while it works (`app.hours._work`), so tests can check
the bound without timing anything.
"""

import bisect
import calendar
import dataclasses
import functools
import re
from dataclasses import dataclass
from datetime import date
from typing import Final

from app.hours._errors import OpeningHoursError
from app.limits import OPENING_HOURS_MAX

__all__ = [
    "CHUNK_DAYS",
    "COST_BUDGET",
    "HORIZON_DAYS",
    "OPENING_HOURS_MAX_LENGTH",
    "Costs",
    "DateRange",
    "PhGroup",
    "Plan",
    "make_plan",
    "mask_comments",
]

#: Longest accepted expression (the database column holds 4,000 characters).
OPENING_HOURS_MAX_LENGTH: Final = OPENING_HOURS_MAX  # one limit, one place: app.limits

#: Worst-case work of one request, in units of about 1 us of CPU on the reference machine.
COST_BUDGET: Final = 25_000


class Costs:
    """Work units (about 1 us each) of the engine's elementary steps, measured once.

    A day evaluation runs every rule of the evaluated text against one day: about 1.5 us
    per rule in the worst case (month-day selectors), plus 0.1 us per time span.
    """

    PARSE_CHAR: Final = 1.0
    # Our own analysis of the expression (regular expressions over it, see `make_plan`),
    # and of each date range of its fixed-date rules.
    ANALYSIS_CHAR: Final = 1.5
    ANALYSIS_RANGE: Final = 20.0
    CALL: Final = 4.0
    DAY: Final = 1.0
    DAY_RULE: Final = 1.5
    DAY_SPAN: Final = 0.1
    ITEM: Final = 2.0
    STEP: Final = 2.5
    # Loading one year of a holiday calendar from `holidays` (0.6-1.1 ms, then cached).
    CALENDAR: Final = 1200.0
    # Finding one year of UTC-offset transitions of a zone (then cached).
    ZONE_YEAR: Final = 700.0

    @classmethod
    def day(cls, rules: int, spans: int) -> float:
        """Units of one day evaluation of a text with `rules` rules and `spans` spans."""
        return cls.DAY + cls.DAY_RULE * rules + cls.DAY_SPAN * spans


#: How far queries look ahead for the next change / opening (and back for an interval start).
HORIZON_DAYS: Final = 400
# Walk lengths of the engine, in days. A request walks at most 400 days ahead twice (when
# closed: to the opening, then to its end) or 400 days back and 400 ahead (when open), plus
# its 8-day window and the overshoot of two 8-day chunks.
CHUNK_DAYS: Final = 8
WALK_DAYS: Final = 2 * HORIZON_DAYS + 3 * CHUNK_DAYS
# Library calls of a general walk: a chunk per 8 days, plus chunks cut short at the ends of
# walks and at DST transitions.
WALK_CHUNKS: Final = WALK_DAYS // CHUNK_DAYS + 24
# Days stepped through by a walk: a chunk that starts within a day steps through 9 days.
WALK_STEPS: Final = WALK_DAYS * 9 // CHUNK_DAYS + 40

_COMMENT_RE = re.compile(r'"[^"]*"')
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
# Anything that makes the schedule depend on more than the weekday (comments are masked).
_DATED_RE = re.compile(rf"(?i:\b(?:{_MONTHS}|week|easter)\b)|\d{{3,}}|\[")
_WD = r"(?i:mo|tu|we|th|fr|sa|su)(?![A-Za-z])"
_OFFSET = r" [+-]\d{1,4} days?(?![A-Za-z])"
_PH_ITEM = rf"PH(?:{_OFFSET})?(?![A-Za-z])"
_WD_ITEM = rf"{_WD}(?:\[[^\]\x00]*\](?:{_OFFSET})?|-{_WD})?"
_ITEM = rf"(?:{_PH_ITEM}|SH(?![A-Za-z])|{_WD_ITEM})"
_GROUP_RE = re.compile(rf"(?<![A-Za-z0-9\]\-])(?:{_ITEM})(?:[, ](?:{_ITEM}))*")
_ITEM_RE = re.compile(_ITEM)
_PH_ITEM_RE = re.compile(r"PH(?: ([+-]\d{1,4}) days?)?")
_PH_RE = re.compile(r"\bPH\b")
_MONTH_BEFORE_RE = re.compile(rf"(?i:\b(?:{_MONTHS}))\s$")
_TIME_RE = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?![\d:])")
_SPAN_RE = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})\s?-\s?(?:(\d{1,2}):(\d{2})|([(a-zA-Z]))")
_SUN_RE = re.compile(r"(?i:\b(?:sunrise|sunset|dawn|dusk)\b)")
_FALLBACK_RE = re.compile(r"\|\|")
_RULE_SEP_RE = re.compile(r";|\|\||,\s(?!\s*(?:\d{1,2}:\d{2}|\(|(?i:sunrise|sunset|dawn|dusk)))")
_UNKNOWN_OR_COMMENT_RE = re.compile(r'(?i:\bunknown\b)|"')
# Rule separators as the grammar writes them; ", " followed by a time continues a list of
# times. A split that disagrees with the library's own rule count is not used.
_SEPARATOR_RE = re.compile(
    r" ?; ?| ?\|\| | ?, (?!(?:\d{1,2}:\d{2}|\(|(?i:sunrise|sunset|dawn|dusk)\b))"
)
_MONTH_NAMES: Final = tuple(_MONTHS.split("|"))
# A day number is not followed by ":MM" ("Nov 01:00-02:00" is November, 01:00-02:00).
_DATE_ITEM = (
    rf"(?:(\d{{4}}) )?({_MONTHS}) (\d{{1,2}})(?!:\d)"
    rf"(?:-(?:(?:(\d{{4}}) )?({_MONTHS}) )?(\d{{1,2}})(?!:\d))?"
)
_DATE_ITEM_RE = re.compile(rf"(?i){_DATE_ITEM}")
_DATE_LIST_RE = re.compile(rf"(?i){_DATE_ITEM}(?:,{_DATE_ITEM})*(?=$|[ :])")
# Weekdays in the library's order: Monday is 0, as `date.weekday()`.
_WEEKDAYS: Final = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
#: Selector that never matches: the library has no school-holiday calendar.
NEVER: Final = "SH"


def mask_comments(expression: str) -> str:
    """Replace each comment by NULs of the same length (positions stay valid)."""
    return _COMMENT_RE.sub(lambda match: "\x00" * len(match.group()), expression)


@dataclass(frozen=True, slots=True)
class DateRange:
    """A fixed-date selector item: ``Dec 25``, ``Dec 24-26``, ``2026 Dec 24-2027 Jan 02``.

    Attributes:
        year: The year of the start for a one-off range, None for a yearly one.
        start: (month, day) of the first day.
        end: (month, day) of the last day.
        end_year_offset: 1 when the range ends in the year after its start.
    """

    year: int | None
    start: tuple[int, int]
    end: tuple[int, int]
    end_year_offset: int

    def spans(self, year: int) -> list[tuple[date, date]]:
        """Inclusive date spans of the range that may overlap `year`.

        A day that does not exist in the year (Feb 29) is moved to the day before: the
        library moves a start to the day after and an end to the day before, so the span
        may only be wider than the library's.
        """
        years = [self.year] if self.year is not None else [year - 1, year]
        found = []
        for first_year in years:
            if first_year is None or not 1 <= first_year <= 9998:
                continue
            first = _clamped(first_year, *self.start)
            last = _clamped(first_year + self.end_year_offset, *self.end)
            found.append((first, last))
        return found


def _clamped(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:  # Feb 29 of a common year (other days were validated)
        return date(year, month, day - 1)


@functools.lru_cache(maxsize=65_536)
def _ordinal_spans(item: "DateRange", year: int) -> tuple[tuple[int, int], ...]:
    return tuple((first.toordinal(), last.toordinal()) for first, last in item.spans(year))


def merged_spans(
    rules: tuple["Rule", ...], indices: tuple[int, ...], year: int, spill: bool
) -> tuple[list[tuple[int, int]], dict[tuple[int, int], set[int]]]:
    """Where fixed-date rules are kept in `year`: merged ordinal spans, and per month.

    A rule is kept on the days it may select and, with spill, the day after. Returns the
    merged inclusive (first, last) ordinal spans clipped to the year, and for each
    (year, month) the rules kept on some day of it.
    """
    month_starts = [date(year, month, 1).toordinal() for month in range(1, 13)]
    low_year, high_year = month_starts[0], date(year, 12, 31).toordinal()
    spans: list[tuple[int, int]] = []
    months: dict[tuple[int, int], set[int]] = {}
    for index in indices:
        for item in rules[index].dates:
            for first, last in _ordinal_spans(item, year):
                low, high = max(low_year, first), min(high_year, last + int(spill))
                if low > high:
                    continue
                spans.append((low, high))
                first_month = bisect.bisect_right(month_starts, low)
                last_month = bisect.bisect_right(month_starts, high)
                for month in range(first_month, last_month + 1):
                    months.setdefault((year, month), set()).add(index)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged, months


def _date_ranges(text: str) -> tuple[DateRange, ...] | None:
    """Parse a list of fixed-date items, or None if it is not one we fully understand."""
    ranges = []
    for match in _DATE_ITEM_RE.finditer(text):
        year_text, month_text, day_text, end_year_text, end_month_text, end_day_text = (
            match.groups()
        )
        month = _MONTH_NAMES.index(month_text.lower()) + 1
        day = int(day_text)
        if not _valid_day(month, day):
            return None  # e.g. "Feb 30": the library reads it as the whole year
        if end_day_text is None:
            end = (month, day)
        else:
            end_day = int(end_day_text)
            if end_month_text is not None:
                end_month = _MONTH_NAMES.index(end_month_text.lower()) + 1
            else:
                # "Dec 26-24" ends on January 24: the day number is in the next month.
                end_month = month if end_day >= day else month % 12 + 1
            if not _valid_day(end_month, end_day):
                return None
            end = (end_month, end_day)
        if (year_text is None) != (end_year_text is None) and end_month_text is not None:
            return None  # "2026 Dec 24-Jan 02": which year does it end in? Not ours to guess.
        offset = 1 if end < (month, day) else 0
        year = int(year_text) if year_text is not None else None
        if year is not None and end_year_text is not None:
            offset = int(end_year_text) - year
            if offset not in (0, 1) or (offset == 0 and end < (month, day)):
                return None
        ranges.append(DateRange(year, (month, day), end, offset))
    return tuple(ranges)


def _valid_day(month: int, day: int) -> bool:
    return 1 <= day <= calendar.monthrange(2000, month)[1]  # 2000: Feb 29 exists


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the expression, as a span of the text.

    Attributes:
        start: Offset of the rule.
        end: Offset just past the rule.
        separator: The separator before it ('' for the first rule).
        dates: For a rule selecting fixed dates only (``Dec 25 off``,
            ``2026 Dec 24-26 10:00-14:00``), its dates; empty otherwise.
    """

    start: int
    end: int
    separator: str
    dates: tuple[DateRange, ...]


@dataclass(frozen=True, slots=True)
class PhGroup:
    """A weekday selector that contains `PH`, e.g. ``Su,PH`` or ``PH -1 day``.

    The library evaluates `PH` with its own calendar; to use ours, the selector is
    rewritten for the day being evaluated: each ``PH`` item becomes the weekdays (of that
    day and the day before, which is all a day's schedule depends on) that are holidays,
    and the selector keeps its other weekday items. A selector left empty becomes
    ``SH``, which never matches (no school-holiday calendar is loaded).

    Attributes:
        start: Offset of the selector in the expression.
        end: Offset just past the selector.
        keep: Its weekday items, verbatim.
        offsets: The day offset of each `PH` item (``PH +1 day`` -> 1).
    """

    start: int
    end: int
    keep: tuple[str, ...]
    offsets: tuple[int, ...]

    def render(self, weekdays_by_offset: dict[int, frozenset[int]]) -> str:
        """Return the selector with each `PH` item replaced by the given weekdays."""
        days: set[int] = set()
        for offset in self.offsets:
            days |= weekdays_by_offset.get(offset, frozenset())
        items = list(self.keep) + [_WEEKDAYS[day] for day in sorted(days)]
        return ",".join(items) if items else NEVER


@dataclass(frozen=True, slots=True)
class Plan:
    """How an expression is evaluated, and its worst-case cost.

    Attributes:
        expression: The expression.
        periodic: Whether days are selected by weekday only (plus `PH` and fixed-date
            rules).
        fallback: Whether it has a fallback rule (``||``): the library's `next_change`
            and `intervals` are wrong across days for those, so days are evaluated one
            `intervals` call each.
        spill: Whether a range runs past midnight (then a day's schedule also depends on
            whether the day before is a holiday).
        flips: Whether states other than open/closed or comments occur (a walk to the
            next opening may then pass many changes).
        ph_groups: The `PH` selectors, in order.
        ph_offsets: Distinct day offsets of the `PH` items.
        scan_minutes: Minutes of the day at which the state may change (0 and each time
            written in the expression); their number bounds the changes in a day.
        rules: Upper bound of the number of rules.
        spans: Number of time spans.
        cost: Worst-case work units of one request (see the module docstring).
        rule_spans: The rules, when the expression is periodic apart from fixed-date
            rules (then days those rules cannot select are evaluated without them, from
            the weekly profile); empty otherwise.
        dated: Indices in `rule_spans` of the fixed-date rules.
    """

    expression: str
    periodic: bool
    fallback: bool
    spill: bool
    flips: bool
    ph_groups: tuple[PhGroup, ...]
    ph_offsets: tuple[int, ...]
    scan_minutes: tuple[int, ...]
    rules: int
    spans: int
    cost: float
    rule_spans: tuple[Rule, ...] = ()
    dated: tuple[int, ...] = ()

    @property
    def uses_ph(self) -> bool:
        """Whether the expression uses public holidays."""
        return bool(self.ph_groups)

    def text(
        self,
        weekdays_by_offset: dict[int, frozenset[int]] | None = None,
        *,
        dated: frozenset[int] | None = None,
    ) -> str:
        """Return the expression with `PH` rewritten (None: `PH` never matches).

        `dated` selects the fixed-date rules to keep, by index in `rule_spans` (None:
        all). Leaving a rule out is exact on the days it does not select (nor the day
        before), since a rule that does not match a day changes nothing in it. The empty
        expression is written "off" (the library reads "" as 24/7).
        """
        weekdays = weekdays_by_offset or {}
        if dated is None or not self.rule_spans:
            return self._render(0, len(self.expression), weekdays)
        parts: list[str] = []
        for index, rule in enumerate(self.rule_spans):
            if rule.dates and index not in dated:
                continue
            body = self._render(rule.start, rule.end, weekdays)
            parts.append(body if not parts else rule.separator + body)
        return "".join(parts) or "off"

    def _render(self, start: int, end: int, weekdays: dict[int, frozenset[int]]) -> str:
        parts: list[str] = []
        position = start
        for group in self.ph_groups:
            if start <= group.start < end:
                parts.append(self.expression[position : group.start])
                parts.append(group.render(weekdays))
                position = group.end
        parts.append(self.expression[position:end])
        return "".join(parts)

    def variants(self) -> int:
        """Upper bound of distinct `PH` rewrites a walk may parse, the plain text excluded.

        Without spill a day depends only on whether `PH` matches that day, so each offset
        is 'never' or 'every day'; with spill it may also match the day before only, or
        the day only: one weekday out of seven.
        """
        per_offset = 9 if self.spill else 2
        return per_offset ** len(self.ph_offsets) - 1 if self.ph_groups else 0

    def variant_days(self) -> int:
        """Upper bound of distinct (rewrite, weekday) pairs a periodic walk evaluates.

        For a day of weekday w each offset is 'never', 'every day', or (with spill) w or
        the weekday before it.
        """
        per_offset = 4 if self.spill else 2
        return 7 * (per_offset ** len(self.ph_offsets) - 1) if self.ph_groups else 0


def _ph_groups(expression: str, masked: str) -> tuple[PhGroup, ...]:
    groups: list[PhGroup] = []
    found = 0
    for match in _GROUP_RE.finditer(masked):
        text = match.group()
        if "PH" not in text:
            continue
        if (
            not text.startswith("PH")
            and "[" in text.split(",")[0].split(" ")[0]
            and (_MONTH_BEFORE_RE.search(masked[: match.start()]))
        ):
            # "Dec Su[-1] PH": the weekday belongs to a date; we cannot rewrite it safely.
            raise _unsupported_ph(expression, match.start())
        keep: list[str] = []
        offsets: list[int] = []
        for item in _ITEM_RE.finditer(text):
            token = item.group()
            ph = _PH_ITEM_RE.fullmatch(token)
            if ph is not None:
                offsets.append(int(ph.group(1) or 0))
            else:
                keep.append(token)
        found += len(offsets)
        groups.append(PhGroup(match.start(), match.end(), tuple(keep), tuple(offsets)))
    if found != len(_PH_RE.findall(masked)):
        position = next(
            (m.start() for m in _PH_RE.finditer(masked) if not _inside(m.start(), groups)),
            masked.find("PH"),
        )
        raise _unsupported_ph(expression, position)
    return tuple(groups)


def _inside(position: int, groups: list[PhGroup]) -> bool:
    return any(group.start <= position < group.end for group in groups)


def _unsupported_ph(expression: str, position: int) -> OpeningHoursError:
    return OpeningHoursError(
        "PH can only be used as a day selector, e.g. 'PH off', 'Su,PH 10:00-14:00' or "
        "'PH -1 day 10:00-14:00'",
        expression=expression,
        value=expression,
        position=position,
        fragment="PH",
    )


def _spill(masked: str) -> bool:
    if re.search(r"\d\+", masked):
        return True  # "22:00+": open end, may run past midnight
    for match in _SPAN_RE.finditer(masked):
        if match.group(5) is not None:
            return True  # ends at a sun event: may be after midnight
        start = int(match.group(1)) * 60 + int(match.group(2))
        end = int(match.group(3)) * 60 + int(match.group(4))
        if end <= start or end > 24 * 60:
            return True
    return False


def _split(masked: str) -> list[tuple[int, int, str]]:
    rules: list[tuple[int, int, str]] = []
    position, separator = 0, ""
    for match in _SEPARATOR_RE.finditer(masked):
        rules.append((position, match.start(), separator))
        position, separator = match.end(), match.group()
    rules.append((position, len(masked), separator))
    return rules


def _library_rule_count(display: str) -> int:
    """Rules in the library's rendering of the expression (canonical separators)."""
    return len(re.findall(r"; | \|\| |, ", mask_comments(display))) + 1


@dataclass(frozen=True, slots=True)
class _Dated:
    """What the fixed-date rules of an expression can cost (see `_dated_extent`)."""

    days: int = 0  # days per year on which fixed-date rules are kept
    rules: int = 0  # most fixed-date rules kept on one day (those of its month)
    chars: int = 0  # most characters of fixed-date rules kept on one day
    sets: int = 0  # distinct sets of rules kept (one per month of some year)
    ranges: int = 0  # date ranges of all fixed-date rules


def _rules(masked: str, display: str) -> tuple[Rule, ...] | None:
    """Split into rules with their fixed dates; None if some rule is not periodic."""
    split = _split(masked)
    if len(split) != _library_rule_count(display):
        return None  # our split is not the library's: do not drop anything
    rules: list[Rule] = []
    for start, end, separator in split:
        text = masked[start:end]
        dates: tuple[DateRange, ...] = ()
        selector = _DATE_LIST_RE.match(text)
        if selector is not None:
            parsed = _date_ranges(selector.group())
            if parsed is None:
                return None
            dates, text = parsed, text[selector.end() :]
        if _DATED_RE.search(text):
            return None
        if dates and "||" in separator:
            # A fallback rule that does not match a day still changes it: it drops the
            # part of the previous day's ranges that runs past midnight. Not ours to drop.
            return None
        rules.append(Rule(start, end, separator, dates))
    return tuple(rules)


def _dated_extent(rules: tuple[Rule, ...], spill: bool) -> _Dated:
    """How many days a year fixed-date rules are kept, how many at once, in how many sets.

    On a day some fixed-date rule may select (or the day after, with spill), the engine
    keeps every fixed-date rule of that calendar month: a text per month to parse, not
    per day. Yearly ranges are laid out on a leap year, one-off ranges on their own year.
    """
    template = 2028
    indices = tuple(index for index, rule in enumerate(rules) if rule.dates)
    years = {template} | {item.year for rule in rules for item in rule.dates if item.year}
    worst = _Dated()
    sets = 0
    for year in sorted(years):
        chosen = tuple(
            index
            for index in indices
            if any((item.year is None) == (year == template) for item in rules[index].dates)
        )
        merged, months = merged_spans(rules, chosen, year, spill)
        if not months:
            continue
        sets += len(months)
        chars = max(sum(rules[i].end - rules[i].start + 2 for i in v) for v in months.values())
        worst = _Dated(
            days=max(worst.days, sum(high - low + 1 for low, high in merged)),
            rules=max(worst.rules, max(len(v) for v in months.values())),
            chars=max(worst.chars, chars),
        )
    ranges = sum(len(rules[index].dates) for index in indices)
    return dataclasses.replace(worst, sets=sets, ranges=ranges)


# Public holidays a year, at most, in any calendar of `holidays` (Nepal and Iran: 32).
_HOLIDAYS_A_YEAR: Final = 40
# Calendar years and months a request's walks may touch (824 days, and a holiday's day
# offset of up to 7 days).
_WALK_YEARS: Final = 4
_WALK_MONTHS: Final = 30


@dataclass(frozen=True, slots=True)
class _Shape:
    """The numbers the cost bound depends on."""

    length: int
    periodic: bool
    fallback: bool
    flips: bool
    rules: int  # of the whole expression
    spans: int
    base_rules: int  # of the expression without its fixed-date rules
    base_spans: int
    base_length: int
    events: int
    variants: int
    variant_days: int
    ph_offsets: int
    spill: bool
    dated: _Dated


def _cost(shape: _Shape) -> float:
    """Worst-case work units of one request (compile + the four queries), see `Costs`."""
    full_day = Costs.day(shape.rules, shape.spans)
    base_day = Costs.day(shape.base_rules, shape.base_spans)
    events = shape.events
    # Parsing and analysing the expression; offset transitions of the zone over the
    # walked years.
    cost = shape.length * (Costs.PARSE_CHAR + Costs.ANALYSIS_CHAR)
    cost += shape.dated.ranges * Costs.ANALYSIS_RANGE
    cost += _WALK_YEARS * Costs.ZONE_YEAR
    if shape.ph_offsets:
        cost += _WALK_YEARS * Costs.CALENDAR
    # Days whose schedule may depend on a holiday, in a walk (about 2.3 years).
    holidays = min(WALK_DAYS, 3 * _HOLIDAYS_A_YEAR * shape.ph_offsets * (1 + shape.spill))
    if not shape.periodic:
        # General expressions: the library walks every day, in chunks of 8 days.
        if shape.fallback:
            # A call per day (see `Plan.fallback`).
            cost += WALK_DAYS * (Costs.CALL + full_day)
            walked = WALK_DAYS if shape.flips else 4 * CHUNK_DAYS
            cost += (WALK_DAYS + walked * events) * Costs.ITEM
        else:
            cost += WALK_CHUNKS * Costs.CALL + (WALK_DAYS + WALK_CHUNKS) * full_day
            walked = WALK_DAYS if shape.flips else 4 * CHUNK_DAYS
            cost += (WALK_CHUNKS + walked * events) * Costs.ITEM
        if shape.variants:
            cost += shape.variants * shape.length * Costs.PARSE_CHAR
            cost += holidays * (Costs.CALL + 2 * full_day + events * Costs.ITEM)
        return cost + WALK_STEPS * Costs.STEP
    # Periodic: the text without PH and fixed dates is parsed, then seven day profiles
    # come from one 8-day `intervals` call (seven 1-day calls with fallback rules).
    cost += shape.base_length * Costs.PARSE_CHAR
    calls = 7 if shape.fallback else 1
    cost += calls * Costs.CALL + (CHUNK_DAYS + 1) * base_day + 7 * events * Costs.ITEM
    # Each PH rewrite is parsed once, then evaluated for the weekdays it occurs on.
    per_base_day = Costs.CALL + 2 * base_day + events * Costs.ITEM
    texts = min(shape.variants, shape.variant_days)
    cost += texts * shape.base_length * Costs.PARSE_CHAR + shape.variant_days * per_base_day
    dated = shape.dated
    if dated.days:
        # Days a fixed-date rule may select are evaluated one by one (each occurs at most 3
        # times in a walk), with the fixed-date rules of their month.
        kept_day = Costs.day(shape.base_rules + dated.rules, shape.spans)
        per_dated_day = Costs.CALL + kept_day + events * Costs.ITEM
        active = min(WALK_DAYS, 3 * dated.days)
        cost += active * per_dated_day
        texts = min(active, min(_WALK_MONTHS, dated.sets) * (shape.variants + 1))
        cost += texts * (shape.base_length + dated.chars) * Costs.PARSE_CHAR
        # Where the rules are kept is worked out once per calendar year walked.
        cost += _WALK_YEARS * dated.ranges * Costs.STEP
    # The walks themselves are arithmetic on the profiles: a step per day, plus the
    # changes of the days walked through one by one (the window, the last day of a walk).
    return cost + WALK_STEPS * Costs.STEP + 16 * events * Costs.STEP


def make_plan(expression: str, display: str | None = None) -> Plan:
    """Analyse `expression` (already parsed successfully by the library).

    Args:
        expression: The expression.
        display: The library's rendering of it (`str(OpeningHours(...))`), used to check
            our split into rules; without it fixed-date rules are not split off.

    Raises:
        OpeningHoursError: `PH` in a position we cannot rewrite, or more than two distinct
            `PH` day offsets (each doubles the rewrites a walk may need).
    """
    masked = mask_comments(expression)
    groups = _ph_groups(expression, masked)
    offsets = tuple(sorted({offset for group in groups for offset in group.offsets}))
    if any(abs(offset) > 7 for offset in offsets):
        raise OpeningHoursError(
            "PH day offsets are limited to 7 days (e.g. 'PH -1 day')",
            expression=expression,
            value=expression,
            fragment="PH",
            position=masked.find("PH"),
        )
    if len(offsets) > 2:
        raise OpeningHoursError(
            f"At most two different PH day offsets are supported (found {len(offsets)})",
            expression=expression,
            value=expression,
            fragment="PH",
            position=masked.find("PH"),
        )
    minutes = {0} | {
        (int(hour) * 60 + int(minute)) % (24 * 60) for hour, minute in _TIME_RE.findall(masked)
    }
    periodic = _DATED_RE.search(masked) is None
    fallback = _FALLBACK_RE.search(masked) is not None
    spill = _spill(masked)
    rule_spans: tuple[Rule, ...] = ()
    if not periodic and display is not None:
        split = _rules(masked, display)
        if split is not None:
            rule_spans, periodic = split, True
    dated_rules = tuple(rule for rule in rule_spans if rule.dates)
    rules_count = len(_RULE_SEP_RE.findall(masked)) + 1
    spans = len(_SPAN_RE.findall(masked))
    dated_length = sum(rule.end - rule.start + 2 for rule in dated_rules)
    dated_masked = "".join(masked[rule.start : rule.end] for rule in dated_rules)
    plan = Plan(
        expression=expression,
        periodic=periodic,
        fallback=fallback,
        spill=spill,
        flips=_UNKNOWN_OR_COMMENT_RE.search(expression) is not None,
        ph_groups=groups,
        ph_offsets=offsets,
        scan_minutes=tuple(sorted(minutes)),
        rules=rules_count,
        spans=spans,
        cost=0.0,
        rule_spans=rule_spans,
        dated=tuple(index for index, rule in enumerate(rule_spans) if rule.dates),
    )
    shape = _Shape(
        length=len(expression),
        periodic=periodic,
        fallback=fallback,
        flips=plan.flips,
        rules=rules_count,
        spans=spans,
        base_rules=rules_count - len(dated_rules),
        base_spans=spans - len(_SPAN_RE.findall(dated_masked)),
        base_length=max(3, len(expression) - dated_length),
        events=len(minutes) + len(_SUN_RE.findall(masked)),
        variants=plan.variants(),
        variant_days=plan.variant_days(),
        ph_offsets=len(offsets),
        spill=spill,
        dated=_dated_extent(rule_spans, spill),
    )
    return dataclasses.replace(plan, cost=_cost(shape))
