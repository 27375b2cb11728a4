"""Customer context writes and reads: profiles, devices, purchases, cases, deliveries, DSRs.

Choices this module makes (and the OpenAPI descriptions repeat):

* **Unknown customers are created, not refused.** POS and e-commerce systems send purchases
  (and CRMs send cases) before the app ever registers the customer. A fact for an unknown
  customer id creates the customer with the defaults: no consents, so nothing is ever sent
  to them until they or the CRM say otherwise. The creation is audited like any other.
* **Facts are idempotent.** A purchase is keyed by ``order_id`` and fingerprinted
  (``payload_hash``): the same order again is a 200 with the stored result and writes
  nothing; the same ``order_id`` with other content is a 409. Support cases and deliveries are
  states that evolve (a case closes, a parcel arrives), so sending one again updates it;
  sending it unchanged writes nothing.
* **A push token identifies an install.** Registering a token already held by another
  customer moves it to the caller (reinstalls and shared phones happen); the move is audited.
  Tokens are returned and audited masked (:func:`mask_token`) and never logged. A refresh
  that changes nothing but ``last_seen_at`` is a heartbeat, not an audited change.
* **Erasure de-identifies the audit trail rather than deleting it.** Events, presence,
  decisions, invites, devices, deliveries and cases are deleted; purchases stay for the
  brand's accounts with ``customer_id`` NULL. Earlier audit entries about the customer keep
  their action, resource type, time and staff actor, but lose their before/after images, and
  the customer's id (as actor or resource) is replaced by a random per-erasure reference.
  The erasure's own audit entry carries only that reference and row counts.

Every write runs in one transaction with its audit entry. Integrity errors from PostgreSQL
become problems in one place, :func:`_integrity_problem`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import msgspec

from app.common import BRAND_ID_PATTERN, audit, check_if_match, utcnow
from app.customers._currencies import ACTIVE_ISO_4217
from app.customers.queries import (
    AUDIT_ABOUT_SUBJECT,
    CUSTOMER_INSERT,
    CUSTOMER_INSERT_DEFAULTS,
    CUSTOMER_LOCK,
    CUSTOMER_SELECT,
    CUSTOMER_UPDATE,
    DELIVERY_INSERT,
    DELIVERY_LOCK,
    DELIVERY_UPDATE,
    DEVICE_DELETE,
    DEVICE_LIST,
    DEVICE_PREVIOUS,
    DEVICE_UPSERT,
    ERASE_AUDIT_SCRUB,
    ERASE_DELETES,
    ERASE_PURCHASES_DELINK,
    EXPORT_ROWS,
    PURCHASE_CUSTOMER_OF,
    PURCHASE_INSERT,
    PURCHASE_SELECT,
    PURCHASES_OF,
    SUPPORT_CASE_INSERT,
    SUPPORT_CASE_LOCK,
    SUPPORT_CASE_UPDATE,
)
from app.customers.schemas import (
    ConsentChanges,
    Consents,
    Customer,
    CustomerExport,
    CustomerUpsert,
    Delivery,
    DeliveryIn,
    Device,
    DeviceIn,
    ErasureReport,
    MyProfile,
    Purchase,
    PurchaseIn,
    PurchaseItem,
    QuietHours,
    SupportCase,
    SupportCaseIn,
)
from app.problems import ConflictProblem, FieldError, NotFoundProblem, ValidationProblem

if TYPE_CHECKING:
    from app.auth import Principal

__all__ = [
    "MAX_FUTURE_SKEW",
    "Written",
    "clear_my_quiet_hours",
    "delete_my_device",
    "erase_customer",
    "export_customer",
    "get_customer",
    "get_my_profile",
    "list_my_devices",
    "mask_token",
    "record_delivery",
    "record_purchase",
    "register_device",
    "set_my_quiet_hours",
    "update_my_consents",
    "upsert_customer",
    "upsert_support_case",
]

MAX_FUTURE_SKEW = timedelta(minutes=5)
"""Instants of things that happened may run this far ahead of our clock, no further."""

T = TypeVar("T")

_MAX_TOTAL = Decimal("1e12")  # purchases.total is numeric(14, 2)
_MAX_QUANTITY = Decimal("1e6")


@dataclass(frozen=True, slots=True)
class Written(Generic[T]):
    """A write's result and whether it created the resource (201) or not (200)."""

    value: T
    created: bool


