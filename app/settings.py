"""Typed settings, read from the environment once.

Nothing else in Kairos reads ``os.environ``: every knob is a field here, documented in the
README's configuration table. ``Settings.from_env()`` validates everything up front so a
misconfigured process fails at start-up with a message that names the variable.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

__all__ = [
    "REPO_ROOT",
    "AuthSettings",
    "DatabaseSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout Kairos runs from: migrations/ and openapi/ live here."""

Environment = Literal["development", "production"]
JwtAlgorithm = Literal["HS256", "RS256", "ES256"]

_MIN_SECRET_BYTES = 32


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the environment variable."""


def _default_data_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    home = env.get("HOME") or str(Path.home())
    base = env.get("XDG_DATA_HOME") or str(Path(home) / ".local" / "share")
    return Path(base) / "kairos"


def _int(env: dict[str, str], name: str, default: int, *, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float, *, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the data lives.

    Attributes:
        url: ``KAIROS_DATABASE_URL``. A PostgreSQL URL; when unset, an embedded server
            (pgserver) is started in ``data_dir / "pgdata"``.
        data_dir: ``KAIROS_DATA_DIR``. Per-user folder for the embedded database and the
            development signing key (default ``$XDG_DATA_HOME/kairos``, else
            ``~/.local/share/kairos``).
        pool_min: ``KAIROS_DB_POOL_MIN`` (default 2).
        pool_max: ``KAIROS_DB_POOL_MAX`` (default 10).
        command_timeout: ``KAIROS_DB_COMMAND_TIMEOUT`` seconds per statement (default 10).
        migrate_on_start: ``KAIROS_MIGRATE_ON_START`` (default true): ``kairos serve`` applies
            pending migrations before accepting traffic.
    """

    url: str | None = None
    data_dir: Path = field(default_factory=_default_data_dir)
    pool_min: int = 2
    pool_max: int = 10
    command_timeout: float = 10.0
    migrate_on_start: bool = True


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """How bearer tokens are verified.

    Attributes:
        jwt_secret: ``KAIROS_JWT_SECRET``. HS256 shared secret (at least 32 bytes in production).
        jwt_public_key: ``KAIROS_JWT_PUBLIC_KEY``. PEM public key for RS256/ES256; when set,
            tokens are verified with it and ``kairos token`` cannot mint (it has no private key).
        jwt_algorithm: ``KAIROS_JWT_ALGORITHM`` (HS256, RS256 or ES256; default HS256, or
            RS256 when a public key is given).
        jwt_issuer: ``KAIROS_JWT_ISSUER``. When set, the ``iss`` claim must match.
        jwt_audience: ``KAIROS_JWT_AUDIENCE``. When set, the ``aud`` claim must match.
        leeway_seconds: ``KAIROS_JWT_LEEWAY`` clock skew allowed on ``exp``/``nbf`` (default 30).
    """

    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_algorithm: JwtAlgorithm = "HS256"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    leeway_seconds: int = 30


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The HTTP server.

    Attributes:
        host: ``KAIROS_HOST`` (default 127.0.0.1).
        port: ``KAIROS_PORT`` (default 8000).
        workers: ``KAIROS_WORKERS`` uvicorn worker processes (default 1).
        max_body_bytes: ``KAIROS_MAX_BODY_BYTES`` request body limit (default 1 MiB).
        ready_timeout: ``KAIROS_READY_TIMEOUT`` seconds ``/ready`` waits for the database
            (default 1).
        log_level: ``KAIROS_LOG_LEVEL`` (default info).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_body_bytes: int = 1024 * 1024
    ready_timeout: float = 1.0
    log_level: str = "info"


