"""Apple Push Notification service: the HTTP/2 provider API with token authentication.

``POST {base}/3/device/{token}`` over one multiplexed HTTP/2 connection (httpx + h2), with
``authorization: bearer <JWT>``: an ES256 JWT (``kid`` = key id, ``iss`` = team id, ``iat``)
signed with the team's .p8 key. Apple refuses tokens older than an hour and throttles
tokens refreshed more often than every 20 minutes, so one is reused for 40 minutes.
An ``http://`` base URL speaks HTTP/2 with prior knowledge (local gateways in tests).

The invite id is the ``apns-id`` (APNs echoes it back), and ``apns-expiration`` is
``send_by``: Apple discards the notification rather than deliver it late.

Answers: 200 sent. 410 ``Unregistered`` and 400 ``BadDeviceToken`` /
``DeviceTokenNotForTopic`` mean the token is dead. 403 ``ExpiredProviderToken`` /
``InvalidProviderToken`` drop the cached JWT and retry. 429 / 5xx / timeouts are
retried; other errors are permanent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import msgspec

from notifications.gateways.base import (
    GatewayConfigError,
    PushMessage,
    SendResult,
    classify_status,
    transport_failure,
)

__all__ = ["TOKEN_LIFETIME_SECONDS", "ApnsGateway", "ProviderToken"]

TOKEN_LIFETIME_SECONDS = 40 * 60
"""Provider-token reuse: within Apple's 20-60 minute window."""

_DEAD_TOKEN_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered"})
_STALE_JWT_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})


class ProviderToken:
    """The ES256 provider JWT, re-signed every :data:`TOKEN_LIFETIME_SECONDS`."""

    def __init__(
        self,
        key_pem: str,
        key_id: str,
        team_id: str,
        *,
        clock: Callable[[], float] = time.time,
        lifetime: float = TOKEN_LIFETIME_SECONDS,
    ) -> None:
        self._key = key_pem
        self._key_id = key_id
        self._team_id = team_id
        self._clock = clock
        self._lifetime = lifetime
        self._token: str | None = None
        self._issued_at = 0.0
        self.issued = 0

    def __repr__(self) -> str:
        return f"ProviderToken(key_id={self._key_id!r}, team_id={self._team_id!r})"

    def invalidate(self) -> None:
        self._token = None

    def get(self) -> str:
        now = self._clock()
        if self._token is None or now - self._issued_at >= self._lifetime:
            self._issued_at = now
            self._token = jwt.encode(
                {"iss": self._team_id, "iat": int(now)},
                self._key,
                algorithm="ES256",
                headers={"kid": self._key_id},
            )
            self.issued += 1
        return self._token


class ApnsGateway:
    """APNs sender.

    Args:
        key_file: The .p8 signing key.
        key_id: Its key id.
        team_id: The developer team id.
        topic: The app's bundle id (``apns-topic``).
        base_url: ``https://api.push.apple.com``, the sandbox, or a local stand-in.
        timeout: Seconds per request.
    """

    name = "apns"

    def __init__(
        self,
        key_file: Path | None,
        key_id: str | None,
        team_id: str | None,
        topic: str | None,
        *,
        base_url: str = "https://api.push.apple.com",
        timeout: float = 10.0,
        max_connections: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        missing = [
            name
            for name, value in (
                ("KAIROS_APNS_KEY_FILE", key_file),
                ("KAIROS_APNS_KEY_ID", key_id),
                ("KAIROS_APNS_TEAM_ID", team_id),
                ("KAIROS_APNS_TOPIC", topic),
            )
            if not value
        ]
        if missing:
            raise GatewayConfigError("APNs needs " + ", ".join(missing))
        assert key_file is not None
        assert key_id is not None
        assert team_id is not None
        try:
            key_pem = key_file.read_text()
        except OSError:
            raise GatewayConfigError("KAIROS_APNS_KEY_FILE cannot be read") from None
        self.provider_token = ProviderToken(key_pem, key_id, team_id, clock=clock)
        self._topic = str(topic)
        self._base = base_url.rstrip("/")
        # Prior-knowledge HTTP/2 on http://, ALPN-negotiated h2 on https://: never HTTP/1.1,
        # which APNs does not speak. A few connections carry many concurrent streams each.
        self._client = httpx.AsyncClient(
            http1=False,
            http2=True,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        try:
            self.provider_token.get()
        except (ValueError, jwt.PyJWTError):
            raise GatewayConfigError("KAIROS_APNS_KEY_FILE is not an ES256 (.p8) key") from None

    @staticmethod
    def body(message: PushMessage) -> dict[str, Any]:
        return {
            "aps": {
                "alert": {"title": message.title, "body": message.body},
                "sound": "default",
            },
            **message.data(),
        }

    def headers(self, message: PushMessage) -> dict[str, str]:
        return {
            "authorization": f"bearer {self.provider_token.get()}",
            "apns-id": str(message.invite_id),
            "apns-topic": self._topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-expiration": str(math.floor(message.send_by.timestamp())),
            "apns-collapse-id": str(message.invite_id),
        }

    async def send(self, message: PushMessage) -> SendResult:
        url = f"{self._base}/3/device/{quote(message.token, safe='')}"
        try:
            response = await self._client.post(
                url, content=msgspec.json.encode(self.body(message)), headers=self.headers(message)
            )
        except httpx.HTTPError as exc:
            return transport_failure(exc, "apns")
        status = response.status_code
        if status == 200:
            return SendResult.sent(response.headers.get("apns-id") or str(message.invite_id))
        reason = _reason(response)
        if reason in _DEAD_TOKEN_REASONS or status == 410:
            return SendResult(
                "token_dead",
                error=f"apns answered {status} {reason or ''}".strip(),
                status_code=status,
            )
        if status == 403 and reason in _STALE_JWT_REASONS:
            self.provider_token.invalidate()
            return SendResult(
                "retry", retry_after=0.0, error=f"apns answered 403 {reason}", status_code=403
            )
        result = classify_status(response, "apns")
        if reason:
            return SendResult(
                result.outcome,
                retry_after=result.retry_after,
                error=f"{result.error} {reason}",
                status_code=status,
            )
        return result

    async def aclose(self) -> None:
        await self._client.aclose()


def _reason(response: httpx.Response) -> str | None:
    try:
        decoded = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return None
    reason = decoded.get("reason") if isinstance(decoded, dict) else None
    # Apple's reasons are identifiers; anything else is not echoed into last_error.
    return reason if isinstance(reason, str) and reason.isidentifier() else None
