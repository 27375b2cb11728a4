"""A batch decides its triggers as if each had read the database again.

The ingest path reads each store's context once per batch, before writing anything, and
adds what the batch stored and decided before each trigger (``app.context.context_after``).
These tests hold that to the statement itself: the overlay equals a fresh load after the
same writes, and a batch decides exactly as the same events sent one request at a time.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.context import context_after, load_context
from app.decisions.services.pipeline import load_decision_bases
from tests.conftest import TokenFactory
from tests.factories import campaign_body, event_body, event_world

Client = AsyncTestClient[Litestar]

UTC = dt.UTC
NOON = dt.datetime(2025, 3, 14, 12, 30, tzinfo=UTC)  # a Friday; London is on UTC
STORES = ("s1", "s2", "s3")
SPACING = 1000.0  # metres between the stores, eastwards: a jump at 15 s or less


# The overlay against the statement -------------------------------------------------------
async def _world(db: asyncpg.Connection) -> None:
    for store_id, zone in (("s1", "Europe/Zurich"), ("s2", "America/New_York"), ("s3", "UTC")):
        await db.execute(
            """INSERT INTO stores (id, name, lat, lng, timezone, country, opening_hours)
               VALUES ($1::text, $1::text, 47.37, 8.54, $2, 'CH', '24/7')""",
            store_id,
            zone,
        )
    await db.execute(
        """INSERT INTO customers (id, locale, first_name, consent_location, consent_marketing)
           VALUES ('c1', 'en', 'Ana', true, true)"""
    )
    for campaign_id in ("blend", "mug"):
        await db.execute(
            """INSERT INTO campaigns (id, name, kind, templates, default_locale, all_stores)
               VALUES ($1::text, $1::text, 'offer', '{"en": {"title": "t", "body": "b"}}',
                       'en', true)""",
            campaign_id,
        )
    await db.execute(
        """INSERT INTO deliveries (customer_id, order_id, promised_at, delivered_at)
           VALUES ('c1', 'o-late', $1, NULL)""",
        NOON - dt.timedelta(days=2),
    )


async def _visit(db: asyncpg.Connection, at: dt.datetime, store_id: str, kind: str) -> uuid.UUID:
    row_id = uuid.uuid4()
    await db.execute(
        """INSERT INTO events (id, customer_id, event_id, type, occurred_at, received_at,
                               store_id, status)
           VALUES ($1, 'c1', $2, $3, $4, $5, $6, 'accepted')""",
        row_id,
        str(row_id),
        kind,
        at,
        NOON,
        store_id,
    )
    return row_id


async def _contact(db: asyncpg.Connection, campaign_id: str, store_id: str, outcome: str) -> None:
    decision_id = uuid.uuid4()
    await db.execute(
        """INSERT INTO decisions (id, customer_id, store_id, campaign_id, decided_at, outcome,
                                  explanation, policy_version)
           VALUES ($1, 'c1', $2, $3, $4, $5, 'x', 'test')""",
        decision_id,
        store_id,
        campaign_id,
        NOON,
        outcome,
    )
    if outcome in ("send", "defer"):
        await db.execute(
            """INSERT INTO invites (decision_id, customer_id, store_id, campaign_id, kind,
                                    locale, title, body, not_before, send_by, created_at)
               VALUES ($1, 'c1', $2, $3, 'offer', 'en', 't', 'b', $4, $5, $4)""",
            decision_id,
            store_id,
            campaign_id,
            NOON,
            NOON + dt.timedelta(minutes=30),
        )


@pytest.mark.parametrize("seed", range(12))
async def test_the_overlay_counts_like_reading_again(db: asyncpg.Connection, seed: int) -> None:
    rng = random.Random(seed)
    await _world(db)
    # Some history before the batch, so the overlay has something to add to (or not).
    for _ in range(rng.randint(0, 3)):
        at = NOON - dt.timedelta(days=rng.uniform(0, 5))
        await _visit(db, at, rng.choice(STORES), rng.choice(["enter", "checkin", "dwell"]))
    for _ in range(rng.randint(0, 3)):
        await _contact(db, rng.choice(["blend", "mug"]), rng.choice(STORES), "send")
    async with db.transaction():
        bases = await load_decision_bases(
            db, customer_id="c1", store_ids=list(STORES), now=NOON, check_stores=list(STORES)
        )
        visits: list[tuple[dt.datetime, str]] = []
        contacts: list[tuple[str | None, str | None]] = []
        for _ in range(rng.randint(1, 6)):  # what a batch writes
            if rng.random() < 0.6:
                # up to a minute in the future: those do not count (the statement's at <= $3)
                at = NOON + dt.timedelta(seconds=rng.uniform(-3 * 86400, 60))
                store_id = rng.choice(STORES)
                await _visit(db, at, store_id, rng.choice(["enter", "checkin", "dwell"]))
                visits.append((at, store_id))
            else:
                campaign_id, store_id = rng.choice(["blend", "mug"]), rng.choice(STORES)
                outcome = rng.choice(["send", "defer", "holdout"])
                await _contact(db, campaign_id, store_id, outcome)
                contacts.append((campaign_id, store_id))
        for store_id, base in bases.items():
            zone = base.store.timezone
            fresh = await load_context(
                db, customer_id="c1", store_id=store_id, at=NOON, timezone=zone
            )
            overlaid = context_after(base.context, visits=visits, contacts=contacts)
            assert msgspec.to_builtins(overlaid) == msgspec.to_builtins(fresh), store_id
            assert ZoneInfo(zone)  # each store was loaded in its own zone


# A batch against the same events one by one ------------------------------------------------
async def _post(client: Client, auth: TokenFactory, sub: str, events: list[dict[str, Any]]) -> Any:
    response = await client.post(
        "/v1/events", json={"events": events}, headers=auth("customer", sub=sub)
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]


def _journey(rng: random.Random) -> list[dict[str, Any]]:
    """A customer's last ten minutes around three stores: fixes, claims and check-ins."""
    events = []
    at = NOON - dt.timedelta(minutes=8)
    for _ in range(16):
        at += dt.timedelta(seconds=rng.randint(10, 40))
        store = rng.randrange(len(STORES))
        east = SPACING * store + rng.choice([0.0, 0.0, 10.0, 400.0])
        kind = rng.choice(["fix", "fix", "enter", "dwell", "checkin", "exit"])
        fields: dict[str, Any] = {}
        if kind in ("enter", "dwell", "exit"):
            fields["geofence_id"] = f"g-{STORES[store]}"
        elif kind == "checkin":
            fields["store_id"] = STORES[store]
        events.append(event_body(kind, at=at, east_m=east, **fields))
    return events


