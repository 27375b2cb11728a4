"""Settings come from the environment only and fail with the variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({"HOME": "/home/someone"})
    assert settings.env == "development"
    assert settings.database.url is None
    assert settings.database.data_dir == Path("/home/someone/.local/share/kairos")
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.auth.jwt_algorithm == "HS256"
    assert settings.database.migrate_on_start is True


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "KAIROS_ENV": "production",
            "KAIROS_DATABASE_URL": "postgresql://db/kairos",
            "KAIROS_DATA_DIR": "/srv/kairos",
            "KAIROS_HOST": "0.0.0.0",  # noqa: S104
            "KAIROS_PORT": "9000",
            "KAIROS_WORKERS": "4",
            "KAIROS_DB_POOL_MIN": "3",
            "KAIROS_DB_POOL_MAX": "30",
            "KAIROS_MIGRATE_ON_START": "false",
            "KAIROS_MAX_BODY_BYTES": "2048",
            "KAIROS_JWT_SECRET": "s" * 40,
            "KAIROS_JWT_ISSUER": "https://idp",
            "KAIROS_JWT_AUDIENCE": "kairos",
        }
    )
    assert settings.is_production
    assert settings.database.url == "postgresql://db/kairos"
    assert settings.database.data_dir == Path("/srv/kairos")
    assert settings.server.port == 9000
    assert settings.server.workers == 4
    assert (settings.database.pool_min, settings.database.pool_max) == (3, 30)
    assert settings.database.migrate_on_start is False
    assert settings.server.max_body_bytes == 2048
    assert settings.auth.jwt_issuer == "https://idp"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"KAIROS_PORT": "eighty"}, "KAIROS_PORT"),
        ({"KAIROS_PORT": "70000"}, "KAIROS_PORT"),
        ({"KAIROS_ENV": "staging"}, "KAIROS_ENV"),
        ({"KAIROS_MIGRATE_ON_START": "maybe"}, "KAIROS_MIGRATE_ON_START"),
        ({"KAIROS_DB_POOL_MIN": "20", "KAIROS_DB_POOL_MAX": "5"}, "KAIROS_DB_POOL_MIN"),
        ({"KAIROS_JWT_ALGORITHM": "RS256"}, "KAIROS_JWT_PUBLIC_KEY"),
        ({"KAIROS_JWT_ALGORITHM": "none"}, "KAIROS_JWT_ALGORITHM"),
    ],
)
def test_malformed_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "secret",
    [None, "short", "a" * 64],
)
def test_production_refuses_weak_or_missing_secret(secret: str | None) -> None:
    env = {"KAIROS_ENV": "production"}
    if secret:
        env["KAIROS_JWT_SECRET"] = secret
    with pytest.raises(SettingsError, match="KAIROS_JWT_SECRET"):
        Settings.from_env(env).check_production_ready()


def test_production_accepts_strong_secret_or_public_key() -> None:
    Settings.from_env(
        {"KAIROS_ENV": "production", "KAIROS_JWT_SECRET": "Zq8v-3kP_w9LmN2xR7tY4uB6cD1eF5gH"}
    ).check_production_ready()
    Settings.from_env(
        {"KAIROS_ENV": "production", "KAIROS_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----..."}
    ).check_production_ready()


def test_development_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    settings = Settings.from_env({"KAIROS_DATA_DIR": str(tmp_path)})
    first = settings.development_secret()
    assert len(first) >= 32
    assert settings.development_secret() == first
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o077 == 0
