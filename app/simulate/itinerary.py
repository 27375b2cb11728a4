"""A customer's day as a list of stops (shared by the story scripts and the path generator).

A stop is somewhere the customer is between ``arrive`` and ``leave``: home, the office, or a
store they walk past or into. Between two stops they travel in a straight line (walking, or
the Tube for longer legs), and the app reports background fixes on the way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Item", "Itinerary", "Stop"]

Item = tuple[str, str, int, Decimal]
"""One till line: sku, category, quantity, unit price (GBP)."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Where the customer is from ``arrive`` to ``leave``.

    Attributes:
        store_id: The store whose geofence this stop is in (a pass-by or a visit); None for
            home, work and the street.
        checkin: They scan the app at the till (a ``checkin`` event).
        purchase: What they buy (the POS posts it through the integration API).
        app_silent: The phone reports nothing here (location off indoors, a flat battery):
            only the POS knows they came.
        mocked: The phone says its location is mocked (developer options, a spoofing app).
        accuracy_m: Force the accuracy of the reports here (a weak indoor fix), else random.
    """

    arrive: dt.datetime
    leave: dt.datetime
    lat: float
    lng: float
    store_id: str | None = None
    checkin: bool = False
    purchase: tuple[Item, ...] = ()
    app_silent: bool = False
    mocked: bool = False
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class Itinerary:
    """One customer's day, stops in time order."""

    customer_id: str
    stops: tuple[Stop, ...]
