"""Relationship moments: when the right answer is a thank-you, not a sale.

Pure functions of a :class:`~app.context.CustomerContext` (the history *before* the event,
see :func:`app.context.load_context`) and the event at hand, a :class:`Visit` to a store or a
:class:`PurchaseMade`. No I/O, no clock: the event carries its instant.

Each rule is a named function with its parameters in :class:`MomentRules`.
:func:`detect_moments` returns every moment that applies, ordered by :data:`PRIORITY`:

1. ``first_visit_after_delayed_delivery`` — service recovery comes first: the customer is
   back after we let them down, and that is the thing to acknowledge.
2. ``return_after_absence`` — first visit or order after more than ``absence_days``.
3. ``first_visit_ever`` — first visit to any store.
4. ``milestone_order`` — a high-value customer's Nth order this calendar year.
5. ``first_repeat_order`` — the second order ever.
6. ``first_visit_to_store`` — first visit to this store (having visited others).
7. ``first_order_in_category`` — an order with a category never bought before.

What counts as a visit: a visit event (check-in, geofence enter or dwell at a store) or a
purchase in the ``store`` channel. What counts as an order: any purchase.

Structs here keep real annotations so msgspec can resolve them at runtime.
"""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from app.context import CustomerContext

__all__ = [
    "DEFAULT_RULES",
    "FIRST_ORDER_IN_CATEGORY",
    "FIRST_REPEAT_ORDER",
    "FIRST_VISIT_AFTER_DELAYED_DELIVERY",
    "FIRST_VISIT_EVER",
    "FIRST_VISIT_TO_STORE",
    "MILESTONE_ORDER",
    "PRIORITY",
    "RETURN_AFTER_ABSENCE",
    "Moment",
    "MomentEvent",
    "MomentRules",
    "PurchaseMade",
    "Visit",
    "detect_moments",
]

FIRST_VISIT_AFTER_DELAYED_DELIVERY = "first_visit_after_delayed_delivery"
RETURN_AFTER_ABSENCE = "return_after_absence"
FIRST_VISIT_EVER = "first_visit_ever"
MILESTONE_ORDER = "milestone_order"
FIRST_REPEAT_ORDER = "first_repeat_order"
FIRST_VISIT_TO_STORE = "first_visit_to_store"
FIRST_ORDER_IN_CATEGORY = "first_order_in_category"

PRIORITY: tuple[str, ...] = (
    FIRST_VISIT_AFTER_DELAYED_DELIVERY,
    RETURN_AFTER_ABSENCE,
    FIRST_VISIT_EVER,
    MILESTONE_ORDER,
    FIRST_REPEAT_ORDER,
    FIRST_VISIT_TO_STORE,
    FIRST_ORDER_IN_CATEGORY,
)
"""Moment codes, most important first (see the module docstring for why)."""


class MomentRules(msgspec.Struct, kw_only=True, frozen=True):
    """Parameters of the moment rules.

    Attributes:
        absence_days: ``return_after_absence`` fires when the last visit or order is more than
            this many days before the event.
        milestones: Order numbers within a calendar year that ``milestone_order`` celebrates.
        high_value_lifetime_value: Lifetime value (in any one currency, this order included)
            from which a customer is high-value for ``milestone_order``.
        high_value_segment: A CRM segment that makes a customer high-value regardless.
        delayed_delivery_max_age_days: A delayed delivery promised longer ago than this is
            history, not a moment.
    """

    absence_days: Annotated[int, Meta(ge=1, le=36_500)] = 365
    milestones: Annotated[
        tuple[Annotated[int, Meta(ge=1, le=100_000)], ...], Meta(max_length=50)
    ] = (10, 23, 50, 100)
    # Finite and not negative: checked where rules are written (policy settings).
    high_value_lifetime_value: Decimal = Decimal(1000)
    high_value_segment: Annotated[str, Meta(min_length=1, max_length=64)] = "high_value"
    delayed_delivery_max_age_days: Annotated[int, Meta(ge=0, le=3650)] = 90


DEFAULT_RULES = MomentRules()


class Visit(msgspec.Struct, kw_only=True, frozen=True, tag="visit"):
    """The customer is at a store (check-in, geofence enter or dwell)."""

    store_id: str
    at: dt.datetime


class PurchaseMade(msgspec.Struct, kw_only=True, frozen=True, tag="purchase"):
    """The customer just ordered; ``store_id`` is None online."""

    order_id: str
    at: dt.datetime
    channel: Literal["store", "online"]
    store_id: str | None
    currency: str
    total: Decimal
    categories: frozenset[str] = frozenset()


MomentEvent = Visit | PurchaseMade


class Moment(msgspec.Struct, kw_only=True, frozen=True):
    """A relationship moment.

    Attributes:
        code: Stable machine name (one of :data:`PRIORITY`).
        message: A sentence for people reading decisions.
        data: The facts that made it a moment.
    """

    code: str
    message: str
    data: dict[str, Any]


def _is_visit(event: MomentEvent) -> bool:
    return isinstance(event, Visit) or event.channel == "store"


