"""The one small protocol every push gateway speaks: a `PushMessage` in, a `SendResult` out.

A gateway turns one message into one provider request and classifies the answer:

* ``sent``: the provider accepted it (``provider_message_id`` when it gives one);
* ``retry``: a 429, a 5xx, a timeout or a dropped connection; ``retry_after`` carries the
  provider's ``Retry-After`` in seconds when it sent one;
* ``token_dead``: the device token is gone for good (APNs 410 / BadDeviceToken, FCM
  UNREGISTERED, Web Push 404/410): deactivate the device, never retry;
* ``failed``: a permanent error that is not about the token (a malformed payload, bad
  credentials): retrying the same request would fail the same way.

Errors are short texts safe to store in ``invites.last_error``: they never contain the
device token, a credential or the response body verbatim.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

import httpx

__all__ = [
    "Gateway",
    "GatewayConfigError",
    "Outcome",
    "PushMessage",
    "SendResult",
    "classify_status",
    "parse_retry_after",
    "transport_failure",
]

Outcome = Literal["sent", "retry", "token_dead", "failed"]


class GatewayConfigError(Exception):
    """A gateway's credentials or endpoint are missing or unusable (names the setting)."""


@dataclass(frozen=True, slots=True)
class PushMessage:
    """One invite addressed to one device.

    Attributes:
        invite_id: The idempotency key: ``apns-id``, FCM data ``invite_id`` and collapse key,
            Web Push ``Topic``, ``webhook-id``. A resend after a crash carries the same id.
        platform: ``fcm``, ``apns``, ``webpush`` or ``webhook``: picks the gateway.
        token: Device token (or Web Push subscription JSON). Hidden from ``repr``.
        send_by: After this instant the invite is worthless; providers are told so (TTL,
            ``apns-expiration``) and will not deliver it late either.
        now: The dispatcher's clock reading when the message was built.
    """

    invite_id: UUID
    platform: str
    token: str = field(repr=False)
    title: str
    body: str
    locale: str
    kind: str
    send_by: datetime
    now: datetime
    customer_id: str = ""
    store_id: str | None = None
    campaign_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1

    @property
    def ttl_seconds(self) -> int:
        """Whole seconds left until ``send_by`` (at least 1)."""
        return max(1, math.floor((self.send_by - self.now).total_seconds()))

    def data(self) -> dict[str, str]:
        """The invite's identifying data as strings (FCM data messages allow only strings)."""
        out = {"invite_id": str(self.invite_id), "kind": self.kind}
        if self.store_id:
            out["store_id"] = self.store_id
        if self.campaign_id:
            out["campaign_id"] = self.campaign_id
        for key, value in self.payload.items():
            if key not in out and isinstance(value, str | int | float | bool):
                out[str(key)] = str(value)
        return out

    def replace(self, **changes: Any) -> PushMessage:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class SendResult:
    """How a gateway's provider answered.

    Attributes:
        outcome: See the module docstring.
        provider_message_id: The provider's id for the message, when it returns one.
        retry_after: Seconds the provider asked us to wait (``Retry-After``), if any.
        error: A short, token-free description for ``last_error``.
        status_code: The HTTP status, when there was a response.
    """

    outcome: Outcome
    provider_message_id: str | None = None
    retry_after: float | None = None
    error: str | None = None
    status_code: int | None = None

    @classmethod
    def sent(cls, provider_message_id: str | None = None, status_code: int = 200) -> SendResult:
        return cls("sent", provider_message_id=provider_message_id, status_code=status_code)


class Gateway(Protocol):
    """A push provider client. One instance per process; its HTTP connections are reused."""

    name: str

    async def send(self, message: PushMessage) -> SendResult:
        """Send one message; never raises for provider or network errors."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def classify_status(response: httpx.Response, what: str) -> SendResult:
    """The common part of every provider's answer: 429 and 5xx are retried, honouring
    ``Retry-After``; other non-2xx answers are permanent failures."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 429 or status >= 500:
        return SendResult(
            "retry", retry_after=retry_after, error=f"{what} answered {status}", status_code=status
        )
    return SendResult("failed", error=f"{what} answered {status}", status_code=status)


def transport_failure(exc: httpx.HTTPError, what: str) -> SendResult:
    """A timeout or a connection problem: retried. The text names the kind, not the URL."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
    return SendResult("retry", error=f"{what}: {kind}")
