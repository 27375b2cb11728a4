"""Policy settings as a resource: read the current version, write a new one.

Versions are never changed or removed: every decision records the version it used, and a
replay runs with it. A ``PUT`` with the same settings as the current version writes nothing;
otherwise it writes version N+1 and an audit entry in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from app.audit import audit
from app.common import check_if_match
from app.db import transaction
from app.decisions import queries
from app.decisions.schemas import PolicyOut
from app.decisions.services.pipeline import settings_from_json
from app.problems import ValidationProblem

if TYPE_CHECKING:
    from app.auth import Principal
    from app.db import DbConnection
    from app.decisions.settings import PolicySettings

__all__ = ["MAX_MONEY", "get_policy", "put_policy"]

MAX_MONEY = Decimal("1000000000000")


def _policy(row: Any) -> PolicyOut:
    return PolicyOut(
        version=row["version"],
        settings=settings_from_json(row["version"], row["settings"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


async def get_policy(conn: DbConnection) -> PolicyOut:
    """The current settings (the highest version; migration 0005 writes version 1)."""
    row = await conn.fetchrow(queries.CURRENT_SETTINGS)
    assert row is not None, "migration 0005 writes version 1"
    return _policy(row)


async def put_policy(
    conn: DbConnection,
    principal: Principal,
    settings: PolicySettings,
    *,
    if_match: str | None,
    now: dt.datetime,
) -> tuple[PolicyOut, bool]:
    """Make ``settings`` current; (policy, whether a new version was written).

    Raises:
        PreconditionFailedProblem: ``If-Match`` names another version than the current one.
        ValidationProblem: A value the types cannot rule out (a money threshold that is not
            a finite, non-negative amount).
    """
    threshold = settings.moments.high_value_lifetime_value
    if not threshold.is_finite() or threshold < 0 or threshold > MAX_MONEY:
        raise ValidationProblem.single(
            "moments.high_value_lifetime_value",
            f"must be an amount between 0 and {MAX_MONEY}",
        )
    async with transaction(conn):
        await conn.execute(queries.LOCK_SETTINGS)
        current = await conn.fetchrow(queries.CURRENT_SETTINGS)
        assert current is not None, "migration 0005 writes version 1"
        check_if_match(if_match, current["version"])
        before = _policy(current)
        if before.settings == settings:
            return before, False
        row = await conn.fetchrow(
            queries.INSERT_SETTINGS,
            current["version"] + 1,
            msgspec.to_builtins(settings),
            now,
            principal.sub,
        )
        assert row is not None
        await audit(
            conn,
            actor=principal,
            action="update",
            resource_type="policy_settings",
            resource_id=str(row["version"]),
            before={"version": before.version, "settings": before.settings},
            after={"version": row["version"], "settings": settings},
        )
    return _policy(row), True
