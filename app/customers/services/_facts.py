"""Facts from the brand's systems: purchases, support cases, deliveries.

Facts are idempotent. A purchase is keyed by ``order_id`` and fingerprinted
(:func:`payload_hash`): the same order again is a 200 with the stored result and writes
nothing; the same ``order_id`` with other content is a 409. Support cases and deliveries are
states that evolve (a case closes, a parcel arrives), so sending one again updates it; sending
it unchanged writes nothing, also when two identical copies arrive at once.

A fact about an erased customer is kept de-linked (no customer, no free text), as purchases
are after an erasure: the brand's accounts stay whole and the customer never comes back.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from app.audit import audit
from app.auth import Principal
from app.common import Written, check_if_match
from app.customers._currencies import ACTIVE_ISO_4217
from app.customers.queries import (
    DELIVERY_INSERT,
    DELIVERY_LOCK,
    DELIVERY_UPDATE,
    PURCHASE_CUSTOMER_OF,
    PURCHASE_INSERT,
    PURCHASE_SELECT,
    SUPPORT_CASE_INSERT,
    SUPPORT_CASE_LOCK,
    SUPPORT_CASE_UPDATE,
)
from app.customers.schemas import (
    Delivery,
    DeliveryIn,
    Purchase,
    PurchaseIn,
    PurchaseItem,
    SupportCase,
    SupportCaseIn,
)
from app.customers.services._checks import check_instant, check_money, one, raise_if
from app.customers.services._profile import ensure_customer, is_erased
from app.db import DbConnection, transaction
from app.problems import ConflictProblem, FieldError, ValidationProblem

__all__ = [
    "delivery_row",
    "payload_hash",
    "purchase_row",
    "record_delivery",
    "record_purchase",
    "support_case_row",
    "upsert_support_case",
]

_MAX_QUANTITY = Decimal("1e6")


# Purchases -------------------------------------------------------------------------------
def _validate_purchase(data: PurchaseIn, now: datetime) -> None:
    errors: list[FieldError] = []
    if data.currency not in ACTIVE_ISO_4217:
        message = f"{data.currency!r} is not an active ISO 4217 code"
        errors.append(FieldError(field="currency", message=message))
    check_money(errors, "total", data.total, scale=2)
    check_instant(errors, "occurred_at", data.occurred_at, now)
    if data.channel == "store" and data.store_id is None:
        errors.append(FieldError(field="store_id", message="is required for store purchases"))
    if data.channel == "online" and data.store_id is not None:
        errors.append(FieldError(field="store_id", message="must be null for online purchases"))
    for i, item in enumerate(data.items):
        check_money(errors, f"items[{i}].unit_price", item.unit_price, scale=-1)
        q = item.quantity
        if not q.is_finite() or q <= 0 or q >= _MAX_QUANTITY:
            errors.append(
                FieldError(field=f"items[{i}].quantity", message="must be a positive number")
            )
    raise_if(errors)


def _normal(value: Decimal) -> str:
    """``12.5`` and ``12.50`` are the same amount; their fingerprints must agree."""
    return format(value.normalize(), "f")


def payload_hash(data: PurchaseIn) -> str:
    """Fingerprint of an order's content, independent of JSON spelling and time offsets."""
    canonical = {
        "order_id": data.order_id,
        "customer_id": data.customer_id,
        "channel": data.channel,
        "store_id": data.store_id,
        "occurred_at": data.occurred_at.astimezone(ZoneInfo("UTC")).isoformat(),
        "currency": data.currency,
        "total": _normal(data.total),
        "items": [
            [i.sku, i.category, _normal(i.quantity), _normal(i.unit_price)] for i in data.items
        ],
    }
    return hashlib.sha256(msgspec.json.encode(canonical)).hexdigest()


def purchase_row(row: asyncpg.Record) -> Purchase:
    return Purchase(
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        channel=row["channel"],
        store_id=row["store_id"],
        occurred_at=row["occurred_at"],
        currency=row["currency"],
        total=row["total"],
        items=msgspec.convert(row["items"], list[PurchaseItem], strict=False),
        categories=list(row["categories"]),
        received_at=row["received_at"],
    )


def _replay(row: asyncpg.Record, fingerprint: str) -> Written[Purchase]:
    if row["payload_hash"] != fingerprint:
        raise ConflictProblem(
            f"order {row['order_id']!r} was already recorded with different content",
            slug="idempotency-conflict",
        )
    return Written(purchase_row(row), created=False)


