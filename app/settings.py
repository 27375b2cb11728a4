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
    "ClockMode",
    "DatabaseSettings",
    "IngestSettings",
    "PushSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "WorkerSettings",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout Kairos runs from: migrations/ and openapi/ live here."""

Environment = Literal["development", "production"]
JwtAlgorithm = Literal["HS256", "RS256", "ES256"]
ClockMode = Literal["system", "simulated"]

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


def _secrets(env: dict[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated Standard Webhooks secrets (``whsec_`` + base64); several for rotation."""
    import base64
    import binascii

    raw = env.get(name) or ""
    found: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            key = base64.b64decode(item.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise SettingsError(f"{name}: each secret must be whsec_ followed by base64") from None
        if len(key) < 24:
            raise SettingsError(f"{name}: each secret must decode to at least 24 bytes")
        found.append(item)
    return tuple(found)


def _file(env: dict[str, str], name: str) -> Path | None:
    raw = env.get(name)
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SettingsError(f"{name}: no such file {path}")
    return path


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Push gateways. Each one is configured when its credentials are; the rest stay off.

    Secrets and key files are read by the gateways, never logged (``repr`` hides them).

    Attributes:
        fcm_project_id: ``KAIROS_FCM_PROJECT_ID``. Firebase project for the HTTP v1 API.
        fcm_credentials_file: ``KAIROS_FCM_CREDENTIALS_FILE``. Service-account JSON
            (``client_email``, ``private_key``, ``token_uri``).
        fcm_token_uri: ``KAIROS_FCM_TOKEN_URI``. OAuth2 token endpoint; default the one in the
            service-account file.
        fcm_base_url: ``KAIROS_FCM_BASE_URL`` (default https://fcm.googleapis.com).
        apns_key_file: ``KAIROS_APNS_KEY_FILE``. The .p8 ES256 signing key.
        apns_key_id: ``KAIROS_APNS_KEY_ID``. Its 10-character key id.
        apns_team_id: ``KAIROS_APNS_TEAM_ID``. The Apple developer team id.
        apns_topic: ``KAIROS_APNS_TOPIC``. The app's bundle id.
        apns_base_url: ``KAIROS_APNS_BASE_URL`` (default https://api.push.apple.com; an
            ``http://`` URL speaks HTTP/2 with prior knowledge, for local gateways).
        vapid_private_key_file: ``KAIROS_VAPID_PRIVATE_KEY_FILE``. PEM P-256 key for VAPID.
        vapid_subject: ``KAIROS_VAPID_SUBJECT``. ``mailto:`` or ``https:`` contact.
        webhook_url: ``KAIROS_WEBHOOK_URL``. Where the signed webhook gateway posts (a relay
            such as gorush, or an in-house gateway).
        webhook_secrets: ``KAIROS_WEBHOOK_SECRETS``. Comma-separated ``whsec_`` secrets;
            every one signs (rotation: receivers accept any).
        receipts_secrets: ``KAIROS_RECEIPTS_SECRETS``. Comma-separated ``whsec_`` secrets
            that ``POST /v1/receipts`` accepts signatures from.
        timeout: ``KAIROS_PUSH_TIMEOUT`` seconds per gateway request (default 10).
    """

    fcm_project_id: str | None = None
    fcm_credentials_file: Path | None = None
    fcm_token_uri: str | None = None
    fcm_base_url: str = "https://fcm.googleapis.com"
    apns_key_file: Path | None = None
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_topic: str | None = None
    apns_base_url: str = "https://api.push.apple.com"
    vapid_private_key_file: Path | None = None
    vapid_subject: str | None = None
    webhook_url: str | None = None
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    receipts_secrets: tuple[str, ...] = field(default=(), repr=False)
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """The outbox worker (``kairos worker``) and its periodic jobs.

    Attributes:
        batch_size: ``KAIROS_WORKER_BATCH_SIZE`` invites claimed per query (default 200).
        lease_seconds: ``KAIROS_WORKER_LEASE_SECONDS`` (default 30): a claimed invite whose
            worker has not finished it by then is claimed again by another.
        poll_interval: ``KAIROS_WORKER_POLL_INTERVAL`` seconds between fallback polls when no
            notification arrives (default 5).
        max_attempts: ``KAIROS_WORKER_MAX_ATTEMPTS`` before an invite is dead-lettered as
            ``failed`` (default 5).
        retry_base: ``KAIROS_WORKER_RETRY_BASE`` seconds, first backoff ceiling (default 1).
        retry_max: ``KAIROS_WORKER_RETRY_MAX`` seconds, largest backoff (default 300).
        gateway_concurrency: ``KAIROS_WORKER_GATEWAY_CONCURRENCY`` requests in flight per
            gateway (default 64).
        breaker_failures: ``KAIROS_WORKER_BREAKER_FAILURES`` consecutive failures that open
            a gateway's circuit (default 10).
        breaker_reset: ``KAIROS_WORKER_BREAKER_RESET`` seconds before an open circuit lets a
            trial request through (default 30).
        sweep_interval: ``KAIROS_WORKER_SWEEP_INTERVAL`` seconds between dwell sweeps and
            expiry runs (default 15).
        retention_interval: ``KAIROS_WORKER_RETENTION_INTERVAL`` seconds between location
            purges (default 3600).
        location_retention_days: ``KAIROS_LOCATION_RETENTION_DAYS`` (default 30): raw
            location fixes older than this are purged.
        metrics_port: ``KAIROS_WORKER_METRICS_PORT`` (default 9464; 0 = none) where a
            standalone worker serves ``/metrics`` on ``KAIROS_HOST``.
        metrics_multiproc_dir: ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's own
            variable): when set, every process writes its metrics there and ``/metrics``
            aggregates them.
    """

    batch_size: int = 200
    lease_seconds: float = 30.0
    poll_interval: float = 5.0
    max_attempts: int = 5
    retry_base: float = 1.0
    retry_max: float = 300.0
    gateway_concurrency: int = 64
    breaker_failures: int = 10
    breaker_reset: float = 30.0
    sweep_interval: float = 15.0
    retention_interval: float = 3600.0
    location_retention_days: int = 30
    metrics_port: int = 9464
    metrics_multiproc_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """The app's event ingestion (``POST /v1/events``).

    How old a report may be and how accurate it must be to be acted on are the policy's own
    ``stale_after_seconds`` and ``max_accuracy_m`` (``GET/PUT /v1/policy``): ingestion reads
    the current values in the same round trip as the customer lock, so "stored, no decision"
    and the policy's gates can never disagree.

    Attributes:
        rate_limit_per_minute: ``KAIROS_INGEST_RATE_LIMIT`` events per device per minute
            (default 120; 0 turns the limit off). A token bucket per (customer, device) in
            each process: with several processes behind a balancer a device gets up to this
            many per process.
        max_future_skew_seconds: ``KAIROS_INGEST_MAX_FUTURE_SKEW`` (default 120): an event
            from further in the future than this is rejected (``in_future``).
        exit_buffer_m: ``KAIROS_INGEST_EXIT_BUFFER_M`` (default 25): a customer inside a
            geofence exits only once a fix is outside by more than its accuracy plus this.
        jump_speed_kmh: ``KAIROS_INGEST_JUMP_SPEED_KMH`` (default 300) and
        jump_min_distance_m: ``KAIROS_INGEST_JUMP_MIN_DISTANCE_M`` (default 1000): a fix
            implying a faster move than this over a longer distance than that since the
            previous one is flagged ``jumped`` (suspected spoofing; never an invite).
        max_batch: ``KAIROS_INGEST_MAX_BATCH`` events per request (default and most 100;
            more is a 422).
        max_body_bytes: ``KAIROS_INGEST_MAX_BODY_BYTES`` (default 262144): a larger body
            is a 413.
    """

    rate_limit_per_minute: int = 120
    max_future_skew_seconds: int = 120
    exit_buffer_m: float = 25.0
    jump_speed_kmh: float = 300.0
    jump_min_distance_m: float = 1000.0
    max_batch: int = 100
    max_body_bytes: int = 256 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """All of Kairos's settings.

    Attributes:
        env: ``KAIROS_ENV``: ``development`` (default) or ``production``. Production refuses
            to start without a strong signing secret or a public key, and disables
            ``kairos token``.
        clock: ``KAIROS_CLOCK``: ``system`` (default) or ``simulated`` (development only:
            the instant and speed are set with ``PUT /v1/dev/clock`` and shared by every
            process through the database; refused when ``KAIROS_ENV=production``).
    """

    env: Environment = "development"
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    push: PushSettings = field(default_factory=PushSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    clock: ClockMode = "system"

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
        push = PushSettings(
            fcm_project_id=env.get("KAIROS_FCM_PROJECT_ID") or None,
            fcm_credentials_file=_file(env, "KAIROS_FCM_CREDENTIALS_FILE"),
            fcm_token_uri=env.get("KAIROS_FCM_TOKEN_URI") or None,
            fcm_base_url=env.get("KAIROS_FCM_BASE_URL") or "https://fcm.googleapis.com",
            apns_key_file=_file(env, "KAIROS_APNS_KEY_FILE"),
            apns_key_id=env.get("KAIROS_APNS_KEY_ID") or None,
            apns_team_id=env.get("KAIROS_APNS_TEAM_ID") or None,
            apns_topic=env.get("KAIROS_APNS_TOPIC") or None,
            apns_base_url=env.get("KAIROS_APNS_BASE_URL") or "https://api.push.apple.com",
            vapid_private_key_file=_file(env, "KAIROS_VAPID_PRIVATE_KEY_FILE"),
            vapid_subject=env.get("KAIROS_VAPID_SUBJECT") or None,
            webhook_url=env.get("KAIROS_WEBHOOK_URL") or None,
            webhook_secrets=_secrets(env, "KAIROS_WEBHOOK_SECRETS"),
            receipts_secrets=_secrets(env, "KAIROS_RECEIPTS_SECRETS"),
            timeout=_float(env, "KAIROS_PUSH_TIMEOUT", 10.0, lo=0.1, hi=300),
        )
        if push.webhook_url and not push.webhook_secrets:
            raise SettingsError("KAIROS_WEBHOOK_URL needs KAIROS_WEBHOOK_SECRETS to sign with")
        worker = WorkerSettings(
            batch_size=_int(env, "KAIROS_WORKER_BATCH_SIZE", 200, lo=1, hi=10_000),
            lease_seconds=_float(env, "KAIROS_WORKER_LEASE_SECONDS", 30.0, lo=1, hi=3600),
            poll_interval=_float(env, "KAIROS_WORKER_POLL_INTERVAL", 5.0, lo=0.05, hi=3600),
            max_attempts=_int(env, "KAIROS_WORKER_MAX_ATTEMPTS", 5, lo=1, hi=100),
            retry_base=_float(env, "KAIROS_WORKER_RETRY_BASE", 1.0, lo=0.001, hi=3600),
            retry_max=_float(env, "KAIROS_WORKER_RETRY_MAX", 300.0, lo=0.001, hi=86400),
            gateway_concurrency=_int(env, "KAIROS_WORKER_GATEWAY_CONCURRENCY", 64, lo=1, hi=10_000),
            breaker_failures=_int(env, "KAIROS_WORKER_BREAKER_FAILURES", 10, lo=1, hi=10_000),
            breaker_reset=_float(env, "KAIROS_WORKER_BREAKER_RESET", 30.0, lo=0.01, hi=3600),
            sweep_interval=_float(env, "KAIROS_WORKER_SWEEP_INTERVAL", 15.0, lo=0.05, hi=86400),
            retention_interval=_float(
                env, "KAIROS_WORKER_RETENTION_INTERVAL", 3600.0, lo=0.05, hi=7 * 86400
            ),
            location_retention_days=_int(env, "KAIROS_LOCATION_RETENTION_DAYS", 30, lo=1, hi=3650),
            metrics_port=_int(env, "KAIROS_WORKER_METRICS_PORT", 9464, lo=0, hi=65535),
            metrics_multiproc_dir=(
                Path(env["PROMETHEUS_MULTIPROC_DIR"])
                if env.get("PROMETHEUS_MULTIPROC_DIR")
                else None
            ),
        )
        ingest = IngestSettings(
            rate_limit_per_minute=_int(env, "KAIROS_INGEST_RATE_LIMIT", 120, lo=0, hi=1_000_000),
            max_future_skew_seconds=_int(env, "KAIROS_INGEST_MAX_FUTURE_SKEW", 120, lo=0, hi=3600),
            exit_buffer_m=_float(env, "KAIROS_INGEST_EXIT_BUFFER_M", 25.0, lo=0, hi=1000),
            jump_speed_kmh=_float(env, "KAIROS_INGEST_JUMP_SPEED_KMH", 300.0, lo=1, hi=100_000),
            jump_min_distance_m=_float(
                env, "KAIROS_INGEST_JUMP_MIN_DISTANCE_M", 1000.0, lo=0, hi=1_000_000
            ),
            max_batch=_int(env, "KAIROS_INGEST_MAX_BATCH", 100, lo=1, hi=100),
            max_body_bytes=_int(
                env, "KAIROS_INGEST_MAX_BODY_BYTES", 256 * 1024, lo=1024, hi=16 * 1024 * 1024
            ),
        )
        clock = env.get("KAIROS_CLOCK", "system").strip().lower() or "system"
        if clock not in ("system", "simulated"):
            raise SettingsError(f"KAIROS_CLOCK must be system or simulated, got {clock!r}")
        if clock == "simulated" and kairos_env == "production":
            raise SettingsError("KAIROS_CLOCK=simulated is for development; not in production")
        return cls(
            env=kairos_env,  # type: ignore[arg-type]  # checked above
            database=database,
            auth=auth,
            server=server,
            push=push,
            worker=worker,
            ingest=ingest,
            clock=clock,  # type: ignore[arg-type]  # checked above
        )

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
