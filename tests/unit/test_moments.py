"""Relationship moments, table-driven: every seed moment, and the near misses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from app.context import CustomerContext, DeliveryFact
from app.moments import (
    PRIORITY,
    MomentEvent,
    MomentRules,
    PurchaseMade,
    Visit,
    detect_moments,
)
from tests.purity import forbid_clock_and_randomness

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def context(**facts: Any) -> CustomerContext:
    """A known customer at store s1 with ``facts``; everything else empty."""
    return CustomerContext(
        customer_id="c1", store_id="s1", at=NOW, timezone="UTC", known=True, **facts
    )


def visit(store_id: str = "s1") -> Visit:
    return Visit(store_id=store_id, at=NOW)


def purchase(
    *categories: str, channel: str = "online", total: str = "10", currency: str = "EUR"
) -> PurchaseMade:
    return PurchaseMade(
        order_id="o-now",
        at=NOW,
        channel=channel,  # type: ignore[arg-type]
        store_id="s1" if channel == "store" else None,
        currency=currency,
        total=Decimal(total),
        categories=frozenset(categories or ("coffee",)),
    )


# A regular: ordered coffee online and visited s1 last week.
REGULAR: dict[str, Any] = {
    "orders_total": 5,
    "orders_this_year": 5,
    "first_order_at": days_ago(200),
    "last_order_at": days_ago(7),
    "first_visit_at": days_ago(200),
    "last_visit_at": days_ago(7),
    "last_visit_at_store": days_ago(7),
    "last_purchase_by_category": {"coffee": days_ago(7)},
    "lifetime_value": {"EUR": Decimal(50)},
}


def regular(**changes: Any) -> CustomerContext:
    return context(**{**REGULAR, **changes})


def late_delivery(**changes: Any) -> DeliveryFact:
    fields: dict[str, Any] = {
        "order_id": "o-late",
        "promised_at": days_ago(5),
        "delivered_at": days_ago(3),
        "delayed": True,
        "followed_by_visit": False,
    }
    return DeliveryFact(**{**fields, **changes})


CASES: list[tuple[str, CustomerContext, MomentEvent, MomentRules, list[str]]] = [
    # first visit ever
    ("first visit ever", context(), visit(), MomentRules(), ["first_visit_ever"]),
    (
        "an in-store purchase is a visit too",
        context(),
        purchase(channel="store"),
        MomentRules(),
        ["first_visit_ever"],
    ),
    ("an online order is no visit", context(), purchase(), MomentRules(), []),
    ("a regular's visit is no moment", regular(), visit(), MomentRules(), []),
    # first visit to this store
    (
        "first visit to this store",
        regular(last_visit_at_store=None),
        visit(),
        MomentRules(),
        ["first_visit_to_store"],
    ),
    # first repeat order
    (
        "second order ever",
        regular(orders_total=1, orders_this_year=1),
        purchase(),
        MomentRules(),
        ["first_repeat_order"],
    ),
    ("third order is no first repeat", regular(orders_total=2), purchase(), MomentRules(), []),
    ("first order ever is no repeat", context(), purchase(), MomentRules(), []),
    # back after more than a year
    (
        "visit after 400 days away",
        regular(last_visit_at=days_ago(400), last_order_at=days_ago(401)),
        visit(),
        MomentRules(),
        ["return_after_absence"],
    ),
    (
        "order after 400 days away",
        regular(last_visit_at=days_ago(500), last_order_at=days_ago(400)),
        purchase(),
        MomentRules(),
        ["return_after_absence"],
    ),
    (
        "exactly 365 days is not more than a year",
        regular(last_visit_at=days_ago(365), last_order_at=days_ago(365)),
        visit(),
        MomentRules(),
        [],
    ),
    (
        "a recent online order means not away",
        regular(last_visit_at=days_ago(400), last_order_at=days_ago(3)),
        visit(),
        MomentRules(),
        [],
    ),
    (
        "gap is configurable",
        regular(last_visit_at=days_ago(31), last_order_at=days_ago(31)),
        visit(),
        MomentRules(absence_days=30),
        ["return_after_absence"],
    ),
    # milestone orders
    (
        "high-value segment, 23rd order this year",
        regular(orders_this_year=22, orders_total=40, segments=frozenset({"high_value"})),
        purchase(),
        MomentRules(),
        ["milestone_order"],
    ),
    (
        "the 22nd order is no milestone",
        regular(orders_this_year=21, orders_total=40, segments=frozenset({"high_value"})),
        purchase(),
        MomentRules(),
        [],
    ),
    (
        "23rd order of a customer who is not high-value",
        regular(orders_this_year=22, orders_total=40),
        purchase(),
        MomentRules(),
        [],
    ),
    (
        "lifetime value reaches the threshold with this order",
        regular(orders_this_year=9, orders_total=9, lifetime_value={"EUR": Decimal(990)}),
        purchase(total="10"),
        MomentRules(),
        ["milestone_order"],
    ),
    (
        "lifetime value in another currency does not count",
        regular(orders_this_year=9, orders_total=9, lifetime_value={"CHF": Decimal(5000)}),
        purchase(total="10", currency="EUR"),
        MomentRules(),
        [],
    ),
    (
        "milestones are configurable",
        regular(orders_this_year=4, segments=frozenset({"high_value"})),
        purchase(),
        MomentRules(milestones=(5,)),
        ["milestone_order"],
    ),
    # first order in a new category
    (
        "first garden order",
        regular(),
        purchase("coffee", "garden"),
        MomentRules(),
        ["first_order_in_category"],
    ),
    ("coffee again is nothing new", regular(), purchase("coffee"), MomentRules(), []),
    # first visit after a delayed delivery
    (
        "first visit after a late delivery",
        regular(latest_delivery=late_delivery()),
        visit(),
        MomentRules(),
        ["first_visit_after_delayed_delivery"],
    ),
    (
        "first order after a delivery that is still missing",
        regular(latest_delivery=late_delivery(delivered_at=None)),
        purchase(),
        MomentRules(),
        ["first_visit_after_delayed_delivery"],
    ),
    (
        "already followed by a visit: no moment",
        regular(latest_delivery=late_delivery(followed_by_visit=True)),
        visit(),
        MomentRules(),
        [],
    ),
    (
        "an on-time delivery is no moment",
        regular(latest_delivery=late_delivery(delayed=False, delivered_at=days_ago(6))),
        visit(),
        MomentRules(),
        [],
    ),
    (
        "a delay older than the window is history",
        regular(latest_delivery=late_delivery(promised_at=days_ago(120))),
        visit(),
        MomentRules(),
        [],
    ),
    # several at once, in priority order
    (
        "back after two years, first time in this store, after a late delivery",
        regular(
            last_visit_at=days_ago(800),
            last_order_at=days_ago(700),
            last_visit_at_store=None,
            latest_delivery=late_delivery(promised_at=days_ago(10), delivered_at=None),
        ),
        purchase("coffee", "tea", channel="store"),
        MomentRules(),
        [
            "first_visit_after_delayed_delivery",
            "return_after_absence",
            "first_visit_to_store",
            "first_order_in_category",
        ],
    ),
]


@pytest.mark.parametrize(
    ("ctx", "event", "rules", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_moments(
    ctx: CustomerContext, event: MomentEvent, rules: MomentRules, expected: list[str]
) -> None:
    moments = detect_moments(ctx, event, rules)
    assert [m.code for m in moments] == expected
    assert all(m.message for m in moments)


def test_every_seed_moment_has_a_case() -> None:
    seen = {code for case in CASES for code in case[4]}
    assert seen == set(PRIORITY)


def test_moment_data_says_why() -> None:
    ctx = regular(orders_this_year=22, segments=frozenset({"high_value"}))
    [milestone] = detect_moments(ctx, purchase())
    assert milestone.data == {"order_number_this_year": 23, "order_id": "o-now"}
    [category] = detect_moments(regular(), purchase("garden", "coffee", "books"))
    assert category.data["categories"] == ["books", "garden"]


def test_pure_same_input_same_output() -> None:
    ctx = regular(latest_delivery=late_delivery())
    with forbid_clock_and_randomness():
        first = detect_moments(ctx, visit())
        again = detect_moments(ctx, visit())
    assert first == again
    assert [m.code for m in first] == ["first_visit_after_delayed_delivery"]


def test_context_for_another_store_is_refused() -> None:
    with pytest.raises(ValueError, match="context is for store"):
        detect_moments(context(), visit("s2"))


def test_rules_are_frozen_and_default_as_documented() -> None:
    rules = MomentRules()
    assert rules.absence_days == 365
    assert rules.milestones == (10, 23, 50, 100)
    with pytest.raises(AttributeError):
        rules.absence_days = 1  # type: ignore[misc]
    assert msgspec.structs.replace(rules, absence_days=30).absence_days == 30
