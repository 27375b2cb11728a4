"""IANA time zone lookup for a coordinate, fully offline (timezonefinder).

Building a :class:`timezonefinder.TimezoneFinder` loads its polygon data and takes
seconds, so a single instance is created lazily on first use and shared. Lookups
are serialised with a lock because the finder keeps internal read buffers that
are not documented as thread-safe.
"""

from __future__ import annotations

import math
import threading

from timezonefinder import TimezoneFinder

__all__ = ["timezone_at"]

_finder: TimezoneFinder | None = None
_lock = threading.Lock()


def _get_finder() -> TimezoneFinder:
    global _finder
    finder = _finder
    if finder is None:
        with _lock:
            # Another thread may have built it while we waited for the lock.
            if _finder is None:
                _finder = TimezoneFinder()
            finder = _finder
    return finder


def timezone_at(lat: float, lng: float) -> str | None:
    """Return the IANA time zone name at a coordinate.

    Over the open sea timezonefinder answers with the nautical ``Etc/GMT±N`` zones.

    Args:
        lat: Latitude in degrees, -90..90.
        lng: Longitude in degrees, -180..180.

    Returns:
        A zone name such as ``"Europe/London"``, or ``None`` if no zone is known.

    Raises:
        ValueError: If the coordinate is not finite or out of range.
    """
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise ValueError(f"coordinate must be finite, got lat={lat!r}, lng={lng!r}")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        raise ValueError(f"coordinate out of range: lat={lat!r}, lng={lng!r}")
    finder = _get_finder()
    with _lock:
        return finder.timezone_at(lng=lng, lat=lat)
