"""Token verification and minting, without HTTP or a database."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from app.auth import Principal, TokenError, TokenVerifier, mint_token
from app.settings import Settings

SECRET = "unit-test-secret-" + "k3Yz" * 8


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"KAIROS_JWT_SECRET": SECRET, "KAIROS_DATA_DIR": str(tmp_path)})


def _sign(claims: dict[str, object], key: str = SECRET) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


def test_minted_manager_token_round_trips(settings: Settings) -> None:
    token = mint_token(settings, role="manager", sub="m1", stores=["s2", "s1", "s1"])
    principal = TokenVerifier(settings).verify(token)
    assert principal == Principal(sub="m1", role="manager", stores=frozenset({"s1", "s2"}))
    assert principal.can_see_store("s1")
    assert not principal.can_see_store("s3")


def test_admin_sees_every_store(settings: Settings) -> None:
    principal = TokenVerifier(settings).verify(mint_token(settings, role="admin", sub="a"))
    assert principal.can_see_store("anything")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "x", "role": "admin"}, "exp"),
        ({"role": "admin", "exp": 4102444800}, "sub"),
        ({"sub": "x", "exp": 4102444800}, "role"),
        ({"sub": "x", "role": "root", "exp": 4102444800}, "role"),
        ({"sub": "x", "role": "manager", "exp": 4102444800}, "stores"),
        ({"sub": "x", "role": "manager", "stores": "s1", "exp": 4102444800}, "stores"),
        ({"sub": "x", "role": "admin", "exp": 1000}, "expired"),
    ],
)
def test_bad_claims_are_rejected_with_a_reason(
    settings: Settings, claims: dict[str, object], reason: str
) -> None:
    with pytest.raises(TokenError, match=reason):
        TokenVerifier(settings).verify(_sign(claims))


def test_forged_signature_is_rejected(settings: Settings) -> None:
    token = _sign({"sub": "x", "role": "admin", "exp": int(time.time()) + 60}, key="other" * 8)
    with pytest.raises(TokenError, match="invalid"):
        TokenVerifier(settings).verify(token)


def test_customer_tokens_carry_no_store_scope(settings: Settings) -> None:
    token = _sign({"sub": "c1", "role": "customer", "stores": ["s1"], "exp": int(time.time()) + 60})
    assert TokenVerifier(settings).verify(token).stores == frozenset()


def test_minting_is_refused_in_production(tmp_path: Path) -> None:
    prod = Settings.from_env(
        {"KAIROS_ENV": "production", "KAIROS_JWT_SECRET": SECRET, "KAIROS_DATA_DIR": str(tmp_path)}
    )
    with pytest.raises(TokenError, match="production"):
        mint_token(prod, role="admin", sub="a")


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_public_key_deployments_verify_and_cannot_mint(tmp_path: Path, algorithm: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    private_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = Settings.from_env(
        {
            "KAIROS_JWT_PUBLIC_KEY": public_pem,
            "KAIROS_JWT_ALGORITHM": algorithm,
            "KAIROS_DATA_DIR": str(tmp_path),
            "KAIROS_ENV": "production",
        }
    )
    settings.check_production_ready()
    claims = {"sub": "m1", "role": "manager", "stores": ["s1"], "exp": int(time.time()) + 60}
    token = jwt.encode(claims, private_key, algorithm=algorithm)
    assert TokenVerifier(settings).verify(token).stores == frozenset({"s1"})

    # An HS256 token "signed" with the public key text must not pass (algorithm confusion).
    with pytest.raises(TokenError):
        TokenVerifier(settings).verify(jwt.encode(claims, "x" * 64, algorithm="HS256"))
    with pytest.raises(TokenError, match=r"private key|production"):
        mint_token(settings, role="admin", sub="a")
    assert not (tmp_path / "dev-jwt-secret").exists()
