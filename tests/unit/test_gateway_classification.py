"""How gateways read provider answers, and how their credentials are refreshed."""

from __future__ import annotations

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from notifications.gateways.apns import TOKEN_LIFETIME_SECONDS, ProviderToken
from notifications.gateways.base import classify_status, transport_failure
from notifications.gateways.fcm import _fcm_error_code

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def test_fcm_invalid_argument_is_a_dead_token_only_when_it_is_about_the_token() -> None:
    token = {"details": [{"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"}]}
    payload = {
        "details": [
            {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
            {"@type": BAD_REQUEST, "fieldViolations": [{"field": "message.data[0].value"}]},
        ]
    }
    assert _fcm_error_code(token) == "INVALID_ARGUMENT"
    assert _fcm_error_code(payload) == "INVALID_PAYLOAD"
    assert _fcm_error_code({"details": [{"@type": FCM_ERROR, "errorCode": "UNREGISTERED"}]}) == (
        "UNREGISTERED"
    )
    assert _fcm_error_code({}) is None


def test_429_and_5xx_are_retried_with_retry_after_other_4xx_are_permanent() -> None:
    busy = classify_status(httpx.Response(429, headers={"retry-after": "7"}), "fcm")
    assert (busy.outcome, busy.retry_after) == ("retry", 7.0)
    assert classify_status(httpx.Response(502), "apns").outcome == "retry"
    assert classify_status(httpx.Response(413), "webpush").outcome == "failed"
    timed_out = transport_failure(httpx.ReadTimeout("https://secret-host/x?token=abc"), "apns")
    assert timed_out.outcome == "retry"
    assert "token" not in (timed_out.error or "")
    assert "secret-host" not in (timed_out.error or "")


def test_the_apns_provider_token_is_reused_within_its_lifetime_then_renewed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    now = [1_000_000.0]
    provider = ProviderToken(pem, "KEYID12345", "TEAMID1234", clock=lambda: now[0])
    first = provider.get()
    now[0] += TOKEN_LIFETIME_SECONDS - 1
    assert provider.get() == first
    now[0] += 1
    second = provider.get()
    assert second != first
    assert 20 * 60 <= TOKEN_LIFETIME_SECONDS <= 60 * 60
    claims = jwt.decode(second, key.public_key(), algorithms=["ES256"])
    assert claims == {"iss": "TEAMID1234", "iat": int(now[0])}
    assert jwt.get_unverified_header(second)["kid"] == "KEYID12345"
    assert "KEYID12345" in repr(provider)
    assert "PRIVATE" not in repr(provider)
