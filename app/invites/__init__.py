"""Invites as the outside world sees them: delivery receipts and the status state machine.

``schemas`` holds the Structs, ``queries`` the SQL, ``services`` the state machine and the
receipt rules, ``controllers`` the thin HTTP layer (``POST /v1/receipts`` for gateways and
relays; the customer app's routes join this area later).
"""

from __future__ import annotations

from app.invites.controllers import ReceiptsController

__all__ = ["INVITE_CONTROLLERS", "ReceiptsController"]

INVITE_CONTROLLERS = (ReceiptsController,)
"""Every controller of this package, for ``app.main.route_handlers()``."""
