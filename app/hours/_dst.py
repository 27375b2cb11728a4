"""UTC-offset transitions of IANA zones, found by probing `zoneinfo`.

`zoneinfo` does not expose its transition table, and the hours engine needs to know where
the local wall clock jumps (DST gaps and folds) so that it can evaluate opening hours in
naive wall-clock time piecewise, one constant-offset segment at a time. Transitions are
found by sampling the offset every two days of a year (every six hours before 1970) and
bisecting each change down to the second; the result is cached per (zone, year), so the
probing cost (about 0.5 ms) is paid once.
"""

import bisect
import functools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from app.hours._work import WORK

__all__ = ["EPOCH", "next_transition", "offset_at", "wall_time"]

#: Naive epoch: naive wall time = EPOCH + (timestamp + offset) seconds.
EPOCH = datetime(1970, 1, 1)

# Every two offset changes of the tz database between 1970 and 2040 are at least 6.9 days
# apart (Brazil 2000, Gaza 2040), so a 2-day probe step cannot step over a change and its
# reversal. Earlier years keep a 6-hour step: nobody has checked them.
_PROBE_STEP = 2 * 86_400
_PROBE_STEP_BEFORE_1970 = 6 * 3600


def offset_at(tz: ZoneInfo, ts: float) -> int:
    """Return the UTC offset of `tz` at epoch instant `ts`, in whole seconds."""
    offset = datetime.fromtimestamp(ts, tz).utcoffset()
    # A ZoneInfo always has an offset for aware datetimes it produced itself.
    assert offset is not None
    return int(offset.total_seconds())


def wall_time(ts: float, offset: int) -> datetime:
    """Return the naive local wall time of instant `ts` under a fixed `offset`."""
    return EPOCH + timedelta(seconds=ts + offset)


def _year_bounds(year: int) -> tuple[int, int]:
    start = int((datetime(year, 1, 1) - EPOCH).total_seconds())
    end = int((datetime(year + 1, 1, 1) - EPOCH).total_seconds())
    return start, end


@functools.lru_cache(maxsize=4096)
def _transitions(key: str, year: int) -> tuple[int, ...]:
    """Epoch instants (UTC) in `year` at which the offset of zone `key` changes.

    Each returned instant is the first second that has the new offset.
    """
    tz = ZoneInfo(key)
    WORK.zone_years += 1
    step = _PROBE_STEP if year >= 1970 else _PROBE_STEP_BEFORE_1970
    start, end = _year_bounds(year)
    found: list[int] = []
    prev_ts = start - 1
    prev_off = offset_at(tz, prev_ts)
    ts = start
    while ts < end + step:  # one probe past the end: a change on 31 December counts
        off = offset_at(tz, ts)
        if off != prev_off:
            lo, hi = prev_ts, ts  # offset(lo) == prev_off, offset(hi) == off
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset_at(tz, mid) == prev_off:
                    lo = mid
                else:
                    hi = mid
            if start <= hi < end:
                found.append(hi)
            prev_off = off
        prev_ts = ts
        ts += step
    return tuple(found)


def next_transition(tz: ZoneInfo, ts: float, limit: float) -> float | None:
    """Return the first offset change strictly after `ts` and at or before `limit`.

    Args:
        tz: The zone.
        ts: Epoch instant to search from (exclusive).
        limit: Epoch instant to search to (inclusive); callers pass their look-ahead
            horizon so the search never scans more years than it needs.

    Returns:
        The epoch instant of the transition, or None if there is none in (ts, limit].
    """
    # Transitions are filed by the UTC year they happen in.
    year = (EPOCH + timedelta(seconds=ts)).year
    while True:
        start, _end = _year_bounds(year)
        if start > limit:
            return None
        items = _transitions(tz.key, year)
        index = bisect.bisect_right(items, ts)
        if index < len(items):
            found = items[index]
            return float(found) if found <= limit else None
        year += 1