# Helpers ---------------------------------------------------------------------------------
def mask_token(token: str) -> str:
    """First four and last four characters; tokens shorter than 16 reveal nothing."""
    if len(token) < 16:
        return "…"
    return f"{token[:4]}…{token[-4:]}"


@asynccontextmanager
async def _transaction(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction whose integrity errors come out as problems."""
    try:
        async with conn.transaction():
            yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise _integrity_problem(exc) from None


# Foreign keys a client can break by naming something that does not exist.
_FK_FIELDS = {
    "purchases_store_id_fkey": ("store_id", "no such store"),
    "support_cases_store_id_fkey": ("store_id", "no such store"),
}


def _integrity_problem(exc: asyncpg.IntegrityConstraintViolationError) -> Exception:
    """The one place where SQLSTATE integrity errors become domain problems."""
    constraint = getattr(exc, "constraint_name", None) or ""
    if isinstance(exc, asyncpg.ForeignKeyViolationError) and constraint in _FK_FIELDS:
        field, message = _FK_FIELDS[constraint]
        return ValidationProblem.single(field, message)
    if isinstance(exc, asyncpg.UniqueViolationError):
        return ConflictProblem(f"already exists ({constraint or 'unique constraint'})")
    return exc  # a bug, not client input: the 500 handler logs its type, not its row


def _check_instant(
    errors: list[FieldError], field: str, value: datetime | None, now: datetime
) -> None:
    if value is not None and value > now + MAX_FUTURE_SKEW:
        errors.append(FieldError(field=field, message="is more than 5 minutes in the future"))


def _check_money(errors: list[FieldError], field: str, value: Decimal, *, scale: int) -> None:
    if not value.is_finite():
        errors.append(FieldError(field=field, message="must be a finite number"))
    elif value < 0:
        errors.append(FieldError(field=field, message="must not be negative"))
    elif value >= _MAX_TOTAL:
        errors.append(FieldError(field=field, message="is too large"))
    elif scale >= 0 and -value.as_tuple().exponent > scale:  # type: ignore[operator]
        errors.append(FieldError(field=field, message=f"has more than {scale} decimal places"))


def _check_zone(errors: list[FieldError], field: str, name: str | None) -> None:
    if name is None:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError(field=field, message=f"{name!r} is not an IANA time zone"))


async def _one(conn: asyncpg.Connection, query: str, *args: Any) -> asyncpg.Record:
    """The row a statement must return (an INSERT/UPDATE ... RETURNING of a locked row)."""
    row = await conn.fetchrow(query, *args)
    if row is None:  # pragma: no cover - the callers hold the lock that guarantees the row
        raise RuntimeError("expected a row")
    return row


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationProblem(errors)


# Customers -------------------------------------------------------------------------------
def _customer(row: asyncpg.Record) -> Customer:
    quiet = row["quiet_hours"]
    return Customer(
        id=row["id"],
        locale=row["locale"],
        consents=Consents(location=row["consent_location"], marketing=row["consent_marketing"]),
        consents_updated_at=row["consents_updated_at"],
        quiet_hours=msgspec.convert(quiet, QuietHours) if quiet else None,
        segments=list(row["segments"]),
        flags=dict(row["flags"] or {}),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _profile_image(customer: Customer) -> dict[str, Any]:
    """What the audit log records of a profile (no timestamps: they always differ)."""
    return {
        "locale": customer.locale,
        "consents": msgspec.to_builtins(customer.consents),
        "quiet_hours": msgspec.to_builtins(customer.quiet_hours),
        "segments": customer.segments,
        "flags": customer.flags,
    }


async def _ensure_customer(conn: asyncpg.Connection, actor: Principal, customer_id: str) -> None:
    """Create a customer heard of for the first time, with no consents (audited)."""
    row = await conn.fetchrow(CUSTOMER_INSERT_DEFAULTS, customer_id)
    if row is not None:
        created = _customer(row)
        await audit(
            conn,
            actor=actor,
            action="create",
            resource_type="customer",
            resource_id=customer_id,
            after=_profile_image(created),
        )


def _default_profile(customer_id: str) -> Customer:
    now = utcnow()
    return Customer(
        id=customer_id,
        locale="en",
        consents=Consents(),
        consents_updated_at=None,
        quiet_hours=None,
        segments=[],
        flags={},
        version=0,
        created_at=now,
        updated_at=now,
    )


ProfileChange = Callable[[Customer], Customer]
"""Turns the current profile (or the defaults, for a new customer) into the wanted one."""


async def _change_profile(
    conn: asyncpg.Connection,
    actor: Principal,
    customer_id: str,
    change: ProfileChange,
    *,
    if_match: str | None = None,
) -> Written[Customer]:
    """Lock, change, write: no version bump and no audit when nothing changes.

    The change is computed under the row lock, so concurrent partial updates (one app
    changing consents while the CRM changes segments) do not lose each other's writes.
    """
    async with _transaction(conn):
        row = await conn.fetchrow(CUSTOMER_LOCK, customer_id)
        current = _customer(row) if row else None
        check_if_match(if_match, current.version if current else None)
        wanted = change(current or _default_profile(customer_id))
        # consents_updated_at records when the customer (or CRM) last gave or withdrew one.
        previous = current or _default_profile(customer_id)
        consents_at = (
            utcnow() if wanted.consents != previous.consents else previous.consents_updated_at
        )
        args = (
            customer_id,
            wanted.locale,
            wanted.consents.location,
            wanted.consents.marketing,
            consents_at,
            msgspec.to_builtins(wanted.quiet_hours),
            list(wanted.segments),
            dict(wanted.flags),
        )
        if current is None:
            row = await conn.fetchrow(CUSTOMER_INSERT, *args)
            if row is None:  # created concurrently since we looked: change theirs instead
                return await _change_profile(conn, actor, customer_id, change)
            created = _customer(row)
            await audit(
                conn,
                actor=actor,
                action="create",
                resource_type="customer",
                resource_id=customer_id,
                after=_profile_image(created),
            )
            return Written(created, created=True)
        before = _profile_image(current)
        if _profile_image(wanted) == before:
            return Written(current, created=False)
        updated = _customer(await _one(conn, CUSTOMER_UPDATE, *args))
        await audit(
            conn,
            actor=actor,
            action="update",
            resource_type="customer",
            resource_id=customer_id,
            before=before,
            after=_profile_image(updated),
        )
        return Written(updated, created=False)


async def upsert_customer(
    conn: asyncpg.Connection,
    actor: Principal,
    customer_id: str,
    data: CustomerUpsert,
    if_match: str | None = None,
) -> Written[Customer]:
    """``PUT /v1/customers/{id}``: create or replace a profile.

    Omitted ``consents`` and ``quiet_hours`` keep their current values: the customer sets
    those in the app, and a CRM sync that does not know them must not reset them.

    Raises:
        ValidationProblem: The quiet hours name an unknown time zone.
        PreconditionFailedProblem: ``If-Match`` names another version.
    """
    errors: list[FieldError] = []
    if isinstance(data.quiet_hours, QuietHours):
        _check_zone(errors, "quiet_hours.timezone", data.quiet_hours.timezone)
    _raise_if(errors)

    def replace(current: Customer) -> Customer:
        return msgspec.structs.replace(
            current,
            locale=data.locale,
            consents=current.consents if data.consents is msgspec.UNSET else data.consents,
            quiet_hours=(
                current.quiet_hours if data.quiet_hours is msgspec.UNSET else data.quiet_hours
            ),
            segments=list(data.segments),
            flags=dict(data.flags),
        )

    return await _change_profile(conn, actor, customer_id, replace, if_match=if_match)


async def get_customer(conn: asyncpg.Connection, customer_id: str) -> Customer:
    """Raises: NotFoundProblem."""
    row = await conn.fetchrow(CUSTOMER_SELECT, customer_id)
    if row is None:
        raise NotFoundProblem("customer", customer_id)
    return _customer(row)


# The customer's own profile --------------------------------------------------------------
def _my_id(principal: Principal) -> str:
    """A customer token's ``sub`` is their customer id."""
    if not re.fullmatch(BRAND_ID_PATTERN, principal.sub):
        raise ValidationProblem.single("sub", "the token's sub is not a valid customer id")
    return principal.sub


def _my_profile(customer: Customer | None, customer_id: str) -> MyProfile:
    if customer is None:
        return MyProfile(
            id=customer_id,
            registered=False,
            locale="en",
            consents=Consents(),
            consents_updated_at=None,
            quiet_hours=None,
        )
    return MyProfile(
        id=customer.id,
        registered=True,
        locale=customer.locale,
        consents=customer.consents,
        consents_updated_at=customer.consents_updated_at,
        quiet_hours=customer.quiet_hours,
    )


async def get_my_profile(conn: asyncpg.Connection, principal: Principal) -> MyProfile:
    """``GET /v1/me``; an unknown customer sees the defaults (reading creates nothing)."""
    customer_id = _my_id(principal)
    row = await conn.fetchrow(CUSTOMER_SELECT, customer_id)
    return _my_profile(_customer(row) if row else None, customer_id)


async def _change_my_profile(
    conn: asyncpg.Connection, principal: Principal, change: ProfileChange
) -> MyProfile:
    customer_id = _my_id(principal)
    written = await _change_profile(conn, principal, customer_id, change)
    return _my_profile(written.value, customer_id)


async def update_my_consents(
    conn: asyncpg.Connection, principal: Principal, changes: ConsentChanges
) -> MyProfile:
    """``PATCH /v1/me/consents``: omitted (null) consents stay as they are."""

    def give_or_withdraw(current: Customer) -> Customer:
        consents = Consents(
            location=current.consents.location if changes.location is None else changes.location,
            marketing=(
                current.consents.marketing if changes.marketing is None else changes.marketing
            ),
        )
        return msgspec.structs.replace(current, consents=consents)

    return await _change_my_profile(conn, principal, give_or_withdraw)


async def set_my_quiet_hours(
    conn: asyncpg.Connection, principal: Principal, quiet_hours: QuietHours
) -> MyProfile:
    """``PUT /v1/me/quiet-hours``.

    Raises:
        ValidationProblem: Unknown time zone.
    """
    errors: list[FieldError] = []
    _check_zone(errors, "timezone", quiet_hours.timezone)
    _raise_if(errors)
    return await _change_my_profile(
        conn, principal, lambda current: msgspec.structs.replace(current, quiet_hours=quiet_hours)
    )


async def clear_my_quiet_hours(conn: asyncpg.Connection, principal: Principal) -> MyProfile:
    """``DELETE /v1/me/quiet-hours``."""
    return await _change_my_profile(
        conn, principal, lambda current: msgspec.structs.replace(current, quiet_hours=None)
    )


# Devices ---------------------------------------------------------------------------------
def _device(row: asyncpg.Record) -> Device:
    return Device(
        id=row["id"],
        platform=row["platform"],
        token_masked=mask_token(row["token"]),
        app_version=row["app_version"],
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_seen_at=row["last_seen_at"],
    )


def _device_image(row: asyncpg.Record | Device, customer_id: str | None) -> dict[str, Any]:
    token_masked = row.token_masked if isinstance(row, Device) else mask_token(row["token"])
    platform = row.platform if isinstance(row, Device) else row["platform"]
    app_version = row.app_version if isinstance(row, Device) else row["app_version"]
    return {
        "customer_id": customer_id,
        "platform": platform,
        "token_masked": token_masked,
        "app_version": app_version,
    }


async def register_device(
    conn: asyncpg.Connection, principal: Principal, data: DeviceIn
) -> Written[Device]:
    """``POST /v1/me/devices``: register, refresh, reactivate or take over a push token."""
    customer_id = _my_id(principal)
    async with _transaction(conn):
        await _ensure_customer(conn, principal, customer_id)
        previous = await conn.fetchrow(DEVICE_PREVIOUS, data.platform, data.token)
        row = await _one(
            conn, DEVICE_UPSERT, customer_id, data.platform, data.token, data.app_version
        )
        device = _device(row)
        if previous is None:
            await audit(
                conn,
                actor=principal,
                action="create",
                resource_type="device",
                resource_id=str(device.id),
                after=_device_image(device, customer_id),
            )
            return Written(device, created=True)
        material = (
            previous["customer_id"] != customer_id
            or previous["app_version"] != data.app_version
            or not previous["active"]
        )
        if material:
            before = _device_image(device, previous["customer_id"])
            before.update(app_version=previous["app_version"], active=previous["active"])
            await audit(
                conn,
                actor=principal,
                action="update",
                resource_type="device",
                resource_id=str(device.id),
                before=before,
                after={**_device_image(device, customer_id), "active": True},
            )
        return Written(device, created=False)


async def list_my_devices(conn: asyncpg.Connection, principal: Principal) -> list[Device]:
    """``GET /v1/me/devices``."""
    return [_device(r) for r in await conn.fetch(DEVICE_LIST, _my_id(principal))]


async def delete_my_device(
    conn: asyncpg.Connection, principal: Principal, device_id: uuid.UUID
) -> None:
    """``DELETE /v1/me/devices/{id}``.

    Raises:
        NotFoundProblem: No such device, or another customer's (never 403: ids don't leak).
    """
    customer_id = _my_id(principal)
    async with _transaction(conn):
        row = await conn.fetchrow(DEVICE_DELETE, device_id, customer_id)
        if row is None:
            raise NotFoundProblem("device", str(device_id))
        await audit(
            conn,
            actor=principal,
            action="delete",
            resource_type="device",
            resource_id=str(device_id),
            before=_device_image(row, customer_id),
        )


# Purchases -------------------------------------------------------------------------------
def _validate_purchase(data: PurchaseIn, now: datetime) -> None:
    errors: list[FieldError] = []
    if data.currency not in ACTIVE_ISO_4217:
        message = f"{data.currency!r} is not an active ISO 4217 code"
        errors.append(FieldError(field="currency", message=message))
    _check_money(errors, "total", data.total, scale=2)
    _check_instant(errors, "occurred_at", data.occurred_at, now)
    if data.channel == "store" and data.store_id is None:
        errors.append(FieldError(field="store_id", message="is required for store purchases"))
    if data.channel == "online" and data.store_id is not None:
        errors.append(FieldError(field="store_id", message="must be null for online purchases"))
    for i, item in enumerate(data.items):
        _check_money(errors, f"items[{i}].unit_price", item.unit_price, scale=-1)
        q = item.quantity
        if not q.is_finite() or q <= 0 or q >= _MAX_QUANTITY:
            errors.append(
                FieldError(field=f"items[{i}].quantity", message="must be a positive number")
            )
    _raise_if(errors)


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


def _purchase(row: asyncpg.Record) -> Purchase:
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
    return Written(_purchase(row), created=False)


async def record_purchase(
    conn: asyncpg.Connection, actor: Principal, data: PurchaseIn, *, now: datetime | None = None
) -> Written[Purchase]:
    """``POST /v1/purchases``: record an order once.

    Raises:
        ValidationProblem: Bad amounts, currency, instant or store.
        ConflictProblem: The ``order_id`` is known with other content.
    """
    _validate_purchase(data, now or utcnow())
    fingerprint = payload_hash(data)
    # Look before creating anything: a replay after the customer's erasure must not bring
    # the customer back.
    existing = await conn.fetchrow(PURCHASE_SELECT, data.order_id)
    if existing is not None:
        return _replay(existing, fingerprint)
    categories = sorted({item.category for item in data.items})
    async with _transaction(conn):
        await _ensure_customer(conn, actor, data.customer_id)
        row = await conn.fetchrow(
            PURCHASE_INSERT,
            data.order_id,
            data.customer_id,
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
            return _replay(await _one(conn, PURCHASE_SELECT, data.order_id), fingerprint)
        purchase = _purchase(row)
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
def _support_case(row: asyncpg.Record) -> SupportCase:
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


def _case_image(case: SupportCase | SupportCaseIn) -> dict[str, Any]:
    return {
        "customer_id": case.customer_id,
        "kind": case.kind,
        "store_id": case.store_id,
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "summary": case.summary,
    }


async def upsert_support_case(
    conn: asyncpg.Connection,
    actor: Principal,
    case_id: str,
    data: SupportCaseIn,
    *,
    if_match: str | None = None,
    now: datetime | None = None,
) -> Written[SupportCase]:
    """``PUT /v1/support-cases/{case_id}``: create or replace a case.

    Raises:
        ValidationProblem: Instants in the future, closed before opened, unknown store.
        PreconditionFailedProblem: ``If-Match`` names another version.
    """
    now = now or utcnow()
    errors: list[FieldError] = []
    _check_instant(errors, "opened_at", data.opened_at, now)
    _check_instant(errors, "closed_at", data.closed_at, now)
    if data.closed_at is not None and data.closed_at < data.opened_at:
        errors.append(FieldError(field="closed_at", message="is before opened_at"))
    _raise_if(errors)
    args = (
        case_id,
        data.customer_id,
        data.kind,
        data.store_id,
        data.opened_at,
        data.closed_at,
        data.summary,
    )
    async with _transaction(conn):
        row = await conn.fetchrow(SUPPORT_CASE_LOCK, case_id)
        current = _support_case(row) if row else None
        check_if_match(if_match, current.version if current else None)
        if current is not None and _case_image(current) == _case_image(data):
            return Written(current, created=False)
        await _ensure_customer(conn, actor, data.customer_id)
        if current is None:
            written = _support_case(await _one(conn, SUPPORT_CASE_INSERT, *args))
        else:
            written = _support_case(await _one(conn, SUPPORT_CASE_UPDATE, *args))
        await audit(
            conn,
            actor=actor,
            action="create" if current is None else "update",
            resource_type="support_case",
            resource_id=case_id,
            store_ids=[s for s in {data.store_id, current and current.store_id} if s],
            before=_case_image(current) if current else None,
            after=_case_image(written),
        )
        return Written(written, created=current is None)


# Deliveries ------------------------------------------------------------------------------
def _delivery(row: asyncpg.Record, now: datetime) -> Delivery:
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


async def record_delivery(
    conn: asyncpg.Connection, actor: Principal, data: DeliveryIn, *, now: datetime | None = None
) -> Written[Delivery]:
    """``POST /v1/deliveries``: record or update the delivery of an order.

    Raises:
        ValidationProblem: ``delivered_at`` in the future; no customer given or known.
    """
    now = now or utcnow()
    errors: list[FieldError] = []
    _check_instant(errors, "delivered_at", data.delivered_at, now)
    _raise_if(errors)
    async with _transaction(conn):
        row = await conn.fetchrow(DELIVERY_LOCK, data.order_id)
        customer_id = data.customer_id
        if customer_id is None and row is not None:
            customer_id = row["customer_id"]
        if customer_id is None:
            customer_id = await conn.fetchval(PURCHASE_CUSTOMER_OF, data.order_id)
        if customer_id is None:
            raise ValidationProblem.single(
                "customer_id", "is required: no purchase with this order_id names a customer"
            )
        wanted = {
            "customer_id": customer_id,
            "promised_at": data.promised_at,
            "delivered_at": data.delivered_at,
        }
        before = None
        if row is not None:
            before = {k: row[k] for k in wanted}
            if before == wanted:
                return Written(_delivery(row, now), created=False)
        await _ensure_customer(conn, actor, customer_id)
        query = DELIVERY_INSERT if row is None else DELIVERY_UPDATE
        written = await _one(
            conn, query, data.order_id, customer_id, data.promised_at, data.delivered_at
        )
        await audit(
            conn,
            actor=actor,
            action="create" if row is None else "update",
            resource_type="delivery",
            resource_id=data.order_id,
            before=before,
            after=wanted,
        )
        return Written(_delivery(written, now), created=row is None)


# Data-subject requests -------------------------------------------------------------------
async def _subject_keys(conn: asyncpg.Connection, customer_id: str) -> tuple[list[str], list[str]]:
    """Ids of the customer's devices and cases, to find audit entries about them."""
    devices = await conn.fetch(
        "SELECT id::text AS id FROM devices WHERE customer_id = $1", customer_id
    )
    cases = await conn.fetch("SELECT id FROM support_cases WHERE customer_id = $1", customer_id)
    return [r["id"] for r in devices], [r["id"] for r in cases]


async def export_customer(
    conn: asyncpg.Connection, actor: Principal, customer_id: str
) -> CustomerExport:
    """``GET /v1/customers/{id}/export``: everything held, read in one snapshot; audited.

    Raises:
        NotFoundProblem: No such customer (or already erased).
    """
    now = utcnow()
    async with conn.transaction(isolation="repeatable_read"):
        row = await conn.fetchrow(CUSTOMER_SELECT, customer_id)
        if row is None:
            raise NotFoundProblem("customer", customer_id)
        device_ids, case_ids = await _subject_keys(conn, customer_id)
        rows = {
            name: [r[0] for r in await conn.fetch(sql, customer_id)]
            for name, sql in EXPORT_ROWS.items()
        }
        result = CustomerExport(
            exported_at=now,
            customer=_customer(row),
            devices=[_device(r) for r in await conn.fetch(DEVICE_LIST, customer_id)],
            purchases=[_purchase(r) for r in await conn.fetch(PURCHASES_OF, customer_id)],
            deliveries=[
                _delivery(r, now)
                for r in await conn.fetch(
                    "SELECT * FROM deliveries WHERE customer_id = $1 ORDER BY promised_at",
                    customer_id,
                )
            ],
            support_cases=[
                _support_case(r)
                for r in await conn.fetch(
                    "SELECT * FROM support_cases WHERE customer_id = $1 ORDER BY opened_at",
                    customer_id,
                )
            ],
            events=rows["events"],
            presence=rows["presence"],
            decisions=rows["decisions"],
            invites=rows["invites"],
            audit=[
                r[0]
                for r in await conn.fetch(AUDIT_ABOUT_SUBJECT, customer_id, device_ids, case_ids)
            ],
        )
    async with conn.transaction():
        await audit(
            conn, actor=actor, action="export", resource_type="customer", resource_id=customer_id
        )
    return result


def _count(status: str) -> int:
    """Rows affected, from asyncpg's command tag (``DELETE 3`` / ``UPDATE 2``)."""
    return int(status.rsplit(" ", 1)[-1])


async def erase_customer(
    conn: asyncpg.Connection, actor: Principal, customer_id: str
) -> ErasureReport:
    """``DELETE /v1/customers/{id}``: erase a customer (see the module docstring).

    Raises:
        NotFoundProblem: No such customer (or already erased).
    """
    reference = f"erased-{uuid.uuid4()}"
    async with _transaction(conn):
        if await conn.fetchrow(CUSTOMER_LOCK, customer_id) is None:
            raise NotFoundProblem("customer", customer_id)
        device_ids, case_ids = await _subject_keys(conn, customer_id)
        scrubbed = _count(
            await conn.execute(ERASE_AUDIT_SCRUB, customer_id, device_ids, case_ids, reference)
        )
        delinked = _count(await conn.execute(ERASE_PURCHASES_DELINK, customer_id))
        removed = {
            table: _count(await conn.execute(sql, customer_id))
            for table, sql in ERASE_DELETES.items()
        }
        report = ErasureReport(
            reference=reference,
            erased_at=utcnow(),
            removed=removed,
            purchases_delinked=delinked,
            audit_entries_deidentified=scrubbed,
        )
        await audit(
            conn,
            actor=actor,
            action="erase",
            resource_type="customer",
            resource_id=reference,
            after={
                "removed": removed,
                "purchases_delinked": delinked,
                "audit_entries_deidentified": scrubbed,
            },
        )
    return report
