"""The write steps stores and geofences share: one upsert, one audited delete.

Both resources are written the same way (and the importer uses the same upserts), so the
steps live here once: a resource type differs only in its SQL and its audit names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from app.audit import audit
from app.auth import Principal
from app.common import check_if_match
from app.db import DbConnection
from app.edge import REQUEST_ID
from app.problems import FieldError, NotFoundProblem, ValidationProblem

__all__ = ["delete_audited", "upsert_one", "valid"]

T = TypeVar("T")


def valid(checked: tuple[T | None, list[FieldError]]) -> T:
    """The record a validator produced, or the 422 naming every field it refused."""
    record, errors = checked
    if errors or record is None:
        raise ValidationProblem(errors)
    return record


async def upsert_one(
    conn: DbConnection, query: str, rows: list[dict[str, Any]], principal: Principal
) -> asyncpg.Record | None:
    """Run a shared upsert (:mod:`app.stores.queries`) for one row, audited as the caller.

    Returns:
        The written row (with ``inserted``), or None when nothing changed.
    """
    return await conn.fetchrow(query, rows, principal.sub, principal.role, None, REQUEST_ID.get())


async def delete_audited(
    conn: DbConnection,
    principal: Principal,
    *,
    resource_type: str,
    resource_id: str,
    store_id: str,
    if_match: str | None,
    lock: str,
    delete: str,
    belongs: Callable[[asyncpg.Record], bool] = lambda _: True,
    before_delete: Callable[[asyncpg.Record], Awaitable[None]] | None = None,
) -> asyncpg.Record:
    """Lock the row, 404 if absent (or not the caller's), check ``If-Match``, delete, audit.

    Must run inside the caller's transaction. ``lock`` selects the row ``FOR UPDATE`` with its
    audit ``image``; ``before_delete`` records what a cascade will take with it.
    """
    existing = await conn.fetchrow(lock, resource_id)
    if existing is None or not belongs(existing):
        raise NotFoundProblem(resource_type, resource_id)
    check_if_match(if_match, existing["version"])
    if before_delete is not None:
        await before_delete(existing)
    await conn.execute(delete, resource_id)
    await audit(
        conn,
        actor=principal,
        action="delete",
        resource_type=resource_type,
        resource_id=resource_id,
        store_ids=[store_id],
        before=existing["image"],
    )
    return existing
