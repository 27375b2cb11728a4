"""The customer context loader: everything the policy needs, in one SQL statement.

For one customer, one store and an instant ``at``, :func:`load_context` reads profile,
consents, quiet hours, active devices, purchase history, visits, open support cases, the
latest delivery and recent invites in **one round trip** (a single statement of CTEs) and
returns a frozen :class:`CustomerContext`. The policy consumes it without further I/O.

Definitions the loader fixes:

* **Replayable.** Facts count only if they happened at or before ``at`` (purchases by
  ``occurred_at``, visits by the event's ``occurred_at``, cases open at ``at``, deliveries as
  they stood at ``at``), so loading the same instant later gives the same history. The fact
  being decided on is excluded (``exclude_order_id`` / ``exclude_event_id``): the context is
  the history *before* it, whether or not it has been stored yet. Profile, consents, devices
  and invite statuses are current state: they are not versioned in the schema.
* **Visit.** An ``events`` row of type ``checkin``, ``enter`` or ``dwell`` with a
  ``store_id`` (the visit is to that store), or a purchase in the ``store`` channel.
* **Calendar year.** The year of ``at`` in the time zone passed in (the store's), from
  local midnight on 1 January.
* **Latest delivery.** Among deliveries promised or delivered by ``at``, the one promised
  last. It is *delayed* when it arrived after its promise, or had not arrived by ``at`` with
  the promise already passed. It is *followed by a visit* when a visit (any store) or a
  purchase (any channel) happened after its ``promised_at`` and by ``at``.
* **Lifetime value** is summed per currency: without exchange rates, adding CHF to EUR
  would be wrong.
* **Invites for caps** count rows with a status that means the invite went or will go
  (:data:`INVITE_CAP_STATUSES`; not failed, expired or cancelled), by
  ``created_at`` (the decision's instant, set by the recorder), plus *holdout* decisions: a
  customer held out of a campaign was "contacted" as far as caps are concerned, so the
  control group lives under the same caps as the invited group and lift stays comparable.
  Counted in the 24 hours and 7 days up to ``at`` (in total and per campaign) and since
  local midnight in the store's zone; the latest instant per campaign and at this store is
  looked up over :data:`INVITE_LOOKBACK` (the longest cooldown a campaign or the settings
  may ask for). The decision being replayed is left out (``exclude_decision_id``).

Structs here keep real annotations so msgspec can resolve them at runtime.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from app.customers.queries import CONTEXT_SQL
from app.customers.schemas import QuietHours

if TYPE_CHECKING:
    from app.db import DbConnection

__all__ = [
    "CAP_WINDOW",
    "CONTEXT_SQL",
    "INVITE_LOOKBACK",
    "CustomerContext",
    "DeliveryFact",
    "DeviceFact",
    "OpenCase",
    "PurchaseFact",
    "QuietHours",
    "calendar_year_start",
    "context_after",
    "context_from_row",
    "context_parameters",
    "load_context",
    "local_day_start",
]

INVITE_CAP_STATUSES = ("pending", "sending", "sent", "delivered", "opened", "dismissed")
VISIT_EVENT_TYPES = ("checkin", "enter", "dwell")
CAP_WINDOW = dt.timedelta(days=7)
DAY_WINDOW = dt.timedelta(hours=24)
INVITE_LOOKBACK = dt.timedelta(days=90)
"""How far back the last invite per campaign / at the store is looked up: the longest
cooldown a campaign (``cooldown_seconds``) or the policy settings accept."""


class PurchaseFact(msgspec.Struct, kw_only=True, frozen=True):
    """One earlier order."""

    order_id: str
    occurred_at: dt.datetime
    channel: str
    store_id: str | None
    currency: str
    total: Decimal
    categories: frozenset[str]


class OpenCase(msgspec.Struct, kw_only=True, frozen=True):
    """A support case open at the instant of the context."""

    case_id: str
    kind: str
    opened_at: dt.datetime
    store_id: str | None


class DeliveryFact(msgspec.Struct, kw_only=True, frozen=True):
    """The latest delivery as it stood at the instant of the context.

    Attributes:
        delivered_at: None when it had not arrived by then.
        delayed: Arrived after ``promised_at``, or still missing after it.
        followed_by_visit: A visit or purchase happened after ``promised_at``.
    """

    order_id: str
    promised_at: dt.datetime
    delivered_at: dt.datetime | None
    delayed: bool
    followed_by_visit: bool


class DeviceFact(msgspec.Struct, kw_only=True, frozen=True):
    """An active push target (no token: the sender looks it up when it sends)."""

    device_id: UUID
    platform: str
    app_version: str | None


class CustomerContext(msgspec.Struct, kw_only=True, frozen=True):
    """What Kairos knows about a customer at one store and instant.

    Attributes:
        known: False when no customer row exists; everything else is then a default.
        orders_total: Orders before the instant (the fact at hand excluded).
        orders_this_year: Of those, the ones in the calendar year of ``at`` (store zone).
        lifetime_value: Sum of order totals per currency.
        last_purchase_by_category: Latest order instant per item category ever bought.
        first_visit_at: Earliest visit anywhere (events or store purchases).
        last_visit_at / last_visit_at_store: Latest visit anywhere / at this store.
        quiet_hours: The customer's own quiet hours (None: the policy's default applies).
        first_name: For greetings; None when the CRM has not sent one.
        invites_last_7d / invites_last_24h: Invites counting against caps (holdouts
            included, see the module docstring) in the 7 days / 24 hours up to ``at``.
        invites_today: The same since local midnight of ``at`` in the store's zone.
        last_invite_at_by_campaign: Latest such invite per campaign (90-day look-back).
        last_invite_at_store: Latest such invite at this store (90-day look-back).
    """

    customer_id: str
    store_id: str
    at: dt.datetime
    timezone: str
    known: bool
    locale: str = "en"
    consent_location: bool = False
    consent_marketing: bool = False
    first_name: str | None = None
    quiet_hours: QuietHours | None = None
    segments: frozenset[str] = frozenset()
    flags: dict[str, Any] = msgspec.field(default_factory=dict)
    devices: tuple[DeviceFact, ...] = ()
    last_purchase: PurchaseFact | None = None
    last_purchase_at_store: PurchaseFact | None = None
    last_purchase_by_category: dict[str, dt.datetime] = msgspec.field(default_factory=dict)
    orders_total: int = 0
    orders_this_year: int = 0
    orders_at_store: int = 0
    lifetime_value: dict[str, Decimal] = msgspec.field(default_factory=dict)
    first_order_at: dt.datetime | None = None
    last_order_at: dt.datetime | None = None
    first_visit_at: dt.datetime | None = None
    last_visit_at: dt.datetime | None = None
    last_visit_at_store: dt.datetime | None = None
    open_cases: tuple[OpenCase, ...] = ()
    latest_delivery: DeliveryFact | None = None
    invites_last_7d: int = 0
    invites_last_7d_by_campaign: dict[str, int] = msgspec.field(default_factory=dict)
    invites_last_24h: int = 0
    invites_last_24h_by_campaign: dict[str, int] = msgspec.field(default_factory=dict)
    invites_today: int = 0
    last_invite_at_by_campaign: dict[str, dt.datetime] = msgspec.field(default_factory=dict)
    last_invite_at_store: dt.datetime | None = None

    @property
    def categories(self) -> frozenset[str]:
        """Every item category the customer has bought before."""
        return frozenset(self.last_purchase_by_category)

    @property
    def pending_cancellation(self) -> bool:
        """An open ``cancellation`` case: no upsell."""
        return any(case.kind == "cancellation" for case in self.open_cases)

    @property
    def open_complaint(self) -> bool:
        return any(case.kind == "complaint" for case in self.open_cases)

    @property
    def last_seen_at(self) -> dt.datetime | None:
        """The latest visit or order, whichever is later."""
        seen = [t for t in (self.last_visit_at, self.last_order_at) if t is not None]
        return max(seen) if seen else None


def calendar_year_start(at: dt.datetime, timezone: str) -> dt.datetime:
    """Local midnight on 1 January of ``at``'s year in ``timezone``, as an aware instant."""
    zone = ZoneInfo(timezone)
    return dt.datetime(at.astimezone(zone).year, 1, 1, tzinfo=zone)