def _without_ids(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for result in results:
        result = dict(result)
        result.pop("event_id")
        result["decisions"] = [
            {k: v for k, v in d.items() if k not in ("decision_id", "invite_id")}
            | {"invited": d.get("invite_id") is not None}
            for d in result["decisions"]
        ]
        out.append(result)
    return out


async def _recorded(db: asyncpg.Connection, customer: str) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        """SELECT d.store_id, d.campaign_id, d.outcome, d.reason_codes, d.reasons::text,
                  d.candidates::text, d.moments::text, d.explanation, e.type, e.occurred_at
             FROM decisions d JOIN events e ON e.id = d.event_id
            WHERE d.customer_id = $1
            ORDER BY e.occurred_at, d.store_id""",
        customer,
    )
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("seed", range(4))
async def test_a_batch_decides_like_its_events_one_at_a_time(
    client: Client, auth: TokenFactory, app: Litestar, db: asyncpg.Connection, seed: int
) -> None:
    for customer in ("c1", "c2"):
        await event_world(client, auth, app, customer=customer, stores=STORES, spacing_m=SPACING)
    admin = auth("admin")
    for campaign_id, overrides in (
        ("welcome", {"kind": "moment", "eligibility": {"moments": ["first_visit_to_store"]}}),
        ("mug", {"margin": 4, "caps": {"per_day": 1}}),
    ):
        body = campaign_body(list(STORES), name=campaign_id, holdout_pct=0, **overrides)
        response = await client.put(f"/v1/campaigns/{campaign_id}", json=body, headers=admin)
        assert response.status_code in (200, 201), response.text
    app.state.clock = lambda: NOON
    events = _journey(random.Random(seed))

    batch = await _post(client, auth, "c1", [{**e} for e in events])
    one_by_one = []
    for event in events:
        one_by_one += await _post(client, auth, "c2", [{**event, "event_id": str(uuid.uuid4())}])

    assert _without_ids(batch) == _without_ids(one_by_one)
    outcomes = {d["outcome"] for r in batch for d in r["decisions"]}
    assert "send" in outcomes
    assert "suppress" in outcomes
    assert await _recorded(db, "c1") == await _recorded(db, "c2")
