"""Spoof signals: mocked locations and impossible jumps. Pure, no I/O.

* ``mocked`` — the OS says so (``is_mocked``): developer options or a spoofing app.
* ``jumped`` — the fix implies a move faster than ``jump_speed_kmh`` over more than
  ``jump_min_distance_m`` since the customer's previous trusted fix. The distance floor
  keeps GPS noise between two fixes a second apart from looking like a jet.

Flagged events are stored and go through presence and the policy as usual; the policy's
``suspected_spoof`` gate (``PolicySettings.spoof_flags``) makes sure they never lead to an
invite, and every such decision says why.

The previous trusted fix moves with every fix that is not mocked (a jumped one included: after
a flight the next fix must not look like a jump again), provided it is newer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geo.distance import haversine_m

__all__ = ["LastFix", "is_jump", "newer_fix"]


@dataclass(frozen=True, slots=True)
class LastFix:
    """A trusted position and when it was taken."""

    lat: float
    lng: float
    at: datetime


def is_jump(
    previous: LastFix | None,
    lat: float,
    lng: float,
    at: datetime,
    *,
    speed_kmh: float,
    min_distance_m: float,
) -> bool:
    """True when ``(lat, lng)`` at ``at`` is an impossible move from ``previous``.

    Out-of-order fixes are compared all the same (the time difference is absolute). Two fixes
    at the same instant more than ``min_distance_m`` apart are a jump.
    """
    if previous is None:
        return False
    distance = haversine_m(previous.lat, previous.lng, lat, lng)
    if distance <= min_distance_m:
        return False
    seconds = abs((at - previous.at).total_seconds())
    if seconds == 0.0:
        return True
    return distance / seconds * 3.6 > speed_kmh


def newer_fix(previous: LastFix | None, candidate: LastFix) -> LastFix:
    """The fix to remember: the candidate unless the previous one is newer."""
    if previous is not None and previous.at > candidate.at:
        return previous
    return candidate
