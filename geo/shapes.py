"""Geofence shapes: validated GeoJSON polygons and metric circles.

Coordinates follow RFC 7946: a GeoJSON position is ``[longitude, latitude]``
(an optional third altitude value is accepted and ignored). Shapes are returned as
shapely geometries in that same ``(x=lng, y=lat)`` order; containment is planar in
longitude/latitude, as GeoJSON specifies for short edges.

Validation collects every problem it can find and raises one
:class:`GeofenceValidationError` whose ``errors`` carry a ``field`` path relative to
the geometry object (``coordinates[0][3]``, ``radius_m``...) and a message a store
manager can act on.

Antimeridian: geofences that cross **or touch** the 180° meridian are rejected.
RFC 7946 asks writers to split such shapes into a MultiPolygon at ±180°, but the
index computes distances in a local projection that does not wrap longitudes, so a
split shape would match inconsistently along the seam. Stores there are rare
enough (parts of Fiji, Chukotka, the Aleutians) that a clear rejection is the
honest choice. A ring edge whose longitudes differ by more than 180° is reported as
crossing the antimeridian (the writer almost certainly meant the short way round).

Circles are built on the sphere: the 64 vertices lie exactly ``radius_m`` from the
centre along great circles, so the polygon stays within 0.13 % of the radius at any
latitude (chord sagitta ``1 - cos(pi/64)``); circles are accepted up to ±85°.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

import msgspec
import numpy as np
import shapely
from shapely.geometry import LinearRing, LineString, MultiPolygon, Polygon

from geo.distance import EARTH_RADIUS_M, METERS_PER_DEGREE

__all__ = [
    "CIRCLE_SEGMENTS",
    "MAX_CIRCLE_LATITUDE",
    "GeoError",
    "Geofence",
    "GeofenceValidationError",
    "Shape",
    "ShapeLimits",
    "area_m2",
    "circle",
    "parse_geojson",
]

Shape: TypeAlias = Polygon | MultiPolygon

CIRCLE_SEGMENTS: Final = 64
"""Vertices used to approximate a circle."""

MAX_CIRCLE_LATITUDE: Final = 85.0
"""Circles closer to a pole than this are rejected: lng/lat polygons degenerate there."""


class GeoError(msgspec.Struct, frozen=True):
    """One validation problem.

    Attributes:
        field: Path of the offending member relative to the geometry object, e.g.
            ``coordinates[0][3]``, ``coordinates[1]``, ``type`` or ``radius_m``.
        message: Human-readable explanation with a hint on how to fix it.
    """

    field: str
    message: str


class GeofenceValidationError(ValueError):
    """Raised when a geofence shape is invalid.

    Attributes:
        errors: Every problem found, in document order.
    """

    def __init__(self, errors: Sequence[GeoError]) -> None:
        self.errors: list[GeoError] = list(errors)
        summary = "; ".join(f"{e.field or '<geometry>'}: {e.message}" for e in self.errors)
        super().__init__(summary or "invalid geofence")


@dataclass(frozen=True, slots=True)
class ShapeLimits:
    """Size limits applied during validation.

    Attributes:
        min_area_m2: Smallest accepted polygon area in square metres.
        max_area_m2: Largest accepted polygon area in square metres.
        max_vertices: Largest accepted number of distinct vertices (the closing
            position of each ring is not counted).
        min_radius_m: Smallest accepted circle radius in metres.
        max_radius_m: Largest accepted circle radius in metres. Circles are bounded by
            radius, not by the polygon area limits.
    """

    min_area_m2: float = 10.0
    max_area_m2: float = 50e6
    max_vertices: int = 2000
    min_radius_m: float = 10.0
    max_radius_m: float = 10_000.0


_DEFAULT_LIMITS: Final = ShapeLimits()


@dataclass(frozen=True, slots=True)
class Geofence:
    """A validated geofence ready for :class:`geo.index.GeofenceIndex`.

    Attributes:
        id: Caller's identifier.
        shape: The polygon(s) in ``(lng, lat)`` order.
        center: ``(lat, lng)`` of a circle, ``None`` for polygons.
        radius_m: Radius of a circle in metres, ``None`` for polygons. When set, the
            index measures distances to the exact circle rather than its polygon.
    """

    id: str
    shape: Shape
    center: tuple[float, float] | None = None
    radius_m: float | None = None

    @property
    def is_circle(self) -> bool:
        """Whether this geofence is a circle."""
        return self.center is not None and self.radius_m is not None

    @classmethod
    def from_geojson(
        cls, id: str, geometry: Mapping[str, object], limits: ShapeLimits = _DEFAULT_LIMITS
    ) -> Geofence:
        """Validate a GeoJSON Polygon/MultiPolygon and wrap it.

        Raises:
            GeofenceValidationError: If the geometry is invalid.
        """
        return cls(id=id, shape=parse_geojson(geometry, limits))

    @classmethod
    def from_circle(
        cls,
        id: str,
        lat: float,
        lng: float,
        radius_m: float,
        limits: ShapeLimits = _DEFAULT_LIMITS,
    ) -> Geofence:
        """Validate and build a circle geofence.

        Raises:
            GeofenceValidationError: If the centre or radius is invalid.
        """
        shape = circle(lat, lng, radius_m, limits)
        return cls(id=id, shape=shape, center=(float(lat), float(lng)), radius_m=float(radius_m))


# --------------------------------------------------------------------------- helpers


def _is_number(v: object) -> bool:
    # bool is an int subclass; true/false in a coordinate is always a data bug.
    return isinstance(v, int | float) and not isinstance(v, bool)


def _fmt_pos(lng: float, lat: float) -> str:
    return f"[{lng:.6f}, {lat:.6f}]"


def _fmt_area(a: float) -> str:
    if a >= 1e6:
        return f"{a / 1e6:,.2f} km²"
    return f"{a:,.1f} m²"


def area_m2(shape: Shape) -> float:
    """Approximate area of a lng/lat shape in square metres.

    Uses an equirectangular projection scaled at the shape's centroid latitude,
    accurate to well under 1 % for shapes up to tens of kilometres across.

    Args:
        shape: Polygon or MultiPolygon in ``(lng, lat)`` degrees.

    Returns:
        The area in square metres.
    """
    if shape.is_empty:
        return 0.0
    lat0 = shape.centroid.y
    return float(shape.area) * METERS_PER_DEGREE**2 * math.cos(math.radians(lat0))


_REASON_RE: Final = re.compile(r"^(?P<reason>[^\[]+)\[(?P<x>[-\d.eE+]+) (?P<y>[-\d.eE+]+)")

_FRIENDLY_REASONS: Final = {
    "Self-intersection": "edges cross each other (self-intersection)",
    "Ring Self-intersection": "the outline touches itself (ring self-intersection)",
    "Hole lies outside shell": "a hole lies outside the outer ring",
    "Nested holes": "a hole lies inside another hole",
    "Interior is disconnected": "the holes cut the shape into separate pieces",
    "Nested shells": "one polygon of the MultiPolygon lies inside another",
    "Duplicate Rings": "two rings are identical",
    "Too few distinct points in geometry component": "a ring has fewer than 3 distinct corners",
}


def _validity_message(reason: str) -> str:
    """Turn GEOS' explain_validity text into an actionable sentence."""
    m = _REASON_RE.match(reason)
    if m is None:
        return f"the shape is not a valid polygon ({reason}); redraw the outline"
    kind = m.group("reason").strip()
    where = _fmt_pos(float(m.group("x")), float(m.group("y")))
    friendly = _FRIENDLY_REASONS.get(kind, kind)
    return (
        f"{friendly} near {where} (lng, lat) — GEOS: {reason}; "
        "redraw the outline so that edges do not cross or overlap"
    )