async def record_purchase(
    conn: DbConnection, actor: Principal, data: PurchaseIn, *, now: datetime
) -> Written[Purchase]:
    """``POST /v1/purchases``: record an order once.

    Raises:
        ValidationProblem: Bad amounts, currency, instant or store.
        ConflictProblem: The ``order_id`` is known with other content.
    """
    _validate_purchase(data, now)
    fingerprint = payload_hash(data)
    # Look before creating anything: a replay must not create the customer.
    existing = await conn.fetchrow(PURCHASE_SELECT, data.order_id)
    if existing is not None:
        return _replay(existing, fingerprint)
    categories = sorted({item.category for item in data.items})
    async with transaction(conn):
        linked = await ensure_customer(conn, actor, data.customer_id)
        row = await conn.fetchrow(
            PURCHASE_INSERT,
            data.order_id,
            data.customer_id if linked else None,
            data.channel,
            data.store_id,
            data.occurred_at,
            data.currency,
            data.total,
            msgspec.to_builtins(data.items),
            categories,
            fingerprint,
        )
        if row is None:  # the same order arrived concurrently and won
            return _replay(await one(conn, PURCHASE_SELECT, data.order_id), fingerprint)
        purchase = purchase_row(row)
        if linked and purchase.channel == "store" and purchase.store_id is not None:
            # A store order is a trigger: its moments get a thank-you (app.decisions).
            from app.decisions.services.purchases import decide_on_purchase

            await decide_on_purchase(
                conn,
                customer_id=data.customer_id,
                store_id=purchase.store_id,
                order_id=purchase.order_id,
                occurred_at=purchase.occurred_at,
                currency=purchase.currency,
                total=purchase.total,
                categories=frozenset(purchase.categories),
                now=now,
            )
        await audit(
            conn,
            actor=actor,
            action="create",
            resource_type="purchase",
            resource_id=purchase.order_id,
            store_ids=[purchase.store_id] if purchase.store_id else [],
            after={
                "customer_id": purchase.customer_id,
                "channel": purchase.channel,
                "occurred_at": purchase.occurred_at,
                "currency": purchase.currency,
                "total": str(purchase.total),
                "items": len(purchase.items),
            },
        )
        return Written(purchase, created=True)


