"""The audit log: who changed what, when, with the before and after images.

Every area writes it through :func:`app.audit.services.audit`, inside the transaction of the
change it records; managers and admins read it through ``GET /v1/audit``.
"""

from __future__ import annotations

from app.audit.services import SYSTEM, Actor, SystemActor, audit

__all__ = ["SYSTEM", "Actor", "SystemActor", "audit"]
