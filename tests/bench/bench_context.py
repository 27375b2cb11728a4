"""Benchmark: the customer context loader, one statement vs one query per piece.

    python tests/bench/bench_context.py [--customers 100000] [--purchases 20] [--calls 3000]
    kairos bench context

Loads ``customers x purchases`` orders (plus visits, deliveries, cases, devices and invites)
with COPY into a fresh database — on the server at ``KAIROS_DATABASE_URL`` when set (a new
database, dropped afterwards), else on an embedded pgserver in a temporary directory — then
times :func:`app.context.load_context` per call against the naive way of loading the same
context (about ten queries, one per piece), on the same connection and the same random
(customer, store) sample. Prints a markdown table. Goal: p99 of the loader <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg

from app.context import (
    CAP_WINDOW,
    INVITE_CAP_STATUSES,
    INVITE_LOOKBACK,
    calendar_year_start,
    load_context,
    local_day_start,
)
from app.db import init_connection
from app.migrate import migrate_url

GOAL_P99_MS = 5.0
STORES = 50
CATEGORIES = [
    "coffee", "capsules", "machines", "cups", "garden", "furniture",
    "books", "toys", "tea", "chocolate", "kitchen", "gifts",
]  # fmt: skip
TIMEZONE = "Europe/Zurich"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


# A database of our own ---------------------------------------------------------------------
@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    server_url = os.environ.get("KAIROS_DATABASE_URL")
    server = None
    if not server_url:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

        pgdata = Path(tempfile.mkdtemp(prefix="kbench-", dir="/tmp"))  # short: socket path
        server = pgserver.get_server(pgdata, cleanup_mode="delete")
        server_url = server.get_uri()
    name = f"kairos_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        yield url
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        if server is not None:
            server.cleanup()


# Bulk load ----------------------------------------------------------------------------------
def _ago(rng: random.Random, max_days: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=rng.uniform(60, max_days * 86400))


async def load(conn: asyncpg.Connection, customers: int, per_customer: int, seed: int) -> None:
    rng = random.Random(seed)
    started = time.perf_counter()
    stores = [f"s{i:03d}" for i in range(STORES)]
    await conn.copy_records_to_table(
        "stores",
        records=[(s, f"Store {s}", 47.0 + i / 100, 8.0 + i / 100, TIMEZONE) for i, s in
                 enumerate(stores)],
        columns=["id", "name", "lat", "lng", "timezone"],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "geofences",
        records=[(f"g-{s}", s, 47.0, 8.0, 100.0) for s in stores],
        columns=["id", "store_id", "center_lat", "center_lng", "radius_m"],
    )
    await conn.copy_records_to_table(
        "campaigns",
        records=[
            (f"camp-{i}", f"Campaign {i}", "offer", '{"en": {"title": "t", "body": "b"}}', "en")
            for i in range(5)
        ],
        columns=["id", "name", "kind", "templates", "default_locale"],
    )
    ids = [f"cust-{i:07d}" for i in range(customers)]
    await conn.copy_records_to_table(
        "customers",
        records=[
            (c, "en", True, rng.random() < 0.7, ["high_value"] if rng.random() < 0.1 else [])
            for c in ids
        ],
        columns=["id", "locale", "consent_location", "consent_marketing", "segments"],
    )
    await conn.copy_records_to_table(
        "devices",
        records=[(c, "fcm", f"fcm-{c}-{secrets.token_hex(8)}") for c in ids],
        columns=["customer_id", "platform", "token"],
    )

    batch: list[tuple[Any, ...]] = []
    order_no = 0
    purchase_columns = [
        "order_id", "customer_id", "store_id", "channel", "occurred_at", "currency", "total",
        "items", "categories", "payload_hash",
    ]  # fmt: skip
    for c in ids:
        home = rng.choice(stores)
        for _ in range(per_customer):
            order_no += 1
            online = rng.random() < 0.3
            cats = rng.sample(CATEGORIES, rng.randint(1, 3))
            items = [
                {"sku": f"SKU-{rng.randint(1, 999)}", "category": k, "quantity": "1",
                 "unit_price": "9.90"}
                for k in cats
            ]  # fmt: skip
            store = None if online else (home if rng.random() < 0.7 else rng.choice(stores))
            batch.append(
                (f"o-{order_no:09d}", c, store, "online" if online else "store",
                 _ago(rng, 3 * 365), "CHF" if rng.random() < 0.1 else "EUR",
                 rng.randint(100, 20000) / 100, json.dumps(items), cats, "h")
            )  # fmt: skip
            if len(batch) >= 200_000:
                await conn.copy_records_to_table(
                    "purchases", records=batch, columns=purchase_columns
                )
                batch.clear()
    if batch:
        await conn.copy_records_to_table("purchases", records=batch, columns=purchase_columns)

    events = []
    for c in ids:
        for k in range(5):
            store = rng.choice(stores)
            events.append(
                (c, f"e-{k}", rng.choice(["enter", "dwell", "exit", "fix", "checkin"]),
                 _ago(rng, 400), store, "accepted")
            )  # fmt: skip
    await conn.copy_records_to_table(
        "events",
        records=events,
        columns=["customer_id", "event_id", "type", "occurred_at", "store_id", "status"],
    )
    sample = rng.sample(ids, customers // 3)
    await conn.copy_records_to_table(
        "deliveries",
        records=[
            (f"d-{c}", c, promised, promised + dt.timedelta(hours=rng.uniform(-24, 72)))
            for c in sample
            for promised in [_ago(rng, 60)]
        ],
        columns=["order_id", "customer_id", "promised_at", "delivered_at"],
    )
    await conn.copy_records_to_table(
        "support_cases",
        records=[
            (f"case-{c}", c, rng.choice(["complaint", "cancellation", "question"]), opened,
             None if rng.random() < 0.5 else opened + dt.timedelta(days=2))
            for c in rng.sample(ids, customers // 10)
            for opened in [_ago(rng, 90)]
        ],
        columns=["id", "customer_id", "kind", "opened_at", "closed_at"],
    )  # fmt: skip
    # Decisions over the last 90 days (what caps look back on): sends with their invite, and
    # holdouts (no invite; the loader counts them like invites).
    invited = rng.sample(ids, customers // 5)
    decisions = await conn.fetch(
        """INSERT INTO decisions (customer_id, store_id, campaign_id, decided_at, outcome,
                                  explanation, policy_version)
           SELECT c, 's' || lpad((floor(random() * $2))::int::text, 3, '0'),
                  'camp-' || floor(random() * 5)::int,
                  $3::timestamptz - random() * interval '90 days',
                  CASE WHEN random() < 0.1 THEN 'holdout' ELSE 'send' END, 'bench', 'bench'
             FROM unnest($1::text[]) AS c, generate_series(1, 4)
           RETURNING id, customer_id, store_id, campaign_id, decided_at, outcome""",
        invited,
        STORES,
        NOW,
    )
    await conn.copy_records_to_table(
        "invites",
        records=[
            (d["id"], d["customer_id"], d["store_id"], d["campaign_id"], "offer", "en", "t",
             "b", rng.choice(["sent", "delivered", "opened", "failed", "pending"]),
             d["decided_at"], d["decided_at"] + dt.timedelta(hours=1), d["decided_at"])
            for d in decisions
            if d["outcome"] == "send"
        ],
        columns=["decision_id", "customer_id", "store_id", "campaign_id", "kind", "locale",
                 "title", "body", "status", "not_before", "send_by", "created_at"],
    )  # fmt: skip
    await conn.execute("ANALYZE")
    rows = await conn.fetchval("SELECT count(*) FROM purchases")
    print(
        f"loaded {customers:,} customers, {rows:,} purchases, {len(events):,} events, "
        f"{len(decisions):,} invites in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


# The competitor: one query per piece of context -------------------------------------------
async def naive_context(
    conn: asyncpg.Connection, customer_id: str, store_id: str, at: dt.datetime, tz: str
) -> dict[str, Any]:
    """What the loader returns, the straightforward way: ten queries."""
    year = calendar_year_start(at, tz)
    out: dict[str, Any] = {}
    out["profile"] = await conn.fetchrow(
        "SELECT locale, first_name, consent_location, consent_marketing, quiet_hours, segments, "
        "flags FROM customers WHERE id = $1",
        customer_id,
    )
    out["devices"] = await conn.fetch(
        "SELECT id, platform, app_version FROM devices WHERE customer_id = $1 AND active",
        customer_id,
    )
    out["stats"] = await conn.fetchrow(
        """SELECT count(*) AS total, count(*) FILTER (WHERE occurred_at >= $3) AS this_year,
                  min(occurred_at) AS first_at, max(occurred_at) AS last_at
             FROM purchases WHERE customer_id = $1 AND occurred_at <= $2""",
        customer_id,
        at,
        year,
    )
    out["ltv"] = await conn.fetch(
        """SELECT currency, sum(total) FROM purchases
            WHERE customer_id = $1 AND occurred_at <= $2 GROUP BY currency""",
        customer_id,
        at,
    )
    out["last"] = await conn.fetchrow(
        """SELECT * FROM purchases WHERE customer_id = $1 AND occurred_at <= $2
            ORDER BY occurred_at DESC LIMIT 1""",
        customer_id,
        at,
    )
    out["last_store"] = await conn.fetchrow(
        """SELECT * FROM purchases WHERE customer_id = $1 AND occurred_at <= $2 AND store_id = $3
            ORDER BY occurred_at DESC LIMIT 1""",
        customer_id,
        at,
        store_id,
    )
    out["categories"] = await conn.fetch(
        """SELECT c, max(occurred_at) FROM purchases, unnest(categories) AS c
            WHERE customer_id = $1 AND occurred_at <= $2 GROUP BY c""",
        customer_id,
        at,
    )
    out["visits"] = await conn.fetchrow(
        """SELECT min(occurred_at), max(occurred_at),
                  max(occurred_at) FILTER (WHERE store_id = $3)
             FROM events WHERE customer_id = $1 AND occurred_at <= $2
              AND type IN ('checkin', 'enter', 'dwell') AND store_id IS NOT NULL""",
        customer_id,
        at,
        store_id,
    )
    out["cases"] = await conn.fetch(
        """SELECT id, kind, opened_at FROM support_cases
            WHERE customer_id = $1 AND opened_at <= $2 AND (closed_at IS NULL OR closed_at > $2)""",
        customer_id,
        at,
    )
    out["delivery"] = await conn.fetchrow(
        """SELECT order_id, promised_at, delivered_at FROM deliveries
            WHERE customer_id = $1 AND (promised_at <= $2 OR delivered_at <= $2)
            ORDER BY promised_at DESC LIMIT 1""",
        customer_id,
        at,
    )
    contacts = await conn.fetch(
        """SELECT campaign_id, store_id, created_at AS at FROM invites
            WHERE customer_id = $1 AND status = ANY($2::text[])
              AND created_at > $3 AND created_at <= $4
           UNION ALL
           SELECT campaign_id, store_id, decided_at FROM decisions
            WHERE customer_id = $1 AND outcome = 'holdout'
              AND decided_at > $3 AND decided_at <= $4""",
        customer_id,
        list(INVITE_CAP_STATUSES),
        at - INVITE_LOOKBACK,
        at,
    )
    day, week, today = at - dt.timedelta(hours=24), at - CAP_WINDOW, local_day_start(at, tz)
    out["invites_7d"] = sum(1 for r in contacts if r["at"] > week)
    out["invites_24h"] = sum(1 for r in contacts if r["at"] > day)
    out["invites_today"] = sum(1 for r in contacts if r["at"] >= today)
    out["last_at_store"] = max(
        (r["at"] for r in contacts if r["store_id"] == store_id), default=None
    )
    last_by_campaign: dict[str, dt.datetime] = {}
    for r in contacts:
        if r["campaign_id"] is not None:
            seen = last_by_campaign.get(r["campaign_id"])
            last_by_campaign[r["campaign_id"]] = r["at"] if seen is None else max(seen, r["at"])
    out["last_by_campaign"] = last_by_campaign
    return out


# Measurement --------------------------------------------------------------------------------
def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _time(
    calls: list[tuple[str, str]], fn: Callable[[str, str], Awaitable[Any]]
) -> list[float]:
    timings = []
    for customer_id, store_id in calls:
        started = time.perf_counter()
        await fn(customer_id, store_id)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--purchases", type=int, default=20, help="per customer")
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per approach")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    async with bench_database() as url:
        await migrate_url(url)
        loader = await asyncpg.connect(url)  # default codecs: COPY sends jsonb as text
        try:
            await load(loader, args.customers, args.purchases, args.seed)
        finally:
            await loader.close()

        conn = await asyncpg.connect(url, server_settings={"timezone": "UTC"})
        await init_connection(conn)
        try:
            rng = random.Random(args.seed + 1)
            stores = [f"s{i:03d}" for i in range(STORES)]

            def sample(n: int) -> list[tuple[str, str]]:
                return [
                    (f"cust-{rng.randrange(args.customers):07d}", rng.choice(stores))
                    for _ in range(n)
                ]

            async def ours(customer_id: str, store_id: str) -> Any:
                return await load_context(
                    conn, customer_id=customer_id, store_id=store_id, at=NOW, timezone=TIMEZONE
                )

            async def naive(customer_id: str, store_id: str) -> Any:
                return await naive_context(conn, customer_id, store_id, NOW, TIMEZONE)

            # Same answers (spot check), then warm both paths up.
            for customer_id, store_id in sample(20):
                a, b = await ours(customer_id, store_id), await naive(customer_id, store_id)
                assert a.orders_total == b["stats"]["total"], (customer_id, a, b)
                assert a.orders_this_year == b["stats"]["this_year"]
                assert len(a.open_cases) == len(b["cases"])
                assert a.invites_last_24h == b["invites_24h"]
                assert a.invites_last_7d == b["invites_7d"]
                assert a.invites_today == b["invites_today"]
                assert a.last_invite_at_store == b["last_at_store"]
                assert a.last_invite_at_by_campaign == b["last_by_campaign"]
            await _time(sample(300), ours)
            await _time(sample(300), naive)

            # Interleave blocks so neither approach gets a warmer cache than the other.
            results: dict[str, list[float]] = {"ours": [], "naive": []}
            block = 250
            for _ in range(max(1, args.calls // block)):
                calls = sample(block)
                results["ours"] += await _time(calls, ours)
                results["naive"] += await _time(calls, naive)
        finally:
            await conn.close()

    rows = [
        ("`load_context`: one statement of CTEs", 1, results["ours"]),
        ("baseline: one query per piece", 11, results["naive"]),
    ]
    print()
    print(
        f"Context loader, {args.customers:,} customers x {args.purchases} purchases, "
        f"{len(results['ours']):,} calls each, one connection, {os.cpu_count()} CPUs"
    )
    print()
    print("| approach | round trips | p50 ms | p99 ms | mean ms | loads/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, trips, samples in rows:
        mean = statistics.fmean(samples)
        print(
            f"| {name} | {trips} | {_percentile(samples, 0.50):.2f} | "
            f"{_percentile(samples, 0.99):.2f} | {mean:.2f} | {1000 / mean:,.0f} |"
        )
    p99 = _percentile(results["ours"], 0.99)
    verdict = "met" if p99 <= GOAL_P99_MS else "MISSED"
    print()
    print(f"goal p99 <= {GOAL_P99_MS} ms: {verdict} ({p99:.2f} ms)")
    return 0 if p99 <= GOAL_P99_MS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