def first_visit_after_delayed_delivery(
    ctx: CustomerContext, event: MomentEvent, rules: MomentRules
) -> Moment | None:
    """The first visit or order since a delivery of ours was late (or is overdue).

    Not a moment when a visit or order already followed the broken promise, or when the
    promise is older than ``delayed_delivery_max_age_days``.
    """
    delivery = ctx.latest_delivery
    if delivery is None or not delivery.delayed or delivery.followed_by_visit:
        return None
    if event.at <= delivery.promised_at:
        return None
    if event.at - delivery.promised_at > dt.timedelta(days=rules.delayed_delivery_max_age_days):
        return None
    late = "still not delivered" if delivery.delivered_at is None else "delivered late"
    return Moment(
        code=FIRST_VISIT_AFTER_DELAYED_DELIVERY,
        message=f"First time back since order {delivery.order_id} was {late}.",
        data={
            "order_id": delivery.order_id,
            "promised_at": delivery.promised_at.isoformat(),
            "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        },
    )


def return_after_absence(
    ctx: CustomerContext, event: MomentEvent, rules: MomentRules
) -> Moment | None:
    """A visit or order more than ``absence_days`` after the last visit or order."""
    last_seen = ctx.last_seen_at
    if last_seen is None:
        return None
    away = event.at - last_seen
    if away <= dt.timedelta(days=rules.absence_days):
        return None
    return Moment(
        code=RETURN_AFTER_ABSENCE,
        message=f"Back after {away.days} days away.",
        data={"days_away": away.days, "last_seen_at": last_seen.isoformat()},
    )


def first_visit_ever(ctx: CustomerContext, event: MomentEvent, rules: MomentRules) -> Moment | None:
    """The first visit to any store (an online order is not a visit)."""
    if not _is_visit(event) or ctx.first_visit_at is not None:
        return None
    return Moment(
        code=FIRST_VISIT_EVER,
        message="First visit to one of our stores.",
        data={"store_id": event.store_id},
    )


def _is_high_value(ctx: CustomerContext, event: PurchaseMade, rules: MomentRules) -> bool:
    if rules.high_value_segment in ctx.segments:
        return True
    value = ctx.lifetime_value.get(event.currency, Decimal(0)) + event.total
    return value >= rules.high_value_lifetime_value


def milestone_order(ctx: CustomerContext, event: MomentEvent, rules: MomentRules) -> Moment | None:
    """A high-value customer's Nth order this calendar year, N in ``milestones``.

    The year is the store's (the loader's time zone). High-value: the ``high_value`` segment,
    or lifetime value in the order's currency, this order included, at the threshold.
    """
    if not isinstance(event, PurchaseMade):
        return None
    number = ctx.orders_this_year + 1
    if number not in rules.milestones or not _is_high_value(ctx, event, rules):
        return None
    return Moment(
        code=MILESTONE_ORDER,
        message=f"Order number {number} this year from a high-value customer.",
        data={"order_number_this_year": number, "order_id": event.order_id},
    )


def first_repeat_order(
    ctx: CustomerContext, event: MomentEvent, rules: MomentRules
) -> Moment | None:
    """The second order ever: they came back."""
    if not isinstance(event, PurchaseMade) or ctx.orders_total != 1:
        return None
    return Moment(
        code=FIRST_REPEAT_ORDER,
        message="Second order: the first repeat.",
        data={
            "order_id": event.order_id,
            "first_order_at": ctx.first_order_at.isoformat() if ctx.first_order_at else None,
        },
    )


def first_visit_to_store(
    ctx: CustomerContext, event: MomentEvent, rules: MomentRules
) -> Moment | None:
    """The first visit to this store by someone who has visited others.

    A first visit ever is ``first_visit_ever`` only, not both.
    """
    if not _is_visit(event) or ctx.first_visit_at is None or ctx.last_visit_at_store is not None:
        return None
    return Moment(
        code=FIRST_VISIT_TO_STORE,
        message="First visit to this store.",
        data={"store_id": event.store_id},
    )


def first_order_in_category(
    ctx: CustomerContext, event: MomentEvent, rules: MomentRules
) -> Moment | None:
    """An order with categories never bought before, by a customer who has ordered before."""
    if not isinstance(event, PurchaseMade) or ctx.orders_total == 0:
        return None
    new = sorted(event.categories - ctx.categories)
    if not new:
        return None
    return Moment(
        code=FIRST_ORDER_IN_CATEGORY,
        message="First order in " + ", ".join(new) + ".",
        data={"categories": new, "order_id": event.order_id},
    )


Rule = Callable[[CustomerContext, MomentEvent, MomentRules], Moment | None]

_RULES: dict[str, Rule] = {
    FIRST_VISIT_AFTER_DELAYED_DELIVERY: first_visit_after_delayed_delivery,
    RETURN_AFTER_ABSENCE: return_after_absence,
    FIRST_VISIT_EVER: first_visit_ever,
    MILESTONE_ORDER: milestone_order,
    FIRST_REPEAT_ORDER: first_repeat_order,
    FIRST_VISIT_TO_STORE: first_visit_to_store,
    FIRST_ORDER_IN_CATEGORY: first_order_in_category,
}


def detect_moments(
    ctx: CustomerContext, event: MomentEvent, rules: MomentRules = DEFAULT_RULES
) -> list[Moment]:
    """Every moment ``event`` makes, most important first (:data:`PRIORITY`).

    Raises:
        ValueError: A store visit for another store than the context was loaded for.
    """
    if _is_visit(event) and event.store_id != ctx.store_id:
        raise ValueError(f"context is for store {ctx.store_id!r}, event is at {event.store_id!r}")
    found = (_RULES[code](ctx, event, rules) for code in PRIORITY)
    return [moment for moment in found if moment is not None]
