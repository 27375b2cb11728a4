"""Web Push: RFC 8030 delivery, RFC 8291 ``aes128gcm`` payload encryption, RFC 8292 VAPID.

A Web Push device's token is the browser's ``PushSubscription`` as JSON
(``{"endpoint", "keys": {"p256dh", "auth"}}``). The payload is encrypted for that
subscription with a fresh sender key per message (``http_ece``), and the request carries
``Authorization: vapid t=<JWT>, k=<public key>``: an ES256 JWT with ``aud`` = the push
service's origin, ``sub`` = our contact and an expiry, signed with our VAPID key (pyjwt;
one JWT per push service, reused for most of its 12-hour life).

``TTL`` ends at ``send_by`` so the push service drops an invite rather than deliver it late,
and ``Topic`` is the invite id (hex): a resend after a crash replaces the first copy while it
is still queued at the push service.

Answers: 201 (or any 2xx) sent, with ``Location`` as the provider id; 404 / 410 the
subscription is gone; 429 / 5xx / timeouts retried; other errors are permanent. In
production a subscription endpoint must be ``https``.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import http_ece
import httpx
import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from notifications.gateways.base import (
    GatewayConfigError,
    PushMessage,
    SendResult,
    classify_status,
    transport_failure,
)

__all__ = ["Subscription", "WebPushGateway", "b64url", "b64url_decode"]

_VAPID_LIFETIME = 12 * 3600
_VAPID_REUSE = 11 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Keys(msgspec.Struct, frozen=True):
    p256dh: str
    auth: str


class Subscription(msgspec.Struct, frozen=True):
    """A browser's PushSubscription (the device token of a ``webpush`` device)."""

    endpoint: str
    keys: _Keys


class _BadSubscription(Exception):
    pass


def _parse_subscription(token: str, *, allow_http: bool) -> tuple[Subscription, bytes, bytes]:
    try:
        sub = msgspec.json.decode(token, type=Subscription)
        receiver_key = b64url_decode(sub.keys.p256dh)
        auth_secret = b64url_decode(sub.keys.auth)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        raise _BadSubscription("not a Web Push subscription") from None
    parts = urlsplit(sub.endpoint)
    if parts.scheme not in (("https", "http") if allow_http else ("https",)) or not parts.hostname:
        raise _BadSubscription("subscription endpoint is not an https URL")
    if len(receiver_key) != 65 or receiver_key[0] != 4 or len(auth_secret) != 16:
        raise _BadSubscription("subscription keys have the wrong size")
    return sub, receiver_key, auth_secret


class WebPushGateway:
    """Web Push sender.

    Args:
        private_key_file: PEM P-256 VAPID private key.
        subject: ``mailto:`` or ``https:`` contact for the push services.
        allow_http: Accept ``http://`` endpoints (development and tests only).
        timeout: Seconds per request.
    """

    name = "webpush"

    def __init__(
        self,
        private_key_file: Path | None,
        subject: str | None,
        *,
        allow_http: bool = False,
        timeout: float = 10.0,
        max_connections: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if private_key_file is None or not subject:
            raise GatewayConfigError(
                "Web Push needs KAIROS_VAPID_PRIVATE_KEY_FILE and KAIROS_VAPID_SUBJECT"
            )
        if not subject.startswith(("mailto:", "https:")):
            raise GatewayConfigError("KAIROS_VAPID_SUBJECT must be a mailto: or https: URI")
        try:
            key = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
        except (OSError, ValueError, TypeError):
            raise GatewayConfigError("KAIROS_VAPID_PRIVATE_KEY_FILE is not a PEM key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise GatewayConfigError("KAIROS_VAPID_PRIVATE_KEY_FILE must be a P-256 key")
        self._key = key
        self._public_key = b64url(
            key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
        self._subject = subject
        self._allow_http = allow_http
        self._clock = clock
        self._vapid: dict[str, tuple[str, float]] = {}
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
        )

    @property
    def public_key(self) -> str:
        """The VAPID application server key (base64url), as the web app subscribes with."""
        return self._public_key

    def vapid_header(self, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = self._clock()
        cached = self._vapid.get(audience)
        if cached is None or now - cached[1] >= _VAPID_REUSE:
            token = jwt.encode(
                {"aud": audience, "exp": int(now) + _VAPID_LIFETIME, "sub": self._subject},
                self._key,
                algorithm="ES256",
            )
            cached = (token, now)
            self._vapid[audience] = cached
        return f"vapid t={cached[0]}, k={self._public_key}"

    @staticmethod
    def plaintext(message: PushMessage) -> bytes:
        return msgspec.json.encode(
            {
                "invite_id": str(message.invite_id),
                "title": message.title,
                "body": message.body,
                "locale": message.locale,
                "data": message.data(),
            }
        )

    async def send(self, message: PushMessage) -> SendResult:
        try:
            sub, receiver_key, auth_secret = _parse_subscription(
                message.token, allow_http=self._allow_http
            )
        except _BadSubscription as exc:
            return SendResult("token_dead", error=f"webpush: {exc}")
        body = http_ece.encrypt(
            self.plaintext(message),
            salt=os.urandom(16),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=receiver_key,
            auth_secret=auth_secret,
            version="aes128gcm",
        )
        headers = {
            "authorization": self.vapid_header(sub.endpoint),
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
            "ttl": str(message.ttl_seconds),
            "urgency": "high",
            "topic": message.invite_id.hex,
        }
        try:
            response = await self._client.post(sub.endpoint, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return transport_failure(exc, "webpush")
        status = response.status_code
        if 200 <= status < 300:
            location = response.headers.get("location")
            return SendResult.sent(location[:500] if location else None, status)
        if status in (404, 410):
            return SendResult("token_dead", error=f"webpush answered {status}", status_code=status)
        return classify_status(response, "webpush")

    async def aclose(self) -> None:
        await self._client.aclose()
