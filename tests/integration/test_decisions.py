"""The decision pipeline against a real database: inputs in two round trips, decision and
invite in one statement, caps from what was recorded, concurrency, replay."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest

from app.db import init_connection
from app.decisions.inputs import EventFacts
from app.decisions.policy import Decision, decide
from app.decisions.services import (
    RecordedDecision,
    active_campaigns,
    load_decision_inputs,
    record_decision,
    replay_decision,
)
from app.decisions.settings import PolicySettings
from app.problems import ConflictProblem, NotFoundProblem

UTC = dt.UTC
ZURICH = ZoneInfo("Europe/Zurich")
LUNCH = dt.datetime(2025, 3, 14, 12, 30, tzinfo=ZURICH).astimezone(UTC)  # a Friday
EARLY = dt.datetime(2025, 3, 14, 8, 40, tzinfo=ZURICH).astimezone(UTC)


async def seed(db: asyncpg.Connection, *stores: str) -> None:
    """Stores open Mo-Sa 09:00-19:00 in Zurich, customer c1 (reachable), an offer everywhere."""
    for store_id in stores or ("s1",):
        await db.execute(
            """INSERT INTO stores (id, name, lat, lng, timezone, country, opening_hours,
                                   categories)
               VALUES ($1::text, 'Store ' || $1::text, 47.37, 8.54, 'Europe/Zurich', 'CH',
                       'Mo-Sa 09:00-19:00', '{coffee}')""",
            store_id,
        )
    await db.execute(
        """INSERT INTO customers (id, locale, first_name, consent_location, consent_marketing)
           VALUES ('c1', 'en', 'Ana', true, true)"""
    )
    await db.execute(
        "INSERT INTO devices (customer_id, platform, token) VALUES ('c1', 'fcm', 'tok-c1-123456')"
    )
    await add_campaign(db, "blend")


async def add_campaign(
    db: asyncpg.Connection,
    campaign_id: str,
    *,
    store_ids: tuple[str, ...] = (),
    holdout_pct: float = 0,
    defer_window_seconds: int | None = None,
    margin: str = "10.00",
) -> None:
    await db.execute(
        """INSERT INTO campaigns (id, name, kind, templates, default_locale, margin,
                                  acceptance_probability, holdout_pct, all_stores,
                                  offer_categories, defer_window_seconds)
           VALUES ($1::text, $1::text, 'offer', $6, 'en', $2::numeric, 0.8, $3, $4, '{coffee}',
                   $5)""",
        campaign_id,
        margin,
        holdout_pct,
        not store_ids,
        defer_window_seconds,
        {"en": {"title": "Hi {first_name}", "body": "At {store_name} until {closes_at}"}},
    )
    for store_id in store_ids:
        await db.execute(
            "INSERT INTO campaign_stores (campaign_id, store_id) VALUES ($1, $2)",
            campaign_id,
            store_id,
        )


def visit(at: dt.datetime, **changes: object) -> EventFacts:
    return msgspec.structs.replace(
        EventFacts(kind="enter", occurred_at=at, received_at=at, accuracy_m=15.0), **changes
    )


async def run(
    conn: asyncpg.Connection, at: dt.datetime, store_id: str = "s1", **event: object
) -> tuple[Decision, RecordedDecision]:
    """What the ingest path does: one transaction, customer locked, decide, record."""
    async with conn.transaction():
        inputs = await load_decision_inputs(
            conn,
            customer_id="c1",
            store_id=store_id,
            event=visit(at, **event),
            now=at,
            lock_customer=True,
        )
        decision = decide(inputs, at)
        recorded = await record_decision(conn, decision, inputs)
    return decision, recorded


async def test_inputs_in_one_round_trip(db: asyncpg.Connection) -> None:
    await seed(db)
    await add_campaign(db, "elsewhere", store_ids=("s1",))
    await load_decision_inputs(db, customer_id="c1", store_id="s1", event=visit(LUNCH), now=LUNCH)
    statements: list[str] = []
    db.add_query_logger(lambda record: statements.append(record.query))
    inputs = await load_decision_inputs(
        db, customer_id="c1", store_id="s1", event=visit(LUNCH), now=LUNCH
    )
    await asyncio.sleep(0)
    assert len(statements) == 1  # the store's zone is known from the first call
    assert inputs.settings == PolicySettings()
    assert inputs.settings_version == 1
    assert [c.id for c in inputs.campaigns] == ["blend", "elsewhere"]
    assert inputs.campaigns[0].margin == Decimal("10.00")
    assert inputs.campaigns[0].offer_categories == {"coffee"}
    assert inputs.store.opening_hours == "Mo-Sa 09:00-19:00"
    assert inputs.customer.first_name == "Ana"


async def test_active_campaigns_for_a_store_at_an_instant(db: asyncpg.Connection) -> None:
    await seed(db, "s1", "s2")
    await add_campaign(db, "only-s2", store_ids=("s2",), margin="12.35")
    await add_campaign(db, "z-off", store_ids=("s1",))
    await db.execute("UPDATE campaigns SET enabled = false WHERE id = 'z-off'")
    await add_campaign(db, "later", store_ids=("s1",))
    await db.execute("UPDATE campaigns SET active_from = $1 WHERE id = 'later'", LUNCH)
    at_s1 = await active_campaigns(db, "s1", LUNCH - dt.timedelta(seconds=1))
    assert [c.id for c in at_s1] == ["blend"]
    assert [c.id for c in await active_campaigns(db, "s1", LUNCH)] == ["blend", "later"]
    [only] = [c for c in await active_campaigns(db, "s2", LUNCH) if c.id == "only-s2"]
    assert only.margin == Decimal("12.35")
    assert only.templates["en"].title == "Hi {first_name}"


async def test_the_migration_writes_the_default_settings_as_version_1(
    db: asyncpg.Connection,
) -> None:
    row = await db.fetchrow("SELECT version, settings, created_by FROM policy_settings")
    assert row["version"] == 1
    assert row["created_by"] == "migration:0005"
    assert msgspec.convert(row["settings"], PolicySettings) == PolicySettings()


async def test_a_send_writes_the_decision_and_its_invite_together(db: asyncpg.Connection) -> None:
    await seed(db)
    decision, recorded = await run(db, LUNCH)
    assert decision.outcome == "send"
    assert recorded.invite_id is not None
    row = await db.fetchrow("SELECT * FROM decisions WHERE id = $1", recorded.decision_id)
    assert row["decided_at"] == LUNCH
    assert row["outcome"] == "send"
    assert row["reason_codes"] == ["selected"]
    assert row["settings_version"] == 1
    assert row["title"] == "Hi Ana"
    assert row["reasons"][0]["message"].startswith("Invite with campaign blend by 13:00")
    assert row["candidates"][0]["score_formula"] == "0.80 x 10.00 + 5 x (0.80 - 0.20) = 11.00"
    assert row["inputs"]["event"]["kind"] == "enter"
    assert row["inputs"]["campaign_versions"] == {"blend": 1}
    invite = await db.fetchrow("SELECT * FROM invites WHERE id = $1", recorded.invite_id)
    assert invite["decision_id"] == recorded.decision_id
    assert invite["status"] == "pending"
    assert invite["created_at"] == LUNCH  # the decision's instant, not the database clock
    assert invite["not_before"] == LUNCH
    assert invite["send_by"] == decision.send_by == LUNCH + dt.timedelta(minutes=30)
    assert (invite["title"], invite["body"], invite["locale"]) == (
        "Hi Ana",
        "At Store s1 until 19:00",
        "en",
    )
    assert invite["payload"]["recheck_presence"] is False


async def test_suppressions_and_holdouts_write_no_invite(db: asyncpg.Connection) -> None:
    await seed(db)
    decision, recorded = await run(db, dt.datetime(2025, 3, 14, 6, 45, tzinfo=UTC))
    assert decision.reason_codes == ("store_closed",)
    assert recorded.invite_id is None
    await db.execute("UPDATE campaigns SET holdout_pct = 100")
    decision, recorded = await run(db, LUNCH)
    assert decision.outcome == "holdout"
    assert recorded.invite_id is None
    assert await db.fetchval("SELECT count(*) FROM invites") == 0
    assert await db.fetchval("SELECT count(*) FROM decisions") == 2


async def test_a_defer_writes_an_invite_for_the_opening(db: asyncpg.Connection) -> None:
    await seed(db)
    await db.execute("UPDATE campaigns SET defer_window_seconds = 1800")
    decision, recorded = await run(db, EARLY)
    assert decision.outcome == "defer"
    invite = await db.fetchrow("SELECT * FROM invites WHERE id = $1", recorded.invite_id)
    opening = dt.datetime(2025, 3, 14, 9, 0, tzinfo=ZURICH)
    assert invite["not_before"] == opening
    assert invite["send_by"] == opening + dt.timedelta(minutes=30)
    assert invite["created_at"] == EARLY
    assert invite["payload"]["recheck_presence"] is True


async def test_the_callers_rollback_takes_decision_and_invite_back(
    db: asyncpg.Connection,
) -> None:
    await seed(db)

    async def ingest_that_fails() -> None:
        async with db.transaction():
            inputs = await load_decision_inputs(
                db, customer_id="c1", store_id="s1", event=visit(LUNCH), now=LUNCH
            )
            await record_decision(db, decide(inputs, LUNCH), inputs)
            raise RuntimeError("ingest failed after recording")

    with pytest.raises(RuntimeError, match="ingest failed"):
        await ingest_that_fails()
    assert await db.fetchval("SELECT count(*) FROM decisions") == 0
    assert await db.fetchval("SELECT count(*) FROM invites") == 0


async def test_recorded_invites_feed_the_caps(db: asyncpg.Connection) -> None:
    await seed(db, "s1", "s2", "s3")
    first, _ = await run(db, LUNCH, "s1")
    assert first.outcome == "send"
    again, _ = await run(db, LUNCH + dt.timedelta(minutes=20), "s1")
    assert again.reason_codes == ("store_cooldown",)
    second, _ = await run(db, LUNCH + dt.timedelta(minutes=40), "s2")
    assert second.outcome == "send"
    third, _ = await run(db, LUNCH + dt.timedelta(hours=1), "s3")
    assert third.reason_codes == ("frequency_cap",)
    assert third.reasons[0].message == "2 invites in the last 24 hours (limit 2)."


async def test_caps_hold_under_concurrency(db_url: str, db: asyncpg.Connection) -> None:
    """Invariant 4: eight simultaneous triggers at eight stores, a cap of 2 per 24 hours."""
    stores = [f"s{i}" for i in range(8)]
    await seed(db, *stores)
    connections = [await asyncpg.connect(db_url) for _ in stores]
    try:
        for conn in connections:
            await init_connection(conn)
        results = await asyncio.gather(
            *(run(conn, LUNCH, store) for conn, store in zip(connections, stores, strict=True))
        )
    finally:
        for conn in connections:
            await conn.close()
    outcomes = sorted(decision.outcome for decision, _ in results)
    assert outcomes.count("send") == 2
    assert {d.reason_codes[0] for d, _ in results if d.outcome != "send"} == {"frequency_cap"}
    assert await db.fetchval("SELECT count(*) FROM invites") == 2


async def test_replay_of_a_stored_decision_is_identical(db: asyncpg.Connection) -> None:
    await seed(db)
    await db.execute(
        "INSERT INTO purchases (order_id, customer_id, store_id, channel, occurred_at, currency,"
        " total, categories, payload_hash) VALUES ('o-1', 'c1', 's1', 'store', $1, 'CHF', 4,"
        " '{coffee}', 'h')",
        LUNCH - dt.timedelta(days=1),
    )
    sent, recorded = await run(db, LUNCH)
    # Later history must not leak into the replay: another send, a purchase right after.
    await run(db, LUNCH + dt.timedelta(hours=2))
    await db.execute(
        "INSERT INTO purchases (order_id, customer_id, store_id, channel, occurred_at, currency,"
        " total, categories, payload_hash) VALUES ('o-2', 'c1', 's1', 'store', $1, 'CHF', 4,"
        " '{coffee}', 'h')",
        LUNCH + dt.timedelta(minutes=1),
    )
    replay = await replay_decision(db, recorded.decision_id)
    assert replay.same, replay.differences
    assert replay.differences == []
    assert replay.notes == []
    assert replay.replayed.id == recorded.decision_id
    assert replay.original.send_by == replay.replayed.send_by == sent.send_by
    assert replay.original.reasons == replay.replayed.reasons

    # Settings changed since: the replay still uses version 1.
    await db.execute(
        "INSERT INTO policy_settings (version, settings, created_by) VALUES (2, $1, 't')",
        msgspec.to_builtins(PolicySettings(closing_margin_minutes=600)),
    )
    assert (await replay_decision(db, recorded.decision_id)).same

    # The store's hours changed since: a different decision, and a note saying why.
    await db.execute("UPDATE stores SET opening_hours = 'Mo-Sa 14:00-19:00', version = version + 1")
    replay = await replay_decision(db, recorded.decision_id)
    assert not replay.same
    assert replay.differences[0].field == "outcome"
    assert (replay.differences[0].original, replay.differences[0].replayed) == (
        "send",
        "suppress",
    )
    assert replay.notes == ["The store has changed since (version 1 then, 2 now)."]


async def test_replay_errors(db: asyncpg.Connection) -> None:
    await seed(db)
    with pytest.raises(NotFoundProblem):
        await replay_decision(db, uuid.uuid4())
    _, recorded = await run(db, LUNCH)
    await db.execute("DELETE FROM stores WHERE id = 's1'")
    with pytest.raises(ConflictProblem, match="deleted"):
        await replay_decision(db, recorded.decision_id)
