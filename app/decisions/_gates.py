"""The gates of the policy, in order of precedence (private, pure).

Each gate looks at the situation and the candidates still in play. It either returns a
:class:`~app.decisions.reasons.Reason` that stops *every* candidate (consent, event quality,
store timing, quiet hours, the customer's own fatigue), or sets ``lost`` on the candidates
it removes and returns None (service before sales, satiation, campaign caps; a closed store
keeps the campaigns that may defer to its opening). :data:`GATES` lists them in
:data:`app.decisions.reasons.GATE_PRECEDENCE` order (:data:`PRECONDITIONS`, which do not
depend on the campaigns, then :data:`GATES`); the policy walks them and stops at the first
gate that leaves no candidate.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.context import PurchaseFact
from app.decisions import reasons as R
from app.decisions._state import zone
from app.moments import FIRST_VISIT_AFTER_DELAYED_DELIVERY

if TYPE_CHECKING:
    from app.decisions._state import Contender, Situation
    from app.decisions.inputs import CampaignFacts
    from app.decisions.reasons import Reason

__all__ = [
    "APOLOGY_MOMENTS",
    "GATES",
    "PRECONDITIONS",
    "Gate",
    "in_quiet_hours",
    "may_defer",
    "timing",
]

Gate = Callable[["Situation", "list[Contender]"], "Reason | None"]

APOLOGY_MOMENTS = frozenset({FIRST_VISIT_AFTER_DELAYED_DELIVERY})
"""Moments that call for an apology: a moment campaign celebrating one of them may still go
while a complaint or cancellation is open; other moment campaigns wait."""


# Consent and reach ------------------------------------------------------------------------
def no_location_consent(sit: Situation, _: list[Contender]) -> Reason | None:
    if sit.event.kind == "purchase":
        return None  # a till's order is not a location report: no location consent involved
    customer = sit.customer
    return None if customer.consent_location else R.no_location_consent(customer.known)


def no_marketing_consent(sit: Situation, _: list[Contender]) -> Reason | None:
    return None if sit.customer.consent_marketing else R.no_marketing_consent()


def no_active_device(sit: Situation, _: list[Contender]) -> Reason | None:
    return None if sit.customer.devices else R.no_active_device()


# Event quality ----------------------------------------------------------------------------
def stale_event(sit: Situation, _: list[Contender]) -> Reason | None:
    age = (sit.now - sit.event.occurred_at).total_seconds()
    limit = sit.settings.stale_after_seconds
    return R.stale_event(age, limit, sit.event.occurred_at) if age > limit else None


def low_accuracy(sit: Situation, _: list[Contender]) -> Reason | None:
    accuracy = sit.event.accuracy_m
    limit = sit.settings.max_accuracy_m
    return R.low_accuracy(accuracy, limit) if accuracy is not None and accuracy > limit else None


def suspected_spoof(sit: Situation, _: list[Contender]) -> Reason | None:
    flags = sit.event.flags
    if not flags:
        return None
    spoof = sorted(f for f in flags if f in sit.settings.spoof_flags)
    return R.suspected_spoof(spoof) if spoof else None


# Store timing, in the store's own zone -----------------------------------------------------
def hours_unknown(sit: Situation, _: list[Contender]) -> Reason | None:
    if sit.state != "unknown":
        return None
    return R.hours_unknown(bool((sit.store.opening_hours or "").strip()))


def may_defer(sit: Situation, campaign: CampaignFacts) -> dt.datetime | None:
    """The opening ``campaign`` may wait for while the store is closed, or None.

    It opted in (``defer_window_seconds``), the store opens within that window, and stays
    open past the closing margin after opening.
    """
    window = campaign.defer_window_seconds
    opens = sit.opens_at() if window is not None else None
    if window is None or opens is None or (opens - sit.now).total_seconds() > window:
        return None
    closes = sit.closes_after(opens)
    margin = dt.timedelta(minutes=sit.settings.closing_margin_minutes)
    if closes is not None and closes.astimezone(dt.UTC) - margin <= opens.astimezone(dt.UTC):
        return None
    return opens


def store_closed(sit: Situation, remaining: list[Contender]) -> Reason | None:
    """Closed: out, except campaigns that may defer to the opening (:func:`may_defer`).

    A deferred invite's quiet hours are checked at the opening (gate ``quiet_hours``).
    """
    if sit.state != "closed":
        return None
    reason = R.store_closed(sit.opens_at(), sit.now_local, sit.store.timezone)
    deferring = 0
    for contender in remaining:
        opening = may_defer(sit, contender.campaign)
        if opening is None:
            contender.lost = reason
        else:
            contender.not_before = opening
            deferring += 1
    return None if deferring else reason


def timing(sit: Situation, campaigns: list[CampaignFacts]) -> Reason | None:
    """Store timing and quiet hours, when they do not depend on the campaigns: the store is
    open (closing soon? quiet hours now?), or closed with no campaign that may defer.

    None when they pass, or when a campaign may defer (the gates decide per campaign then).
    """
    if sit.state == "closed":
        if any(may_defer(sit, campaign) is not None for campaign in campaigns):
            return None
        return store_closed(sit, [])
    return closing_soon(sit, []) or quiet_hours(sit, [])


def closing_soon(sit: Situation, _: list[Contender]) -> Reason | None:
    if sit.state != "open":
        return None
    closes = sit.closes_at()
    margin = sit.settings.closing_margin_minutes
    if closes is None or (closes - sit.now).total_seconds() > margin * 60:
        return None
    return R.closing_soon(closes, sit.now, margin, sit.now_local)


# Quiet hours, where the customer stands ----------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _minutes(clock: str) -> int:
    return int(clock[:2]) * 60 + int(clock[3:5])


def in_quiet_hours(start: str, end: str, local: dt.datetime) -> bool:
    """Whether the wall-clock time of ``local`` is in [start, end); start > end spans midnight.

    start == end is an empty window.
    """
    minute = local.hour * 60 + local.minute
    lo, hi = _minutes(start), _minutes(end)
    if lo < hi:
        return lo <= minute < hi
    if lo > hi:
        return minute >= lo or minute < hi
    return False


def quiet_hours(sit: Situation, remaining: list[Contender]) -> Reason | None:
    """The customer's quiet hours (or the default ones) at the instant the invite would go.

    Zone: the one the customer set for their quiet hours, else where they stand, else the
    store's. The instant: now, or the opening for deferred invites.
    """
    own = sit.customer.quiet_hours
    if own is not None:
        start, end, zone_name = own.start, own.end, own.timezone
    else:
        start, end, zone_name = sit.settings.quiet_hours_start, sit.settings.quiet_hours_end, None
    own_zone = zone(zone_name)
    standing = zone(sit.event.customer_timezone)
    tz: dt.tzinfo
    if own_zone is not None:
        tz, shown, source = own_zone, own_zone.key, "quiet_hours_setting"
    elif standing is not None:
        tz, shown, source = standing, standing.key, "customer_location"
    else:
        tz, shown, source = sit.store_zone, sit.store.timezone, "store"
    deferred = next((c.not_before for c in remaining if c.not_before is not None), None)
    at = (deferred or sit.now).astimezone(tz)
    if not in_quiet_hours(start, end, at):
        return None
    return R.quiet_hours(start, end, shown, at, own_setting=own is not None, zone_source=source)


# Service before sales ---------------------------------------------------------------------
def _blocks_while_case_open(contender: Contender) -> bool:
    """Offers wait; moment campaigns wait unless they apologise; service messages go."""
    kind = contender.campaign.kind
    if kind == "offer":
        return True
    if kind == "moment":
        return not APOLOGY_MOMENTS.intersection(contender.matched_moments)
    return False


def _case_gate(sit: Situation, remaining: list[Contender], kind: str) -> None:
    case_ids = [c.case_id for c in sit.customer.open_cases if c.kind == kind]
    if not case_ids:
        return
    build = R.open_complaint if kind == "complaint" else R.cancellation_pending
    for contender in remaining:
        if _blocks_while_case_open(contender):
            blocked = "offers" if contender.campaign.kind == "offer" else "celebrations"
            contender.lost = build(case_ids, blocked)


def open_complaint(sit: Situation, remaining: list[Contender]) -> Reason | None:
    _case_gate(sit, remaining, "complaint")
    return None


def cancellation_pending(sit: Situation, remaining: list[Contender]) -> Reason | None:
    _case_gate(sit, remaining, "cancellation")
    return None


# Satiation --------------------------------------------------------------------------------
def recently_purchased(sit: Situation, remaining: list[Contender]) -> Reason | None:
    """Offers in a category bought within its refractory window (or a substitute of it),
    and any offer at a store bought at within the store window, are out. An offer whose
    categories all complement what was just bought stays (the umbrella after the table).
    For a purchase trigger the order at hand counts as bought now."""
    offers = [c for c in remaining if c.campaign.kind == "offer"]
    if not offers:
        return None
    customer, settings, now = sit.customer, sit.settings, sit.now
    # The history, plus the order at hand for a purchase trigger (the context leaves it out).
    bought = customer.last_purchase_by_category
    here = customer.last_purchase_at_store
    order = sit.event.order if sit.event.kind == "purchase" else None
    if order is not None:
        bought = dict(bought)
        for category in order.categories:
            bought[category] = max(bought.get(category, order.at), order.at)
        if order.store_id == sit.store.id:
            here = PurchaseFact(
                order_id=order.order_id,
                occurred_at=order.at,
                channel=order.channel,
                store_id=order.store_id,
                currency=order.currency,
                total=order.total,
                categories=order.categories,
            )
    # category -> (purchased category, bought at, window) for every category now satiated
    satiated: dict[str, tuple[str, dt.datetime, int]] = {}
    complements: set[str] = set()
    refractory = settings.refractory_seconds
    default = settings.default_refractory_seconds
    longest = max(default, *refractory.values()) if refractory else default
    for category, bought_at in bought.items():
        age = (now - bought_at).total_seconds()
        if age >= longest:
            continue
        window = refractory.get(category, default)
        if age < window:
            for blocked in (category, *settings.substitutes.get(category, ())):
                satiated.setdefault(blocked, (category, bought_at, window))
            complements.update(settings.complements.get(category, ()))
    window_here = settings.store_purchase_window_seconds
    recent_here = here is not None and (now - here.occurred_at).total_seconds() < window_here
    if not satiated and not recent_here:
        return None
    here_complements: set[str] = set()
    if recent_here:
        assert here is not None
        for category in here.categories:
            here_complements.update(settings.complements.get(category, ()))
    for contender in offers:
        about = contender.campaign.offer_categories
        hits = sorted(c for c in about if c in satiated and c not in complements)
        if hits:
            purchased, bought_at, window = satiated[hits[0]]
            blocked = sorted({purchased, *settings.substitutes.get(purchased, ())})
            contender.lost = R.recently_purchased_category(
                purchased, blocked, bought_at, now, window
            )
        elif recent_here and not (about and about <= here_complements):
            assert here is not None
            contender.lost = R.recently_purchased_here(
                here.order_id, here.occurred_at, now, window_here
            )
    return None


# Fatigue ----------------------------------------------------------------------------------
def already_inside(sit: Situation, _: list[Contender]) -> Reason | None:
    return R.already_inside() if sit.event.already_inside else None


def frequency_cap(sit: Situation, _: list[Contender]) -> Reason | None:
    customer, settings = sit.customer, sit.settings
    if customer.invites_last_24h >= settings.frequency_cap_per_24h:
        return R.frequency_cap("24h", customer.invites_last_24h, settings.frequency_cap_per_24h)
    if customer.invites_last_7d >= settings.frequency_cap_per_7d:
        return R.frequency_cap("7d", customer.invites_last_7d, settings.frequency_cap_per_7d)
    per_day = settings.frequency_cap_per_local_day
    if per_day is not None and customer.invites_today >= per_day:
        return R.frequency_cap("local_day", customer.invites_today, per_day)
    return None


def store_cooldown(sit: Situation, _: list[Contender]) -> Reason | None:
    last = sit.customer.last_invite_at_store
    cooldown = sit.settings.store_cooldown_seconds
    if last is None or (sit.now - last).total_seconds() >= cooldown:
        return None
    return R.store_cooldown(last, sit.now, cooldown)


def campaign_cap(sit: Situation, remaining: list[Contender]) -> Reason | None:
    customer = sit.customer
    for contender in remaining:
        campaign = contender.campaign
        day = customer.invites_last_24h_by_campaign.get(campaign.id, 0)
        if campaign.cap_per_day is not None and day >= campaign.cap_per_day:
            contender.lost = R.campaign_cap(campaign.id, "per_day", campaign.cap_per_day, day)
            continue
        week = customer.invites_last_7d_by_campaign.get(campaign.id, 0)
        if campaign.cap_per_week is not None and week >= campaign.cap_per_week:
            contender.lost = R.campaign_cap(campaign.id, "per_week", campaign.cap_per_week, week)
            continue
        last = customer.last_invite_at_by_campaign.get(campaign.id)
        cooldown = campaign.cooldown_seconds
        if cooldown and last is not None and (sit.now - last).total_seconds() < cooldown:
            contender.lost = R.campaign_cooldown(campaign.id, last, sit.now, cooldown)
    return None


PRECONDITIONS: tuple[tuple[str, Gate], ...] = (
    ("no_location_consent", no_location_consent),
    ("no_marketing_consent", no_marketing_consent),
    ("no_active_device", no_active_device),
    ("stale_event", stale_event),
    ("low_accuracy", low_accuracy),
    ("suspected_spoof", suspected_spoof),
    ("hours_unknown", hours_unknown),
)
"""Gates that do not depend on the campaigns: when one stops, no campaign is considered."""

GATES: tuple[tuple[str, Gate, bool], ...] = (
    ("store_closed", store_closed, True),
    ("closing_soon", closing_soon, False),
    ("quiet_hours", quiet_hours, False),
    ("open_complaint", open_complaint, True),
    ("cancellation_pending", cancellation_pending, True),
    ("recently_purchased", recently_purchased, True),
    ("already_inside", already_inside, False),
    ("frequency_cap", frequency_cap, False),
    ("store_cooldown", store_cooldown, False),
    ("campaign_cap", campaign_cap, True),
)
"""(code, gate, removes candidates) for the rest, in order of precedence;
``no_eligible_campaign`` and ``template_error`` follow in the policy itself."""
