"""Outbox rows to a gateway receiving a correctly formatted push, for every gateway kind.

The worker runs in-process against the real database; the local gateways (tests/
fake_gateways.py) check each wire format the way the provider would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.settings import Settings
from notifications.worker import Worker
from tests.fake_gateways import FakeGateways, GatewayKeys
from tests.outbox_builders import (
    make_customer,
    make_device,
    make_invite,
    make_store,
    set_policy,
    utcnow,
    worker_env,
)


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[FakeGateways]:
    async with FakeGateways(GatewayKeys(tmp_path / "keys")) as gw:
        yield gw


def _settings(db_url: str, tmp_path: Path, gw: FakeGateways, **extra: str) -> Settings:
    return Settings.from_env(worker_env(db_url, str(tmp_path / "data"), gw.env, **extra))


@pytest.fixture
async def worker(db_url: str, tmp_path: Path, gateways: FakeGateways) -> AsyncIterator[Worker]:
    w = Worker(_settings(db_url, tmp_path, gateways), scheduler=False)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()


async def _row(db: asyncpg.Connection, invite_id: Any) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM invites WHERE id = $1", invite_id)
    assert row is not None
    return row


async def _eventually_status(
    db: asyncpg.Connection, invite_id: Any, status: str, timeout: float = 20
) -> asyncpg.Record:
    deadline = time.monotonic() + timeout
    while True:
        row = await _row(db, invite_id)
        if row["status"] == status:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"invite is {row['status']} ({row['last_error']}), not {status}")
        await asyncio.sleep(0.05)


async def _one_customer(db: asyncpg.Connection, platform: str, token: str | None = None) -> Any:
    await set_policy(db)
    await make_store(db)
    await make_customer(db)
    return await make_device(db, "c1", platform, token)


async def test_webhook_gateway_receives_a_signed_invite(
    db: asyncpg.Connection, gateways: FakeGateways, worker: Worker
) -> None:
    device = await _one_customer(db, "webhook", "relay-device-42")
    invite_id = await make_invite(db, device_id=device, payload={"offer": "blend-7"})
    await gateways.wait_for(1)
    row = await _eventually_status(db, invite_id, "sent")
    assert gateways.errors == []
    received = gateways.received[0]
    assert received.kind == "webhook"
    assert received.key == str(invite_id)  # webhook-id is the invite id
    event = received.body
    assert event["type"] == "invite.send"
    assert event["data"]["token"] == "relay-device-42"
    assert event["data"]["title"] == "Try the new blend"
    assert event["data"]["data"]["offer"] == "blend-7"
    # Two secrets configured: two signatures, so receivers on either secret accept it.
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert row["provider"] == "webhook"
    assert row["provider_message_id"] == f"relay-{invite_id}"
    assert row["sent_device_id"] == device
    assert row["attempts"] == 1
    assert row["lease_owner"] is None


async def test_fcm_gateway_gets_an_oauth_token_once_and_sends_v1_messages(
    db: asyncpg.Connection, gateways: FakeGateways, worker: Worker
) -> None:
    device = await _one_customer(db, "fcm", "fcm-registration-token")
    first = await make_invite(db, device_id=device)
    second = await make_invite(db, device_id=device)
    await gateways.wait_for(2)
    for invite_id in (first, second):
        await _eventually_status(db, invite_id, "sent")
    assert gateways.errors == []
    assert len(gateways.tokens_issued) == 1  # the access token is cached
    message = gateways.received[0].body
    assert message["token"] == "fcm-registration-token"
    assert message["notification"] == {
        "title": "Try the new blend",
        "body": message["notification"]["body"],
    }
    assert gateways.keys_of("fcm") == {str(first): 1, str(second): 1}
    assert message["android"]["collapse_key"] in {str(first), str(second)}
    assert int(message["android"]["ttl"].removesuffix("s")) <= 30 * 60
    row = await _row(db, first)
    assert row["provider_message_id"].startswith("projects/kairos-test/messages/")


async def test_apns_gateway_speaks_http2_with_a_provider_token(
    db: asyncpg.Connection, gateways: FakeGateways, worker: Worker
) -> None:
    device = await _one_customer(db, "apns", "a" * 64)
    invite_id = await make_invite(db, device_id=device)
    await gateways.wait_for(1)
    row = await _eventually_status(db, invite_id, "sent")
    assert gateways.errors == []
    received = gateways.received[0]
    assert received.http_version == "2"
    assert received.path == "/3/device/" + "a" * 64
    assert received.key == str(invite_id)  # apns-id
    assert received.body["aps"]["alert"]["title"] == "Try the new blend"
    assert int(received.headers["apns-expiration"]) == int(row["send_by"].timestamp())
    assert row["provider_message_id"] == str(invite_id)


async def test_webpush_gateway_encrypts_for_the_subscription(
    db: asyncpg.Connection, gateways: FakeGateways, worker: Worker
) -> None:
    subscriber = gateways.subscriber("browser-1")
    device = await _one_customer(db, "webpush", subscriber.token())
    invite_id = await make_invite(db, device_id=device)
    await gateways.wait_for(1)
    row = await _eventually_status(db, invite_id, "sent")
    assert gateways.errors == []
    received = gateways.received[0]
    assert received.body["title"] == "Try the new blend"  # decrypted with the browser's keys
    assert received.headers["topic"] == invite_id.hex
    assert 0 < int(received.headers["ttl"]) <= 30 * 60
    assert row["provider_message_id"].endswith(f"/m/{invite_id}")


async def test_notify_wakes_the_worker_long_before_the_fallback_poll(
    db_url: str, db: asyncpg.Connection, tmp_path: Path, gateways: FakeGateways
) -> None:
    await _one_customer(db, "webhook")
    w = Worker(
        _settings(db_url, tmp_path, gateways, KAIROS_WORKER_POLL_INTERVAL="600"), scheduler=False
    )
    await w.start()
    try:
        await asyncio.sleep(0.3)  # the worker has found the queue empty and sleeps
        invite_id = await make_invite(db)
        await gateways.wait_for(1, timeout=20)  # far less than the 600 s poll
        assert w.notifications >= 1
        assert gateways.received[0].key == str(invite_id)
    finally:
        await w.stop()


async def test_a_deferred_invite_is_sent_when_it_comes_due_not_before(
    db: asyncpg.Connection, gateways: FakeGateways, worker: Worker
) -> None:
    await _one_customer(db, "webhook")
    not_before = utcnow() + timedelta(seconds=1.5)
    invite_id = await make_invite(db, not_before=not_before)
    await gateways.wait_for(1)
    assert gateways.received[0].at >= not_before.timestamp()
    row = await _eventually_status(db, invite_id, "sent")
    assert row["sent_at"] >= not_before


async def test_an_inactive_device_falls_back_to_the_most_recently_seen_active_one(
    db: asyncpg.Connection, gateways: FakeGateways, worker: Worker
) -> None:
    await set_policy(db)
    await make_store(db)
    await make_customer(db)
    gone = await make_device(db, "c1", "webhook", "old-phone", active=False)
    await make_device(db, "c1", "webhook", "tablet", last_seen_at=utcnow() - timedelta(days=3))
    phone = await make_device(db, "c1", "webhook", "new-phone", last_seen_at=utcnow())
    invite_id = await make_invite(db, device_id=gone)
    await gateways.wait_for(1)
    row = await _eventually_status(db, invite_id, "sent")
    assert gateways.received[0].body["data"]["token"] == "new-phone"
    assert row["sent_device_id"] == phone


async def test_worker_metrics_count_invites_by_final_status_and_gateway(
    db: asyncpg.Connection, gateways: FakeGateways, worker: Worker
) -> None:
    import httpx

    from app.metrics import INVITES_FINISHED, serve_metrics

    before = INVITES_FINISHED.labels("sent", "webhook")._value.get()
    await _one_customer(db, "webhook")
    invite_id = await make_invite(db)
    await _eventually_status(db, invite_id, "sent")
    await worker.dispatcher.idle()  # type: ignore[union-attr]
    assert INVITES_FINISHED.labels("sent", "webhook")._value.get() == before + 1
    port = serve_metrics("127.0.0.1", 0)
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    assert 'kairos_invites_finished_total{gateway="webhook",status="sent"}' in text
    assert "kairos_invite_send_seconds_bucket" in text
