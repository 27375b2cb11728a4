"""Invites as the outside world sees them: delivery receipts and the status state machine.

``schemas`` holds the Structs, ``queries`` the SQL, ``services`` the state machine and the
receipt rules, ``controllers`` the thin HTTP layer (``POST /v1/receipts`` for gateways and
relays; ``/v1/me/invites`` for the customer's app).
"""

from __future__ import annotations

from app.invites.controllers import MyInvitesController, ReceiptsController

__all__ = ["INVITE_CONTROLLERS", "MyInvitesController", "ReceiptsController"]

INVITE_CONTROLLERS = (ReceiptsController, MyInvitesController)
"""Every controller of this package, for ``app.main.route_handlers()``."""
