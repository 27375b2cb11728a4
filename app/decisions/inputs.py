"""What the policy decides on: the store, the event, the campaigns, the settings.

These frozen Structs are the policy's own vocabulary, independent of the API schemas, so the
policy can be fed by the ingest path, a preview, a replay, a test or a benchmark alike.
:func:`app.decisions.services.load_decision_inputs` builds them from the database.

Structs here keep real annotations so msgspec can resolve them at runtime.
"""

import datetime as dt
from decimal import Decimal
from typing import Literal
from uuid import UUID

import msgspec

from app.context import CustomerContext
from app.decisions.settings import PolicySettings
from app.hours import StoreHours
from app.moments import PurchaseMade

__all__ = [
    "CampaignFacts",
    "CampaignKind",
    "DecisionInputs",
    "EventFacts",
    "EventKind",
    "MessageText",
    "StoreFacts",
]

EventKind = Literal["checkin", "enter", "dwell", "purchase", "preview"]
"""The triggers: a check-in, a geofence enter or dwell, an in-store purchase (``order``), or
a manager's preview (a visit)."""
CampaignKind = Literal["moment", "offer", "service"]


class EventFacts(msgspec.Struct, kw_only=True, frozen=True):
    """The trigger being decided on, as ingestion saw it.

    Attributes:
        event_id: ``events.id`` of the trigger; None for a preview.
        kind: ``checkin``, ``enter``, ``dwell``, ``purchase`` or ``preview``.
        occurred_at: When the app says it happened.
        received_at: When Kairos received it.
        accuracy_m: Horizontal accuracy of the fix in metres (None: unknown, e.g. a QR
            check-in).
        flags: What ingestion noticed, e.g. ``mocked`` (the OS says the location is mocked),
            ``jumped`` (impossible speed since the previous fix), ``claim_mismatch``.
        already_inside: The customer was already inside this geofence, with a decision made
            for this visit, and has not left since.
        customer_timezone: IANA zone where the customer stands (quiet hours); None: the
            store's zone.
        geofence_id: The geofence that triggered, if any.
        order: For ``purchase``: the order at hand (at this store). Its moments are the
            order's (first repeat order, milestone, new category...) and it counts for
            satiation although the customer context, the history before it, leaves it out.
    """

    kind: EventKind
    occurred_at: dt.datetime
    received_at: dt.datetime
    event_id: UUID | None = None
    accuracy_m: float | None = None
    flags: frozenset[str] = frozenset()
    already_inside: bool = False
    customer_timezone: str | None = None
    geofence_id: str | None = None
    order: PurchaseMade | None = None


class StoreFacts(msgspec.Struct, kw_only=True, frozen=True):
    """The store the customer is at.

    Attributes:
        opening_hours: OSM expression; None when unknown (the policy never invites then).
        version: ``stores.version``, recorded so a replay can tell when the store changed.
    """

    id: str
    name: str
    timezone: str
    country: str | None = None
    region: str | None = None
    categories: frozenset[str] = frozenset()
    opening_hours: str | None = None
    version: int = 1


class MessageText(msgspec.Struct, kw_only=True, frozen=True):
    """One locale's push text with ``{placeholder}`` fields (see :mod:`app.templates`)."""

    title: str
    body: str


class CampaignFacts(msgspec.Struct, kw_only=True, frozen=True):
    """A campaign that runs at the store (the ``campaigns`` row).

    Attributes:
        templates: Messages by locale (BCP 47), ``default_locale`` among them.
        segments / moments / categories: Eligibility; empty means no restriction.
            ``categories``: the customer has bought one of them before.
        offer_categories: What the offer is about (satiation and complements).
        margin: Expected margin of an accepted offer (money); None counts as 0.
        acceptance_probability: None: the settings' default.
        cap_per_day / cap_per_week: Invites of this campaign per customer in a rolling
            24 hours / 7 days.
        cooldown_seconds: Minimum time between two invites of this campaign to a customer.
        holdout_pct: Share of customers (by a hash of customer and campaign) held out.
        defer_window_seconds: Opt-in: when the store opens within this window, the invite
            is scheduled for the opening instead of suppressed.
        freshness_seconds: How long an invite stays worth sending (None: the settings').
        version: ``campaigns.version``, recorded for replays.
    """

    id: str
    name: str
    kind: CampaignKind
    templates: dict[str, MessageText]
    default_locale: str
    segments: frozenset[str] = frozenset()
    moments: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    offer_categories: frozenset[str] = frozenset()
    margin: Decimal | None = None
    acceptance_probability: float | None = None
    active_from: dt.datetime | None = None
    active_until: dt.datetime | None = None
    cap_per_day: int | None = None
    cap_per_week: int | None = None
    cooldown_seconds: int = 0
    holdout_pct: float = 0.0
    enabled: bool = True
    defer_window_seconds: int | None = None
    freshness_seconds: int | None = None
    version: int = 1


class DecisionInputs(msgspec.Struct, kw_only=True, frozen=True):
    """Everything :func:`app.decisions.policy.decide` needs besides ``now``.

    Attributes:
        customer: The customer's history as of the decision (``app.context``).
        campaigns: The campaigns running at the store; order does not matter.
        settings_version: Version of ``settings`` in ``policy_settings``.
        hours: The store's compiled hours, when the caller has them; None: compiled from
            ``store`` (``app.hours.compile_hours`` is cached).
    """

    customer: CustomerContext
    store: StoreFacts
    event: EventFacts
    campaigns: tuple[CampaignFacts, ...]
    settings: PolicySettings
    settings_version: int
    hours: StoreHours | None = None
