"""The last-moment check: is this invite still timely, right now, just before it is sent?

The policy decided with the facts of its instant; minutes (or a deferral) later the store may
be closing, the customer may have walked off or bought, withdrawn consent or gone quiet.
:func:`recheck` is pure: the dispatcher reads the facts (``queries.INVITE_FACTS``) and the
current policy settings, passes ``now``, and cancels with the returned reason rather than
send late. Nothing is sent unless every check holds.

Reason codes (stable; ``cancel_reason`` on the invite, with ``cancel_message`` in words):

=====================  ==================================================================
``send_by_passed``     ``send_by`` has passed (status ``expired``, not ``cancelled``).
``consent_withdrawn``  Marketing or location consent is off now.
``no_active_device``   Neither the invite's device nor any other of the customer's is active.
``customer_left``      The customer exited a geofence of the store after the decision and
                       has not come back in.
``purchased_since``    A purchase after the decision: for an ``offer``, anywhere (store or
                       online: she bought); for a ``moment``, at this store. ``service``
                       messages (apologies, notices) are not cancelled by a purchase.
``hours_unknown``      The store's hours are unknown now (no hours, or an ``unknown`` rule).
``store_closed``       The store is closed now, in its own time zone.
``closing_soon``       The store closes within the closing margin.
``quiet_hours``        Local time (the customer's quiet-hours zone, else the store's) is
                       inside the customer's quiet hours, or the policy's default ones.
=====================  ==================================================================
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from app.hours import OpeningHoursError, compile_hours

__all__ = [
    "REASONS",
    "Cancellation",
    "DeviceTarget",
    "InviteFacts",
    "RecheckPolicy",
    "recheck",
]

REASONS: dict[str, str] = {
    "send_by_passed": "the invite was no longer worth sending",
    "consent_withdrawn": "the customer withdrew consent",
    "no_active_device": "the customer has no active device",
    "customer_left": "the customer left the store's geofence",
    "purchased_since": "the customer purchased since the decision",
    "hours_unknown": "the store's opening hours are unknown",
    "store_closed": "the store is closed",
    "closing_soon": "the store closes too soon",
    "quiet_hours": "quiet hours have begun",
}
"""Every reason code the last-moment check can give, with its short meaning."""

_ACCEPTS_REGION = "region" in inspect.signature(compile_hours).parameters


@dataclass(frozen=True, slots=True)
class RecheckPolicy:
    """The policy settings the last-moment check uses.

    Attributes:
        closing_margin: No invite this close to closing.
        quiet_start: Start of the default quiet hours, local time.
        quiet_end: End of the default quiet hours (before ``quiet_start``: spans midnight).
    """

    closing_margin: timedelta = timedelta(minutes=20)
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    """The device an invite goes to (its own, or the customer's most recently seen other)."""

    device_id: UUID
    platform: str
    token: str


@dataclass(frozen=True, slots=True)
class InviteFacts:
    """What the last-moment check looks at, read in one query just before sending."""

    invite_id: UUID
    kind: str
    send_by: datetime
    decided_at: datetime
    store_id: str | None
    store_timezone: str | None
    store_country: str | None
    store_region: str | None
    opening_hours: str | None
    consent_marketing: bool
    consent_location: bool
    quiet_hours: dict[str, Any] | None
    left_since_decision: bool
    purchased_since_decision: bool
    device: DeviceTarget | None


@dataclass(frozen=True, slots=True)
class Cancellation:
    """Why an invite is not sent.

    Attributes:
        status: ``expired`` for ``send_by_passed``, else ``cancelled``.
        code: One of :data:`REASONS`.
        message: A sentence for people, with the data that led to it.
    """

    status: Literal["cancelled", "expired"]
    code: str
    message: str


def _cancel(code: str, message: str) -> Cancellation:
    return Cancellation("expired" if code == "send_by_passed" else "cancelled", code, message)


def _clock(text: str) -> time:
    hours, minutes = text.split(":", 1)
    return time(int(hours), int(minutes))


def _in_window(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None


def _store_check(facts: InviteFacts, now: datetime, policy: RecheckPolicy) -> Cancellation | None:
    zone_name = facts.store_timezone or "UTC"
    try:
        if _ACCEPTS_REGION:
            hours = compile_hours(
                facts.opening_hours,
                zone_name,
                facts.store_country,
                region=facts.store_region,
            )
        else:
            hours = compile_hours(facts.opening_hours, zone_name, facts.store_country)
    except OpeningHoursError:
        return _cancel("hours_unknown", "The store's opening hours no longer compile.")
    local = now.astimezone(hours.tz)
    at = f"{local:%H:%M} ({zone_name})"
    state = hours.state(now)
    if state == "unknown":
        return _cancel("hours_unknown", f"The store's hours are unknown at {at}.")
    if state == "closed":
        opens = hours.opens_at(now)
        when = f"; it opens at {opens.astimezone(hours.tz):%H:%M}" if opens else ""
        return _cancel("store_closed", f"The store is closed at {at}{when}.")
    minutes = hours.minutes_to_close(now)
    margin = policy.closing_margin.total_seconds() / 60
    if minutes is not None and minutes < margin:
        return _cancel(
            "closing_soon",
            f"The store closes in {minutes:.0f} min at {at}, within the "
            f"{margin:.0f}-minute closing margin.",
        )
    return None


def _quiet_check(facts: InviteFacts, now: datetime, policy: RecheckPolicy) -> Cancellation | None:
    own = facts.quiet_hours or None
    start, end = policy.quiet_start, policy.quiet_end
    zone = _zone(facts.store_timezone)
    whose = "default"
    if own and isinstance(own.get("start"), str) and isinstance(own.get("end"), str):
        start, end = own["start"], own["end"]
        zone = _zone(own.get("timezone")) or zone
        whose = "the customer's"
    local = now.astimezone(zone) if zone is not None else now
    try:
        inside = _in_window(local.time(), _clock(start), _clock(end))
    except ValueError:
        return None  # malformed stored window: the API validates them, nothing to honour
    if inside:
        where = f" ({zone.key})" if zone is not None else ""
        return _cancel(
            "quiet_hours",
            f"It is {local:%H:%M}{where}, inside {whose} quiet hours {start}-{end}.",
        )
    return None


def recheck(facts: InviteFacts, now: datetime, policy: RecheckPolicy) -> Cancellation | None:
    """The reason not to send ``facts``' invite at ``now``, or None when every check holds."""
    if now >= facts.send_by:
        late = (now - facts.send_by).total_seconds()
        return _cancel(
            "send_by_passed",
            f"send_by {facts.send_by.isoformat()} passed {late:.0f} s before it could be sent.",
        )
    if not facts.consent_marketing or not facts.consent_location:
        which = "marketing" if not facts.consent_marketing else "location"
        return _cancel("consent_withdrawn", f"The customer's {which} consent is off.")
    if facts.device is None:
        return _cancel("no_active_device", "The customer has no active device to send to.")
    if facts.left_since_decision:
        return _cancel(
            "customer_left", "The customer left the store's geofence after the decision."
        )
    if facts.purchased_since_decision:
        where = "at this store" if facts.kind == "moment" else "since"
        return _cancel(
            "purchased_since",
            f"The customer purchased {where} after the decision at {facts.decided_at:%H:%M} UTC.",
        )
    if facts.store_id is not None:
        store = _store_check(facts, now, policy)
        if store is not None:
            return store
    return _quiet_check(facts, now, policy)
