"""Writing and reading the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from app.audit.queries import AUDIT_INSERT, AUDIT_LIST
from app.audit.schemas import AuditEntry, AuditPage
from app.auth import Principal
from app.common import clamp_limit, decode_cursor, page
from app.db import DbConnection
from app.edge import REQUEST_ID
from app.limits import INT_MAX
from app.problems import NotFoundProblem, ValidationProblem

__all__ = ["SYSTEM", "Actor", "SystemActor", "audit", "list_audit"]


class SystemActor(NamedTuple):
    """Kairos itself (a worker, a scheduled job, a migration) as the author of a change."""

    sub: str = "kairos"
    role: str = "system"


SYSTEM = SystemActor()

Actor = Principal | SystemActor
"""Who made a change: an authenticated caller or Kairos itself."""


async def audit(
    conn: DbConnection,
    *,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str,
    store_ids: Sequence[str] = (),
    before: Mapping[str, Any] | msgspec.Struct | None = None,
    after: Mapping[str, Any] | msgspec.Struct | None = None,
    at: datetime | None = None,
) -> None:
    """Append to the audit log, inside the caller's transaction.

    The request id of the current request (if any) is recorded with the entry. Push tokens
    and other secrets must be masked by the caller before they reach here.

    Args:
        at: When the change happened; defaults to the database's transaction time.
    """
    await conn.execute(
        AUDIT_INSERT,
        actor.sub,
        actor.role,
        action,
        resource_type,
        resource_id,
        sorted(set(store_ids)),
        msgspec.to_builtins(before) if before is not None else None,
        msgspec.to_builtins(after) if after is not None else None,
        REQUEST_ID.get(),
        at,
    )


def _visible_store_ids(principal: Principal) -> list[str] | None:
    return None if principal.is_admin else sorted(principal.stores)


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
    before_id: int | None = None
    if raw is not None:
        if not raw.isdigit() or not 0 < int(raw) <= INT_MAX:
            raise ValidationProblem.single("cursor", "not a cursor returned by a previous page")
        before_id = int(raw)
    if store_id is not None and not principal.can_see_store(store_id):
        raise NotFoundProblem("store", store_id)
    limit = clamp_limit(limit)
    rows = await conn.fetch(
        AUDIT_LIST,
        before_id,
        _visible_store_ids(principal),
        store_id,
        resource_type,
        resource_id,
        limit + 1,
    )
    shown, next_cursor = page(rows, limit, lambda r: str(r["id"]))
    return AuditPage(
        items=[
            AuditEntry(
                id=r["id"],
                occurred_at=r["occurred_at"],
                actor_sub=r["actor_sub"],
                actor_role=r["actor_role"],
                action=r["action"],
                resource_type=r["resource_type"],
                resource_id=r["resource_id"],
                store_ids=list(r["store_ids"]),
                before=r["before"] if isinstance(r["before"], dict) else None,
                after=r["after"] if isinstance(r["after"], dict) else None,
            )
            for r in shown
        ],
        next_cursor=next_cursor,
    )
