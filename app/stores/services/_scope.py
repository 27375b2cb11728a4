"""Who may reach which store."""

from __future__ import annotations

from app.auth import Principal
from app.problems import NotFoundProblem

__all__ = ["require_store_scope", "visible_store_ids"]


def visible_store_ids(principal: Principal) -> list[str] | None:
    """None for admins (no filter), else the manager's stores."""
    return None if principal.is_admin else sorted(principal.stores)


def require_store_scope(principal: Principal, store_id: str) -> None:
    """404 (never 403: ids don't leak) unless the caller may reach ``store_id``."""
    if not principal.can_see_store(store_id):
        raise NotFoundProblem("store", store_id)
