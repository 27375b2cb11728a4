"""Pure geometry for Kairos: geofence shapes, the geofence index and geo helpers.

Nothing in this package performs I/O beyond reading timezonefinder's bundled data.
"""

from geo.distance import EARTH_RADIUS_M, METERS_PER_DEGREE, haversine_m, speed_mps
from geo.index import (
    DEFAULT_RESOLUTION,
    FAST_ACCURACY_M,
    INSIDE_FRACTION,
    MAX_ACCURACY_M,
    Confidence,
    GeofenceIndex,
    Match,
)
from geo.shapes import (
    GeoError,
    Geofence,
    GeofenceValidationError,
    Shape,
    ShapeLimits,
    area_m2,
    circle,
    parse_geojson,
)
from geo.tz import timezone_at

__all__ = [
    "DEFAULT_RESOLUTION",
    "EARTH_RADIUS_M",
    "FAST_ACCURACY_M",
    "INSIDE_FRACTION",
    "MAX_ACCURACY_M",
    "METERS_PER_DEGREE",
    "Confidence",
    "GeoError",
    "Geofence",
    "GeofenceIndex",
    "GeofenceValidationError",
    "Match",
    "Shape",
    "ShapeLimits",
    "area_m2",
    "circle",
    "haversine_m",
    "parse_geojson",
    "speed_mps",
    "timezone_at",
]
