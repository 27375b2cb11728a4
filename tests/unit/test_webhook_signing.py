"""Standard Webhooks signing and verification (app.webhooks)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.webhooks import WebhookVerificationError, sign, signed_headers, verify

# The Standard Webhooks reference test vector.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_reference_vector() -> None:
    assert sign([SECRET], MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_verify_accepts_any_current_secret_during_a_rotation() -> None:
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    headers = signed_headers([other, SECRET], MSG_ID, TIMESTAMP, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify([SECRET], headers, BODY, now=TIMESTAMP) == MSG_ID
    assert verify([other], headers, BODY, now=TIMESTAMP + 299) == MSG_ID


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-signature": EXPECTED.replace("g0h", "g0i")}, "no webhook-signature matches"),
        ({"webhook-timestamp": str(TIMESTAMP - 301)}, "outside"),
        ({"webhook-timestamp": "soon"}, "Unix seconds"),
        ({"webhook-id": ""}, "required"),
        ({"webhook-signature": "v2,abc"}, "no v1 signature"),
    ],
)
def test_verify_refuses(change: dict[str, str], reason: str) -> None:
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": EXPECTED,
        **change,
    }
    with pytest.raises(WebhookVerificationError, match=reason):
        verify([SECRET], headers, BODY, now=TIMESTAMP)


@given(body=st.binary(max_size=200), tamper=st.integers(min_value=0, max_value=199))
def test_any_change_to_the_body_breaks_the_signature(body: bytes, tamper: int) -> None:
    headers = signed_headers([SECRET], MSG_ID, TIMESTAMP, body)
    assert verify([SECRET], headers, body, now=TIMESTAMP) == MSG_ID
    changed = bytearray(body or b"\x00")
    changed[tamper % len(changed)] ^= 0x01
    with pytest.raises(WebhookVerificationError):
        verify([SECRET], headers, bytes(changed), now=TIMESTAMP)
