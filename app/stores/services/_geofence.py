"""Geofences of a store: read, list, idempotent PUT, delete."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import asyncpg

from app.auth import Principal
from app.common import Written, check_if_match, clamp_limit, decode_cursor, page
from app.db import DbConnection, transaction
from app.problems import ConflictProblem, NotFoundProblem
from app.stores.queries import (
    GEOFENCE_DELETE,
    GEOFENCE_LIST,
    GEOFENCE_LOCK,
    GEOFENCE_SELECT,
    GEOFENCE_UPSERT,
    STORE_EXISTS,
    STORE_SHARE,
)
from app.stores.schemas import Circle, GeofenceIn, GeofenceOut, GeofencePage, GeoJSONGeometry
from app.stores.services._scope import require_store_scope
from app.stores.services._write import delete_audited, upsert_one, valid
from app.stores.validation import GeofenceRecord, validate_geofence
from geo.shapes import area_m2, circle, parse_geojson

__all__ = ["delete_geofence", "geofence_json", "get_geofence", "list_geofences", "put_geofence"]


def geofence_out(row: asyncpg.Record) -> GeofenceOut:
    if row["geometry"] is not None:
        geometry = GeoJSONGeometry(
            type=row["geometry"]["type"], coordinates=row["geometry"]["coordinates"]
        )
        shape = parse_geojson(row["geometry"])
        circ = None
    else:
        geometry = None
        circ = Circle(lat=row["center_lat"], lng=row["center_lng"], radius_m=row["radius_m"])
        shape = circle(circ.lat, circ.lng, circ.radius_m)
    return GeofenceOut(
        id=row["id"],
        store_id=row["store_id"],
        geometry=geometry,
        circle=circ,
        dwell_seconds=row["dwell_seconds"],
        enabled=row["enabled"],
        area_m2=round(area_m2(shape), 1),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def geofence_json(rows: list[tuple[str, str, GeofenceRecord]]) -> list[dict[str, Any]]:
    """The input of :data:`app.stores.queries.GEOFENCE_UPSERT` (a jsonb array) from
    ``(id, store id, record)`` triples."""
    return [{"id": gid, "store_id": sid, **asdict(record)} for gid, sid, record in rows]


def _taken(geofence_id: str) -> ConflictProblem:
    # Geofence ids are unique across the brand; say so without naming the other store.
    return ConflictProblem(
        f"geofence id {geofence_id!r} is already used by another store; choose another id",
        slug="geofence-id-taken",
    )


async def get_geofence(
    conn: DbConnection, principal: Principal, store_id: str, geofence_id: str
) -> GeofenceOut:
    require_store_scope(principal, store_id)
    row = await conn.fetchrow(GEOFENCE_SELECT, geofence_id, store_id)
    if row is None:
        raise NotFoundProblem("geofence", geofence_id)
    return geofence_out(row)


async def list_geofences(
    conn: DbConnection,
    principal: Principal,
    store_id: str,
    *,
    cursor: str | None,
    limit: int,
    enabled: bool | None,
) -> GeofencePage:
    require_store_scope(principal, store_id)
    if not await conn.fetchval(STORE_EXISTS, store_id):
        raise NotFoundProblem("store", store_id)
    limit = clamp_limit(limit)
    rows = await conn.fetch(GEOFENCE_LIST, store_id, decode_cursor(cursor), enabled, limit + 1)
    shown, next_cursor = page(rows, limit, lambda r: str(r["id"]))
    return GeofencePage(items=[geofence_out(r) for r in shown], next_cursor=next_cursor)


async def put_geofence(
    conn: DbConnection,
    principal: Principal,
    store_id: str,
    geofence_id: str,
    body: GeofenceIn,
    *,
    if_match: str | None,
) -> Written[GeofenceOut]:
    """Create or replace a geofence (see :data:`app.stores.queries.GEOFENCE_UPSERT`)."""
    require_store_scope(principal, store_id)
    record = valid(validate_geofence(body))
    async with transaction(conn):
        # Lock the store row: a concurrent store delete cannot orphan the write.
        if await conn.fetchval(STORE_SHARE, store_id) is None:
            raise NotFoundProblem("store", store_id)
        if if_match is not None:
            existing = await conn.fetchrow(GEOFENCE_LOCK, geofence_id)
            if existing is not None and existing["store_id"] != store_id:
                raise _taken(geofence_id)
            check_if_match(if_match, existing["version"] if existing else None)
        rows = geofence_json([(geofence_id, store_id, record)])
        written = await upsert_one(conn, GEOFENCE_UPSERT, rows, principal)
        if written is None:  # unchanged, or the id belongs to another store
            current = await conn.fetchrow(GEOFENCE_LOCK, geofence_id)
            assert current is not None
            if current["store_id"] != store_id:
                raise _taken(geofence_id)
            return Written(geofence_out(current), created=False)
    return Written(geofence_out(written), created=bool(written["inserted"]))


async def delete_geofence(
    conn: DbConnection,
    principal: Principal,
    store_id: str,
    geofence_id: str,
    *,
    if_match: str | None,
) -> None:
    require_store_scope(principal, store_id)
    async with transaction(conn):
        await delete_audited(
            conn,
            principal,
            resource_type="geofence",
            resource_id=geofence_id,
            store_id=store_id,
            if_match=if_match,
            lock=GEOFENCE_LOCK,
            delete=GEOFENCE_DELETE,
            belongs=lambda row: bool(row["store_id"] == store_id),
        )