# ----------------------------------------------------------------- GeoJSON parsing


@dataclass(slots=True)
class _Ring:
    path: str
    coords: list[tuple[float, float]]


def _parse_ring(raw: object, path: str, errors: list[GeoError]) -> _Ring | None:
    """Check one linear ring's structure and coordinates; None if unusable."""
    if not isinstance(raw, list | tuple):
        errors.append(GeoError(path, "a ring must be an array of [longitude, latitude] positions"))
        return None
    coords: list[tuple[float, float]] = []
    ok = True
    for i, pos in enumerate(raw):
        ppath = f"{path}[{i}]"
        if (
            not isinstance(pos, list | tuple)
            or len(pos) not in (2, 3)
            or not all(_is_number(v) for v in pos)
        ):
            errors.append(
                GeoError(ppath, "a position must be [longitude, latitude] with two numbers")
            )
            ok = False
            continue
        lng, lat = float(pos[0]), float(pos[1])
        if not (math.isfinite(lng) and math.isfinite(lat)):
            errors.append(GeoError(ppath, "longitude and latitude must be finite numbers"))
            ok = False
            continue
        bad: list[str] = []
        if not -180.0 <= lng <= 180.0:
            bad.append(f"longitude {lng:g} is outside -180..180")
        if not -90.0 <= lat <= 90.0:
            bad.append(f"latitude {lat:g} is outside -90..90")
        if bad:
            hint = ""
            if -90.0 <= lng <= 90.0 and -180.0 <= lat <= 180.0:
                hint = " — GeoJSON positions are [longitude, latitude]; are they swapped?"
            errors.append(GeoError(ppath, "; ".join(bad) + hint))
            ok = False
            continue
        coords.append((lng, lat))
    if not ok:
        return None
    if len(coords) < 4:
        errors.append(
            GeoError(
                path,
                f"the ring has {len(coords)} position(s); a ring needs at least 4 "
                "(3 corners plus the first position repeated at the end)",
            )
        )
        return None
    if coords[0] != coords[-1]:
        errors.append(
            GeoError(
                path,
                f"the ring is not closed: the last position {_fmt_pos(*coords[-1])} must "
                f"repeat the first position {_fmt_pos(*coords[0])}",
            )
        )
        return None
    return _Ring(path, coords)


