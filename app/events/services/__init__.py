"""Event ingestion services, one concern per module.

* :mod:`._ingest` — the batch pipeline of ``POST /v1/events``.
* :mod:`._presence` — enter / exit / dwell with hysteresis (pure).
* :mod:`._spoof` — mocked and jumped fixes (pure).
* :mod:`._triggers` — enter, dwell and check-in decisions through the policy, and the
  worker's dwell handler.
* :mod:`._ratelimit` — events per device per minute.
"""

from app.events.services._ingest import GeoView, RateLimited, ingest_events
from app.events.services._presence import Presence, advance, is_late, zone_of
from app.events.services._ratelimit import DeviceRateLimiter
from app.events.services._spoof import LastFix, is_jump, newer_fix
from app.events.services._triggers import Trigger, decide_swept_dwell, run_trigger

__all__ = [
    "DeviceRateLimiter",
    "GeoView",
    "LastFix",
    "Presence",
    "RateLimited",
    "Trigger",
    "advance",
    "decide_swept_dwell",
    "ingest_events",
    "is_jump",
    "is_late",
    "newer_fix",
    "run_trigger",
    "zone_of",
]
