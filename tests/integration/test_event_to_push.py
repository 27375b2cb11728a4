"""From the app's event to the push, for every gateway kind, end to end.

A customer's phone posts a check-in through ``POST /v1/events`` (HTTP, the real database);
the policy decides ``send`` and writes the invite in the event's transaction; an outbox
worker (in-process, on the same clock) claims it and delivers it to a local server that
checks the provider's wire format (``tests/fake_gateways.py``: Standard Webhooks
signatures, FCM's OAuth token and v1 message, APNs over HTTP/2 with a provider token, Web
Push decrypted with the browser's keys). The invite id travels as the idempotency key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.settings import Settings
from notifications.worker import Worker
from tests.conftest import TokenFactory
from tests.factories import campaign_body, event_body, event_world
from tests.fake_gateways import FakeGateways, GatewayKeys
from tests.outbox_builders import worker_env

Client = AsyncTestClient[Litestar]

NOON = dt.datetime(2025, 3, 14, 12, 30, tzinfo=dt.UTC)  # a Friday; London is on UTC


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[FakeGateways]:
    async with FakeGateways(GatewayKeys(tmp_path / "keys")) as gw:
        yield gw


def _devices(gateways: FakeGateways) -> dict[str, Callable[[], str]]:
    return {
        "webhook": lambda: "relay-device-7",
        "fcm": lambda: "fcm-registration-token-7",
        "apns": lambda: "b" * 64,
        "webpush": lambda: gateways.subscriber("browser-7").token(),
    }


@pytest.mark.parametrize("platform", ["webhook", "fcm", "apns", "webpush"])
async def test_a_checkin_reaches_the_gateway_as_a_well_formed_push(
    platform: str,
    client: Client,
    auth: TokenFactory,
    app: Litestar,
    db: asyncpg.Connection,
    db_url: str,
    tmp_path: Path,
    gateways: FakeGateways,
) -> None:
    token = _devices(gateways)[platform]()
    offer = campaign_body(
        ["s1"],
        name="New blend",
        holdout_pct=0,
        caps={"cooldown_seconds": 0},
        offer_categories=["coffee"],
        templates={
            "en": {"title": "A new blend, {first_name}", "body": "Taste it at {store_name}"}
        },
    )
    await event_world(
        client, auth, app, opening_hours="24/7", campaign=offer, device=(platform, token)
    )
    app.state.clock = lambda: NOON

    response = await client.post(
        "/v1/events",
        json={"events": [event_body("checkin", at=NOON, store_id="s1")]},
        headers=auth("customer", sub="c1"),
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    [decision] = result["decisions"]
    assert (decision["outcome"], decision["trigger"]) == ("send", "checkin"), decision
    invite_id = uuid.UUID(decision["invite_id"])

    settings = Settings.from_env(worker_env(db_url, str(tmp_path / "data"), gateways.env))
    worker = Worker(settings, clock=lambda: NOON, scheduler=False)
    await worker.start()
    try:
        await gateways.wait_for(1)
        deadline = time.monotonic() + 20
        while (
            status := await db.fetchval("SELECT status FROM invites WHERE id = $1", invite_id)
        ) != "sent":
            assert time.monotonic() < deadline, f"invite is {status}"
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()

    assert gateways.errors == []  # every wire-format check of the local gateway held
    [received] = gateways.received
    assert received.kind == platform
    title = "A new blend, Ana"
    if platform == "webhook":
        assert received.key == str(invite_id)  # webhook-id
        assert received.body["data"]["token"] == token
        assert received.body["data"]["title"] == title
    elif platform == "fcm":
        assert received.key == str(invite_id)
        assert received.body["token"] == token
        assert received.body["notification"]["title"] == title
    elif platform == "apns":
        assert received.key == str(invite_id)  # apns-id
        assert received.http_version == "2"
        assert received.path == f"/3/device/{token}"
        assert received.body["aps"]["alert"]["title"] == title
    else:
        assert received.headers["topic"] == invite_id.hex
        assert received.body["title"] == title  # decrypted with the browser's keys
    row = await db.fetchrow(
        "SELECT d.outcome, i.status, i.provider, i.attempts FROM decisions d "
        "JOIN invites i ON i.decision_id = d.id WHERE i.id = $1",
        invite_id,
    )
    assert tuple(row) == ("send", "sent", platform, 1)