def _check_antimeridian(ring: _Ring, errors: list[GeoError]) -> bool:
    """Report a ring that crosses or touches ±180°; True if it is fine."""
    c = ring.coords
    for i in range(len(c) - 1):
        if abs(c[i + 1][0] - c[i][0]) > 180.0:
            errors.append(
                GeoError(
                    ring.path,
                    f"the ring crosses the antimeridian (180° longitude) between positions "
                    f"{i} and {i + 1}; geofences across the antimeridian are not supported",
                )
            )
            return False
    for i, (lng, _lat) in enumerate(c):
        if abs(lng) == 180.0:
            errors.append(
                GeoError(
                    f"{ring.path}[{i}]",
                    "the ring touches the antimeridian (longitude ±180); geofences on or "
                    "across the antimeridian are not supported",
                )
            )
            return False
    return True


def _iter_polygons(
    coords: object, gtype: str, errors: list[GeoError]
) -> Iterator[tuple[str, object]]:
    """Yield (path, rings-array) for each polygon of a Polygon or MultiPolygon."""
    if gtype == "Polygon":
        yield "coordinates", coords
        return
    if not isinstance(coords, list | tuple) or not coords:
        errors.append(GeoError("coordinates", "a MultiPolygon needs a non-empty array of polygons"))
        return
    for k, poly in enumerate(coords):
        yield f"coordinates[{k}]", poly


def _ring_self_intersection(ring: _Ring) -> GeoError | None:
    """Locate a self-intersecting ring, pointing at the ring itself."""
    line = LineString(ring.coords)
    if shapely.is_simple(line):
        return None
    reason = shapely.is_valid_reason(Polygon(ring.coords))
    if reason == "Valid Geometry":  # pragma: no cover - is_simple already failed
        return None
    return GeoError(ring.path, _validity_message(reason))


