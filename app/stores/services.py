"""Store, geofence, campaign and audit operations: validation, scoping, ETags, audit.

Scoping rule (invariant 7): a manager reaches a store only if its id is in the token's
``stores`` claim, that store's geofences, and a campaign only if every store it runs in is
theirs. Anything else answers 404, exactly as if it did not exist. Admins reach everything.

Writes are idempotent: a ``PUT`` whose content equals what is stored changes nothing — no
new version, no audit entry — so replaying a request or re-importing a file is harmless.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg
import msgspec

from app.auth import Principal
from app.common import audit, check_if_match, decode_cursor, encode_cursor
from app.db import DbConnection
from app.hours import OpeningHoursError, WeeklyHours, compile_hours
from app.moments import PRIORITY as MOMENT_CODES
from app.problems import ConflictProblem, FieldError, NotFoundProblem, ValidationProblem
from app.stores.schemas import (
    AuditEntry,
    AuditPage,
    CampaignCaps,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    Circle,
    Eligibility,
    GeofenceIn,
    GeofenceOut,
    GeofencePage,
    GeoJSONGeometry,
    MessageTemplate,
    StoreIn,
    StoreOut,
    StorePage,
)
from app.templates import TemplateProblem, check_template
from geo.shapes import GeofenceValidationError, area_m2, circle, parse_geojson
from geo.tz import timezone_at

log = logging.getLogger("kairos.stores")

__all__ = [
    "GeofenceRecord",
    "StoreRecord",
    "delete_campaign",
    "delete_geofence",
    "delete_store",
    "get_campaign",
    "get_geofence",
    "get_store",
    "list_audit",
    "list_campaigns",
    "list_geofences",
    "list_stores",
    "put_campaign",
    "put_geofence",
    "put_store",
    "validate_geofence",
    "validate_store",
]


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True, slots=True)
class StoreRecord:
    """A validated store, as stored."""

    name: str
    lat: float
    lng: float
    timezone: str
    country: str | None
    opening_hours: str | None
    categories: list[str]
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GeofenceRecord:
    """A validated geofence, as stored."""

    geometry: dict[str, Any] | None
    center_lat: float | None
    center_lng: float | None
    radius_m: float | None
    dwell_seconds: int
    enabled: bool


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_store(body: StoreIn, prefix: str = "") -> tuple[StoreRecord | None, list[FieldError]]:
    """Check what msgspec cannot: the time zone, the hours expression, the country.

    Args:
        body: The decoded request.
        prefix: Prepended to field paths (the importer uses ``features[3].properties.``).
    """
    errors: list[FieldError] = []
    timezone = body.timezone
    if timezone is None:
        timezone = timezone_at(body.lat, body.lng)
        if timezone is None:
            errors.append(
                FieldError(
                    field=f"{prefix}timezone",
                    message="could not be derived from lat/lng (open sea?); give an IANA zone",
                )
            )
    elif timezone not in _zones():
        errors.append(
            FieldError(
                field=f"{prefix}timezone",
                message=f"{timezone!r} is not an IANA time zone name, e.g. Europe/London",
            )
        )
    expression: str | None
    if isinstance(body.opening_hours, WeeklyHours):
        expression = body.opening_hours.to_expression()
    else:
        expression = (body.opening_hours or "").strip() or None
    if expression is not None and timezone is not None and not errors:
        try:
            compile_hours(expression, timezone, body.country)
        except OpeningHoursError as exc:
            message = exc.message
            if exc.fragment:
                message += f" (at {exc.fragment!r})"
            errors.append(FieldError(field=f"{prefix}{exc.field}", message=message))
    if errors or timezone is None:
        return None, errors
    categories = sorted({c.strip() for c in body.categories})
    return (
        StoreRecord(
            name=body.name.strip(),
            lat=body.lat,
            lng=body.lng,
            timezone=timezone,
            country=body.country,
            opening_hours=expression,
            categories=categories,
            attributes=body.attributes,
        ),
        [],
    )


def validate_geofence(
    body: GeofenceIn, prefix: str = ""
) -> tuple[GeofenceRecord | None, list[FieldError]]:
    """Exactly one of geometry / circle, each valid per geo.shapes."""
    if (body.geometry is None) == (body.circle is None):
        return None, [
            FieldError(field=f"{prefix}geometry", message="give exactly one of geometry or circle")
        ]
    try:
        if body.geometry is not None:
            geometry = {"type": body.geometry.type, "coordinates": body.geometry.coordinates}
            parse_geojson(geometry)
            record = GeofenceRecord(geometry, None, None, None, body.dwell_seconds, body.enabled)
        else:
            assert body.circle is not None
            c = body.circle
            circle(c.lat, c.lng, c.radius_m)
            record = GeofenceRecord(
                None, c.lat, c.lng, c.radius_m, body.dwell_seconds, body.enabled
            )
    except GeofenceValidationError as exc:
        base = "geometry" if body.geometry is not None else "circle"
        return None, [
            FieldError(
                field=f"{prefix}{base}.{e.field}" if e.field else f"{prefix}{base}",
                message=e.message,
            )
            for e in exc.errors
        ]
    return record, []


def _validate_campaign(body: CampaignIn, principal: Principal) -> list[FieldError]:
    errors: list[FieldError] = []
    if body.default_locale not in body.templates:
        errors.append(
            FieldError(field="default_locale", message="must be one of the locales in templates")
        )
    for locale, template in body.templates.items():
        for part in ("title", "body"):
            try:
                check_template(getattr(template, part))
            except TemplateProblem as exc:
                errors.append(FieldError(field=f"templates.{locale}.{part}", message=str(exc)))
    if body.active_from and body.active_until and body.active_until <= body.active_from:
        errors.append(FieldError(field="active_until", message="must be after active_from"))
    if body.all_stores and body.store_ids:
        errors.append(
            FieldError(field="store_ids", message="must be empty when all_stores is true")
        )
    if body.all_stores and not principal.is_admin:
        errors.append(FieldError(field="all_stores", message="only admins may target every store"))
    if not body.all_stores and not body.store_ids:
        errors.append(
            FieldError(field="store_ids", message="name at least one store (or all_stores: true)")
        )
    for i, moment in enumerate(body.eligibility.moments):
        if moment not in MOMENT_CODES:
            errors.append(
                FieldError(
                    field=f"eligibility.moments[{i}]",
                    message=f"unknown moment {moment!r}; use one of {', '.join(MOMENT_CODES)}",
                )
            )
    if len(set(body.store_ids)) != len(body.store_ids):
        errors.append(FieldError(field="store_ids", message="lists a store twice"))
    return errors


# --------------------------------------------------------------------------- helpers


def _visible_store_ids(principal: Principal) -> list[str] | None:
    """None for admins (no filter), else the manager's stores."""
    return None if principal.is_admin else sorted(principal.stores)


