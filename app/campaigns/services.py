"""Campaign reads and writes: validation, scoping, idempotent PUT, audit.

A manager reaches a campaign only if every store it runs in is theirs; anything else answers
404 exactly as if it did not exist. Admins reach everything, and only admins may target every
store (``all_stores``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from app.audit import audit
from app.auth import Principal
from app.campaigns.queries import (
    CAMPAIGN_DELETE,
    CAMPAIGN_INSERT_NEW,
    CAMPAIGN_LIST,
    CAMPAIGN_LOCK,
    CAMPAIGN_SELECT,
    CAMPAIGN_STORES_REPLACE,
    CAMPAIGN_UPDATE,
    STORES_FOR_SHARE,
)
from app.campaigns.schemas import (
    CampaignCaps,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    Eligibility,
    MessageTemplate,
)
from app.common import Written, check_if_match, clamp_limit, decode_cursor, page
from app.db import DbConnection, transaction
from app.moments import PRIORITY as MOMENT_CODES
from app.problems import FieldError, NotFoundProblem, ValidationProblem
from app.templates import TemplateProblem, check_template

__all__ = [
    "campaign_visible",
    "delete_campaign",
    "get_campaign",
    "list_campaigns",
    "put_campaign",
]


def validate_campaign(body: CampaignIn, principal: Principal) -> list[FieldError]:
    """What msgspec cannot check: templates, windows, scope, moment codes."""
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
    for i, sid in enumerate(body.store_ids):
        if not principal.can_see_store(sid):
            # Same words as for a store that does not exist: ids never leak.
            errors.append(FieldError(field=f"store_ids[{i}]", message=f"no store {sid!r}"))
    return errors


def campaign_visible(principal: Principal, store_ids: Sequence[str]) -> bool:
    """Managers see a campaign only when every store it runs in is theirs."""
    if principal.is_admin:
        return True
    return bool(store_ids) and set(store_ids) <= principal.stores


def _active(row: asyncpg.Record, now: datetime) -> bool:
    return bool(
        row["enabled"]
        and (row["active_from"] is None or row["active_from"] <= now)
        and (row["active_until"] is None or now < row["active_until"])
    )


def campaign_out(row: asyncpg.Record, now: datetime) -> CampaignOut:
    return CampaignOut(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        store_ids=list(row["store_ids"]),
        all_stores=row["all_stores"],
        templates=msgspec.convert(row["templates"], dict[str, MessageTemplate]),
        default_locale=row["default_locale"],
        eligibility=msgspec.convert(row["eligibility"], Eligibility),
        offer_categories=list(row["offer_categories"]),
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
        defer_window_seconds=row["defer_window_seconds"],
        freshness_seconds=row["freshness_seconds"],
        enabled=row["enabled"],
        active_now=_active(row, now),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_CONTENT = (
    "name",
    "kind",
    "store_ids",
    "all_stores",
    "templates",
    "default_locale",
    "eligibility",
    "offer_categories",
    "margin",
    "acceptance_probability",
    "active_from",
    "active_until",
    "caps",
    "holdout_pct",
    "defer_window_seconds",
    "freshness_seconds",
    "enabled",
)


def campaign_content(campaign: CampaignOut | CampaignIn) -> dict[str, Any]:
    """What a PUT sets: the idempotence check and the audit image."""
    data = msgspec.to_builtins(campaign)
    content = {k: data.get(k) for k in _CONTENT}
    content["store_ids"] = sorted(content["store_ids"] or [])
    content["offer_categories"] = sorted(set(content["offer_categories"] or []))
    if content["margin"] is not None:
        content["margin"] = round(float(content["margin"]), 2)
    return content


def _params(campaign_id: str, body: CampaignIn) -> tuple[Any, ...]:
    return (
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
        sorted(set(body.offer_categories)),
        body.defer_window_seconds,
        body.freshness_seconds,
    )


async def _read(conn: DbConnection, campaign_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(CAMPAIGN_SELECT, campaign_id)


async def get_campaign(
    conn: DbConnection, principal: Principal, campaign_id: str, now: datetime
) -> CampaignOut:
    row = await _read(conn, campaign_id)
    if row is None or not campaign_visible(principal, row["store_ids"]):
        raise NotFoundProblem("campaign", campaign_id)
    return campaign_out(row, now)


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
    limit = clamp_limit(limit)
    rows = await conn.fetch(
        CAMPAIGN_LIST,
        decode_cursor(cursor),
        None if principal.is_admin else sorted(principal.stores),
        store_id,
        kind,
        active,
        now,
        limit + 1,
    )
    shown, next_cursor = page(rows, limit, lambda r: str(r["id"]))
    return CampaignPage(items=[campaign_out(r, now) for r in shown], next_cursor=next_cursor)


async def _check_stores_exist(conn: DbConnection, store_ids: list[str]) -> None:
    if not store_ids:
        return
    found = {r["id"] for r in await conn.fetch(STORES_FOR_SHARE, store_ids)}
    missing = [
        FieldError(field=f"store_ids[{i}]", message=f"no store {sid!r}")
        for i, sid in enumerate(store_ids)
        if sid not in found
    ]
    if missing:
        raise ValidationProblem(missing)


async def put_campaign(
    conn: DbConnection,
    principal: Principal,
    campaign_id: str,
    body: CampaignIn,
    *,
    if_match: str | None,
    now: datetime,
) -> Written[CampaignOut]:
    """Create or replace a campaign; an identical PUT changes nothing (no version, no audit).

    Two concurrent first PUTs of one id: exactly one creates it (201); the other sees it as
    existing (200 unchanged if identical, a replacement otherwise; 412 under a stale If-Match).
    """
    errors = validate_campaign(body, principal)
    if errors:
        raise ValidationProblem(errors)
    wanted = campaign_content(body)
    async with transaction(conn):
        await _check_stores_exist(conn, body.store_ids)
        created = False
        if if_match is None:
            created = (
                await conn.fetchval(CAMPAIGN_INSERT_NEW, *_params(campaign_id, body)) is not None
            )
        if created:
            await conn.execute(CAMPAIGN_STORES_REPLACE, campaign_id, body.store_ids)
            await audit(
                conn,
                actor=principal,
                action="create",
                resource_type="campaign",
                resource_id=campaign_id,
                store_ids=body.store_ids,
                after=wanted,
            )
        else:
            version = await conn.fetchval(CAMPAIGN_LOCK, campaign_id)
            existing = await _read(conn, campaign_id) if version is not None else None
            if existing is not None and not campaign_visible(principal, existing["store_ids"]):
                raise NotFoundProblem("campaign", campaign_id)
            check_if_match(if_match, version)
            assert existing is not None
            before = campaign_content(campaign_out(existing, now))
            if before == wanted:
                return Written(campaign_out(existing, now), created=False)
            await conn.execute(CAMPAIGN_UPDATE, *_params(campaign_id, body))
            await conn.execute(CAMPAIGN_STORES_REPLACE, campaign_id, body.store_ids)
            await audit(
                conn,
                actor=principal,
                action="update",
                resource_type="campaign",
                resource_id=campaign_id,
                store_ids=sorted(set(body.store_ids) | set(existing["store_ids"])),
                before=before,
                after=wanted,
            )
        row = await _read(conn, campaign_id)
        assert row is not None
    return Written(campaign_out(row, now), created=created)


async def delete_campaign(
    conn: DbConnection,
    principal: Principal,
    campaign_id: str,
    *,
    if_match: str | None,
    now: datetime,
) -> None:
    async with transaction(conn):
        version = await conn.fetchval(CAMPAIGN_LOCK, campaign_id)
        existing = await _read(conn, campaign_id) if version is not None else None
        if existing is None or not campaign_visible(principal, existing["store_ids"]):
            raise NotFoundProblem("campaign", campaign_id)
        check_if_match(if_match, existing["version"])
        await conn.execute(CAMPAIGN_DELETE, campaign_id)
        await audit(
            conn,
            actor=principal,
            action="delete",
            resource_type="campaign",
            resource_id=campaign_id,
            store_ids=list(existing["store_ids"]),
            before=campaign_content(campaign_out(existing, now)),
        )
