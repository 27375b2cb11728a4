"""Firebase Cloud Messaging, HTTP v1 API (``POST /v1/projects/{id}/messages:send``).

Authentication is an OAuth2 access token obtained with the service account's JWT-bearer
grant (RFC 7523): an RS256 assertion signed with the account's private key is exchanged at
the token URI for a bearer token, which is cached until shortly before it expires. A 401
drops the cached token so the next attempt fetches a fresh one.

The invite id travels as the data field ``invite_id`` and as the Android collapse key and
``apns-collapse-id``, so a resend after a crash replaces rather than duplicates a message
still waiting on the device's side. ``android.ttl`` and ``apns-expiration`` end at
``send_by``: FCM never delivers an invite late either.

Answers: 200 sent (``name`` is the provider id). ``UNREGISTERED``, ``SENDER_ID_MISMATCH``
and ``INVALID_ARGUMENT`` reported as an FCM error (the token, not the payload) mean the
token is dead. 429 / 5xx / timeouts are retried; other errors are permanent.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

__all__ = ["SCOPE", "FcmGateway", "ServiceAccount", "TokenSource"]

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_REFRESH_MARGIN = 300.0  # fetch a new access token this many seconds before expiry
_DEAD_TOKEN_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH", "INVALID_ARGUMENT"})
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


class ServiceAccount(msgspec.Struct, kw_only=True, frozen=True):
    """The fields of a Google service-account JSON file that the grant needs."""

    client_email: str
    private_key: str
    token_uri: str = "https://oauth2.googleapis.com/token"  # noqa: S105  # an URL
    private_key_id: str | None = None
    project_id: str | None = None

    def __repr__(self) -> str:  # the private key must never reach a log
        return f"ServiceAccount(client_email={self.client_email!r})"

    @classmethod
    def from_file(cls, path: Path) -> ServiceAccount:
        try:
            return msgspec.json.decode(path.read_bytes(), type=cls)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            kind = type(exc).__name__
            raise GatewayConfigError(
                f"KAIROS_FCM_CREDENTIALS_FILE is not a service-account JSON file ({kind})"
            ) from None


class TokenSource:
    """OAuth2 access tokens for a service account, cached until shortly before expiry.

    Args:
        account: The service account.
        client: HTTP client for the token endpoint.
        token_uri: Overrides the account's ``token_uri``.
        clock: Unix time source (tests move it).
    """

    def __init__(
        self,
        account: ServiceAccount,
        client: httpx.AsyncClient,
        *,
        token_uri: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._account = account
        self._client = client
        self._uri = token_uri or account.token_uri
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def invalidate(self) -> None:
        self._token = None

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._expires_at - _REFRESH_MARGIN:
            return self._token
        async with self._lock:  # one fetch for every waiting sender
            if self._token is not None and self._clock() < self._expires_at - _REFRESH_MARGIN:
                return self._token
            issued = int(self._clock())
            headers = {"kid": self._account.private_key_id} if self._account.private_key_id else {}
            assertion = jwt.encode(
                {
                    "iss": self._account.client_email,
                    "scope": SCOPE,
                    "aud": self._uri,
                    "iat": issued,
                    "exp": issued + 3600,
                },
                self._account.private_key,
                algorithm="RS256",
                headers=headers,
            )
            response = await self._client.post(
                self._uri, data={"grant_type": _JWT_BEARER, "assertion": assertion}
            )
            if response.status_code != 200:
                raise _TokenError(response.status_code)
            try:
                grant = msgspec.json.decode(response.content)
                token = grant["access_token"]
                lifetime = float(grant.get("expires_in", 3600))
            except (msgspec.DecodeError, KeyError, TypeError, ValueError):
                raise _TokenError(response.status_code) from None
            self._token = str(token)
            self._expires_at = issued + lifetime
            self.fetches += 1
            return self._token


class _TokenError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"token endpoint answered {status}")
        self.status = status


class FcmGateway:
    """FCM HTTP v1 sender.

    Args:
        project_id: The Firebase project.
        account: Service account for the OAuth2 grant.
        base_url: ``https://fcm.googleapis.com`` or a local stand-in.
        token_uri: Overrides the account's token endpoint.
        timeout: Seconds per request.
    """

    name = "fcm"

    def __init__(
        self,
        project_id: str,
        account: ServiceAccount,
        *,
        base_url: str = "https://fcm.googleapis.com",
        token_uri: str | None = None,
        timeout: float = 10.0,
        max_connections: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not project_id:
            raise GatewayConfigError("KAIROS_FCM_PROJECT_ID is not set")
        # FCM speaks HTTP/2 too; multiplexing keeps the connection count low.
        self._client = httpx.AsyncClient(
            http2=True,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self._url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self.tokens = TokenSource(account, self._client, token_uri=token_uri, clock=clock)

    @staticmethod
    def body(message: PushMessage) -> dict[str, Any]:
        collapse = str(message.invite_id)
        return {
            "message": {
                "token": message.token,
                "notification": {"title": message.title, "body": message.body},
                "data": message.data(),
                "android": {
                    "collapse_key": collapse,
                    "ttl": f"{message.ttl_seconds}s",
                    "priority": "high",
                },
                "apns": {
                    "headers": {
                        "apns-collapse-id": collapse[:64],
                        "apns-expiration": str(math.floor(message.send_by.timestamp())),
                    }
                },
                "webpush": {"headers": {"TTL": str(message.ttl_seconds)}},
            }
        }

    async def send(self, message: PushMessage) -> SendResult:
        try:
            access_token = await self.tokens.token()
        except _TokenError as exc:
            # Credentials refused (4xx) will not fix themselves; an outage (5xx) might.
            if exc.status >= 500 or exc.status == 429:
                return SendResult("retry", error=f"fcm oauth: {exc}")
            return SendResult("failed", error=f"fcm oauth: {exc}")
        except httpx.HTTPError as exc:
            return transport_failure(exc, "fcm oauth")
        try:
            response = await self._client.post(
                self._url,
                content=msgspec.json.encode(self.body(message)),
                headers={
                    "authorization": f"Bearer {access_token}",
                    "content-type": "application/json",
                },
            )
        except httpx.HTTPError as exc:
            return transport_failure(exc, "fcm")
        status = response.status_code
        if status == 200:
            name = _json(response).get("name")
            return SendResult.sent(name if isinstance(name, str) else None)
        error = _json(response).get("error")
        error = error if isinstance(error, dict) else {}
        fcm_code = _fcm_error_code(error)
        if fcm_code in _DEAD_TOKEN_CODES:
            return SendResult(
                "token_dead", error=f"fcm answered {status} {fcm_code}", status_code=status
            )
        if status == 401:
            self.tokens.invalidate()
            return SendResult("retry", retry_after=0.0, error="fcm answered 401", status_code=401)
        result = classify_status(response, "fcm")
        code = fcm_code or error.get("status")
        if isinstance(code, str) and code.isidentifier():
            return SendResult(
                result.outcome,
                retry_after=result.retry_after,
                error=f"{result.error} {code}",
                status_code=status,
            )
        return result

    async def aclose(self) -> None:
        await self._client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        decoded = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _fcm_error_code(error: dict[str, Any]) -> str | None:
    """The FcmError detail's errorCode, when the problem is the message's target.

    ``INVALID_ARGUMENT`` also covers malformed payloads; those come with a ``BadRequest``
    detail naming another field than ``message.token``, and are not a dead token.
    """
    details = error.get("details")
    if not isinstance(details, list):
        return None
    code: str | None = None
    other_field = False
    for detail in details:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == _FCM_ERROR_TYPE and isinstance(detail.get("errorCode"), str):
            code = detail["errorCode"]
        for violation in detail.get("fieldViolations") or ():
            if isinstance(violation, dict) and violation.get("field") != "message.token":
                other_field = True
    if code == "INVALID_ARGUMENT" and other_field:
        return "INVALID_PAYLOAD"
    return code
