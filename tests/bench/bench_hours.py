"""Benchmark of store-hours state queries (run: `python tests/bench/bench_hours.py`).

1,000 stores with varied, realistic expressions in varied zones and countries are compiled
once; the benchmark then measures `StoreHours.state` throughput on one core for:

* the realistic pattern: many queries per store at instants spread over one day, stores
  interleaved at random (what the invite policy does as users move around);
* the worst case for the window cache: every query at a random instant of a whole year, so
  nearly every query misses the cache and recomputes a window;
* the library call alone on the compiled expression (no window cache);
* re-parsing the expression on each query (what not caching the compilation would cost).

Prints a markdown table. `--quick` runs fewer queries.
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

from app.hours import StoreHours, compile_hours

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
NO_HOLIDAY_CALENDAR = {"IN"}


def make_stores(count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """Return `count` (expression, zone, country) triples."""
    stores = []
    for _ in range(count):
        zone, country = rng.choice(ZONES)
        template = rng.choice(TEMPLATES)
        if country in NO_HOLIDAY_CALENDAR:
            template = template.replace("; PH off", "")
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


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries")
    parser.add_argument("--stores", type=int, default=1000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
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
        # library call (the internals `state` uses on a cache miss).
        for hours, at in realistic:
            oh = hours._oh
            if oh is not None:
                oh.state(at.astimezone(hours.tz).replace(tzinfo=None))
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
        f"{len(stores)} stores, {len(set(stores))} distinct (expression, zone, country), "
        f"{len(zones)} zones; compiled once in {compile_seconds * 1000:.0f} ms\n"
    )
    print("| mode | queries | seconds | queries/s |")
    print("|---|---:|---:|---:|")
    for name, queries, seconds in rows:
        print(f"| {name} | {queries:,} | {seconds:.3f} | {queries / seconds:,.0f} |")


def _library_country(country: str | None) -> str | None:
    return None if country in NO_HOLIDAY_CALENDAR else country


if __name__ == "__main__":
    main()
