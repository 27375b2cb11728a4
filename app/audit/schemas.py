"""Bodies of the audit-log API."""

from datetime import datetime
from typing import Any

import msgspec

from app.common import Page

__all__ = ["AuditEntry", "AuditPage"]


class AuditEntry(msgspec.Struct, kw_only=True):
    """One change. ``before`` / ``after`` are the resource's images (null on create / delete);
    push tokens appear masked."""

    id: int
    occurred_at: datetime
    actor_sub: str
    actor_role: str
    action: str
    resource_type: str
    resource_id: str
    store_ids: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(Page, kw_only=True):
    items: list[AuditEntry]