def local_day_start(at: dt.datetime, timezone: str) -> dt.datetime:
    """Local midnight of ``at``'s day in ``timezone``, as an aware instant."""
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    return dt.datetime(local.year, local.month, local.day, tzinfo=zone)


def _latest(*instants: dt.datetime | None) -> dt.datetime | None:
    present = [t for t in instants if t is not None]
    return max(present) if present else None


def _earliest(*instants: dt.datetime | None) -> dt.datetime | None:
    present = [t for t in instants if t is not None]
    return min(present) if present else None


def _purchase_fact(record: Any) -> PurchaseFact | None:
    if record is None:
        return None
    order_id, occurred_at, channel, store_id, currency, total, categories = record
    return PurchaseFact(
        order_id=order_id,
        occurred_at=occurred_at,
        channel=channel,
        store_id=store_id,
        currency=currency,
        total=total,
        categories=frozenset(categories),
    )


def context_from_row(
    row: "asyncpg.Record | Mapping[str, Any]",
    customer_id: str,
    store_id: str,
    at: dt.datetime,
    timezone: str,
) -> CustomerContext:
    """The context from a row of :data:`CONTEXT_SQL` (or a statement that includes it)."""
    delivery = None
    if row["delivery_order_id"] is not None:
        promised, delivered = row["delivery_promised_at"], row["delivery_delivered_at"]
        delivery = DeliveryFact(
            order_id=row["delivery_order_id"],
            promised_at=promised,
            delivered_at=delivered,
            delayed=delivered > promised if delivered is not None else at > promised,
            followed_by_visit=bool(row["delivery_followed"]),
        )
    known = bool(row["known"])
    by_campaign = row["invites_by_campaign"] or ()
    quiet = row["quiet_hours"]
    return CustomerContext(
        customer_id=customer_id,
        store_id=store_id,
        at=at,
        timezone=timezone,
        known=known,
        locale=row["locale"] if known else "en",
        first_name=row["first_name"],
        consent_location=bool(row["consent_location"]),
        consent_marketing=bool(row["consent_marketing"]),
        quiet_hours=msgspec.convert(quiet, QuietHours) if quiet else None,
        segments=frozenset(row["segments"] or ()),
        flags=dict(row["flags"] or {}),
        devices=tuple(
            DeviceFact(device_id=d[0], platform=d[1], app_version=d[2])
            for d in row["devices"] or ()
        ),
        last_purchase=_purchase_fact(row["last_purchase"]),
        last_purchase_at_store=_purchase_fact(row["last_purchase_at_store"]),
        last_purchase_by_category={c[0]: c[1] for c in row["by_category"] or ()},
        orders_total=row["orders_total"],
        orders_this_year=row["orders_this_year"],
        orders_at_store=row["orders_at_store"],
        lifetime_value={c[0]: c[1] for c in row["by_currency"] or ()},
        first_order_at=row["first_order_at"],
        last_order_at=row["last_order_at"],
        first_visit_at=_earliest(row["first_visit_event_at"], row["first_store_order_at"]),
        last_visit_at=_latest(row["last_visit_event_at"], row["last_store_order_at"]),
        last_visit_at_store=_latest(row["last_visit_event_at_store"], row["last_order_at_store"]),
        open_cases=tuple(
            OpenCase(case_id=c[0], kind=c[1], opened_at=c[2], store_id=c[3])
            for c in row["open_cases"] or ()
        ),
        latest_delivery=delivery,
        invites_last_7d=row["invites_7d"],
        invites_last_7d_by_campaign={c[0]: c[1] for c in by_campaign if c[1]},
        invites_last_24h=row["invites_24h"],
        invites_last_24h_by_campaign={c[0]: c[2] for c in by_campaign if c[2]},
        invites_today=row["invites_today"],
        last_invite_at_by_campaign={c[0]: c[3] for c in by_campaign},
        last_invite_at_store=row["last_invite_at_store"],
    )


