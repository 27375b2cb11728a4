"""Push targets of the customer app: register, refresh, take over, list, delete.

A push token identifies an install: registering a token already held by another customer
moves it to the caller (reinstalls and shared phones happen); the move is audited. Tokens are
returned and audited masked (:func:`mask_token`) and never logged. A refresh that changes
nothing but ``last_seen_at`` is a heartbeat, not an audited change.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.audit import audit
from app.auth import Principal
from app.common import Written
from app.customers.queries import DEVICE_DELETE, DEVICE_LIST, DEVICE_PREVIOUS, DEVICE_UPSERT
from app.customers.schemas import Device, DeviceIn
from app.customers.services._checks import mask_token, one
from app.customers.services._profile import customer_id_of, ensure_customer
from app.db import DbConnection, transaction
from app.problems import GoneProblem, NotFoundProblem

__all__ = ["delete_my_device", "device_row", "list_my_devices", "register_device"]


def device_row(row: asyncpg.Record) -> Device:
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
    conn: DbConnection, principal: Principal, data: DeviceIn
) -> Written[Device]:
    """``POST /v1/me/devices``: register, refresh, reactivate or take over a push token.

    Raises:
        GoneProblem: The customer was erased.
    """
    customer_id = customer_id_of(principal)
    async with transaction(conn):
        if not await ensure_customer(conn, principal, customer_id):
            raise GoneProblem(
                "this customer was erased at their request; no device can be registered",
                slug="customer-erased",
            )
        previous = await conn.fetchrow(DEVICE_PREVIOUS, data.platform, data.token)
        row = await one(
            conn, DEVICE_UPSERT, customer_id, data.platform, data.token, data.app_version
        )
        device = device_row(row)
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


async def list_my_devices(conn: DbConnection, principal: Principal) -> list[Device]:
    """``GET /v1/me/devices``."""
    return [device_row(r) for r in await conn.fetch(DEVICE_LIST, customer_id_of(principal))]


async def delete_my_device(conn: DbConnection, principal: Principal, device_id: uuid.UUID) -> None:
    """``DELETE /v1/me/devices/{id}``.

    Raises:
        NotFoundProblem: No such device, or another customer's (never 403: ids don't leak).
    """
    customer_id = customer_id_of(principal)
    async with transaction(conn):
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
