"""Local stand-ins for the push providers, speaking each documented wire format.

One ASGI app served by hypercorn on 127.0.0.1 (HTTP/1.1 and prior-knowledge HTTP/2) plays
every gateway, and checks what it receives the way the real service would:

* ``POST /oauth2/token``: Google's JWT-bearer grant; the RS256 assertion is verified with the
  service account's public key (issuer, audience, scope).
* ``POST /v1/projects/{id}/messages:send``: FCM HTTP v1; the bearer must be a token this
  server issued.
* ``POST /3/device/{token}``: APNs; must arrive over HTTP/2, with an ES256 provider JWT that
  verifies with the team key, ``apns-topic``, ``apns-id``, ``apns-expiration``.
* ``POST /push/{name}``: Web Push; the VAPID JWT verifies with the ``k=`` key and names this
  origin, and the body decrypts (RFC 8291 aes128gcm) with the subscriber's keys.
* ``POST /hook``: Standard Webhooks; the signature verifies with the shared secrets.

Every accepted request is recorded with its idempotency key (the invite id it carries).
A request that fails a check is answered 400/401/403 and recorded in ``errors``; tests assert
``errors == []``. Responses can be scripted per gateway kind (``script("apns", (410, ...))``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import http_ece
import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.webhooks import WebhookVerificationError, verify
from notifications.gateways.webpush import b64url, b64url_decode

__all__ = ["FakeGateways", "GatewayKeys", "Received", "Reply", "free_port"]

PROJECT_ID = "kairos-test"
APNS_TOPIC = "com.example.kairos"
APNS_TEAM_ID = "TEAM123456"
APNS_KEY_ID = "KEY1234567"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


_KEYS: dict[str, Any] = {}


def _cached(name: str, make: Any) -> Any:
    """Key generation (RSA above all) is slow: one key of each kind per test process."""
    if name not in _KEYS:
        _KEYS[name] = make()
    return _KEYS[name]


@dataclass
class GatewayKeys:
    """Credentials for every gateway, written to files as the settings expect them."""

    directory: Path
    rsa_key: Any = field(
        default_factory=lambda: _cached("rsa", lambda: rsa.generate_private_key(65537, 2048))
    )
    apns_key: Any = field(
        default_factory=lambda: _cached("apns", lambda: ec.generate_private_key(ec.SECP256R1()))
    )
    vapid_key: Any = field(
        default_factory=lambda: _cached("vapid", lambda: ec.generate_private_key(ec.SECP256R1()))
    )
    webhook_secrets: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            "whsec_" + base64.b64encode(os.urandom(32)).decode() for _ in range(2)
        )
    )
    receipts_secret: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(os.urandom(32)).decode()
    )

    def write(self, base_url: str) -> dict[str, str]:
        """Write the key files; return the ``KAIROS_*`` environment for them."""
        self.directory.mkdir(parents=True, exist_ok=True)
        account = self.directory / "service-account.json"
        account.write_bytes(
            msgspec.json.encode(
                {
                    "type": "service_account",
                    "project_id": PROJECT_ID,
                    "client_email": "kairos@kairos-test.iam.gserviceaccount.com",
                    "private_key": _pem(self.rsa_key).decode(),
                    "private_key_id": "rsa-1",
                    "token_uri": f"{base_url}/oauth2/token",
                }
            )
        )
        apns = self.directory / "apns.p8"
        apns.write_bytes(_pem(self.apns_key))
        vapid = self.directory / "vapid.pem"
        vapid.write_bytes(_pem(self.vapid_key))
        return {
            "KAIROS_FCM_PROJECT_ID": PROJECT_ID,
            "KAIROS_FCM_CREDENTIALS_FILE": str(account),
            "KAIROS_FCM_BASE_URL": base_url,
            "KAIROS_APNS_KEY_FILE": str(apns),
            "KAIROS_APNS_KEY_ID": APNS_KEY_ID,
            "KAIROS_APNS_TEAM_ID": APNS_TEAM_ID,
            "KAIROS_APNS_TOPIC": APNS_TOPIC,
            "KAIROS_APNS_BASE_URL": base_url,
            "KAIROS_VAPID_PRIVATE_KEY_FILE": str(vapid),
            "KAIROS_VAPID_SUBJECT": "mailto:push@example.com",
            "KAIROS_WEBHOOK_URL": f"{base_url}/hook",
            "KAIROS_WEBHOOK_SECRETS": ",".join(self.webhook_secrets),
            "KAIROS_RECEIPTS_SECRETS": self.receipts_secret,
        }


@dataclass
class Subscriber:
    """A browser's Web Push subscription (its private half stays here to decrypt)."""

    endpoint: str
    private_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def token(self) -> str:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return msgspec.json.encode(
            {
                "endpoint": self.endpoint,
                "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
            }
        ).decode()


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Received:
    kind: str
    key: str
    path: str
    headers: dict[str, str]
    body: Any
    http_version: str
    at: float