def context_after(
    context: CustomerContext,
    *,
    visits: Sequence[tuple[dt.datetime, str]] = (),
    contacts: Sequence[tuple[str | None, str | None]] = (),
) -> CustomerContext:
    """``context`` plus what the caller has recorded since it was loaded, in its own
    transaction, counted exactly as :data:`CONTEXT_SQL` would count it on a fresh load.

    The ingest path loads a store's context once per batch, before writing anything, and
    decides the batch's triggers one after another: each one must see the visits stored
    before its event and the decisions made before it, as if the context had been loaded
    again (the customer is locked, so nobody else adds either).

    Args:
        context: As loaded for ``context.at``.
        visits: ``(occurred_at, store_id)`` of visit rows written since (types
            :data:`VISIT_EVENT_TYPES`, at a store that exists); those after ``context.at``
            do not count, as in the statement.
        contacts: ``(campaign_id, store_id)`` of the invites (send, defer) and holdouts
            decided since, at the instant ``context.at``: each counts in every cap window.
    """
    at = context.at
    visits = [(when, store) for when, store in visits if when <= at]
    if not visits and not contacts:
        return context
    changes: dict[str, Any] = {}
    if visits:
        times = [when for when, _ in visits]
        here = [when for when, store in visits if store == context.store_id]
        changes["first_visit_at"] = _earliest(context.first_visit_at, *times)
        changes["last_visit_at"] = _latest(context.last_visit_at, *times)
        changes["last_visit_at_store"] = _latest(context.last_visit_at_store, *here)
        delivery = context.latest_delivery
        if delivery is not None and any(t > delivery.promised_at for t in times):
            changes["latest_delivery"] = msgspec.structs.replace(delivery, followed_by_visit=True)
    if contacts:
        count = len(contacts)
        changes["invites_last_7d"] = context.invites_last_7d + count
        changes["invites_last_24h"] = context.invites_last_24h + count
        changes["invites_today"] = context.invites_today + count
        if any(store == context.store_id for _, store in contacts):
            changes["last_invite_at_store"] = _latest(context.last_invite_at_store, at)
        week = dict(context.invites_last_7d_by_campaign)
        day = dict(context.invites_last_24h_by_campaign)
        last = dict(context.last_invite_at_by_campaign)
        for campaign_id, _ in contacts:
            if campaign_id is not None:
                week[campaign_id] = week.get(campaign_id, 0) + 1
                day[campaign_id] = day.get(campaign_id, 0) + 1
                last[campaign_id] = _latest(last.get(campaign_id), at)  # type: ignore[assignment]
        changes["invites_last_7d_by_campaign"] = week
        changes["invites_last_24h_by_campaign"] = day
        changes["last_invite_at_by_campaign"] = last
    return msgspec.structs.replace(context, **changes)


