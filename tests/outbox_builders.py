"""Builders for outbox tests: stores, customers, devices, decisions and invite rows, written
directly (the policy and ingest issues write them in production)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

__all__ = [
    "bulk_invites",
    "decision_outcome",
    "make_customer",
    "make_device",
    "make_geofence",
    "make_invite",
    "make_store",
    "set_policy",
    "utcnow",
    "worker_env",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


_outcome_cache: dict[str, str] = {}


async def decision_outcome(db: asyncpg.Connection) -> str:
    """The outcome value an invite's decision carries under the applied migrations."""
    if "value" not in _outcome_cache:
        definition = await db.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'decisions_outcome_check'"
        )
        allowed = re.findall(r"'(\w+)'", definition or "")
        _outcome_cache["value"] = "send" if "send" in allowed else "invite"
    return _outcome_cache["value"]


async def make_store(
    db: asyncpg.Connection,
    store_id: str = "s1",
    *,
    opening_hours: str | None = "24/7",
    timezone: str = "Europe/London",
    country: str | None = "GB",
) -> str:
    await db.execute(
        """INSERT INTO stores (id, name, lat, lng, timezone, country, opening_hours)
           VALUES ($1, $2, 51.5, -0.12, $3, $4, $5)""",
        store_id,
        f"Store {store_id}",
        timezone,
        country,
        opening_hours,
    )
    return store_id


async def make_geofence(
    db: asyncpg.Connection, geofence_id: str, store_id: str, *, dwell_seconds: int = 0
) -> str:
    await db.execute(
        """INSERT INTO geofences (id, store_id, center_lat, center_lng, radius_m, dwell_seconds)
           VALUES ($1, $2, 51.5, -0.12, 100, $3)""",
        geofence_id,
        store_id,
        dwell_seconds,
    )
    return geofence_id


async def make_customer(
    db: asyncpg.Connection,
    customer_id: str = "c1",
    *,
    consent: bool = True,
    quiet_hours: dict[str, Any] | None = None,
) -> str:
    await db.execute(
        """INSERT INTO customers (id, consent_location, consent_marketing, quiet_hours)
           VALUES ($1, $2, $2, $3)""",
        customer_id,
        consent,
        quiet_hours,
    )
    return customer_id


async def make_device(
    db: asyncpg.Connection,
    customer_id: str,
    platform: str = "webhook",
    token: str | None = None,
    *,
    active: bool = True,
    last_seen_at: datetime | None = None,
) -> UUID:
    device_id: UUID = await db.fetchval(
        """INSERT INTO devices (customer_id, platform, token, active, last_seen_at)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""",
        customer_id,
        platform,
        token or f"{platform}-token-{customer_id}-{utcnow().timestamp()}",
        active,
        last_seen_at or utcnow(),
    )
    return device_id


async def make_invite(
    db: asyncpg.Connection,
    *,
    customer_id: str = "c1",
    store_id: str | None = "s1",
    device_id: UUID | None = None,
    kind: str = "offer",
    decided_at: datetime | None = None,
    not_before: datetime | None = None,
    send_by: datetime | None = None,
    title: str = "Try the new blend",
    body: str = "Your boutique is around the corner.",
    payload: dict[str, Any] | None = None,
) -> UUID:
    """One decision and its invite, committed together (so the NOTIFY fires on commit)."""
    now = utcnow()
    decided_at = decided_at or now
    not_before = not_before or decided_at
    send_by = send_by or not_before + timedelta(minutes=30)
    outcome = await decision_outcome(db)
    async with db.transaction():
        decision_id = await db.fetchval(
            """INSERT INTO decisions (customer_id, store_id, decided_at, outcome, explanation,
                                      policy_version)
               VALUES ($1, $2, $3, $4, 'test decision', 'test') RETURNING id""",
            customer_id,
            store_id,
            decided_at,
            outcome,
        )
        invite_id: UUID = await db.fetchval(
            """INSERT INTO invites (decision_id, customer_id, device_id, store_id, kind, locale,
                                    title, body, payload, not_before, send_by)
               VALUES ($1, $2, $3, $4, $5, 'en', $6, $7, $8, $9, $10) RETURNING id""",
            decision_id,
            customer_id,
            device_id,
            store_id,
            kind,
            title,
            body,
            payload or {},
            not_before,
            send_by,
        )
    return invite_id


async def bulk_invites(
    db: asyncpg.Connection,
    count: int,
    *,
    customers: list[str],
    store_id: str = "s1",
    send_by: timedelta = timedelta(minutes=30),
    not_before: datetime | None = None,
) -> list[UUID]:
    """``count`` invites spread over ``customers`` in one statement per table."""
    now = utcnow()
    start = not_before or now
    outcome = await decision_outcome(db)
    async with db.transaction():
        rows = await db.fetch(
            """
            WITH d AS (
                INSERT INTO decisions (customer_id, store_id, decided_at, outcome, explanation,
                                       policy_version)
                SELECT ($1::text[])[1 + (g % array_length($1::text[], 1))], $2, $3, $4,
                       'bulk test decision', 'test'
                  FROM generate_series(0, $5 - 1) g
                RETURNING id, customer_id
            )
            INSERT INTO invites (decision_id, customer_id, store_id, kind, locale, title, body,
                                 not_before, send_by)
            SELECT d.id, d.customer_id, $2, 'offer', 'en', 'Bulk', 'Bulk body', $6, $7 FROM d
            RETURNING id
            """,
            customers,
            store_id,
            now,
            outcome,
            count,
            start,
            start + send_by,
        )
    return [r["id"] for r in rows]


async def set_policy(
    db: asyncpg.Connection,
    *,
    quiet_hours: tuple[str, str] = ("00:00", "00:00"),
    closing_margin_minutes: int = 20,
) -> None:
    """A current policy_settings version; by default without default quiet hours (an empty
    window), so tests at any hour of the day are not held back by them."""
    import msgspec

    from app.decisions.settings import PolicySettings

    settings = msgspec.structs.replace(
        PolicySettings(),
        quiet_hours_start=quiet_hours[0],
        quiet_hours_end=quiet_hours[1],
        closing_margin_minutes=closing_margin_minutes,
    )
    version = (await db.fetchval("SELECT max(version) FROM policy_settings") or 0) + 1
    await db.execute(
        "INSERT INTO policy_settings (version, settings, created_by) VALUES ($1, $2, 'test')",
        version,
        msgspec.to_builtins(settings),
    )


def worker_env(
    db_url: str, tmp_dir: str, gateway_env: dict[str, str], **extra: str
) -> dict[str, str]:
    """The environment of a test worker (in-process settings or a subprocess)."""
    env = {
        "KAIROS_DATABASE_URL": db_url,
        "KAIROS_DATA_DIR": tmp_dir,
        "KAIROS_JWT_SECRET": "kairos-test-secret-" + "x7Q2" * 8,
        "KAIROS_MIGRATE_ON_START": "false",
        "KAIROS_DB_POOL_MIN": "1",
        "KAIROS_DB_POOL_MAX": "4",
        "KAIROS_WORKER_POLL_INTERVAL": "0.5",
        "KAIROS_WORKER_RETRY_BASE": "0.05",
        "KAIROS_WORKER_RETRY_MAX": "0.2",
        "KAIROS_WORKER_METRICS_PORT": "0",
        "KAIROS_PUSH_TIMEOUT": "5",
        **gateway_env,
    }
    env.update(extra)
    return env
