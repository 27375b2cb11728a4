"""Gateway errors: retries with backoff and Retry-After, dead tokens, dead letters, expiry,
a gateway that is down, and leases of a worker that vanished."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.db import create_pool
from app.settings import Settings
from notifications import queries
from notifications.dispatcher import Dispatcher
from notifications.gateways import build_gateways
from notifications.worker import Worker
from tests.fake_gateways import FakeGateways, GatewayKeys, Reply
from tests.outbox_builders import (
    make_customer,
    make_device,
    make_invite,
    make_store,
    set_policy,
    utcnow,
    worker_env,
)

StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[FakeGateways]:
    async with FakeGateways(GatewayKeys(tmp_path / "keys")) as gw:
        yield gw


@pytest.fixture
async def start_worker(
    db_url: str, tmp_path: Path, gateways: FakeGateways
) -> AsyncIterator[StartWorker]:
    started: list[Worker] = []

    async def start(**extra: str) -> Worker:
        env = worker_env(db_url, str(tmp_path / "data"), gateways.env, **extra)
        worker = Worker(Settings.from_env(env), scheduler=False)
        await worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


async def _setup(
    db: asyncpg.Connection, platform: str = "webhook", token: str | None = None
) -> Any:
    await set_policy(db)
    await make_store(db)
    await make_customer(db)
    return await make_device(db, "c1", platform, token)


async def _until(
    db: asyncpg.Connection, invite_id: Any, statuses: set[str], timeout: float = 20
) -> asyncpg.Record:
    deadline = time.monotonic() + timeout
    while True:
        row = await db.fetchrow("SELECT * FROM invites WHERE id = $1", invite_id)
        assert row is not None
        if row["status"] in statuses:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"invite stayed {row['status']} ({row['last_error']})")
        await asyncio.sleep(0.05)


async def test_a_500_then_200_is_delivered_once(
    db: asyncpg.Connection, gateways: FakeGateways, start_worker: StartWorker
) -> None:
    await _setup(db)
    gateways.script("webhook", Reply(500))
    await start_worker()
    invite_id = await make_invite(db)
    row = await _until(db, invite_id, {"sent"})
    assert gateways.attempts["webhook"] == 2
    assert gateways.keys_of() == {str(invite_id): 1}
    assert row["attempts"] == 2
    assert row["last_error"] == "webhook answered 500"  # kept for the record


async def test_a_429_with_retry_after_is_honoured(
    db: asyncpg.Connection, gateways: FakeGateways, start_worker: StartWorker
) -> None:
    await _setup(db)
    gateways.script("webhook", Reply(429, headers={"retry-after": "2"}))
    await start_worker()
    invite_id = await make_invite(db)
    deadline = time.monotonic() + 20
    while (first_attempt := await db.fetchrow("SELECT * FROM invites WHERE id = $1", invite_id))[
        "next_attempt_at"
    ] is None:
        assert time.monotonic() < deadline, "the 429 was never recorded"
        await asyncio.sleep(0.02)
    assert first_attempt["status"] == "pending"
    row = await _until(db, invite_id, {"sent"})
    # Backoff alone (base 0.05 s, cap 0.2 s) would retry well before 2 s.
    assert first_attempt["next_attempt_at"] - first_attempt["updated_at"] >= timedelta(seconds=2)
    assert row["sent_at"] - first_attempt["updated_at"] >= timedelta(seconds=1.9)
    assert gateways.keys_of() == {str(invite_id): 1}


@pytest.mark.parametrize(
    ("platform", "token", "reply"),
    [
        ("apns", "d" * 64, Reply(410, body={"reason": "Unregistered", "timestamp": 1})),
        ("apns", "bad", Reply(400, body={"reason": "BadDeviceToken"})),
        (
            "fcm",
            "fcm-token",
            Reply(
                404,
                body={
                    "error": {
                        "code": 404,
                        "status": "NOT_FOUND",
                        "message": "Requested entity was not found.",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                "errorCode": "UNREGISTERED",
                            }
                        ],
                    }
                },
            ),
        ),
        ("webpush", None, Reply(410)),
    ],
    ids=["apns-410", "apns-bad-token", "fcm-unregistered", "webpush-410"],
)
async def test_a_dead_token_deactivates_the_device_and_stops_retrying(
    db: asyncpg.Connection,
    gateways: FakeGateways,
    start_worker: StartWorker,
    platform: str,
    token: str | None,
    reply: Reply,
) -> None:
    if platform == "webpush":
        token = gateways.subscriber("gone").token()
    device = await _setup(db, platform, token)
    gateways.script(platform, reply)
    await start_worker()
    invite_id = await make_invite(db, device_id=device)
    row = await _until(db, invite_id, {"failed"})
    assert row["last_error"].startswith("device token rejected")
    assert token not in row["last_error"]  # never a token in stored errors
    assert await db.fetchval("SELECT active FROM devices WHERE id = $1", device) is False
    await asyncio.sleep(1.0)  # several poll intervals: nothing more is attempted
    assert gateways.attempts[platform] == 1
    assert (await db.fetchrow("SELECT status, attempts FROM invites WHERE id = $1", invite_id))[
        "attempts"
    ] == 1


async def test_after_max_attempts_the_invite_is_dead_lettered_with_its_last_error(
    db: asyncpg.Connection, gateways: FakeGateways, start_worker: StartWorker
) -> None:
    await _setup(db)
    gateways.script("webhook", *[Reply(503)] * 3)
    await start_worker(KAIROS_WORKER_MAX_ATTEMPTS="3")
    invite_id = await make_invite(db)
    row = await _until(db, invite_id, {"failed"})
    assert row["attempts"] == 3
    assert row["last_error"] == "webhook answered 503"
    assert gateways.attempts["webhook"] == 3
    assert gateways.received == []


async def test_a_retry_that_would_come_after_send_by_expires_instead(
    db: asyncpg.Connection, gateways: FakeGateways, start_worker: StartWorker
) -> None:
    await _setup(db)
    gateways.script("webhook", Reply(503, headers={"retry-after": "3600"}))
    await start_worker()
    invite_id = await make_invite(db, send_by=utcnow() + timedelta(minutes=5))
    row = await _until(db, invite_id, {"expired"})
    assert row["cancel_reason"] == "send_by_passed"
    assert row["last_error"] == "webhook answered 503"
    assert gateways.received == []


async def test_a_gateway_that_is_down_does_not_hold_up_the_others(
    db: asyncpg.Connection, gateways: FakeGateways, start_worker: StartWorker
) -> None:
    await set_policy(db)
    await make_store(db)
    gateways.script("webhook", *[Reply(503)] * 1000)
    webhook_invites, apns_invites = [], []
    for i in range(6):
        await make_customer(db, f"w{i}")
        await make_customer(db, f"a{i}")
        hook = await make_device(db, f"w{i}", "webhook")
        apple = await make_device(db, f"a{i}", "apns", f"{i:064d}")
        webhook_invites.append(await make_invite(db, customer_id=f"w{i}", device_id=hook))
        apns_invites.append(await make_invite(db, customer_id=f"a{i}", device_id=apple))
    await start_worker(
        KAIROS_WORKER_BREAKER_FAILURES="2",
        KAIROS_WORKER_BREAKER_RESET="30",
        KAIROS_WORKER_MAX_ATTEMPTS="50",
    )
    for invite_id in apns_invites:
        await _until(db, invite_id, {"sent"})
    await asyncio.sleep(0.3)
    tried = gateways.attempts["webhook"]
    await asyncio.sleep(1.5)  # many retry periods (base 0.05 s, cap 0.2 s)
    # The open circuit holds the webhook invites back: no new requests, no attempts spent.
    assert gateways.attempts["webhook"] == tried
    rows = await db.fetch(
        "SELECT status, attempts, last_error FROM invites WHERE id = ANY($1)", webhook_invites
    )
    assert {r["status"] for r in rows} == {"pending"}
    assert all(r["attempts"] <= 1 for r in rows)
    assert any(r["last_error"] == "webhook circuit open" for r in rows)


async def test_an_invite_leased_by_a_worker_that_died_is_sent_by_another_once(
    db: asyncpg.Connection, db_url: str, tmp_path: Path, gateways: FakeGateways
) -> None:
    await _setup(db)
    invite_id = await make_invite(db)
    now = utcnow()
    # A worker claimed it (status sending, attempt 1) and died: its lease has run out.
    claimed = await db.fetch(queries.CLAIM, now, 10, "dead-worker", 0.001)
    assert [r["id"] for r in claimed] == [invite_id]
    settings = Settings.from_env(worker_env(db_url, str(tmp_path / "data"), gateways.env))
    pool = await create_pool(settings)
    gws = build_gateways(settings)
    dispatcher = Dispatcher(pool, gws)
    dispatcher.start()
    try:
        assert await dispatcher.drain() == 1
    finally:
        await dispatcher.stop()
        for gw in gws.values():
            await gw.aclose()
        await pool.close()
    row = await db.fetchrow("SELECT * FROM invites WHERE id = $1", invite_id)
    assert row["status"] == "sent"
    assert row["attempts"] == 2  # the dead worker's claim counts as an attempt
    assert gateways.keys_of() == {str(invite_id): 1}
