"""The demo's push relay: verifies Kairos's signature, records once, sends receipts back."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from app.demo.environment import demo_secrets, require_development, serve_environment
from app.demo.receiver import Receiver, is_opened
from app.settings import Settings, SettingsError
from app.webhooks import signed_headers, verify

PUSH_SECRET = "whsec_" + "cmVsYXktdGVzdC1wdXNoLXNlY3JldC0wMDAwMDE="
RECEIPT_SECRET = "whsec_" + "cmVsYXktdGVzdC1yZWNlaXB0LXNlY3JldC0wMDE="


def _relay(seen: list[httpx.Request]) -> Receiver:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "delivered"})

    kairos = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://kairos")
    return Receiver(
        webhook_secrets=(PUSH_SECRET,),
        receipts_secret=RECEIPT_SECRET,
        kairos=kairos,
        customer_token=lambda customer: f"token-of-{customer}",
        open_share=1.0,  # every invite opened: both receipts are exercised
    )


def _push(invite_id: str, secret: str = PUSH_SECRET) -> tuple[dict[str, str], bytes]:
    body = json.dumps(
        {
            "type": "invite.send",
            "timestamp": "2026-11-24T12:31:00Z",
            "data": {"invite_id": invite_id, "customer_id": "demo-c-claire", "title": "t"},
        }
    ).encode()
    return signed_headers((secret,), invite_id, int(time.time()), body), body


async def test_a_signed_push_is_recorded_once_and_receipted() -> None:
    seen: list[httpx.Request] = []
    relay = _relay(seen)
    invite = str(uuid.uuid4())
    headers, body = _push(invite)
    assert (await relay.handle("POST", "/push", headers, body))[0] == 200
    assert (await relay.handle("POST", "/push", headers, body))[0] == 200  # a resend
    await relay.drain()
    assert list(relay.received) == [invite]
    delivered, opened = seen  # one of each, the resend changed nothing
    assert delivered.url.path == "/v1/receipts"
    receipt = json.loads(delivered.content)
    assert receipt["type"] == "invite.delivered"
    assert receipt["data"] == {"invite_id": invite, "occurred_at": "2026-11-24T12:31:00Z"}
    # Signed like a relay signs: Kairos can verify it with the receipts secret.
    assert verify((RECEIPT_SECRET,), dict(delivered.headers), delivered.content, now=time.time())
    assert opened.url.path == f"/v1/me/invites/{invite}/receipts"
    assert opened.headers["authorization"] == "Bearer token-of-demo-c-claire"
    assert json.loads(opened.content) == {"status": "opened"}
    assert relay.receipts == {"delivered": 1, "opened": 1, "refused": 0}


async def test_an_unsigned_or_forged_push_is_refused() -> None:
    seen: list[httpx.Request] = []
    relay = _relay(seen)
    headers, body = _push(str(uuid.uuid4()), secret=RECEIPT_SECRET)  # the wrong secret
    status, answer = await relay.handle("POST", "/push", headers, body)
    assert status == 401
    assert "signature" in answer["error"]
    assert (await relay.handle("POST", "/push", {}, body))[0] == 401
    assert (await relay.handle("GET", "/health", {}, b""))[0] == 200
    await relay.drain()
    assert relay.received == {}
    assert seen == []


def test_about_a_third_of_invites_are_opened_and_always_the_same_ones() -> None:
    ids = [str(uuid.UUID(int=n)) for n in range(2000)]
    share = sum(is_opened(i) for i in ids) / len(ids)
    assert 0.31 < share < 0.39
    assert [is_opened(i) for i in ids[:50]] == [is_opened(i) for i in ids[:50]]


def test_the_demo_environment_is_for_development_only(tmp_path: Path) -> None:
    dev = Settings.from_env({"KAIROS_DATA_DIR": str(tmp_path), "KAIROS_PORT": "8100"})
    env = serve_environment(dev, {"KAIROS_WORKER_POLL_INTERVAL": "1"})
    assert env["KAIROS_CLOCK"] == "simulated"
    assert env["KAIROS_WEBHOOK_URL"] == "http://127.0.0.1:8125/push"
    assert "KAIROS_WORKER_POLL_INTERVAL" not in env  # what is already set stays
    keys = demo_secrets(dev)
    assert env["KAIROS_WEBHOOK_SECRETS"] == keys.webhook
    assert env["KAIROS_RECEIPTS_SECRETS"] == keys.receipts != keys.webhook
    assert demo_secrets(dev) == keys  # generated once per data folder
    assert (tmp_path / "demo" / "secrets.json").stat().st_mode & 0o777 == 0o600
    # The server accepts what the demo generated.
    served = Settings.from_env({"KAIROS_DATA_DIR": str(tmp_path), **env})
    assert served.push.webhook_url == env["KAIROS_WEBHOOK_URL"]

    production = Settings.from_env(
        {
            "KAIROS_ENV": "production",
            "KAIROS_DATA_DIR": str(tmp_path),
            "KAIROS_JWT_SECRET": "s" * 40,
        }
    )
    with pytest.raises(SettingsError, match="development"):
        serve_environment(production, {})
    with pytest.raises(SettingsError, match="development"):
        require_development(production, "kairos simulate")
