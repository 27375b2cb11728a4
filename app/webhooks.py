"""Standard Webhooks signing and verification (https://www.standardwebhooks.com/).

One module for both directions: the webhook push gateway signs what it sends, and
``POST /v1/receipts`` verifies what gateways and relays send back. Pure standard library, so
``app/`` and ``notifications/`` can both import it.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; each signature is
``v1,`` + base64(HMAC-SHA256(secret, content)). ``webhook-signature`` holds one or more
signatures separated by spaces: during a secret rotation the sender signs with every
current secret and the receiver accepts any of them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "WebhookVerificationError",
    "secret_key",
    "sign",
    "signed_headers",
    "verify",
]

DEFAULT_TOLERANCE_SECONDS = 300
"""How far ``webhook-timestamp`` may be from now, either way, before a message is refused."""

_SECRET_PREFIX = "whsec_"  # noqa: S105  # a format prefix, not a secret
_MAX_ID_LENGTH = 256


class WebhookVerificationError(Exception):
    """The message is not signed by a current secret; ``str()`` is safe to show the sender."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_``-prefixed (or bare) base64 secret."""
    try:
        return base64.b64decode(secret.removeprefix(_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None


def _signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign(secrets: Iterable[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: one ``v1,`` signature per secret."""
    signatures = ["v1," + _signature(secret_key(s), webhook_id, timestamp, body) for s in secrets]
    if not signatures:
        raise ValueError("no webhook secret to sign with")
    return " ".join(signatures)


def signed_headers(
    secrets: Iterable[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, webhook_id, timestamp, body),
    }


def verify(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Check a received message; return its ``webhook-id``.

    Args:
        secrets: The secrets currently accepted (several during a rotation).
        headers: The request headers (looked up in lower case).
        body: The raw body, exactly as received.
        now: The current Unix time in seconds.
        tolerance: Largest accepted distance between ``webhook-timestamp`` and ``now``.

    Raises:
        WebhookVerificationError: A header is missing or malformed, the timestamp is outside
            the tolerance, or no signature matches.
    """
    webhook_id = headers.get("webhook-id", "")
    raw_timestamp = headers.get("webhook-timestamp", "")
    raw_signatures = headers.get("webhook-signature", "")
    if not webhook_id or not raw_timestamp or not raw_signatures:
        raise WebhookVerificationError(
            "webhook-id, webhook-timestamp and webhook-signature are required"
        )
    if len(webhook_id) > _MAX_ID_LENGTH or not webhook_id.isprintable():
        raise WebhookVerificationError("webhook-id is malformed")
    if not raw_timestamp.isascii() or not raw_timestamp.isdigit() or len(raw_timestamp) > 12:
        raise WebhookVerificationError("webhook-timestamp must be Unix seconds")
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the accepted tolerance")
    offered = [
        part.split(",", 1)[1]
        for part in raw_signatures.split(" ")
        if part.startswith("v1,") and len(part) > 3
    ]
    if not offered:
        raise WebhookVerificationError("webhook-signature has no v1 signature")
    for secret in secrets:
        expected = _signature(secret_key(secret), webhook_id, timestamp, body)
        for candidate in offered:
            if hmac.compare_digest(expected.encode(), candidate.encode()):
                return webhook_id
    raise WebhookVerificationError("no webhook-signature matches a current secret")