def parse_geojson(geometry: Mapping[str, object], limits: ShapeLimits = _DEFAULT_LIMITS) -> Shape:
    """Validate a GeoJSON Polygon or MultiPolygon and return it as a shapely shape.

    Args:
        geometry: A GeoJSON geometry object (already decoded from JSON).
        limits: Area and vertex-count limits.

    Returns:
        A valid shapely ``Polygon`` or ``MultiPolygon`` in ``(lng, lat)`` order.

    Raises:
        GeofenceValidationError: Listing every problem found. Structural problems
            (bad positions, unclosed rings) are all reported together; geometric
            checks (self-intersection, area) run only once the structure is sound.
    """
    errors: list[GeoError] = []
    if not isinstance(geometry, Mapping):
        raise GeofenceValidationError(
            [GeoError("", "the geometry must be a GeoJSON object with 'type' and 'coordinates'")]
        )
    gtype = geometry.get("type")
    if gtype not in ("Polygon", "MultiPolygon"):
        raise GeofenceValidationError(
            [
                GeoError(
                    "type",
                    f"unsupported geometry type {gtype!r}; draw the geofence as a "
                    "'Polygon' or 'MultiPolygon', or use a circle",
                )
            ]
        )
    assert isinstance(gtype, str)
    if "coordinates" not in geometry:
        raise GeofenceValidationError([GeoError("coordinates", "the geometry has no coordinates")])
    coords = geometry["coordinates"]
    if not isinstance(coords, list | tuple):
        raise GeofenceValidationError([GeoError("coordinates", "coordinates must be an array")])

    polygons: list[tuple[str, list[_Ring]]] = []
    structural_ok = True
    for ppath, rings_raw in _iter_polygons(coords, gtype, errors):
        if not isinstance(rings_raw, list | tuple) or not rings_raw:
            errors.append(GeoError(ppath, "a polygon needs an array with at least an outer ring"))
            structural_ok = False
            continue
        rings: list[_Ring] = []
        for r, ring_raw in enumerate(rings_raw):
            ring = _parse_ring(ring_raw, f"{ppath}[{r}]", errors)
            if ring is None:
                structural_ok = False
            else:
                rings.append(ring)
        polygons.append((ppath, rings))
    if errors:
        structural_ok = False

    if structural_ok:
        for _, rings in polygons:
            for ring in rings:
                if not _check_antimeridian(ring, errors):
                    structural_ok = False

    n_vertices = sum(len(ring.coords) - 1 for _, rings in polygons for ring in rings)
    if n_vertices > limits.max_vertices:
        errors.append(
            GeoError(
                "coordinates",
                f"the geofence has {n_vertices} vertices; the limit is {limits.max_vertices} "
                "— simplify the outline",
            )
        )
    if not structural_ok or errors:
        raise GeofenceValidationError(errors)

    parts = [Polygon(rings[0].coords, [h.coords for h in rings[1:]]) for _, rings in polygons]
    shape: Shape = parts[0] if gtype == "Polygon" else MultiPolygon(parts)

    reason = shapely.is_valid_reason(shape)
    if reason != "Valid Geometry":
        # Point at the specific ring when one crosses itself; otherwise at the polygon
        # (shell/hole interplay) or the whole MultiPolygon (parts overlapping).
        for _, rings in polygons:
            for ring in rings:
                err = _ring_self_intersection(ring)
                if err is not None:
                    errors.append(err)
        if not errors:
            field = "coordinates"
            for (ppath, _), part in zip(polygons, parts, strict=True):
                part_reason = shapely.is_valid_reason(part)
                if part_reason != "Valid Geometry":
                    errors.append(GeoError(ppath, _validity_message(part_reason)))
            if not errors:
                errors.append(GeoError(field, _validity_message(reason)))
        raise GeofenceValidationError(errors)

    area = area_m2(shape)
    if area < limits.min_area_m2:
        errors.append(
            GeoError(
                "coordinates",
                f"the area is {_fmt_area(area)}; the minimum is {_fmt_area(limits.min_area_m2)} "
                "— draw a larger outline (are the corners almost on one line?)",
            )
        )
    elif area > limits.max_area_m2:
        errors.append(
            GeoError(
                "coordinates",
                f"the area is {_fmt_area(area)}; the maximum is {_fmt_area(limits.max_area_m2)} "
                "— draw the outline around the store only",
            )
        )
    if errors:
        raise GeofenceValidationError(errors)
    return shape


