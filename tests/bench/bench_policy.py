"""Benchmark: ``decide()`` per second on realistic inputs, beside a naive baseline.

    python tests/bench/bench_policy.py [--inputs 20000] [--stores 300] [--seed 7]
    kairos bench policy

Builds the inputs first (no database): stores in 12 time zones with real-world opening
hours, 5-20 campaigns per store (offers, moments, service; 1-3 locales; eligibility, caps,
holdouts, defer windows), customers with mixed consents, purchases, cases, invites and quiet
hours, and triggers spread over a week (so every gate fires: closed stores, quiet hours,
satiation, caps...). Then, on one core, in interleaved blocks over the same inputs:

* **ours** — ``decide(inputs, now)``: hours compiled once (``app.hours`` cache), templates
  parsed once, only the winner rendered, sentences left to whoever shows them.
* **ours + every sentence** — the same, then the explanation with every reason's and
  candidate's sentence (what recording a decision adds; the ingest path pays it once).
* **baseline** — what a straightforward implementation does per call: re-parse the store's
  hours (a fresh compile, no cache) and render every template of every campaign in every
  locale (re-parsing each), then decide.

Every approach must produce the same decision for every input (checked). Prints a markdown
table. Goal: >= 50,000 decisions/s on one core, p99 <= 100 us.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import msgspec

from app.context import CustomerContext, DeviceFact, OpenCase, PurchaseFact
from app.customers.schemas import QuietHours
from app.decisions.inputs import (
    CampaignFacts,
    DecisionInputs,
    EventFacts,
    MessageText,
    StoreFacts,
)
from app.decisions.policy import Decision, decide
from app.decisions.services.pipeline import explain
from app.decisions.settings import PolicySettings
from app.hours import StoreHours
from app.hours._expression import _compile  # the uncached compile, for the baseline
from app.moments import PRIORITY
from app.templates import render

GOAL_PER_SECOND = 50_000
GOAL_P99_US = 100.0
ZONES = [
    "Europe/Zurich", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York",
    "America/Chicago", "America/Los_Angeles", "Asia/Tokyo", "Asia/Singapore",
    "Australia/Sydney", "Asia/Kolkata", "America/Sao_Paulo",
]  # fmt: skip
HOURS = [
    "Mo-Sa 09:00-19:00",
    "Mo-Fr 08:00-20:00; Sa 09:00-18:00; Su 10:00-16:00",
    "Mo-Fr 07:00-12:00,13:30-18:30; Sa 08:00-13:00",
    "Mo-Su 10:00-22:00",
    "Mo-Th 09:00-18:00; Fr 09:00-21:00; Sa 09:00-17:00",
    "Mo-Su 22:00-02:00",
    "24/7",
    "Mo-Fr 09:30-18:30",
]
CATEGORIES = [
    "coffee", "capsules", "machines", "cups", "tea", "chocolate", "garden_furniture",
    "garden_shade", "books", "toys", "kitchen", "gifts",
]  # fmt: skip
LOCALES = ["en", "fr", "de", "it"]
SETTINGS = PolicySettings(
    substitutes={"coffee": ["capsules"], "capsules": ["coffee"]},
    complements={"garden_furniture": ["garden_shade"], "machines": ["capsules", "cups"]},
)
MONDAY = dt.datetime(2025, 3, 10, tzinfo=dt.UTC)


# Realistic inputs -------------------------------------------------------------------------
def _templates(rng: random.Random, kind: str) -> dict[str, MessageText]:
    bodies = {
        "offer": "{store_name}: our new blend is waiting, until {closes_at}",
        "moment": "Thank you for {moment}, {first_name}!",
        "service": "Your order is ready at {store_name}",
    }
    chosen = rng.sample(LOCALES, rng.randint(1, 3))
    return {
        locale: MessageText(title=f"Hi {{first_name}} ({locale})", body=bodies[kind])
        for locale in chosen
    }


def _campaign(rng: random.Random, store_id: str, n: int) -> CampaignFacts:
    kind = rng.choices(["offer", "moment", "service"], [0.7, 0.15, 0.15])[0]
    templates = _templates(rng, kind)
    return CampaignFacts(
        id=f"{store_id}-c{n:02d}",
        name=f"Campaign {n}",
        kind=kind,  # type: ignore[arg-type]
        templates=templates,
        default_locale=sorted(templates)[0],
        segments=frozenset({"high_value"}) if rng.random() < 0.1 else frozenset(),
        moments=frozenset(rng.sample(PRIORITY, 2)) if kind == "moment" else frozenset(),
        categories=frozenset(rng.sample(CATEGORIES, 2)) if rng.random() < 0.2 else frozenset(),
        offer_categories=frozenset(rng.sample(CATEGORIES, rng.randint(1, 2)))
        if kind == "offer"
        else frozenset(),
        margin=Decimal(rng.randint(200, 5000)) / 100 if kind == "offer" else None,
        acceptance_probability=round(rng.uniform(0.05, 0.9), 2) if kind == "offer" else None,
        cap_per_day=rng.choice([None, 1]),
        cap_per_week=rng.choice([None, 2, 3]),
        cooldown_seconds=rng.choice([0, 0, 3600, 86400]),
        holdout_pct=rng.choice([0.0, 0.0, 5.0, 10.0]),
        defer_window_seconds=rng.choice([None, None, None, 1800]),
        freshness_seconds=rng.choice([None, 900, 3600]),
    )


def _customer(
    rng: random.Random, i: int, store_id: str, at: dt.datetime, tz: str
) -> CustomerContext:
    def ago(hours: float) -> dt.datetime:
        return at - dt.timedelta(hours=hours)

    regular = rng.random() < 0.8
    bought = {c: ago(rng.uniform(0.1, 24 * 120)) for c in rng.sample(CATEGORIES, rng.randint(0, 4))}
    here = (
        PurchaseFact(
            order_id=f"o-{i}",
            occurred_at=ago(rng.uniform(0.2, 48)),
            channel="store",
            store_id=store_id,
            currency="EUR",
            total=Decimal("12.50"),
            categories=frozenset(rng.sample(CATEGORIES, 1)),
        )
        if rng.random() < 0.2
        else None
    )
    cases: tuple[OpenCase, ...] = ()
    if rng.random() < 0.05:
        kind = rng.choice(["complaint", "cancellation"])
        cases = (OpenCase(case_id=f"k-{i}", kind=kind, opened_at=ago(30), store_id=None),)
    invites_24h = rng.choice([0, 0, 0, 1, 2])
    return CustomerContext(
        customer_id=f"cust-{i:06d}",
        store_id=store_id,
        at=at,
        timezone=tz,
        known=rng.random() < 0.97,
        locale=rng.choice(["en", "fr-CH", "de-CH", "it", "es"]),
        first_name=rng.choice([None, "Ana", "Luc", "Mia"]),
        consent_location=rng.random() < 0.9,
        consent_marketing=rng.random() < 0.8,
        quiet_hours=QuietHours(start="22:00", end="07:00") if rng.random() < 0.2 else None,
        segments=frozenset({"high_value"}) if rng.random() < 0.1 else frozenset(),
        devices=(DeviceFact(device_id=uuid.UUID(int=i + 1), platform="fcm", app_version=None),)
        if rng.random() < 0.95
        else (),
        last_purchase_at_store=here,
        last_purchase_by_category=bought,
        orders_total=rng.randint(1, 40) if regular else 0,
        orders_this_year=rng.randint(0, 10) if regular else 0,
        first_order_at=ago(24 * 400) if regular else None,
        last_order_at=ago(rng.uniform(1, 24 * 500)) if regular else None,
        first_visit_at=ago(24 * 400) if regular else None,
        last_visit_at=ago(rng.uniform(1, 24 * 500)) if regular else None,
        last_visit_at_store=ago(rng.uniform(1, 24 * 60)) if rng.random() < 0.8 * regular else None,
        open_cases=cases,
        invites_last_24h=invites_24h,
        invites_last_7d=invites_24h + rng.choice([0, 1, 2]),
        last_invite_at_store=ago(rng.uniform(1, 72)) if rng.random() < 0.15 else None,
    )  # fmt: skip


def build(count: int, stores: int, seed: int) -> list[tuple[DecisionInputs, dt.datetime]]:
    rng = random.Random(seed)
    facts = []
    for s in range(stores):
        store_id = f"s{s:04d}"
        tz = rng.choice(ZONES)
        store = StoreFacts(
            id=store_id,
            name=f"Store {s}",
            timezone=tz,
            country=None,
            categories=frozenset(rng.sample(CATEGORIES, 3)),
            opening_hours=rng.choice(HOURS),
        )
        campaigns = tuple(_campaign(rng, store_id, n) for n in range(rng.randint(5, 20)))
        facts.append((store, campaigns))
    out = []
    for i in range(count):
        store, campaigns = rng.choice(facts)
        now = MONDAY + dt.timedelta(seconds=rng.uniform(0, 7 * 86400))
        now = now.replace(microsecond=0)
        event = EventFacts(
            kind=rng.choice(["enter", "dwell", "checkin"]),  # type: ignore[arg-type]
            occurred_at=now - dt.timedelta(seconds=rng.choice([1, 5, 30, 90, 900])),
            received_at=now,
            accuracy_m=rng.choice([8.0, 15.0, 35.0, 80.0, 400.0]),
            flags=frozenset({"mocked"}) if rng.random() < 0.01 else frozenset(),
            already_inside=rng.random() < 0.1,
            customer_timezone=store.timezone,
        )
        inputs = DecisionInputs(
            customer=_customer(rng, i, store.id, now, store.timezone),
            store=store,
            event=event,
            campaigns=campaigns,
            settings=SETTINGS,
            settings_version=1,
        )
        out.append((inputs, now))
    return out


# The approaches ---------------------------------------------------------------------------
def ours(inputs: DecisionInputs, now: dt.datetime) -> Decision:
    return decide(inputs, now)


def ours_explained(inputs: DecisionInputs, now: dt.datetime) -> Decision:
    decision = decide(inputs, now)
    explain(decision, inputs.event, None)
    return decision


def naive(inputs: DecisionInputs, now: dt.datetime) -> Decision:
    store = inputs.store
    hours: StoreHours = _compile.__wrapped__(  # type: ignore[attr-defined]
        (store.opening_hours or "").strip(), store.timezone, store.country, store.region
    )
    values = {
        "first_name": inputs.customer.first_name or "",
        "store_name": store.name,
        "store_id": store.id,
        "closes_at": str(hours.closes_at(now)),
        "opens_at": str(hours.opens_at(now)),
        "moment": "",
    }
    for campaign in inputs.campaigns:
        for template in campaign.templates.values():
            render(template.title, {**values, "campaign_name": campaign.name})
            render(template.body, {**values, "campaign_name": campaign.name})
    return decide(msgspec.structs.replace(inputs, hours=hours), now)


# Measurement ------------------------------------------------------------------------------
def _clock_overhead_us() -> float:
    """What the thread-CPU clock read around each call adds to it."""
    cpu = time.thread_time_ns
    reads = [0] * 20_001
    for i in range(len(reads)):
        reads[i] = cpu()
    gaps = sorted(b - a for a, b in itertools.pairwise(reads))
    return gaps[len(gaps) // 2] / 1000


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run(
    cases: list[tuple[DecisionInputs, dt.datetime]],
    approach: Callable[[DecisionInputs, dt.datetime], Decision],
) -> Sample:
    """Per call: wall-clock and this thread's CPU time (the latter leaves out the time the
    process waits for a core on a busy machine); per block: both totals."""
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    sample = Sample()
    block_wall, block_cpu = wall(), cpu()
    for inputs, now in cases:
        w0, c0 = wall(), cpu()
        approach(inputs, now)
        c1, w1 = cpu(), wall()
        sample.cpu_us.append((c1 - c0) / 1000)
        sample.wall_us.append((w1 - w0) / 1000)
    sample.cpu_seconds = (cpu() - block_cpu) / 1e9
    sample.wall_seconds = (wall() - block_wall) / 1e9
    return sample


class Sample:
    def __init__(self) -> None:
        self.cpu_us: list[float] = []
        self.wall_us: list[float] = []
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0

    def add(self, other: Sample) -> None:
        self.cpu_us += other.cpu_us
        self.wall_us += other.wall_us
        self.cpu_seconds += other.cpu_seconds
        self.wall_seconds += other.wall_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    started = time.perf_counter()
    cases = build(args.inputs, args.stores, args.seed)
    campaigns = statistics.fmean(len(i.campaigns) for i, _ in cases)
    print(
        f"built {len(cases):,} inputs over {args.stores} stores ({campaigns:.1f} campaigns per "
        f"decision on average) in {time.perf_counter() - started:.1f} s",
        flush=True,
    )

    # Same answers everywhere, and the mix of outcomes and reasons.
    mix: Counter[str] = Counter()
    for inputs, now in cases:
        a = msgspec.json.encode(ours(inputs, now))
        assert a == msgspec.json.encode(naive(inputs, now)), inputs.customer.customer_id
        decision = msgspec.json.decode(a, type=Decision)
        mix[f"{decision.outcome}:{decision.reasons[0].code}"] += 1

    approaches: dict[str, Callable[[DecisionInputs, dt.datetime], Decision]] = {
        "ours": ours,
        "ours + every sentence": ours_explained,
        "baseline": naive,
    }
    gc.collect()
    gc.freeze()  # the inputs live for the whole run, as a server's caches would
    for approach in approaches.values():
        _run(cases[:2000], approach)  # warm-up
    results = {name: Sample() for name in approaches}
    block = 2000
    for start in range(0, len(cases), block):
        chunk = cases[start : start + block]
        for name, approach in approaches.items():
            results[name].add(_run(chunk, approach))
    overhead = _clock_overhead_us()

    print()
    print(
        f"decide(), {len(cases):,} decisions each, {campaigns:.1f} campaigns per decision, "
        f"one core of {os.cpu_count()} (load average {os.getloadavg()[0]:.1f})"
    )
    print()
    print(
        "| approach | decisions/s (CPU) | decisions/s (wall) | p50 us | p99 us | mean us "
        "| p99 us (wall) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, sample in results.items():
        n = len(sample.cpu_us)
        print(
            f"| {name} | {n / sample.cpu_seconds:,.0f} | {n / sample.wall_seconds:,.0f} | "
            f"{_percentile(sample.cpu_us, 0.5) - overhead:.1f} | "
            f"{_percentile(sample.cpu_us, 0.99) - overhead:.1f} | "
            f"{statistics.fmean(sample.cpu_us) - overhead:.1f} | "
            f"{_percentile(sample.wall_us, 0.99):.1f} |"
        )
    ours_sample = results["ours"]
    rate = len(ours_sample.cpu_us) / ours_sample.cpu_seconds
    p99 = _percentile(ours_sample.cpu_us, 0.99) - overhead
    base = results["baseline"]
    print()
    print(
        f"per-call times are CPU time of this thread, less the {overhead:.2f} us a clock "
        "read costs; (wall) columns include waiting for a core"
    )
    print(f"ours vs baseline: {rate / (len(base.cpu_us) / base.cpu_seconds):.1f}x (CPU)")
    print(
        f"goal >= {GOAL_PER_SECOND:,}/s: {'met' if rate >= GOAL_PER_SECOND else 'MISSED'} "
        f"({rate:,.0f}/s); goal p99 <= {GOAL_P99_US:.0f} us: "
        f"{'met' if p99 <= GOAL_P99_US else 'MISSED'} ({p99:.1f} us)"
    )
    print()
    print("outcome mix: " + ", ".join(f"{k} {v / len(cases):.0%}" for k, v in mix.most_common(12)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