# Support cases ---------------------------------------------------------------------------
def support_case_row(row: asyncpg.Record) -> SupportCase:
    return SupportCase(
        id=row["id"],
        customer_id=row["customer_id"],
        kind=row["kind"],
        store_id=row["store_id"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        summary=row["summary"],
        open=row["closed_at"] is None,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _case_image(case: SupportCase) -> dict[str, Any]:
    return {
        "customer_id": case.customer_id,
        "kind": case.kind,
        "store_id": case.store_id,
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "summary": case.summary,
    }


def _case_args(case_id: str, data: SupportCaseIn, linked: bool) -> tuple[Any, ...]:
    # De-linked: neither the customer nor the free text (it may name them) is kept.
    return (
        case_id,
        data.customer_id if linked else None,
        data.kind,
        data.store_id,
        data.opened_at,
        data.closed_at,
        data.summary if linked else None,
    )


def _wanted_case_image(data: SupportCaseIn, linked: bool) -> dict[str, Any]:
    return {
        "customer_id": data.customer_id if linked else None,
        "kind": data.kind,
        "store_id": data.store_id,
        "opened_at": data.opened_at,
        "closed_at": data.closed_at,
        "summary": data.summary if linked else None,
    }


async def upsert_support_case(
    conn: DbConnection,
    actor: Principal,
    case_id: str,
    data: SupportCaseIn,
    *,
    now: datetime,
    if_match: str | None = None,
) -> Written[SupportCase]:
    """``PUT /v1/support-cases/{case_id}``: create or replace a case.

    Raises:
        ValidationProblem: Instants in the future, closed before opened, unknown store.
        PreconditionFailedProblem: ``If-Match`` names another version.
    """
    errors: list[FieldError] = []
    check_instant(errors, "opened_at", data.opened_at, now)
    check_instant(errors, "closed_at", data.closed_at, now)
    if data.closed_at is not None and data.closed_at < data.opened_at:
        errors.append(FieldError(field="closed_at", message="is before opened_at"))
    raise_if(errors)
    async with transaction(conn):
        if if_match is None:
            # Insert-first: of two concurrent first PUTs exactly one creates the case.
            linked = await ensure_customer(conn, actor, data.customer_id)
            inserted = await conn.fetchrow(SUPPORT_CASE_INSERT, *_case_args(case_id, data, linked))
            if inserted is not None:
                created = support_case_row(inserted)
                await audit(
                    conn,
                    actor=actor,
                    action="create",
                    resource_type="support_case",
                    resource_id=case_id,
                    store_ids=[data.store_id] if data.store_id else [],
                    after=_case_image(created),
                )
                return Written(created, created=True)
        row = await conn.fetchrow(SUPPORT_CASE_LOCK, case_id)
        current = support_case_row(row) if row else None
        check_if_match(if_match, current.version if current else None)
        assert current is not None  # it exists: the insert above conflicted, or If-Match held
        linked = not await is_erased(conn, data.customer_id)
        if _case_image(current) == _wanted_case_image(data, linked):
            return Written(current, created=False)
        if linked:
            await ensure_customer(conn, actor, data.customer_id)
        written = support_case_row(
            await one(conn, SUPPORT_CASE_UPDATE, *_case_args(case_id, data, linked))
        )
        await audit(
            conn,
            actor=actor,
            action="update",
            resource_type="support_case",
            resource_id=case_id,
            store_ids=[s for s in {data.store_id, current.store_id} if s],
            before=_case_image(current),
            after=_case_image(written),
        )
        return Written(written, created=False)


# Deliveries ------------------------------------------------------------------------------
def delivery_row(row: asyncpg.Record, now: datetime) -> Delivery:
    promised, delivered = row["promised_at"], row["delivered_at"]
    return Delivery(
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        promised_at=promised,
        delivered_at=delivered,
        delayed=delivered > promised if delivered is not None else now > promised,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _delivery_customer(
    conn: DbConnection, data: DeliveryIn, row: asyncpg.Record | None
) -> str | None:
    """The customer a delivery belongs to: as given, as stored, or as its order says."""
    if data.customer_id is not None:
        return data.customer_id
    if row is not None and row["customer_id"] is not None:
        return str(row["customer_id"])
    customer_id = await conn.fetchval(PURCHASE_CUSTOMER_OF, data.order_id)
    if customer_id is None and row is None:
        raise ValidationProblem.single(
            "customer_id", "is required: no purchase with this order_id names a customer"
        )
    return customer_id


async def record_delivery(
    conn: DbConnection, actor: Principal, data: DeliveryIn, *, now: datetime
) -> Written[Delivery]:
    """``POST /v1/deliveries``: record or update the delivery of an order.

    Raises:
        ValidationProblem: ``delivered_at`` in the future; no customer given or known.
    """
    errors: list[FieldError] = []
    check_instant(errors, "delivered_at", data.delivered_at, now)
    raise_if(errors)
    async with transaction(conn):
        for _ in range(2):  # a concurrent first copy may win the insert: then update theirs
            row = await conn.fetchrow(DELIVERY_LOCK, data.order_id)
            customer_id = await _delivery_customer(conn, data, row)
            linked = customer_id is not None and not await is_erased(conn, customer_id)
            wanted = {
                "customer_id": customer_id if linked else None,
                "promised_at": data.promised_at,
                "delivered_at": data.delivered_at,
            }
            before = {k: row[k] for k in wanted} if row is not None else None
            if before == wanted:
                assert row is not None
                return Written(delivery_row(row, now), created=False)
            if linked:
                assert customer_id is not None
                await ensure_customer(conn, actor, customer_id)
            args = (data.order_id, wanted["customer_id"], data.promised_at, data.delivered_at)
            if row is None:
                written = await conn.fetchrow(DELIVERY_INSERT, *args)
                if written is None:
                    continue
            else:
                written = await one(conn, DELIVERY_UPDATE, *args)
            await audit(
                conn,
                actor=actor,
                action="create" if row is None else "update",
                resource_type="delivery",
                resource_id=data.order_id,
                before=before,
                after=wanted,
            )
            return Written(delivery_row(written, now), created=row is None)
    raise RuntimeError("unreachable: the second pass sees the row that won")  # pragma: no cover