# ------------------------------------------------------------------------- circles


def circle(
    lat: float, lng: float, radius_m: float, limits: ShapeLimits = _DEFAULT_LIMITS
) -> Polygon:
    """Build a circle geofence polygon in metres around a centre.

    Vertices are placed with the spherical destination formula, so the radius is
    honoured at every latitude (no degree-based buffering).

    Args:
        lat: Centre latitude in degrees (at most ±85°).
        lng: Centre longitude in degrees.
        radius_m: Radius in metres, within ``limits.min_radius_m..max_radius_m``.
        limits: Radius limits.

    Returns:
        A counter-clockwise polygon with :data:`CIRCLE_SEGMENTS` vertices.

    Raises:
        GeofenceValidationError: If the centre or radius is invalid, or the circle
            would cross the antimeridian.
    """
    errors: list[GeoError] = []
    ok_lat = _is_number(lat) and math.isfinite(lat)
    ok_lng = _is_number(lng) and math.isfinite(lng)
    if not ok_lat:
        errors.append(GeoError("lat", "latitude must be a finite number"))
    elif not -MAX_CIRCLE_LATITUDE <= lat <= MAX_CIRCLE_LATITUDE:
        errors.append(
            GeoError(
                "lat",
                f"latitude {lat:g} is out of range; circles are supported between "
                f"-{MAX_CIRCLE_LATITUDE:g} and {MAX_CIRCLE_LATITUDE:g}",
            )
        )
        ok_lat = False
    if not ok_lng:
        errors.append(GeoError("lng", "longitude must be a finite number"))
    elif not -180.0 <= lng <= 180.0:
        errors.append(GeoError("lng", f"longitude {lng:g} is outside -180..180"))
        ok_lng = False
    ok_r = _is_number(radius_m) and math.isfinite(radius_m)
    if not ok_r:
        errors.append(GeoError("radius_m", "the radius must be a finite number of metres"))
    elif not limits.min_radius_m <= radius_m <= limits.max_radius_m:
        errors.append(
            GeoError(
                "radius_m",
                f"the radius is {radius_m:g} m; use a radius between "
                f"{limits.min_radius_m:g} m and {limits.max_radius_m:,.0f} m",
            )
        )
        ok_r = False
    if errors:
        raise GeofenceValidationError(errors)
    lats, lngs = _circle_vertices(float(lat), float(lng), float(radius_m))
    if lngs.min() <= -180.0 or lngs.max() >= 180.0:
        raise GeofenceValidationError(
            [
                GeoError(
                    "lng",
                    "the circle crosses the antimeridian (180° longitude); geofences on or "
                    "across the antimeridian are not supported",
                )
            ]
        )
    ring = np.column_stack([lngs, lats])
    return Polygon(LinearRing(ring))


def _circle_vertices(
    lat: float, lng: float, radius_m: float, n: int = CIRCLE_SEGMENTS
) -> tuple[np.ndarray, np.ndarray]:
    """Destination points at ``radius_m`` on bearings 0..360° (counter-clockwise)."""
    # Counter-clockwise in (lng, lat): start east, bearing decreasing from 90°.
    bearing = np.radians(90.0 - np.arange(n) * (360.0 / n))
    phi1 = math.radians(lat)
    lam1 = math.radians(lng)
    delta = radius_m / EARTH_RADIUS_M
    sin_phi2 = math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * np.cos(bearing)
    phi2 = np.arcsin(sin_phi2)
    lam2 = lam1 + np.arctan2(
        np.sin(bearing) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * sin_phi2,
    )
    return np.degrees(phi2), np.degrees(lam2)
