"""POST /v1/receipts: Standard Webhooks signatures, idempotent replays, the state machine."""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.main import create_app
from app.settings import Settings
from app.webhooks import signed_headers
from tests.outbox_builders import make_customer, make_invite, make_store

SECRET_OLD = "whsec_" + base64.b64encode(os.urandom(32)).decode()
SECRET_NEW = "whsec_" + base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
async def receipts_client(settings: Settings) -> Any:
    import dataclasses

    push = dataclasses.replace(settings.push, receipts_secrets=(SECRET_OLD, SECRET_NEW))
    app: Litestar = create_app(dataclasses.replace(settings, push=push))
    async with AsyncTestClient(app=app) as client:
        yield client


async def _sent_invite(db: asyncpg.Connection, status: str = "sent") -> Any:
    await make_store(db)
    await make_customer(db)
    invite_id = await make_invite(db)
    await db.execute(
        "UPDATE invites SET status = $2, attempts = 1, sent_at = now() WHERE id = $1",
        invite_id,
        status,
    )
    return invite_id


def _post(
    client: Any,
    invite_id: Any,
    kind: str,
    *,
    webhook_id: str | None = None,
    secret: str = SECRET_NEW,
    timestamp: int | None = None,
) -> Any:
    body = msgspec.json.encode(
        {
            "type": f"invite.{kind}",
            "timestamp": "2030-01-01T00:00:00Z",
            "data": {"invite_id": str(invite_id)},
        }
    )
    headers = signed_headers(
        [secret], webhook_id or f"msg_{os.urandom(6).hex()}", timestamp or int(time.time()), body
    )
    headers["content-type"] = "application/json"
    return client.post("/v1/receipts", content=body, headers=headers)


async def test_a_signed_delivery_receipt_marks_the_invite_delivered(
    db: asyncpg.Connection, receipts_client: Any
) -> None:
    invite_id = await _sent_invite(db)
    response = await _post(receipts_client, invite_id, "delivered")
    assert response.status_code == 200, response.text
    assert response.json() == {"invite_id": str(invite_id), "status": "delivered", "applied": True}
    row = await db.fetchrow("SELECT status, delivered_at FROM invites WHERE id = $1", invite_id)
    assert row["status"] == "delivered"
    assert row["delivered_at"] is not None
    # opened follows; both secrets of a rotation are accepted
    response = await _post(receipts_client, invite_id, "opened", secret=SECRET_OLD)
    assert response.json()["status"] == "opened"


async def test_a_replayed_webhook_id_answers_the_same_and_applies_once(
    db: asyncpg.Connection, receipts_client: Any
) -> None:
    invite_id = await _sent_invite(db)
    first = await _post(receipts_client, invite_id, "delivered", webhook_id="msg_1")
    again = await _post(receipts_client, invite_id, "delivered", webhook_id="msg_1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == again.json()
    assert await db.fetchval("SELECT count(*) FROM invite_receipts") == 1


@pytest.mark.parametrize("problem", ["unsigned", "forged", "stale", "future"])
async def test_bad_signatures_are_refused_with_a_401_problem(
    db: asyncpg.Connection, receipts_client: Any, problem: str
) -> None:
    invite_id = await _sent_invite(db)
    if problem == "unsigned":
        response = await receipts_client.post(
            "/v1/receipts",
            content=b'{"type":"invite.delivered","timestamp":"2030-01-01T00:00:00Z","data":{}}',
        )
    elif problem == "forged":
        other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        response = await _post(receipts_client, invite_id, "delivered", secret=other)
    else:
        skew = -301 if problem == "stale" else 301
        response = await _post(
            receipts_client, invite_id, "delivered", timestamp=int(time.time()) + skew
        )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:kairos:problem:invalid-signature"
    assert await db.fetchval("SELECT status FROM invites WHERE id = $1", invite_id) == "sent"


async def test_an_illegal_transition_is_refused_and_kept_on_record(
    db: asyncpg.Connection, receipts_client: Any
) -> None:
    invite_id = await _sent_invite(db, status="opened")
    response = await _post(receipts_client, invite_id, "delivered", webhook_id="msg_late")
    assert response.status_code == 409
    assert response.json()["type"] == "urn:kairos:problem:illegal-transition"
    again = await _post(receipts_client, invite_id, "delivered", webhook_id="msg_late")
    assert again.status_code == 409
    assert await db.fetchval("SELECT status FROM invites WHERE id = $1", invite_id) == "opened"
    rows = await db.fetch("SELECT status, applied FROM invite_receipts")
    assert [(r["status"], r["applied"]) for r in rows] == [("delivered", False)]


async def test_a_cancelled_invite_cannot_be_delivered(
    db: asyncpg.Connection, receipts_client: Any
) -> None:
    invite_id = await _sent_invite(db, status="cancelled")
    response = await _post(receipts_client, invite_id, "delivered")
    assert response.status_code == 409


async def test_unknown_invites_and_bad_bodies(db: asyncpg.Connection, receipts_client: Any) -> None:
    response = await _post(receipts_client, "0b1f5e3e-8a3c-4a57-9a1a-1d8f8b1e1a11", "delivered")
    assert response.status_code == 404
    body = b'{"type":"invite.exploded","timestamp":"2030-01-01T00:00:00Z","data":{}}'
    headers = signed_headers([SECRET_NEW], "msg_bad", int(time.time()), body)
    response = await receipts_client.post("/v1/receipts", content=body, headers=headers)
    assert response.status_code == 422
    headers = signed_headers([SECRET_NEW], "msg_junk", int(time.time()), b"{nope")
    response = await receipts_client.post("/v1/receipts", content=b"{nope", headers=headers)
    assert response.status_code == 400
