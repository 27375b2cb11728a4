"""Stores: read with their hours state, list, idempotent PUT, delete with what cascades."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from app.audit import audit
from app.auth import Principal
from app.common import Written, check_if_match, clamp_limit, decode_cursor, page
from app.db import DbConnection, transaction
from app.hours import HoursState, OpeningHoursError, WeeklyHours, compile_hours
from app.problems import NotFoundProblem
from app.stores.queries import (
    CAMPAIGNS_OF_STORE_FOR_UPDATE,
    GEOFENCES_OF_STORE_FOR_UPDATE,
    STORE_DELETE,
    STORE_LIST,
    STORE_LOCK,
    STORE_SELECT,
    STORE_UPSERT,
)
from app.stores.schemas import StoreIn, StoreOut, StorePage
from app.stores.services._scope import require_store_scope, visible_store_ids
from app.stores.services._write import delete_audited, upsert_one, valid
from app.stores.validation import StoreRecord, validate_store

__all__ = ["delete_store", "get_store", "list_stores", "put_store", "store_json"]

log = logging.getLogger("kairos.stores")


@lru_cache(maxsize=4096)
def _structured(expression: str) -> WeeklyHours | None:
    # from_expression checks its answer against the library: worth caching per expression.
    return WeeklyHours.from_expression(expression)


def _hours_now(
    row: asyncpg.Record, now: datetime
) -> tuple[WeeklyHours | None, HoursState, datetime | None]:
    try:
        hours = compile_hours(
            row["opening_hours"], row["timezone"], row["country"], region=row["region"]
        )
    except OpeningHoursError:
        # Validated when written; if a library upgrade now rejects it, show the store as
        # "unknown" (never open, so never invited) instead of failing the read.
        log.error("store %s: stored opening_hours no longer compile", row["id"])
        return None, "unknown", None
    structured = _structured(row["opening_hours"]) if row["opening_hours"] else None
    return structured, hours.state(now), hours.next_change(now)


def store_out(row: asyncpg.Record, now: datetime) -> StoreOut:
    structured, state, next_change = _hours_now(row, now)
    return StoreOut(
        id=row["id"],
        name=row["name"],
        lat=row["lat"],
        lng=row["lng"],
        timezone=row["timezone"],
        country=row["country"],
        region=row["region"],
        opening_hours=row["opening_hours"],
        opening_hours_structured=structured,
        categories=list(row["categories"]),
        attributes=row["attributes"],
        state=state,
        open_now=state == "open",
        next_change=next_change,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def store_json(rows: list[tuple[str, StoreRecord]]) -> list[dict[str, Any]]:
    """The input of :data:`app.stores.queries.STORE_UPSERT` (a jsonb array) from
    ``(id, record)`` pairs."""
    return [{"id": sid, **asdict(record)} for sid, record in rows]


async def get_store(
    conn: DbConnection, principal: Principal, store_id: str, now: datetime
) -> StoreOut:
    require_store_scope(principal, store_id)
    row = await conn.fetchrow(STORE_SELECT, store_id)
    if row is None:
        raise NotFoundProblem("store", store_id)
    return store_out(row, now)


async def list_stores(
    conn: DbConnection,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    country: str | None,
    category: str | None,
    now: datetime,
) -> StorePage:
    limit = clamp_limit(limit)
    rows = await conn.fetch(
        STORE_LIST,
        decode_cursor(cursor),
        visible_store_ids(principal),
        country,
        category,
        limit + 1,
    )
    shown, next_cursor = page(rows, limit, lambda r: str(r["id"]))
    return StorePage(items=[store_out(r, now) for r in shown], next_cursor=next_cursor)


async def put_store(
    conn: DbConnection,
    principal: Principal,
    store_id: str,
    body: StoreIn,
    *,
    if_match: str | None,
    now: datetime,
) -> Written[StoreOut]:
    """Create or replace a store (see :data:`app.stores.queries.STORE_UPSERT`)."""
    require_store_scope(principal, store_id)
    record = valid(validate_store(body))
    async with transaction(conn):
        if if_match is not None:
            existing = await conn.fetchrow(STORE_LOCK, store_id)
            check_if_match(if_match, existing["version"] if existing else None)
        written = await upsert_one(conn, STORE_UPSERT, store_json([(store_id, record)]), principal)
        if written is None:  # identical to what is stored: nothing written
            unchanged = await conn.fetchrow(STORE_SELECT, store_id)
            assert unchanged is not None
            return Written(store_out(unchanged, now), created=False)
    return Written(store_out(written, now), created=bool(written["inserted"]))


async def delete_store(
    conn: DbConnection, principal: Principal, store_id: str, *, if_match: str | None
) -> None:
    """Delete a store; the audit log records the geofences and campaign scopes it takes."""
    require_store_scope(principal, store_id)
    async with transaction(conn):
        cascade: dict[str, list[asyncpg.Record]] = {}

        async def record_cascade(_: asyncpg.Record) -> None:
            cascade["fences"] = await conn.fetch(GEOFENCES_OF_STORE_FOR_UPDATE, store_id)
            cascade["campaigns"] = await conn.fetch(CAMPAIGNS_OF_STORE_FOR_UPDATE, store_id)

        await delete_audited(
            conn,
            principal,
            resource_type="store",
            resource_id=store_id,
            store_id=store_id,
            if_match=if_match,
            lock=STORE_LOCK,
            delete=STORE_DELETE,
            before_delete=record_cascade,
        )
        fences, scoped = cascade["fences"], cascade["campaigns"]
        for fence in fences:
            await audit(
                conn,
                actor=principal,
                action="delete",
                resource_type="geofence",
                resource_id=fence["id"],
                store_ids=[store_id],
                before=fence["image"],
            )
        for campaign in scoped:
            stores: list[Any] = list(campaign["store_ids"])
            await audit(
                conn,
                actor=principal,
                action="update",
                resource_type="campaign",
                resource_id=campaign["id"],
                store_ids=stores,
                before={"store_ids": stores},
                after={"store_ids": [s for s in stores if s != store_id]},
            )
