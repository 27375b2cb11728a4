"""A generic signed webhook: for in-house gateways and relays such as gorush.

Each invite is one ``POST`` to ``KAIROS_WEBHOOK_URL`` signed per Standard Webhooks
(``app.webhooks``): ``webhook-id`` is the invite id, so a resend after a crash carries the
same id and the receiver can drop it; ``webhook-timestamp`` is the wall-clock time of this
attempt.
The body is an event envelope::

    {"type": "invite.send", "timestamp": "...",
     "data": {"invite_id", "token", "title", "body", "locale", "kind", "send_by",
              "ttl_seconds", "customer_id", "store_id", "campaign_id", "data": {...}}}

The device ``token`` is whatever the relay registered for the device (opaque to Kairos);
the URL is always the configured one, never one taken from a device registration.

Answers: 2xx sent (a JSON ``id`` or ``message_id`` is kept as the provider id); 410 the
device is gone; 429 / 5xx / timeouts retried; any other status is a permanent failure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import httpx
import msgspec

from app.webhooks import signed_headers
from notifications.gateways.base import (
    GatewayConfigError,
    PushMessage,
    SendResult,
    classify_status,
    transport_failure,
)

__all__ = ["WebhookGateway"]

_encoder = msgspec.json.Encoder()


class WebhookGateway:
    """Posts Standard Webhooks-signed invites to one configured URL.

    Args:
        url: The receiver.
        secrets: ``whsec_`` secrets; each signs every message (rotation).
        timeout: Seconds per request.
        client: An ``httpx.AsyncClient`` to use instead of the gateway's own.
        max_connections: Pool size (the dispatcher bounds concurrency separately).
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        secrets: tuple[str, ...],
        *,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        max_connections: int = 64,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not url:
            raise GatewayConfigError("KAIROS_WEBHOOK_URL is not set")
        if not secrets:
            raise GatewayConfigError("KAIROS_WEBHOOK_SECRETS is not set")
        self._url = url
        self._secrets = secrets
        # The signature's timestamp is transport security, checked against the receiver's
        # real clock: it comes from the wall clock even when the worker runs on a simulated one.
        self._wall_clock = wall_clock
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
        )

    def body(self, message: PushMessage) -> bytes:
        data: dict[str, Any] = {
            "invite_id": str(message.invite_id),
            "token": message.token,
            "title": message.title,
            "body": message.body,
            "locale": message.locale,
            "kind": message.kind,
            "send_by": message.send_by,
            "ttl_seconds": message.ttl_seconds,
            "customer_id": message.customer_id,
            "store_id": message.store_id,
            "campaign_id": message.campaign_id,
            "attempt": message.attempt,
            "data": message.data(),
        }
        return _encoder.encode({"type": "invite.send", "timestamp": message.now, "data": data})

    async def send(self, message: PushMessage) -> SendResult:
        body = self.body(message)
        headers = signed_headers(
            self._secrets, str(message.invite_id), math.floor(self._wall_clock()), body
        )
        headers["content-type"] = "application/json"
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return transport_failure(exc, "webhook")
        status = response.status_code
        if 200 <= status < 300:
            return SendResult.sent(_message_id(response), status)
        if status == 410:
            return SendResult("token_dead", error="webhook answered 410 Gone", status_code=410)
        return classify_status(response, "webhook")

    async def aclose(self) -> None:
        await self._client.aclose()


def _message_id(response: httpx.Response) -> str | None:
    if not response.content or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        decoded = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return None
    if isinstance(decoded, dict):
        for key in ("id", "message_id"):
            value = decoded.get(key)
            if isinstance(value, str) and 0 < len(value) <= 256:
                return value
    return None
