"""Customer context: profiles, devices, purchases, deliveries, support cases, DSRs (issue 7).

``schemas`` holds the request and response Structs, ``queries`` the SQL, ``services`` the
rules and transactions, ``controllers`` the thin HTTP layer.
"""

from __future__ import annotations

from app.customers.controllers import (
    CustomersController,
    FactsController,
    MeController,
)

__all__ = [
    "CUSTOMER_CONTROLLERS",
    "CustomersController",
    "FactsController",
    "MeController",
]

CUSTOMER_CONTROLLERS = (CustomersController, FactsController, MeController)
"""Every controller of this package, for ``app.main.route_handlers()``."""
