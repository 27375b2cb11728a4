"""Benchmark of store hours (run: `kairos bench hours` or `python tests/bench/bench_hours.py`).

Two parts, each a markdown table, on one core:

1. First-evaluation cost. For each expression of the hostile table of
   `tests/unit/test_hours_cost.py` (spellings of 24/7, expressions that never change,
   4,000-character expressions, fallback rules, holidays with offsets, ...) and for
   several stores and instants: CPU time of one request with every cache cold -
   `compile_hours`, then `state`, `next_change`, `opens_at`, `closes_at` - beside the
   work units the engine counted and the bound it accepted the expression under. The
   worst accepted expression is printed beside `24/7`, measured in the same run, and
   beside the library's own `next_change` (what the module called before it bounded its
   walks; skipped with `--quick`, it takes seconds).
2. Throughput of `StoreHours.state` over 1,000 compiled stores with varied, realistic
   expressions in varied zones and countries:

   * the realistic pattern: many queries per store at instants spread over one day,
     stores interleaved at random (what the invite policy does as users move around);
   * the worst case for the window cache: every query at a random instant of a whole
     year, so nearly every query misses the cache;
   * the library call alone on the compiled expression (no window cache);
   * re-parsing the expression on each query (what not caching the compilation would
     cost).

`--quick` runs fewer queries and fewer repetitions.
"""

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# Runnable as a plain script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from opening_hours import OpeningHours

from app.hours import OpeningHoursError, StoreHours, compile_hours
from app.hours._expression import clear_caches
from app.hours._plan import COST_BUDGET, make_plan
from app.hours._work import count_work
from tests.unit.test_hours_cost import ACCEPTED, INSTANTS, REJECTED, STORES

ZONES = (
    ("Europe/London", "GB"),
    ("Europe/Paris", "FR"),
    ("Europe/Berlin", "DE"),
    ("America/New_York", "US"),
    ("America/Los_Angeles", "US"),
    ("America/Sao_Paulo", "BR"),
    ("Australia/Sydney", "AU"),
    ("Australia/Lord_Howe", "AU"),
    ("Pacific/Auckland", "NZ"),
    ("Asia/Kolkata", "IN"),
    ("Asia/Tokyo", "JP"),
    ("Asia/Singapore", "SG"),
)
TEMPLATES = (
    "Mo-Fr {o}-{c}; Sa {o2}-{c2}; PH off",
    "Mo-Sa {o}-{c}; Su {o2}-{c2}",
    "Mo-Su {o}-{c}",
    "Mo-Fr {o}-12:00,14:00-{c}; PH off",
    "Tu-Su 11:00-15:00,18:00-23:00; Mo off; PH off",
    "Fr-Sa 22:00-02:00; Su-Th 18:00-23:00",
    "24/7",
    "Mo-Su 09:00-18:00; Dec 24 10:00-14:00; Dec 25 off",
    "Jun-Aug Mo-Su 10:00-18:00",
    "Mo-Fr {o}-{c} || unknown",
    'Mo-Fr {o}-{c}; Sa unknown "call us"',
)
# The hours library (the re-parse baseline) has no Indian holiday calendar.
NO_HOLIDAY_CALENDAR = {"IN"}
# The library's own `next_change`, unbounded, for these (seconds each: not with --quick).
LIBRARY_BASELINE = ("24/7", "Mo-Su 00:00-24:00", "Mo-Su 00:00-48:00", "Jan-Dec Mo-Su 00:00-24:00")


