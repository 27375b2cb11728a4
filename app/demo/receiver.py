"""``kairos demo receiver``: the push relay the demo's devices are registered on.

A small ASGI app playing the relay a brand would run behind Kairos's signed-webhook gateway
(``KAIROS_WEBHOOK_URL``): it verifies each ``POST /push`` with :mod:`app.webhooks` (Standard
Webhooks, the secrets of ``KAIROS_WEBHOOK_SECRETS``), records the invite in a JSON-lines
file, and then behaves like the phone and the relay would:

* a ``delivered`` receipt to ``POST /v1/receipts``, signed with a receipts secret, as a relay
  does once the phone has the message;
* for about a third of the invites (chosen by a hash of the invite id, so a replay opens the
  same ones) an ``opened`` receipt through ``POST /v1/me/invites/{id}/receipts`` with the
  customer's own token, as the app does when the customer taps the notification.

The receipts carry the simulated instant the invite was sent at (the message's
``timestamp``), so the report reads them on the simulated day. A resend of an invite (same
``webhook-id``) is acknowledged and recorded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from app.webhooks import WebhookVerificationError, signed_headers, verify

__all__ = ["OPEN_SHARE", "Receiver", "is_opened"]

log = logging.getLogger("kairos.demo.receiver")

OPEN_SHARE = 0.35
"""Share of delivered invites the demo's customers open."""

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def is_opened(invite_id: str, share: float = OPEN_SHARE) -> bool:
    """Whether the customer opens this invite: the same answer for the same invite."""
    digest = hashlib.sha256(f"open:{invite_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


class Receiver:
    """The relay: verify, record, acknowledge, then send receipts back to Kairos.

    Args:
        webhook_secrets: The secrets Kairos signs pushes with (any one verifies).
        receipts_secret: The secret receipts to ``/v1/receipts`` are signed with.
        kairos: A client for the Kairos API (its base URL set).
        customer_token: Mints a customer's bearer token (development tokens).
        log_path: JSON-lines file of what arrived (None: memory only).
        open_share: Share of invites opened.
        wall: The real clock (signature timestamps are transport security, real time).
    """

    def __init__(
        self,
        *,
        webhook_secrets: tuple[str, ...],
        receipts_secret: str,
        kairos: httpx.AsyncClient,
        customer_token: Callable[[str], str],
        log_path: Path | None = None,
        open_share: float = OPEN_SHARE,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.webhook_secrets = webhook_secrets
        self.receipts_secret = receipts_secret
        self.kairos = kairos
        self.customer_token = customer_token
        self.log_path = log_path
        self.open_share = open_share
        self.wall = wall
        self.received: dict[str, dict[str, Any]] = {}
        self.receipts: dict[str, int] = {"delivered": 0, "opened": 0, "refused": 0}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.drain()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = await self.handle(scope["method"], scope["path"], _headers(scope), body)
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        """One request: ``GET /health``, or a signed ``POST /push``."""
        if method == "GET" and path == "/health":
            return 200, {"status": "ok", "received": len(self.received)}
        if method != "POST" or path != "/push":
            return 404, {"error": "not found"}
        try:
            webhook_id = verify(self.webhook_secrets, headers, body, now=self.wall())
        except WebhookVerificationError as exc:
            return 401, {"error": str(exc)}
        try:
            message = json.loads(body)
            data = message["data"]
            invite_id = str(data["invite_id"])
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "not an invite.send message"}
        if invite_id not in self.received:
            record = {
                "invite_id": invite_id,
                "webhook_id": webhook_id,
                "sent_at": message.get("timestamp"),
                "received_wall": self.wall(),
                "customer_id": data.get("customer_id"),
                "store_id": data.get("store_id"),
                "campaign_id": data.get("campaign_id"),
                "kind": data.get("kind"),
                "locale": data.get("locale"),
                "title": data.get("title"),
                "body": data.get("body"),
                "opened": is_opened(invite_id, self.open_share),
            }
            self.received[invite_id] = record
            self._write(record)
            task = asyncio.create_task(self._receipts(record))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return 200, {"id": f"relay-{invite_id}"}

    # -- receipts -------------------------------------------------------------------------

    async def _receipts(self, record: dict[str, Any]) -> None:
        invite_id = record["invite_id"]
        sent_at = record["sent_at"] or dt.datetime.now(dt.UTC).isoformat()
        event = {
            "type": "invite.delivered",
            "timestamp": sent_at,
            "data": {"invite_id": invite_id, "occurred_at": sent_at},
        }
        body = json.dumps(event).encode()
        headers = signed_headers(
            (self.receipts_secret,), f"relay-{invite_id}-delivered", int(self.wall()), body
        )
        headers["content-type"] = "application/json"
        try:
            answer = await self.kairos.post("/v1/receipts", content=body, headers=headers)
            self._count("delivered", answer.status_code)
            if record["opened"] and record["customer_id"]:
                token = self.customer_token(record["customer_id"])
                opened = await self.kairos.post(
                    f"/v1/me/invites/{invite_id}/receipts",
                    json={"status": "opened"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                self._count("opened", opened.status_code)
        except httpx.HTTPError as exc:
            log.warning("receipt for %s not posted (%s)", invite_id, type(exc).__name__)
            self.receipts["refused"] += 1

    def _count(self, status: str, code: int) -> None:
        if 200 <= code < 300:
            self.receipts[status] += 1
        else:
            self.receipts["refused"] += 1
            log.info("%s receipt answered %d", status, code)

    def _write(self, record: dict[str, Any]) -> None:
        if self.log_path is None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    async def drain(self) -> None:
        """Wait for the receipts still being posted."""
        while self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks))


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def read_log(path: Path) -> list[dict[str, Any]]:
    """What a receiver recorded in ``path`` (empty when nothing arrived yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
