"""Great-circle helpers: haversine distance and speed between timestamped fixes.

Everything here works on a spherical Earth of mean radius :data:`EARTH_RADIUS_M`
(IUGG mean radius). For geofence-scale distances the spherical model differs from
the WGS84 ellipsoid by well under 0.5 %, which is far below GPS accuracy.
"""

from __future__ import annotations

import math
from datetime import datetime

__all__ = [
    "EARTH_RADIUS_M",
    "METERS_PER_DEGREE",
    "haversine_m",
    "speed_mps",
]

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius in metres."""

METERS_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0
"""Length of one degree of latitude (and of longitude at the equator) in metres."""

_RAD = math.pi / 180.0


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Return the great-circle distance between two points in metres.

    Args:
        lat1: Latitude of the first point in degrees.
        lng1: Longitude of the first point in degrees.
        lat2: Latitude of the second point in degrees.
        lng2: Longitude of the second point in degrees.

    Returns:
        The distance in metres along the sphere's surface.
    """
    p1 = lat1 * _RAD
    p2 = lat2 * _RAD
    sin_dlat = math.sin((p2 - p1) * 0.5)
    sin_dlng = math.sin((lng2 - lng1) * _RAD * 0.5)
    h = sin_dlat * sin_dlat + math.cos(p1) * math.cos(p2) * sin_dlng * sin_dlng
    # Rounding can push h a hair above 1 for antipodal points; asin would then fail.
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def speed_mps(
    lat1: float,
    lng1: float,
    t1: datetime,
    lat2: float,
    lng2: float,
    t2: datetime,
) -> float | None:
    """Return the average ground speed between two timestamped fixes.

    The order of the fixes does not matter: fixes often arrive out of order, so the
    absolute time difference is used.

    Args:
        lat1: Latitude of the first fix in degrees.
        lng1: Longitude of the first fix in degrees.
        t1: Time of the first fix.
        lat2: Latitude of the second fix in degrees.
        lng2: Longitude of the second fix in degrees.
        t2: Time of the second fix (must be comparable with ``t1``: both naive or
            both timezone-aware).

    Returns:
        Speed in metres per second, or ``None`` when both fixes have the same
        timestamp (the speed is undefined).
    """
    dt = abs((t2 - t1).total_seconds())
    if dt == 0.0:
        return None
    return haversine_m(lat1, lng1, lat2, lng2) / dt
