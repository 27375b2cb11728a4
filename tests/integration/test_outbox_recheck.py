"""The last-moment check against the real database, with the worker's clock fixed.

The clock is Wednesday 2030-06-05 12:00 UTC; stores are in UTC unless a test says otherwise.
Every cancellation leaves the invite with its reason code and sentence, and nothing at the
gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.db import create_pool
from app.settings import Settings
from notifications.dispatcher import Dispatcher
from notifications.gateways import build_gateways
from notifications.recheck import REASONS
from tests.fake_gateways import FakeGateways, GatewayKeys
from tests.outbox_builders import (
    make_customer,
    make_device,
    make_geofence,
    make_invite,
    make_store,
    set_policy,
    worker_env,
)

NOW = datetime(2030, 6, 5, 12, 0, tzinfo=UTC)
DECIDED = NOW - timedelta(minutes=5)


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[FakeGateways]:
    async with FakeGateways(GatewayKeys(tmp_path / "keys")) as gw:
        yield gw


@pytest.fixture
async def dispatcher(
    db_url: str, tmp_path: Path, gateways: FakeGateways
) -> AsyncIterator[Dispatcher]:
    settings = Settings.from_env(worker_env(db_url, str(tmp_path / "data"), gateways.env))
    pool = await create_pool(settings)
    gws = build_gateways(settings)
    d = Dispatcher(pool, gws, clock=lambda: NOW)
    d.start()
    try:
        yield d
    finally:
        await d.stop()
        for gw in gws.values():
            await gw.aclose()
        await pool.close()


async def _setup(
    db: asyncpg.Connection,
    *,
    hours: str | None = "24/7",
    timezone: str = "UTC",
    quiet_hours: dict[str, str] | None = None,
    consent: bool = True,
    device_active: bool = True,
) -> Any:
    await set_policy(db)
    await make_store(db, opening_hours=hours, timezone=timezone)
    await make_customer(db, consent=consent, quiet_hours=quiet_hours)
    return await make_device(db, "c1", "webhook", active=device_active)


async def _invite(db: asyncpg.Connection, **kwargs: Any) -> Any:
    kwargs.setdefault("decided_at", DECIDED)
    kwargs.setdefault("send_by", NOW + timedelta(minutes=20))
    return await make_invite(db, **kwargs)


async def _outcome(
    db: asyncpg.Connection, dispatcher: Dispatcher, invite_id: Any
) -> asyncpg.Record:
    await dispatcher.drain()
    row = await db.fetchrow("SELECT * FROM invites WHERE id = $1", invite_id)
    assert row is not None
    return row


async def _assert_cancelled(
    db: asyncpg.Connection,
    dispatcher: Dispatcher,
    gateways: FakeGateways,
    invite_id: Any,
    code: str,
    status: str = "cancelled",
) -> str:
    row = await _outcome(db, dispatcher, invite_id)
    assert (row["status"], row["cancel_reason"]) == (status, code)
    assert code in REASONS
    assert row["cancel_message"]
    assert row["attempts"] == 0  # nothing was sent
    assert gateways.attempts.total() == 0
    message: str = row["cancel_message"]
    return message


async def test_an_open_store_with_every_check_holding_is_sent(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db, hours="Mo-Su 09:00-18:00")
    invite_id = await _invite(db)
    row = await _outcome(db, dispatcher, invite_id)
    assert row["status"] == "sent"
    assert row["sent_at"] == NOW


async def test_store_closed_at_send_time_cancels_with_the_opening_time(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db, hours="Mo-Su 13:00-18:00")
    invite_id = await _invite(db)
    message = await _assert_cancelled(db, dispatcher, gateways, invite_id, "store_closed")
    assert "opens at 13:00" in message


async def test_closing_within_the_margin_cancels(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db, hours="Mo-Su 09:00-12:10")  # closes in 10 min; margin 20
    invite_id = await _invite(db)
    await _assert_cancelled(db, dispatcher, gateways, invite_id, "closing_soon")


async def test_closing_is_judged_in_the_stores_own_zone(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    # 12:00 UTC is 14:00 in Paris (summer time): a store open 09:00-14:15 local is closing.
    await _setup(db, hours="Mo-Su 09:00-14:15", timezone="Europe/Paris")
    invite_id = await _invite(db)
    message = await _assert_cancelled(db, dispatcher, gateways, invite_id, "closing_soon")
    assert "14:00 (Europe/Paris)" in message


async def test_unknown_hours_cancel(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db, hours=None)
    invite_id = await _invite(db)
    await _assert_cancelled(db, dispatcher, gateways, invite_id, "hours_unknown")


async def test_send_by_passed_expires(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db)
    invite_id = await _invite(db, not_before=NOW - timedelta(minutes=4), send_by=NOW)
    await _assert_cancelled(db, dispatcher, gateways, invite_id, "send_by_passed", "expired")


async def test_customer_who_left_the_geofence_since_the_decision_is_not_invited(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db)
    await make_geofence(db, "g1", "s1")
    await db.execute(
        """INSERT INTO presence (customer_id, geofence_id, state, entered_at, last_seen_at,
                                 exited_at) VALUES ('c1', 'g1', 'outside', $1, $2, $2)""",
        DECIDED - timedelta(minutes=10),
        DECIDED + timedelta(minutes=1),
    )
    invite_id = await _invite(db)
    await _assert_cancelled(db, dispatcher, gateways, invite_id, "customer_left")


async def test_an_exit_before_the_decision_does_not_cancel(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db)
    await make_geofence(db, "g1", "s1")
    await db.execute(
        """INSERT INTO presence (customer_id, geofence_id, state, entered_at, last_seen_at,
                                 exited_at) VALUES ('c1', 'g1', 'inside', $1, $1, $2)""",
        DECIDED - timedelta(minutes=1),
        DECIDED - timedelta(minutes=30),
    )
    invite_id = await _invite(db)
    assert (await _outcome(db, dispatcher, invite_id))["status"] == "sent"


async def test_a_purchase_since_the_decision_cancels_an_offer(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db)
    await db.execute(
        """INSERT INTO purchases (order_id, customer_id, store_id, channel, occurred_at, currency,
                                  total, payload_hash) VALUES ('o1', 'c1', NULL, 'online', $1,
                                  'EUR', 10, 'h')""",
        DECIDED + timedelta(minutes=2),
    )
    invite_id = await _invite(db, kind="offer")
    await _assert_cancelled(db, dispatcher, gateways, invite_id, "purchased_since")


async def test_an_online_purchase_does_not_cancel_a_store_moment_but_one_there_does(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db)
    await make_customer(db, "c2")
    await make_device(db, "c2", "webhook")
    for order, customer, store, channel in (
        ("o1", "c1", None, "online"),
        ("o2", "c2", "s1", "store"),
    ):
        await db.execute(
            """INSERT INTO purchases (order_id, customer_id, store_id, channel, occurred_at,
                                      currency, total, payload_hash)
               VALUES ($1, $2, $3, $4, $5, 'EUR', 10, 'h')""",
            order,
            customer,
            store,
            channel,
            DECIDED + timedelta(minutes=2),
        )
    online = await _invite(db, kind="moment")
    at_store = await _invite(db, kind="moment", customer_id="c2")
    assert (await _outcome(db, dispatcher, online))["status"] == "sent"
    row = await _outcome(db, dispatcher, at_store)
    assert (row["status"], row["cancel_reason"]) == ("cancelled", "purchased_since")


async def test_no_active_device_cancels(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    device = await _setup(db, device_active=False)
    invite_id = await _invite(db, device_id=device)
    await _assert_cancelled(db, dispatcher, gateways, invite_id, "no_active_device")


async def test_withdrawn_consent_cancels(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db)
    invite_id = await _invite(db)
    await db.execute("UPDATE customers SET consent_marketing = false WHERE id = 'c1'")
    await _assert_cancelled(db, dispatcher, gateways, invite_id, "consent_withdrawn")


async def test_the_customers_quiet_hours_in_their_own_zone_cancel(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    # 12:00 UTC is 21:00 in Tokyo: inside the customer's 20:30-07:00 there.
    await _setup(db, quiet_hours={"start": "20:30", "end": "07:00", "timezone": "Asia/Tokyo"})
    invite_id = await _invite(db)
    message = await _assert_cancelled(db, dispatcher, gateways, invite_id, "quiet_hours")
    assert "21:00 (Asia/Tokyo)" in message


async def test_the_default_quiet_hours_apply_in_the_stores_zone(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db, timezone="America/Los_Angeles")  # 05:00 local
    await set_policy(db, quiet_hours=("21:00", "08:00"))
    invite_id = await _invite(db)
    await _assert_cancelled(db, dispatcher, gateways, invite_id, "quiet_hours")


async def test_a_store_that_closes_between_decision_and_send_is_not_sent(
    db: asyncpg.Connection, dispatcher: Dispatcher, gateways: FakeGateways
) -> None:
    await _setup(db, hours="24/7")
    invite_id = await _invite(db)
    # The manager changes the hours after the decision: closed from 11:00 today.
    await db.execute("UPDATE stores SET opening_hours = 'Mo-Su 08:00-11:00' WHERE id = 's1'")
    message = await _assert_cancelled(db, dispatcher, gateways, invite_id, "store_closed")
    assert "opens at 08:00" in message