def make_stores(count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """Return `count` (expression, zone, country) triples."""
    stores = []
    for _ in range(count):
        zone, country = rng.choice(ZONES)
        template = rng.choice(TEMPLATES)
        expression = template.format(
            o=f"{rng.randint(6, 10):02d}:{rng.choice(['00', '30'])}",
            c=f"{rng.randint(17, 21):02d}:{rng.choice(['00', '30'])}",
            o2=f"{rng.randint(9, 11):02d}:00",
            c2=f"{rng.randint(13, 18):02d}:00",
        )
        stores.append((expression, zone, country))
    return stores


def timed(run: Callable[[], int]) -> tuple[int, float]:
    """Run `run` (returns its number of queries) and time it."""
    started = time.perf_counter()
    queries = run()
    return queries, time.perf_counter() - started


def cold_request_seconds(expression: str, repeats: int) -> tuple[float, float, str]:
    """Worst CPU seconds (best of `repeats` per store and instant) and units of a request."""
    worst, worst_units, where = 0.0, 0.0, ""
    for zone, country, region in STORES:
        for at in INSTANTS:
            best = float("inf")
            for _ in range(repeats):
                clear_caches()
                started = time.process_time()
                with count_work() as work:
                    hours = compile_hours(expression, zone, country, region)
                    hours.state(at)
                    hours.next_change(at)
                    hours.opens_at(at)
                    hours.closes_at(at)
                best = min(best, time.process_time() - started)
            if best > worst:
                worst, worst_units = best, work.units
                where = f"{zone} {country}{'-' + region if region else ''} {at:%Y-%m-%d %H:%M}Z"
    return worst, worst_units, where


def first_evaluation(quick: bool) -> None:
    """Print the cold-request cost of every expression of the hostile table."""
    repeats = 1 if quick else 3
    rows = []
    for name, expression in ACCEPTED.items():
        seconds, units, where = cold_request_seconds(expression, repeats)
        bound = make_plan(expression, str(OpeningHours(expression))).cost
        rows.append((name, len(expression), seconds, units, bound, where))
    print(
        f"First evaluation: one request (compile, state, next_change, opens_at, closes_at) "
        f"with cold caches, worst of {len(STORES)} stores x {len(INSTANTS)} instants, "
        f"best of {repeats} runs each; budget {COST_BUDGET:,} units\n"
    )
    print("| expression | chars | worst CPU ms | units | bound | worst at |")
    print("|---|---:|---:|---:|---:|---|")
    for name, length, seconds, units, bound, where in rows:
        cost = f"{seconds * 1000:.2f} | {units:,.0f} | {bound:,.0f}"
        print(f"| {name} | {length:,} | {cost} | {where} |")
    rejected = []
    for name, expression in REJECTED.items():
        try:
            compile_hours(expression, "Europe/London", "GB")
        except OpeningHoursError as error:
            rejected.append(f"{name} ({error.message.split(':')[0]})")
    print(f"\nRejected at compile time (422): {'; '.join(rejected)}\n")
    baseline = next(row for row in rows if row[0] == "24/7")
    worst = max(rows, key=lambda row: row[2])
    print(
        f"**24/7 baseline: {baseline[2] * 1000:.2f} ms; worst accepted expression "
        f"({worst[0]!r}): {worst[2] * 1000:.2f} ms of CPU.**"
    )
    if quick:
        print()
        return
    print("\nThe hours library alone, `OpeningHours(expression).next_change(t)` (unbounded):\n")
    print("| expression | library next_change ms | this module, whole request ms |")
    print("|---|---:|---:|")
    for expression in LIBRARY_BASELINE:
        started = time.process_time()
        OpeningHours(expression).next_change(datetime(2026, 6, 10, 12))
        library = time.process_time() - started
        ours = next(row[2] for row in rows if ACCEPTED[row[0]] == expression)
        print(f"| `{expression}` | {library * 1000:,.1f} | {ours * 1000:.2f} |")
    print()


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries")
    parser.add_argument("--stores", type=int, default=1000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    first_evaluation(args.quick)
    rng = random.Random(42)
    stores = make_stores(args.stores, rng)
    per_store = 20 if args.quick else 200

    started = time.perf_counter()
    compiled: list[StoreHours] = [compile_hours(*store) for store in stores]
    compile_seconds = time.perf_counter() - started

    day = datetime(2026, 6, 10, tzinfo=UTC)
    realistic = [
        (hours, day + timedelta(seconds=rng.uniform(0, 86_400)))
        for hours in compiled
        for _ in range(per_store)
    ]
    rng.shuffle(realistic)
    year = [
        (rng.choice(compiled), day + timedelta(seconds=rng.uniform(0, 365 * 86_400)))
        for _ in range(len(realistic) // 10)
    ]

    def cached_day() -> int:
        for hours, at in realistic:
            hours.state(at)
        return len(realistic)

    def cached_year() -> int:
        for hours, at in year:
            hours.state(at)
        return len(year)

    def library_only() -> int:
        # What a query costs without the window cache: the wall-clock conversion and one
        # library call on the compiled expression.
        for hours, at in realistic:
            engine = hours._engine
            if engine is not None:
                engine.base.oh.state(at.astimezone(hours.tz).replace(tzinfo=None))
        return len(realistic)

    reparse_sample = realistic[: len(realistic) // 20]

    def reparse() -> int:
        for hours, at in reparse_sample:
            if hours.expression:
                oh = OpeningHours(hours.expression, country=_library_country(hours.country))
                oh.state(at.astimezone(hours.tz).replace(tzinfo=None))
        return len(reparse_sample)

    rows = [
        ("compiled + window cache, instants over one day", *timed(cached_day)),
        ("compiled + window cache, random instants over a year", *timed(cached_year)),
        ("compiled, library call per query (no window cache)", *timed(library_only)),
        ("re-parse expression on each query", *timed(reparse)),
    ]
    zones = {ZoneInfo(zone).key for _expr, zone, _country in stores}
    print(
        f"Throughput: {len(stores)} stores, {len(set(stores))} distinct (expression, zone, "
        f"country), {len(zones)} zones; compiled once in {compile_seconds * 1000:.0f} ms\n"
    )
    print("| mode | queries | seconds | queries/s |")
    print("|---|---:|---:|---:|")
    for name, queries, seconds in rows:
        print(f"| {name} | {queries:,} | {seconds:.3f} | {queries / seconds:,.0f} |")


def _library_country(country: str | None) -> str | None:
    return None if country in NO_HOLIDAY_CALENDAR else country


if __name__ == "__main__":
    main()
