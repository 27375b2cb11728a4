"""Deterministic accounting of evaluation work, in units of about 1 us (see `Costs`).

Every library call, parsed character, evaluated day and walked day is counted here, so a
test can assert that a request stays within `COST_BUDGET` without timing anything (timing
belongs in `tests/bench/bench_hours.py`). The counters are process-wide and not
synchronised: exact in single-threaded tests, approximate under threads, never used for
decisions.
"""

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app.hours._plan import Costs

__all__ = ["WORK", "Work", "count_work"]


@dataclass(slots=True)
class Work:
    """Counters of evaluation work.

    Attributes:
        calls: Library calls (parse, state, intervals).
        parsed_chars: Characters given to the library's parser.
        analysed_chars: Characters of expressions analysed by `make_plan`.
        analysed_ranges: Date ranges of fixed-date rules analysed by `make_plan`.
        day_units: Units of library day evaluations (each weighted by the rules and
            spans of the evaluated expression).
        items: Intervals the library returned.
        steps: Days walked on profiles, and other bounded Python loop iterations.
        calendars: Holiday calendars (country, region, year) computed.
        zone_years: Years of UTC-offset transitions of a zone computed (cached
            process-wide).
    """

    calls: int = 0
    parsed_chars: int = 0
    analysed_chars: int = 0
    analysed_ranges: int = 0
    day_units: float = 0.0
    items: int = 0
    steps: int = 0
    calendars: int = 0
    zone_years: int = 0

    @property
    def units(self) -> float:
        """Total work units (about 1 us each)."""
        return (
            self.calls * Costs.CALL
            + self.parsed_chars * Costs.PARSE_CHAR
            + self.analysed_chars * Costs.ANALYSIS_CHAR
            + self.analysed_ranges * Costs.ANALYSIS_RANGE
            + self.day_units
            + self.items * Costs.ITEM
            + self.steps * Costs.STEP
            + self.calendars * Costs.CALENDAR
            + self.zone_years * Costs.ZONE_YEAR
        )

    def copy(self) -> "Work":
        """Return a snapshot."""
        return dataclasses.replace(self)

    def minus(self, earlier: "Work") -> "Work":
        """Return the work done since the snapshot `earlier`."""
        return Work(
            **{
                field.name: getattr(self, field.name) - getattr(earlier, field.name)
                for field in dataclasses.fields(self)
            }
        )


WORK = Work()


@contextmanager
def count_work() -> Iterator[Work]:
    """Yield a `Work` that holds, after the block, the work done inside it."""
    before = WORK.copy()
    result = Work()
    try:
        yield result
    finally:
        done = WORK.minus(before)
        for field in dataclasses.fields(done):
            setattr(result, field.name, getattr(done, field.name))
