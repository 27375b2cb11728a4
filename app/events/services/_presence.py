"""Presence: enter / exit / dwell per (customer, geofence), with hysteresis. Pure, no I/O.

Each fix is placed, for each geofence near it, in one of four zones by the signed distance
``d`` from the fix to the geofence edge (positive inside, see :mod:`geo.index`) and the fix's
accuracy ``a``:

* ``inside`` — ``d >= INSIDE_FRACTION x a``: the accuracy disc is mostly inside;
* ``edge``   — ``-a <= d``: the edge is within the accuracy of the fix, either side;
* ``near``   — ``-(a + buffer) <= d``: outside, but not by enough to be sure;
* ``outside`` — anything farther (or no match at all).

Hysteresis: an ``outside`` customer enters only on an ``inside`` fix; an inside customer
exits only on an ``outside`` fix (beyond accuracy plus the buffer), so a customer standing
at the door with a wandering fix neither flaps in and out nor triggers twice. A customer
inside for the geofence's ``dwell_seconds`` becomes ``dwelling`` (once per visit).

A consistent device claim overrides the zone: a claimed enter or dwell counts as
``inside``, a claimed exit as ``outside`` (the caller decides consistency, see ``_ingest``).

Order: reports are applied in ``occurred_at`` order, and one older than the customer's
latest applied report (``presence_at``) never changes presence (:func:`is_late`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from geo.index import INSIDE_FRACTION, MAX_ACCURACY_M

__all__ = [
    "Change",
    "Claim",
    "Presence",
    "Zone",
    "advance",
    "is_late",
    "zone_of",
]

Zone = Literal["inside", "edge", "near", "outside"]
Change = Literal["enter", "exit", "dwell"]
Claim = Literal["enter", "exit", "dwell"]
State = Literal["outside", "inside", "dwelling"]


def zone_of(distance_m: float | None, accuracy_m: float, buffer_m: float) -> Zone:
    """Where a fix stands relative to one geofence (see the module docstring).

    Args:
        distance_m: Signed distance to the edge, positive inside; None when the geofence did
            not match the fix at all (farther than accuracy plus buffer).
        accuracy_m: The fix's accuracy; clamped like the index clamps it.
        buffer_m: The exit buffer.
    """
    if distance_m is None:
        return "outside"
    a = min(max(accuracy_m, 0.0), MAX_ACCURACY_M)
    if distance_m >= INSIDE_FRACTION * a:
        return "inside"
    if distance_m >= -a:
        return "edge"
    if distance_m >= -(a + buffer_m):
        return "near"
    return "outside"


@dataclass(slots=True)
class Presence:
    """One (customer, geofence) row, as a mutable working copy.

    Attributes:
        state: ``outside``, ``inside`` or ``dwelling``.
        entered_at: Start of the current (or last) visit.
        last_seen_at: Latest report that placed the customer inside or at the edge.
        exited_at: End of the last visit.
        invited_at: When a decision of the current visit sent, deferred or held out an
            invite (None: not yet this visit).
        dirty: Changed since loaded: to be written.
    """

    geofence_id: str
    state: State = "outside"
    entered_at: datetime | None = None
    last_seen_at: datetime | None = None
    exited_at: datetime | None = None
    invited_at: datetime | None = None
    dirty: bool = False

    @property
    def inside(self) -> bool:
        return self.state != "outside"


def is_late(at: datetime, presence_at: datetime | None) -> bool:
    """True for a report older than the latest one already applied: it changes nothing."""
    return presence_at is not None and at < presence_at


def advance(
    row: Presence,
    zone: Zone,
    at: datetime,
    *,
    dwell_seconds: int,
    claim: Claim | None = None,
) -> list[Change]:
    """Apply one report at instant ``at`` to ``row``; return the changes it made.

    Args:
        zone: The fix's zone for this geofence.
        dwell_seconds: The geofence's dwell time (0: no dwell).
        claim: A consistent device claim for this geofence, overriding ``zone``.
    """
    effective: Zone = zone
    if claim in ("enter", "dwell"):
        effective = "inside"
    elif claim == "exit":
        effective = "outside"
    changes: list[Change] = []
    if not row.inside:
        if effective == "inside":
            row.state = "inside"
            row.entered_at = at
            row.last_seen_at = at
            row.invited_at = None
            row.dirty = True
            changes.append("enter")
    elif effective == "outside":
        row.state = "outside"
        row.exited_at = at
        row.dirty = True
        changes.append("exit")
    if row.inside:
        if effective in ("inside", "edge") and row.last_seen_at != at:
            row.last_seen_at = at
            row.dirty = True
        entered = row.entered_at or at
        dwelled = dwell_seconds > 0 and at >= entered + timedelta(seconds=dwell_seconds)
        if row.state == "inside" and (claim == "dwell" or dwelled):
            row.state = "dwelling"
            row.dirty = True
            changes.append("dwell")
    return changes