class FakeGateways:
    """The ASGI app and its hypercorn server. Use as ``async with FakeGateways(keys) as gw``."""

    def __init__(self, keys: GatewayKeys, *, delay: float = 0.0) -> None:
        self.keys = keys
        self.delay = delay
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.received: list[Received] = []
        self.errors: list[str] = []
        self.attempts: Counter[str] = Counter()  # every request by kind, scripted or not
        self.tokens_issued: list[str] = []
        self.subscribers: dict[str, Subscriber] = {}
        self._scripts: dict[str, deque[Reply]] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.env: dict[str, str] = {}

    # -- test helpers ----------------------------------------------------------------------

    def script(self, kind: str, *replies: Reply) -> None:
        """The next requests of ``kind`` get these answers (then the normal success)."""
        self._scripts.setdefault(kind, deque()).extend(replies)

    def keys_of(self, kind: str | None = None) -> Counter[str]:
        return Counter(r.key for r in self.received if kind is None or r.kind == kind)

    def subscriber(self, name: str) -> Subscriber:
        sub = Subscriber(f"{self.base_url}/push/{name}")
        self.subscribers[name] = sub
        return sub

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway received {len(self.received)} of {count}")
            await asyncio.sleep(0.02)

    # -- server -------------------------------------------------------------------------

    async def __aenter__(self) -> FakeGateways:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        self.env = self.keys.write(self.base_url)
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.accesslog = None
        config.errorlog = None
        config.keep_alive_max_requests = 1 << 30
        config.h2_max_concurrent_streams = 1000
        config.loglevel = "WARNING"
        self._task = asyncio.create_task(
            serve(self, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]
        )
        for _ in range(200):
            with contextlib.suppress(OSError):
                _r, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return self
            await asyncio.sleep(0.02)
        raise RuntimeError("fake gateway did not start")

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, timeout=5)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client died mid-request (a killed worker): nothing arrived
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            reply = await self._handle(scope, headers, body)
        except _Refused as refused:
            self.errors.append(refused.reason)
            reply = Reply(refused.status, body={"error": refused.reason})
        payload = b"" if reply.body is None else msgspec.json.encode(reply.body)
        out_headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        if reply.body is not None:
            out_headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": reply.status, "headers": out_headers})
        await send({"type": "http.response.body", "body": payload})

    async def _handle(self, scope: dict[str, Any], headers: dict[str, str], body: bytes) -> Reply:
        path: str = scope["path"]
        if scope["method"] != "POST":
            raise _Refused(405, f"{scope['method']} {path}")
        if path == "/oauth2/token":
            return self._token(body)
        if path.startswith(f"/v1/projects/{PROJECT_ID}/messages:send"):
            kind, key, parsed, success = self._fcm(headers, body)
        elif path.startswith("/3/device/"):
            kind, key, parsed, success = self._apns(scope, headers, body)
        elif path.startswith("/push/"):
            kind, key, parsed, success = self._webpush(path, headers, body)
        elif path == "/hook":
            kind, key, parsed, success = self._webhook(headers, body)
        else:
            raise _Refused(404, f"no route {path}")
        self.attempts[kind] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        scripted = self._scripts.get(kind)
        if scripted:
            return scripted.popleft()
        self.received.append(
            Received(kind, key, path, headers, parsed, scope["http_version"], time.time())
        )
        return success

    # -- providers ------------------------------------------------------------------------

    def _token(self, body: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise _Refused(400, "token: wrong grant_type")
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.keys.rsa_key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.base_url}/oauth2/token",
            )
        except jwt.PyJWTError as exc:
            raise _Refused(400, f"token: bad assertion ({exc})") from None
        if claims.get("scope") != "https://www.googleapis.com/auth/firebase.messaging":
            raise _Refused(400, "token: wrong scope")
        token = f"ya29.fake-{len(self.tokens_issued)}"
        self.tokens_issued.append(token)
        return Reply(200, body={"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _fcm(self, headers: dict[str, str], body: bytes) -> tuple[str, str, Any, Reply]:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens_issued:
            raise _Refused(401, "fcm: bearer token not issued here")
        message = msgspec.json.decode(body)["message"]
        if not message.get("token") or not all(
            isinstance(v, str) for v in message.get("data", {}).values()
        ):
            raise _Refused(400, "fcm: token missing or non-string data")
        key = message["data"]["invite_id"]
        name = f"projects/{PROJECT_ID}/messages/{len(self.received)}"
        return "fcm", key, message, Reply(200, body={"name": name})

    def _apns(
        self, scope: dict[str, Any], headers: dict[str, str], body: bytes
    ) -> tuple[str, str, Any, Reply]:
        if scope["http_version"] != "2":
            raise _Refused(400, "apns: not HTTP/2")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.keys.apns_key.public_key(), algorithms=["ES256"])
        except jwt.PyJWTError as exc:
            raise _Refused(403, f"apns: bad provider token ({exc})") from None
        if (
            scheme != "bearer"
            or header.get("kid") != APNS_KEY_ID
            or claims.get("iss") != APNS_TEAM_ID
        ):
            raise _Refused(403, "apns: provider token does not name our key and team")
        for name in ("apns-id", "apns-expiration", "apns-push-type"):
            if not headers.get(name):
                raise _Refused(400, f"apns: {name} missing")
        if headers.get("apns-topic") != APNS_TOPIC:
            raise _Refused(400, "apns: wrong topic")
        payload = msgspec.json.decode(body)
        if "alert" not in payload.get("aps", {}):
            raise _Refused(400, "apns: no aps.alert")
        key = headers["apns-id"]
        return "apns", key, payload, Reply(200, headers={"apns-id": key})

    def _webpush(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, str, Any, Reply]:
        name = path.removeprefix("/push/")
        sub = self.subscribers.get(name)
        if sub is None:
            raise _Refused(404, "webpush: unknown subscription")
        auth = headers.get("authorization", "")
        if not auth.startswith("vapid "):
            raise _Refused(401, "webpush: no vapid authorization")
        params = dict(part.strip().split("=", 1) for part in auth[6:].split(","))
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b64url_decode(params.get("k", ""))
        )
        try:
            claims = jwt.decode(
                params.get("t", ""), public, algorithms=["ES256"], audience=self.base_url
            )
        except jwt.PyJWTError as exc:
            raise _Refused(401, f"webpush: bad vapid token ({exc})") from None
        if not str(claims.get("sub", "")).startswith("mailto:"):
            raise _Refused(401, "webpush: vapid sub missing")
        if headers.get("content-encoding") != "aes128gcm" or not headers.get("ttl"):
            raise _Refused(400, "webpush: content-encoding or TTL missing")
        plaintext = http_ece.decrypt(
            body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm"
        )
        message = msgspec.json.decode(plaintext)
        key = message["invite_id"]
        return "webpush", key, message, Reply(201, headers={"location": f"{self.base_url}/m/{key}"})

    def _webhook(self, headers: dict[str, str], body: bytes) -> tuple[str, str, Any, Reply]:
        try:
            key = verify(self.keys.webhook_secrets, headers, body, now=time.time())
        except WebhookVerificationError as exc:
            raise _Refused(401, f"webhook: {exc}") from None
        event = msgspec.json.decode(body)
        return "webhook", key, event, Reply(200, body={"id": f"relay-{key}"})


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