def context_parameters(
    at: dt.datetime, timezone: str
) -> tuple[dt.datetime, dt.datetime, list[str], dt.datetime, dt.datetime, dt.datetime]:
    """The windows of :data:`CONTEXT_SQL` as of ``at``: the start of the calendar year ($4,
    one per store), of the 7-day window ($5), the cap statuses ($8), the starts of the
    look-back ($9), of the 24 hours ($10) and of the local day ($11, one per store). The
    year and the day are those of ``timezone``, the store's."""
    return (
        calendar_year_start(at, timezone),
        at - CAP_WINDOW,
        list(INVITE_CAP_STATUSES),
        at - INVITE_LOOKBACK,
        at - DAY_WINDOW,
        local_day_start(at, timezone),
    )


async def load_context(
    conn: "DbConnection",
    *,
    customer_id: str,
    store_id: str,
    at: dt.datetime,
    timezone: str,
    exclude_order_id: str | None = None,
    exclude_event_id: UUID | None = None,
    exclude_decision_id: UUID | None = None,
) -> CustomerContext:
    """Load one customer's context at ``store_id`` as of ``at`` in one round trip.

    Args:
        timezone: IANA zone of the store; fixes the calendar year.
        exclude_order_id: The purchase being decided on, if any (history excludes it).
        exclude_event_id: The ``events.id`` being decided on, if any.
        exclude_decision_id: A recorded decision being replayed: its own invite (or holdout)
            is not history.

    Raises:
        ValueError: ``at`` is naive.
        zoneinfo.ZoneInfoNotFoundError: ``timezone`` is not an IANA zone.
    """
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    year, week, statuses, lookback, day, midnight = context_parameters(at, timezone)
    row = await conn.fetchrow(
        CONTEXT_SQL,
        customer_id,
        [store_id],
        at,
        [year],
        week,
        exclude_order_id,
        exclude_event_id,
        statuses,
        lookback,
        day,
        [midnight],
        exclude_decision_id,
    )
    assert row is not None  # aggregates always yield one row
    return context_from_row(row, customer_id, store_id, at, timezone)
