"""Validation shared by the stores API and the bulk importer: one set of rules, two callers.

msgspec checks types and ranges while decoding; these functions check what needs more than
the type: the time zone (or its derivation from the coordinates), the hours expression with
the country's (and region's) public holidays, and the geofence's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.common import timezone_problem
from app.hours import OpeningHoursError, WeeklyHours, compile_hours
from app.problems import FieldError
from app.stores.schemas import GeofenceIn, StoreIn
from geo.shapes import GeofenceValidationError, circle, parse_geojson
from geo.tz import timezone_at

__all__ = ["GeofenceRecord", "StoreRecord", "validate_geofence", "validate_store"]


@dataclass(frozen=True, slots=True)
class StoreRecord:
    """A validated store, as stored (the columns the brand sets)."""

    name: str
    lat: float
    lng: float
    timezone: str
    country: str | None
    region: str | None
    opening_hours: str | None
    categories: list[str]
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GeofenceRecord:
    """A validated geofence, as stored."""

    geometry: dict[str, Any] | None
    center_lat: float | None
    center_lng: float | None
    radius_m: float | None
    dwell_seconds: int
    enabled: bool


def validate_store(body: StoreIn, prefix: str = "") -> tuple[StoreRecord | None, list[FieldError]]:
    """Check the time zone, the hours expression and the holiday calendar.

    Args:
        body: The decoded request.
        prefix: Prepended to field paths (the importer uses ``features[3].properties.``).
    """
    errors: list[FieldError] = []
    timezone = body.timezone
    if timezone is None:
        timezone = timezone_at(body.lat, body.lng)
        if timezone is None:
            errors.append(
                FieldError(
                    field=f"{prefix}timezone",
                    message="could not be derived from lat/lng (open sea?); give an IANA zone",
                )
            )
    else:
        problem = timezone_problem(timezone)
        if problem is not None:
            errors.append(FieldError(field=f"{prefix}timezone", message=problem))
    if body.region is not None and body.country is None:
        errors.append(FieldError(field=f"{prefix}region", message="needs a country"))
    expression: str | None
    if isinstance(body.opening_hours, WeeklyHours):
        expression = body.opening_hours.to_expression()
    else:
        expression = (body.opening_hours or "").strip() or None
    if timezone is not None and not errors and (expression is not None or body.region):
        try:
            compile_hours(expression, timezone, body.country, region=body.region)
        except OpeningHoursError as exc:
            message = exc.message
            if exc.fragment:
                message += f" (at {exc.fragment!r})"
            errors.append(FieldError(field=f"{prefix}{exc.field}", message=message))
    if errors or timezone is None:
        return None, errors
    return (
        StoreRecord(
            name=body.name.strip(),
            lat=body.lat,
            lng=body.lng,
            timezone=timezone,
            country=body.country,
            region=body.region,
            opening_hours=expression,
            categories=sorted({c.strip() for c in body.categories}),
            attributes=body.attributes,
        ),
        [],
    )


def validate_geofence(
    body: GeofenceIn, prefix: str = ""
) -> tuple[GeofenceRecord | None, list[FieldError]]:
    """Exactly one of geometry / circle, each valid per :mod:`geo.shapes`."""
    if (body.geometry is None) == (body.circle is None):
        return None, [
            FieldError(field=f"{prefix}geometry", message="give exactly one of geometry or circle")
        ]
    try:
        if body.geometry is not None:
            geometry = {"type": body.geometry.type, "coordinates": body.geometry.coordinates}
            parse_geojson(geometry)
            record = GeofenceRecord(geometry, None, None, None, body.dwell_seconds, body.enabled)
        else:
            assert body.circle is not None
            c = body.circle
            circle(c.lat, c.lng, c.radius_m)
            record = GeofenceRecord(
                None, c.lat, c.lng, c.radius_m, body.dwell_seconds, body.enabled
            )
    except GeofenceValidationError as exc:
        base = "geometry" if body.geometry is not None else "circle"
        return None, [
            FieldError(
                field=f"{prefix}{base}.{e.field}" if e.field else f"{prefix}{base}",
                message=e.message,
            )
            for e in exc.errors
        ]
    return record, []