def _require_store_scope(principal: Principal, store_id: str) -> None:
    if not principal.can_see_store(store_id):
        raise NotFoundProblem("store", store_id)


@lru_cache(maxsize=4096)
def _structured(expression: str) -> WeeklyHours | None:
    # from_expression checks its answer against the library: worth caching per expression.
    return WeeklyHours.from_expression(expression)


def _hours_now(row: asyncpg.Record | dict[str, Any], now: datetime) -> tuple[Any, ...]:
    try:
        hours = compile_hours(row["opening_hours"], row["timezone"], row["country"])
    except OpeningHoursError:
        # Validated when written; if a library upgrade now rejects it, show the store as
        # "unknown" (never open, so never invited) instead of failing the read.
        log.error("store %s: stored opening_hours no longer compile", row["id"])
        return None, "unknown", False, None
    state = hours.state(now)
    next_change = hours.next_change(now)
    structured = _structured(row["opening_hours"]) if row["opening_hours"] else None
    return structured, state, state == "open", next_change


def _store_out(row: asyncpg.Record, now: datetime) -> StoreOut:
    structured, state, open_now, next_change = _hours_now(row, now)
    return StoreOut(
        id=row["id"],
        name=row["name"],
        lat=row["lat"],
        lng=row["lng"],
        timezone=row["timezone"],
        country=row["country"],
        opening_hours=row["opening_hours"],
        opening_hours_structured=structured,
        categories=list(row["categories"]),
        attributes=row["attributes"],
        state=state,
        open_now=open_now,
        next_change=next_change,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _stored_store(row: asyncpg.Record | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        k: row[k]
        for k in (
            "name",
            "lat",
            "lng",
            "timezone",
            "country",
            "opening_hours",
            "categories",
            "attributes",
        )
    } | {"categories": list(row["categories"])}


def _limit(limit: int) -> int:
    return max(1, min(limit, 500))


# --------------------------------------------------------------------------- stores

_STORE_COLUMNS = (
    "id, name, lat, lng, timezone, country, opening_hours, categories, attributes, version, "
    "created_at, updated_at"
)


async def get_store(
    conn: DbConnection, principal: Principal, store_id: str, now: datetime
) -> StoreOut:
    _require_store_scope(principal, store_id)
    row = await conn.fetchrow(f"SELECT {_STORE_COLUMNS} FROM stores WHERE id = $1", store_id)
    if row is None:
        raise NotFoundProblem("store", store_id)
    return _store_out(row, now)


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
    after = decode_cursor(cursor)
    limit = _limit(limit)
    rows = await conn.fetch(
        f"""
        SELECT {_STORE_COLUMNS} FROM stores
        WHERE ($1::text IS NULL OR id > $1)
          AND ($2::text[] IS NULL OR id = ANY($2))
          AND ($3::text IS NULL OR country = $3)
          AND ($4::text IS NULL OR categories @> ARRAY[$4])
        ORDER BY id
        LIMIT $5
        """,
        after,
        _visible_store_ids(principal),
        country,
        category,
        limit + 1,
    )
    items = [_store_out(r, now) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return StorePage(items=items, next_cursor=next_cursor)


async def put_store(
    conn: DbConnection,
    principal: Principal,
    store_id: str,
    body: StoreIn,
    *,
    if_match: str | None,
    now: datetime,
) -> tuple[StoreOut, bool]:
    """Create or replace a store. Returns the store and whether it was created."""
    _require_store_scope(principal, store_id)
    record, errors = validate_store(body)
    if errors or record is None:
        raise ValidationProblem(errors)
    async with conn.transaction():
        existing = await conn.fetchrow(
            f"SELECT {_STORE_COLUMNS} FROM stores WHERE id = $1 FOR UPDATE", store_id
        )
        check_if_match(if_match, existing["version"] if existing else None)
        wanted = asdict(record)
        before = _stored_store(existing)
        if existing is not None and before == wanted:
            return _store_out(existing, now), False
        # One upsert for both cases: the row lock above already serialises writers.
        row = await conn.fetchrow(
            f"""
            INSERT INTO stores AS s (id, name, lat, lng, timezone, country, opening_hours,
                                     categories, attributes)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (id) DO UPDATE SET
                name = EXCLUDED.name, lat = EXCLUDED.lat, lng = EXCLUDED.lng,
                timezone = EXCLUDED.timezone, country = EXCLUDED.country,
                opening_hours = EXCLUDED.opening_hours, categories = EXCLUDED.categories,
                attributes = EXCLUDED.attributes, version = s.version + 1, updated_at = now()
            RETURNING {_STORE_COLUMNS}
            """,
            store_id,
            record.name,
            record.lat,
            record.lng,
            record.timezone,
            record.country,
            record.opening_hours,
            record.categories,
            record.attributes,
        )
        assert row is not None
        await audit(
            conn,
            actor=principal,
            action="create" if existing is None else "update",
            resource_type="store",
            resource_id=store_id,
            store_ids=[store_id],
            before=before,
            after=wanted,
        )
    return _store_out(row, now), existing is None


async def delete_store(
    conn: DbConnection, principal: Principal, store_id: str, *, if_match: str | None
) -> None:
    _require_store_scope(principal, store_id)
    async with conn.transaction():
        existing = await conn.fetchrow(
            f"SELECT {_STORE_COLUMNS} FROM stores WHERE id = $1 FOR UPDATE", store_id
        )
        if existing is None:
            raise NotFoundProblem("store", store_id)
        check_if_match(if_match, existing["version"])
        # The delete cascades: record what goes with the store, so the log stays complete.
        fences = await conn.fetch(
            f"SELECT {_GEOFENCE_COLUMNS} FROM geofences WHERE store_id = $1 FOR UPDATE", store_id
        )
        scoped = await conn.fetch(
            _CAMPAIGN_SELECT + " WHERE c.id IN "
            "(SELECT campaign_id FROM campaign_stores WHERE store_id = $1) FOR UPDATE OF c",
            store_id,
        )
        await conn.execute("DELETE FROM stores WHERE id = $1", store_id)
        await audit(
            conn,
            actor=principal,
            action="delete",
            resource_type="store",
            resource_id=store_id,
            store_ids=[store_id],
            before=_stored_store(existing),
        )
        for fence in fences:
            await audit(
                conn,
                actor=principal,
                action="delete",
                resource_type="geofence",
                resource_id=fence["id"],
                store_ids=[store_id],
                before=_stored_geofence(fence),
            )
        for campaign in scoped:
            remaining = [s for s in campaign["store_ids"] if s != store_id]
            await audit(
                conn,
                actor=principal,
                action="update",
                resource_type="campaign",
                resource_id=campaign["id"],
                store_ids=list(campaign["store_ids"]),
                before={"store_ids": list(campaign["store_ids"])},
                after={"store_ids": remaining},
            )


# --------------------------------------------------------------------------- geofences

_GEOFENCE_COLUMNS = (
    "id, store_id, geometry, center_lat, center_lng, radius_m, dwell_seconds, enabled, version, "
    "created_at, updated_at"
)


def _geofence_out(row: asyncpg.Record) -> GeofenceOut:
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


def _stored_geofence(row: asyncpg.Record | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        k: row[k]
        for k in ("geometry", "center_lat", "center_lng", "radius_m", "dwell_seconds", "enabled")
    }


async def _store_exists(conn: DbConnection, store_id: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM stores WHERE id = $1)", store_id))


async def get_geofence(
    conn: DbConnection, principal: Principal, store_id: str, geofence_id: str
) -> GeofenceOut:
    _require_store_scope(principal, store_id)
    row = await conn.fetchrow(
        f"SELECT {_GEOFENCE_COLUMNS} FROM geofences WHERE id = $1 AND store_id = $2",
        geofence_id,
        store_id,
    )
    if row is None:
        raise NotFoundProblem("geofence", geofence_id)
    return _geofence_out(row)


async def list_geofences(
    conn: DbConnection,
    principal: Principal,
    store_id: str,
    *,
    cursor: str | None,
    limit: int,
    enabled: bool | None,
) -> GeofencePage:
    _require_store_scope(principal, store_id)
    if not await _store_exists(conn, store_id):
        raise NotFoundProblem("store", store_id)
    after = decode_cursor(cursor)
    limit = _limit(limit)
    rows = await conn.fetch(
        f"""
        SELECT {_GEOFENCE_COLUMNS} FROM geofences
        WHERE store_id = $1 AND ($2::text IS NULL OR id > $2)
          AND ($3::boolean IS NULL OR enabled = $3)
        ORDER BY id LIMIT $4
        """,
        store_id,
        after,
        enabled,
        limit + 1,
    )
    items = [_geofence_out(r) for r in rows[:limit]]
    return GeofencePage(
        items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None
    )


async def put_geofence(
    conn: DbConnection,
    principal: Principal,
    store_id: str,
    geofence_id: str,
    body: GeofenceIn,
    *,
    if_match: str | None,
) -> tuple[GeofenceOut, bool]:
    _require_store_scope(principal, store_id)
    record, errors = validate_geofence(body)
    if errors or record is None:
        raise ValidationProblem(errors)
    async with conn.transaction():
        # Lock the store row: a concurrent store delete cannot orphan the write.
        if await conn.fetchval("SELECT 1 FROM stores WHERE id = $1 FOR SHARE", store_id) is None:
            raise NotFoundProblem("store", store_id)
        existing = await conn.fetchrow(
            f"SELECT {_GEOFENCE_COLUMNS} FROM geofences WHERE id = $1 FOR UPDATE", geofence_id
        )
        if existing is not None and existing["store_id"] != store_id:
            # Geofence ids are unique across the brand; say so without naming the other store.
            raise ConflictProblem(
                f"geofence id {geofence_id!r} is already used by another store; choose another id",
                slug="geofence-id-taken",
            )
        check_if_match(if_match, existing["version"] if existing else None)
        wanted = asdict(record)
        before = _stored_geofence(existing)
        if existing is not None and before == wanted:
            return _geofence_out(existing), False
        # One upsert for both cases; the WHERE keeps a concurrently created geofence of
        # another store untouched (no row comes back, and that is a conflict).
        row = await conn.fetchrow(
            f"""
            INSERT INTO geofences AS g (id, store_id, geometry, center_lat, center_lng,
                                        radius_m, dwell_seconds, enabled)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (id) DO UPDATE SET
                geometry = EXCLUDED.geometry, center_lat = EXCLUDED.center_lat,
                center_lng = EXCLUDED.center_lng, radius_m = EXCLUDED.radius_m,
                dwell_seconds = EXCLUDED.dwell_seconds, enabled = EXCLUDED.enabled,
                version = g.version + 1, updated_at = now()
            WHERE g.store_id = EXCLUDED.store_id
            RETURNING {_GEOFENCE_COLUMNS}
            """,
            geofence_id,
            store_id,
            record.geometry,
            record.center_lat,
            record.center_lng,
            record.radius_m,
            record.dwell_seconds,
            record.enabled,
        )
        if row is None:
            raise ConflictProblem(
                f"geofence id {geofence_id!r} is already used by another store; choose another id",
                slug="geofence-id-taken",
            )
        await audit(
            conn,
            actor=principal,
            action="create" if existing is None else "update",
            resource_type="geofence",
            resource_id=geofence_id,
            store_ids=[store_id],
            before=before,
            after=wanted,
        )
    return _geofence_out(row), existing is None


async def delete_geofence(
    conn: DbConnection,
    principal: Principal,
    store_id: str,
    geofence_id: str,
    *,
    if_match: str | None,
) -> None:
    _require_store_scope(principal, store_id)
    async with conn.transaction():
        existing = await conn.fetchrow(
            f"SELECT {_GEOFENCE_COLUMNS} FROM geofences WHERE id = $1 AND store_id = $2 FOR UPDATE",
            geofence_id,
            store_id,
        )
        if existing is None:
            raise NotFoundProblem("geofence", geofence_id)
        check_if_match(if_match, existing["version"])
        await conn.execute("DELETE FROM geofences WHERE id = $1", geofence_id)
        await audit(
            conn,
            actor=principal,
            action="delete",
            resource_type="geofence",
            resource_id=geofence_id,
            store_ids=[store_id],
            before=_stored_geofence(existing),
        )


# --------------------------------------------------------------------------- campaigns

_CAMPAIGN_SELECT = """
    SELECT c.*, COALESCE(
        (SELECT array_agg(cs.store_id::text ORDER BY cs.store_id)
         FROM campaign_stores cs WHERE cs.campaign_id = c.id), '{}'::text[]) AS store_ids
    FROM campaigns c
"""


def _campaign_visible(principal: Principal, store_ids: Sequence[str]) -> bool:
    """Managers see a campaign only when every store it runs in is theirs."""
    if principal.is_admin:
        return True
    return bool(store_ids) and set(store_ids) <= principal.stores


def _campaign_active(row: asyncpg.Record, now: datetime) -> bool:
    return bool(
        row["enabled"]
        and (row["active_from"] is None or row["active_from"] <= now)
        and (row["active_until"] is None or now < row["active_until"])
    )


def _campaign_out(row: asyncpg.Record, now: datetime) -> CampaignOut:
    return CampaignOut(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        store_ids=list(row["store_ids"]),
        all_stores=row["all_stores"],
        templates=msgspec.convert(row["templates"], dict[str, MessageTemplate]),
        default_locale=row["default_locale"],
        eligibility=msgspec.convert(row["eligibility"], Eligibility),
        margin=float(row["margin"]) if row["margin"] is not None else None,
        acceptance_probability=row["acceptance_probability"],
        active_from=row["active_from"],
        active_until=row["active_until"],
        caps=CampaignCaps(
            per_day=row["cap_per_day"],
            per_week=row["cap_per_week"],
            cooldown_seconds=row["cooldown_seconds"],
        ),
        holdout_pct=row["holdout_pct"],
        enabled=row["enabled"],
        active_now=_campaign_active(row, now),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _campaign_content(out: CampaignOut | CampaignIn) -> dict[str, Any]:
    """What a PUT sets, for idempotence checks and the audit log."""
    data = msgspec.to_builtins(out)
    keep = (
        "name",
        "kind",
        "store_ids",
        "all_stores",
        "templates",
        "default_locale",
        "eligibility",
        "margin",
        "acceptance_probability",
        "active_from",
        "active_until",
        "caps",
        "holdout_pct",
        "enabled",
    )
    content = {k: data.get(k) for k in keep}
    content["store_ids"] = sorted(content["store_ids"] or [])
    if content["margin"] is not None:
        content["margin"] = round(float(content["margin"]), 2)
    return content


async def _fetch_campaign(
    conn: DbConnection, campaign_id: str, *, lock: bool = False
) -> asyncpg.Record | None:
    if lock:
        # Lock the campaign row first (FOR UPDATE cannot apply to the aggregate query).
        await conn.execute("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id)
    return await conn.fetchrow(_CAMPAIGN_SELECT + " WHERE c.id = $1", campaign_id)


async def get_campaign(
    conn: DbConnection, principal: Principal, campaign_id: str, now: datetime
) -> CampaignOut:
    row = await _fetch_campaign(conn, campaign_id)
    if row is None or not _campaign_visible(principal, row["store_ids"]):
        raise NotFoundProblem("campaign", campaign_id)
    return _campaign_out(row, now)


async def list_campaigns(
    conn: DbConnection,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    store_id: str | None,
    kind: str | None,
    active: bool | None,
    now: datetime,
) -> CampaignPage:
    after = decode_cursor(cursor)
    limit = _limit(limit)
    rows = await conn.fetch(
        f"""
        SELECT * FROM ({_CAMPAIGN_SELECT}) AS c
        WHERE ($1::text IS NULL OR c.id > $1)
          AND ($2::text[] IS NULL OR (cardinality(c.store_ids) > 0 AND c.store_ids <@ $2))
          AND ($3::text IS NULL OR $3 = ANY(c.store_ids) OR c.all_stores)
          AND ($4::text IS NULL OR c.kind = $4)
          AND ($5::boolean IS NULL OR $5 = (c.enabled
               AND (c.active_from IS NULL OR c.active_from <= $6)
               AND (c.active_until IS NULL OR $6 < c.active_until)))
        ORDER BY c.id LIMIT $7
        """,
        after,
        _visible_store_ids(principal),
        store_id,
        kind,
        active,
        now,
        limit + 1,
    )
    items = [_campaign_out(r, now) for r in rows[:limit]]
    return CampaignPage(
        items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None
    )


async def put_campaign(
    conn: DbConnection,
    principal: Principal,
    campaign_id: str,
    body: CampaignIn,
    *,
    if_match: str | None,
    now: datetime,
) -> tuple[CampaignOut, bool]:
    errors = _validate_campaign(body, principal)
    for i, sid in enumerate(body.store_ids):
        if not principal.can_see_store(sid):
            # Same words as for a store that does not exist: ids never leak.
            errors.append(FieldError(field=f"store_ids[{i}]", message=f"no store {sid!r}"))
    if errors:
        raise ValidationProblem(errors)
    async with conn.transaction():
        existing = await _fetch_campaign(conn, campaign_id, lock=True)
        if existing is not None and not _campaign_visible(principal, existing["store_ids"]):
            raise NotFoundProblem("campaign", campaign_id)
        check_if_match(if_match, existing["version"] if existing else None)
        if body.store_ids:
            # FOR SHARE: a store cannot vanish between this check and the insert below.
            found = {
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM stores WHERE id = ANY($1) FOR SHARE", body.store_ids
                )
            }
            missing = [
                FieldError(field=f"store_ids[{i}]", message=f"no store {sid!r}")
                for i, sid in enumerate(body.store_ids)
                if sid not in found
            ]
            if missing:
                raise ValidationProblem(missing)
        wanted = _campaign_content(body)
        before = _campaign_content(_campaign_out(existing, now)) if existing else None
        if existing is not None and before == wanted:
            return _campaign_out(existing, now), False
        params = (
            campaign_id,
            body.name,
            body.kind,
            msgspec.to_builtins(body.templates),
            body.default_locale,
            msgspec.to_builtins(body.eligibility),
            body.margin,
            body.acceptance_probability,
            body.active_from,
            body.active_until,
            body.caps.per_day,
            body.caps.per_week,
            body.caps.cooldown_seconds,
            body.holdout_pct,
            body.enabled,
            body.all_stores,
        )
        if existing is None:
            await conn.execute(
                """
                INSERT INTO campaigns (id, name, kind, templates, default_locale, eligibility,
                    margin, acceptance_probability, active_from, active_until, cap_per_day,
                    cap_per_week, cooldown_seconds, holdout_pct, enabled, all_stores)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                """,
                *params,
            )
        else:
            await conn.execute(
                """
                UPDATE campaigns SET name = $2, kind = $3, templates = $4, default_locale = $5,
                    eligibility = $6, margin = $7, acceptance_probability = $8,
                    active_from = $9, active_until = $10, cap_per_day = $11, cap_per_week = $12,
                    cooldown_seconds = $13, holdout_pct = $14, enabled = $15, all_stores = $16,
                    version = version + 1, updated_at = now()
                WHERE id = $1
                """,
                *params,
            )
            await conn.execute("DELETE FROM campaign_stores WHERE campaign_id = $1", campaign_id)
        await conn.executemany(
            "INSERT INTO campaign_stores (campaign_id, store_id) VALUES ($1, $2)",
            [(campaign_id, sid) for sid in body.store_ids],
        )
        row = await _fetch_campaign(conn, campaign_id)
        assert row is not None
        scope = sorted(set(body.store_ids) | set(existing["store_ids"] if existing else []))
        await audit(
            conn,
            actor=principal,
            action="create" if existing is None else "update",
            resource_type="campaign",
            resource_id=campaign_id,
            store_ids=scope,
            before=before,
            after=wanted,
        )
    return _campaign_out(row, now), existing is None


async def delete_campaign(
    conn: DbConnection,
    principal: Principal,
    campaign_id: str,
    *,
    if_match: str | None,
    now: datetime,
) -> None:
    async with conn.transaction():
        existing = await _fetch_campaign(conn, campaign_id, lock=True)
        if existing is None or not _campaign_visible(principal, existing["store_ids"]):
            raise NotFoundProblem("campaign", campaign_id)
        check_if_match(if_match, existing["version"])
        await conn.execute("DELETE FROM campaigns WHERE id = $1", campaign_id)
        await audit(
            conn,
            actor=principal,
            action="delete",
            resource_type="campaign",
            resource_id=campaign_id,
            store_ids=list(existing["store_ids"]),
            before=_campaign_content(_campaign_out(existing, now)),
        )


# --------------------------------------------------------------------------- audit


async def list_audit(
    conn: DbConnection,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    store_id: str | None,
    resource_type: str | None,
    resource_id: str | None,
) -> AuditPage:
    """Newest first. Managers see entries that touch only their own stores."""
    raw = decode_cursor(cursor)
    try:
        before_id = int(raw) if raw is not None else None
    except ValueError:
        raise ValidationProblem.single(
            "cursor", "not a cursor returned by a previous page"
        ) from None
    if store_id is not None and not principal.can_see_store(store_id):
        raise NotFoundProblem("store", store_id)
    limit = _limit(limit)
    rows = await conn.fetch(
        """
        SELECT id, occurred_at, actor_sub, actor_role, action, resource_type, resource_id,
               store_ids, before, after
        FROM audit_log
        WHERE ($1::bigint IS NULL OR id < $1)
          AND ($2::text[] IS NULL OR (cardinality(store_ids) > 0 AND store_ids <@ $2))
          AND ($3::text IS NULL OR store_ids @> ARRAY[$3])
          AND ($4::text IS NULL OR resource_type = $4)
          AND ($5::text IS NULL OR resource_id = $5)
        ORDER BY id DESC LIMIT $6
        """,
        before_id,
        _visible_store_ids(principal),
        store_id,
        resource_type,
        resource_id,
        limit + 1,
    )
    items = [
        AuditEntry(
            id=r["id"],
            occurred_at=r["occurred_at"],
            actor_sub=r["actor_sub"],
            actor_role=r["actor_role"],
            action=r["action"],
            resource_type=r["resource_type"],
            resource_id=r["resource_id"],
            store_ids=list(r["store_ids"]),
            before=r["before"],
            after=r["after"],
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor(str(items[-1].id)) if len(rows) > limit else None
    return AuditPage(items=items, next_cursor=next_cursor)
