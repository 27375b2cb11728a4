"""A purchase at a store is a trigger too: the order's relationship moments (the first repeat
order, a high-value customer's 23rd this year, the first in a new category, the first after a
year away) are answered with a thank-you, decided and recorded like any other trigger.

Called by ``POST /v1/purchases`` in the transaction that records the order. Offers stay
suppressed for what was just bought (the satiation gate counts the order at hand), so what
goes out after a purchase is a thank-you or a service message, or nothing — and the decision
says why either way.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from app.db import DbConnection
from app.decisions.inputs import EventFacts
from app.decisions.policy import decide
from app.decisions.services.pipeline import (
    RecordedDecision,
    load_decision_inputs,
    record_decision,
)
from app.moments import PurchaseMade

__all__ = ["decide_on_purchase"]


async def decide_on_purchase(
    conn: DbConnection,
    *,
    customer_id: str,
    store_id: str,
    order_id: str,
    occurred_at: dt.datetime,
    currency: str,
    total: Decimal,
    categories: frozenset[str],
    now: dt.datetime,
) -> RecordedDecision:
    """Decide on a recorded store purchase, in the caller's transaction.

    An order recorded long after it happened (a till uploading yesterday's sales) is a stale
    trigger: the decision records ``stale_event`` and nothing is sent.
    """
    order = PurchaseMade(
        order_id=order_id,
        at=occurred_at,
        channel="store",
        store_id=store_id,
        currency=currency,
        total=total,
        categories=categories,
    )
    event = EventFacts(kind="purchase", occurred_at=occurred_at, received_at=now, order=order)
    inputs = await load_decision_inputs(
        conn,
        customer_id=customer_id,
        store_id=store_id,
        event=event,
        now=now,
        lock_customer=True,
        exclude_order_id=order_id,
    )
    return await record_decision(conn, decide(inputs, now), inputs)
