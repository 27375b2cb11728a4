"""Builders for policy inputs: a reachable regular customer at an open Zurich store.

Every builder takes keyword changes over a default that passes every gate, so a test states
only what it is about:

    decide(inputs(customer=customer(consent_marketing=False)), NOW)

``NOW`` is Friday 2025-03-14 12:30 in Zurich (11:30 UTC); the default store is open
Mo-Sa 09:00-19:00 there.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgspec

from app.context import CustomerContext, DeviceFact, PurchaseFact
from app.decisions.inputs import (
    CampaignFacts,
    DecisionInputs,
    EventFacts,
    MessageText,
    StoreFacts,
)
from app.decisions.settings import PolicySettings

UTC = dt.UTC
ZURICH = "Europe/Zurich"
NOW = dt.datetime(2025, 3, 14, 11, 30, tzinfo=UTC)  # Friday 12:30 in Zurich
HOURS = "Mo-Sa 09:00-19:00"


def at_local(hour: int, minute: int = 0, *, day: int = 14, tz: str = ZURICH) -> dt.datetime:
    """An instant on 2025-03-<day> at hour:minute in ``tz``, in UTC."""
    from zoneinfo import ZoneInfo

    return dt.datetime(2025, 3, day, hour, minute, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def ago(now: dt.datetime = NOW, **delta: float) -> dt.datetime:
    return now - dt.timedelta(**delta)


def device() -> DeviceFact:
    return DeviceFact(device_id=uuid.UUID(int=1), platform="fcm", app_version="1.0")


def purchase(
    order_id: str,
    at: dt.datetime,
    *categories: str,
    store_id: str | None = "s1",
    total: str = "10.00",
) -> PurchaseFact:
    return PurchaseFact(
        order_id=order_id,
        occurred_at=at,
        channel="store" if store_id else "online",
        store_id=store_id,
        currency="GBP",
        total=Decimal(total),
        categories=frozenset(categories),
    )


def customer(**changes: Any) -> CustomerContext:
    """A known regular (visited s1 last week, ordered before: no moment) who can be reached."""
    at = changes.pop("at", NOW)
    facts: dict[str, Any] = {
        "customer_id": "c1",
        "store_id": "s1",
        "at": at,
        "timezone": ZURICH,
        "known": True,
        "locale": "en",
        "first_name": "Ana",
        "consent_location": True,
        "consent_marketing": True,
        "devices": (device(),),
        "orders_total": 4,
        "orders_this_year": 2,
        "first_order_at": ago(at, days=200),
        "last_order_at": ago(at, days=8),
        "first_visit_at": ago(at, days=200),
        "last_visit_at": ago(at, days=7),
        "last_visit_at_store": ago(at, days=7),
        "last_purchase_by_category": {"coffee": ago(at, days=8)},
    }
    facts.update(changes)
    return CustomerContext(**facts)


def store(**changes: Any) -> StoreFacts:
    facts: dict[str, Any] = {
        "id": "s1",
        "name": "Bahnhofstrasse",
        "timezone": ZURICH,
        "country": "CH",
        "categories": frozenset({"coffee"}),
        "opening_hours": HOURS,
    }
    facts.update(changes)
    return StoreFacts(**facts)


def event(at: dt.datetime = NOW, **changes: Any) -> EventFacts:
    facts: dict[str, Any] = {
        "kind": "enter",
        "occurred_at": at,
        "received_at": at,
        "event_id": uuid.UUID(int=42),
        "accuracy_m": 20.0,
    }
    facts.update(changes)
    return EventFacts(**facts)


def text(title: str = "Hi {first_name}", body: str = "See you at {store_name}") -> MessageText:
    return MessageText(title=title, body=body)


def campaign(campaign_id: str, kind: str = "offer", **changes: Any) -> CampaignFacts:
    facts: dict[str, Any] = {
        "id": campaign_id,
        "name": campaign_id.replace("-", " ").title(),
        "kind": kind,
        "templates": {"en": text()},
        "default_locale": "en",
    }
    facts.update(changes)
    return CampaignFacts(**facts)


def offer(
    campaign_id: str = "blend", margin: str = "10", p: float = 0.8, **changes: Any
) -> CampaignFacts:
    return campaign(
        campaign_id, "offer", margin=Decimal(margin), acceptance_probability=p, **changes
    )


def moment_campaign(campaign_id: str = "welcome", *moments: str, **changes: Any) -> CampaignFacts:
    return campaign(campaign_id, "moment", moments=frozenset(moments), **changes)


def service(campaign_id: str = "repair-ready", **changes: Any) -> CampaignFacts:
    return campaign(campaign_id, "service", **changes)


def inputs(
    *campaigns: CampaignFacts,
    customer: CustomerContext | None = None,
    store: StoreFacts | None = None,
    event: EventFacts | None = None,
    settings: PolicySettings | None = None,
    settings_version: int = 1,
) -> DecisionInputs:
    """Inputs with ``campaigns`` (default: one coffee offer) and the defaults above."""
    return DecisionInputs(
        customer=customer if customer is not None else globals()["customer"](),
        store=store if store is not None else globals()["store"](),
        event=event if event is not None else globals()["event"](),
        campaigns=campaigns or (offer(),),
        settings=settings or PolicySettings(),
        settings_version=settings_version,
    )


def replace(value: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(value, **changes)
