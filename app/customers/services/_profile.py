"""Customer profiles: the CRM's view (``/v1/customers``) and the customer's own (``/v1/me``).

Unknown customers are created, not refused: POS, e-commerce and CRM systems know a customer
before the app does. A customer created that way has no consents, so nothing is ever sent to
them until they or the CRM say otherwise. An erased customer never comes back: a tombstone
(a digest of the id) answers every later attempt (:func:`ensure_customer`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from app.audit import audit
from app.auth import Principal
from app.common import BRAND_ID_PATTERN, Written, check_if_match
from app.customers.queries import (
    CUSTOMER_ERASED,
    CUSTOMER_INSERT,
    CUSTOMER_INSERT_DEFAULTS,
    CUSTOMER_LOCK,
    CUSTOMER_SELECT,
    CUSTOMER_UPDATE,
)
from app.customers.schemas import (
    ConsentChanges,
    Consents,
    Customer,
    CustomerUpsert,
    MyProfile,
    QuietHours,
)
from app.customers.services._checks import check_zone, one, raise_if
from app.db import DbConnection, transaction
from app.problems import FieldError, GoneProblem, NotFoundProblem, ValidationProblem

__all__ = [
    "ProfileChange",
    "clear_my_quiet_hours",
    "customer_id_of",
    "customer_row",
    "ensure_customer",
    "erased_digest",
    "get_customer",
    "get_my_profile",
    "is_erased",
    "profile_image",
    "set_my_quiet_hours",
    "update_my_consents",
    "upsert_customer",
]


def customer_row(row: asyncpg.Record) -> Customer:
    quiet = row["quiet_hours"]
    return Customer(
        id=row["id"],
        locale=row["locale"],
        first_name=row["first_name"],
        consents=Consents(location=row["consent_location"], marketing=row["consent_marketing"]),
        consents_updated_at=row["consents_updated_at"],
        quiet_hours=msgspec.convert(quiet, QuietHours) if quiet else None,
        segments=list(row["segments"]),
        flags=dict(row["flags"] or {}),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def profile_image(customer: Customer) -> dict[str, Any]:
    """What the audit log records of a profile (no timestamps: they always differ)."""
    return {
        "locale": customer.locale,
        "first_name": customer.first_name,
        "consents": msgspec.to_builtins(customer.consents),
        "quiet_hours": msgspec.to_builtins(customer.quiet_hours),
        "segments": customer.segments,
        "flags": customer.flags,
    }


def erased_digest(customer_id: str) -> str:
    """The tombstone of an erased id: a digest, so the erased id itself is not kept."""
    return hashlib.sha256(f"kairos:erased-customer:{customer_id}".encode()).hexdigest()


async def is_erased(conn: DbConnection, customer_id: str) -> bool:
    return bool(await conn.fetchval(CUSTOMER_ERASED, erased_digest(customer_id)))


def _gone(customer_id: str) -> GoneProblem:
    return GoneProblem(
        f"customer {customer_id!r} was erased at their request and cannot be re-created",
        slug="customer-erased",
    )


async def ensure_customer(conn: DbConnection, actor: Principal, customer_id: str) -> bool:
    """Make sure ``customer_id`` exists, creating it with no consents (audited) if new.

    Returns:
        False when the customer was erased: the caller keeps its fact de-linked (as purchases
        are after an erasure) instead of bringing the customer back.
    """
    if await is_erased(conn, customer_id):
        return False
    row = await conn.fetchrow(CUSTOMER_INSERT_DEFAULTS, customer_id)
    if row is not None:
        await audit(
            conn,
            actor=actor,
            action="create",
            resource_type="customer",
            resource_id=customer_id,
            after=profile_image(customer_row(row)),
        )
    return True


def _default_profile(customer_id: str, now: datetime) -> Customer:
    return Customer(
        id=customer_id,
        locale="en",
        first_name=None,
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
    conn: DbConnection,
    actor: Principal,
    customer_id: str,
    change: ProfileChange,
    *,
    now: datetime,
    if_match: str | None = None,
) -> Written[Customer]:
    """Lock, change, write: no version bump and no audit when nothing changes.

    The change is computed under the row lock, so concurrent partial updates (one app
    changing consents while the CRM changes segments) do not lose each other's writes.
    """
    async with transaction(conn):
        if await is_erased(conn, customer_id):
            raise _gone(customer_id)
        row = await conn.fetchrow(CUSTOMER_LOCK, customer_id)
        current = customer_row(row) if row else None
        check_if_match(if_match, current.version if current else None)
        previous = current or _default_profile(customer_id, now)
        wanted = change(previous)
        # consents_updated_at records when the customer (or CRM) last gave or withdrew one.
        consents_at = now if wanted.consents != previous.consents else previous.consents_updated_at
        args = (
            customer_id,
            wanted.locale,
            wanted.consents.location,
            wanted.consents.marketing,
            consents_at,
            msgspec.to_builtins(wanted.quiet_hours),
            list(wanted.segments),
            dict(wanted.flags),
            wanted.first_name,
        )
        if current is None:
            row = await conn.fetchrow(CUSTOMER_INSERT, *args)
            if row is None:  # created concurrently since we looked: change theirs instead
                return await _change_profile(conn, actor, customer_id, change, now=now)
            created = customer_row(row)
            await audit(
                conn,
                actor=actor,
                action="create",
                resource_type="customer",
                resource_id=customer_id,
                after=profile_image(created),
            )
            return Written(created, created=True)
        before = profile_image(current)
        if profile_image(wanted) == before:
            return Written(current, created=False)
        updated = customer_row(await one(conn, CUSTOMER_UPDATE, *args))
        await audit(
            conn,
            actor=actor,
            action="update",
            resource_type="customer",
            resource_id=customer_id,
            before=before,
            after=profile_image(updated),
        )
        return Written(updated, created=False)


async def upsert_customer(
    conn: DbConnection,
    actor: Principal,
    customer_id: str,
    data: CustomerUpsert,
    *,
    now: datetime,
    if_match: str | None = None,
) -> Written[Customer]:
    """``PUT /v1/customers/{id}``: create or replace a profile.

    Omitted ``consents``, ``quiet_hours`` and ``first_name`` keep their current values: the
    customer sets those in the app, and a CRM sync that does not know them must not reset them.

    Raises:
        ValidationProblem: The quiet hours name an unknown time zone.
        PreconditionFailedProblem: ``If-Match`` names another version.
        GoneProblem: The customer was erased.
    """
    errors: list[FieldError] = []
    if isinstance(data.quiet_hours, QuietHours):
        check_zone(errors, "quiet_hours.timezone", data.quiet_hours.timezone)
    raise_if(errors)

    def replace(current: Customer) -> Customer:
        return msgspec.structs.replace(
            current,
            locale=data.locale,
            first_name=(
                current.first_name if data.first_name is msgspec.UNSET else data.first_name
            ),
            consents=current.consents if data.consents is msgspec.UNSET else data.consents,
            quiet_hours=(
                current.quiet_hours if data.quiet_hours is msgspec.UNSET else data.quiet_hours
            ),
            segments=list(data.segments),
            flags=dict(data.flags),
        )

    return await _change_profile(conn, actor, customer_id, replace, now=now, if_match=if_match)


async def get_customer(conn: DbConnection, customer_id: str) -> Customer:
    """Raises: NotFoundProblem."""
    row = await conn.fetchrow(CUSTOMER_SELECT, customer_id)
    if row is None:
        raise NotFoundProblem("customer", customer_id)
    return customer_row(row)


# The customer's own profile --------------------------------------------------------------
def customer_id_of(principal: Principal) -> str:
    """The caller's customer id: a customer token's ``sub``.

    Raises:
        ValidationProblem: The ``sub`` is not a brand id (a token minted for something else).
    """
    if not re.fullmatch(BRAND_ID_PATTERN, principal.sub):
        raise ValidationProblem.single("sub", "the token's sub is not a valid customer id")
    return principal.sub


def _my_profile(customer: Customer | None, customer_id: str) -> MyProfile:
    if customer is None:
        return MyProfile(
            id=customer_id,
            registered=False,
            locale="en",
            first_name=None,
            consents=Consents(),
            consents_updated_at=None,
            quiet_hours=None,
        )
    return MyProfile(
        id=customer.id,
        registered=True,
        locale=customer.locale,
        first_name=customer.first_name,
        consents=customer.consents,
        consents_updated_at=customer.consents_updated_at,
        quiet_hours=customer.quiet_hours,
    )


async def get_my_profile(conn: DbConnection, principal: Principal) -> MyProfile:
    """``GET /v1/me``; an unknown customer sees the defaults (reading creates nothing)."""
    customer_id = customer_id_of(principal)
    row = await conn.fetchrow(CUSTOMER_SELECT, customer_id)
    return _my_profile(customer_row(row) if row else None, customer_id)


async def _change_my_profile(
    conn: DbConnection, principal: Principal, change: ProfileChange, now: datetime
) -> MyProfile:
    customer_id = customer_id_of(principal)
    written = await _change_profile(conn, principal, customer_id, change, now=now)
    return _my_profile(written.value, customer_id)


async def update_my_consents(
    conn: DbConnection, principal: Principal, changes: ConsentChanges, *, now: datetime
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

    return await _change_my_profile(conn, principal, give_or_withdraw, now)


async def set_my_quiet_hours(
    conn: DbConnection, principal: Principal, quiet_hours: QuietHours, *, now: datetime
) -> MyProfile:
    """``PUT /v1/me/quiet-hours``.

    Raises:
        ValidationProblem: Unknown time zone.
    """
    errors: list[FieldError] = []
    check_zone(errors, "timezone", quiet_hours.timezone)
    raise_if(errors)
    return await _change_my_profile(
        conn,
        principal,
        lambda current: msgspec.structs.replace(current, quiet_hours=quiet_hours),
        now,
    )


async def clear_my_quiet_hours(
    conn: DbConnection, principal: Principal, *, now: datetime
) -> MyProfile:
    """``DELETE /v1/me/quiet-hours``."""
    return await _change_my_profile(
        conn, principal, lambda current: msgspec.structs.replace(current, quiet_hours=None), now
    )