@dataclass(frozen=True, slots=True)
class Settings:
    """All of Kairos's settings.

    Attributes:
        env: ``KAIROS_ENV``: ``development`` (default) or ``production``. Production refuses
            to start without a strong signing secret or a public key, and disables
            ``kairos token``.
    """

    env: Environment = "development"
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    server: ServerSettings = field(default_factory=ServerSettings)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read and validate every setting.

        Args:
            environ: The environment to read; ``os.environ`` when omitted.

        Raises:
            SettingsError: A variable is malformed.
        """
        env = dict(os.environ if environ is None else environ)
        kairos_env = env.get("KAIROS_ENV", "development").strip().lower() or "development"
        if kairos_env not in ("development", "production"):
            raise SettingsError(f"KAIROS_ENV must be development or production, got {kairos_env!r}")

        data_dir_raw = env.get("KAIROS_DATA_DIR")
        database = DatabaseSettings(
            url=env.get("KAIROS_DATABASE_URL") or None,
            data_dir=Path(data_dir_raw).expanduser() if data_dir_raw else _default_data_dir(env),
            pool_min=_int(env, "KAIROS_DB_POOL_MIN", 2, lo=0, hi=1000),
            pool_max=_int(env, "KAIROS_DB_POOL_MAX", 10, lo=1, hi=1000),
            command_timeout=_float(env, "KAIROS_DB_COMMAND_TIMEOUT", 10.0, lo=0.1, hi=3600),
            migrate_on_start=_bool(env, "KAIROS_MIGRATE_ON_START", True),
        )
        if database.pool_min > database.pool_max:
            raise SettingsError("KAIROS_DB_POOL_MIN must not exceed KAIROS_DB_POOL_MAX")

        public_key = env.get("KAIROS_JWT_PUBLIC_KEY") or None
        algorithm = env.get("KAIROS_JWT_ALGORITHM") or ("RS256" if public_key else "HS256")
        if algorithm not in ("HS256", "RS256", "ES256"):
            raise SettingsError(
                f"KAIROS_JWT_ALGORITHM must be HS256, RS256 or ES256, got {algorithm!r}"
            )
        if algorithm != "HS256" and not public_key:
            raise SettingsError(f"KAIROS_JWT_ALGORITHM={algorithm} needs KAIROS_JWT_PUBLIC_KEY")
        auth = AuthSettings(
            jwt_secret=env.get("KAIROS_JWT_SECRET") or None,
            jwt_public_key=public_key,
            jwt_algorithm=algorithm,  # type: ignore[arg-type]  # checked just above
            jwt_issuer=env.get("KAIROS_JWT_ISSUER") or None,
            jwt_audience=env.get("KAIROS_JWT_AUDIENCE") or None,
            leeway_seconds=_int(env, "KAIROS_JWT_LEEWAY", 30, lo=0, hi=600),
        )
        server = ServerSettings(
            host=env.get("KAIROS_HOST", "127.0.0.1"),
            port=_int(env, "KAIROS_PORT", 8000, lo=1, hi=65535),
            workers=_int(env, "KAIROS_WORKERS", 1, lo=1, hi=256),
            max_body_bytes=_int(env, "KAIROS_MAX_BODY_BYTES", 1024 * 1024, lo=1024, hi=1 << 30),
            ready_timeout=_float(env, "KAIROS_READY_TIMEOUT", 1.0, lo=0.05, hi=60),
            log_level=env.get("KAIROS_LOG_LEVEL", "info").lower(),
        )
        return cls(env=kairos_env, database=database, auth=auth, server=server)  # type: ignore[arg-type]

    def with_database_url(self, url: str) -> Settings:
        """A copy pointing at ``url`` (used once the embedded server has started)."""
        return replace(self, database=replace(self.database, url=url))

    def check_production_ready(self) -> None:
        """Refuse to run in production with a weak or missing signing key.

        Raises:
            SettingsError: The auth settings are not safe for production.
        """
        if not self.is_production:
            return
        auth = self.auth
        if auth.jwt_public_key:
            return
        if not auth.jwt_secret:
            raise SettingsError(
                "KAIROS_ENV=production needs KAIROS_JWT_SECRET (HS256) or KAIROS_JWT_PUBLIC_KEY"
            )
        if len(auth.jwt_secret.encode()) < _MIN_SECRET_BYTES:
            raise SettingsError(
                f"KAIROS_JWT_SECRET must be at least {_MIN_SECRET_BYTES} bytes in production"
            )
        if len(set(auth.jwt_secret)) < 8:
            raise SettingsError("KAIROS_JWT_SECRET is too repetitive to be a secret")

    def development_secret(self) -> str:
        """The HS256 secret for development: the configured one, or one kept in ``data_dir``.

        Keeping a generated secret in the data folder lets ``kairos token`` and ``kairos serve``
        agree without any set-up, while every machine still has its own key.
        """
        if self.auth.jwt_secret:
            return self.auth.jwt_secret
        if self.is_production:
            raise SettingsError("KAIROS_JWT_SECRET is required in production")
        path = self.database.data_dir / "dev-jwt-secret"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(secret)
        return secret
