"""Request and response bodies of the stores and geofences API."""

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from app.common import CountryCode, Label, Latitude, Longitude, Name, Page
from app.hours import HoursState, WeeklyHours
from app.limits import OPENING_HOURS_MAX, TIMEZONE_MAX

__all__ = [
    "Circle",
    "GeoJSONGeometry",
    "GeofenceIn",
    "GeofenceOut",
    "GeofencePage",
    "RegionCode",
    "StoreIn",
    "StoreOut",
    "StorePage",
]

RegionCode = Annotated[
    str,
    Meta(
        pattern=r"^[A-Z0-9]{1,3}$",
        description="Subdivision of the country whose public holidays apply, as ISO 3166-2 "
        "names it without the country prefix: GB ENG/SCT/WLS/NIR, US states (CA), DE Länder "
        "(BY), AU states (NSW), CA provinces (ON)",
        examples=["SCT"],
    ),
]


class StoreIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A store as the brand describes it (``PUT /v1/stores/{store_id}``).

    ``opening_hours`` is an OpenStreetMap expression (``Mo-Fr 09:00-18:00; PH off``) or the
    structured weekly form; ``null`` means the hours are unknown, and Kairos never invites
    to a store whose hours it does not know. ``timezone`` is derived from the coordinates
    when absent. ``country`` (and, where holidays differ within it, ``region``) picks the
    public holidays that ``PH`` means.
    """

    name: Name
    lat: Latitude
    lng: Longitude
    timezone: Annotated[str, Meta(min_length=1, max_length=TIMEZONE_MAX)] | None = None
    country: CountryCode | None = None
    region: RegionCode | None = None
    opening_hours: Annotated[str, Meta(max_length=OPENING_HOURS_MAX)] | WeeklyHours | None = None
    categories: Annotated[list[Label], Meta(max_length=50)] = []
    attributes: dict[str, Any] = {}


class StoreOut(msgspec.Struct, kw_only=True):
    """A store with its hours in both forms and its state right now."""

    id: str
    name: str
    lat: float
    lng: float
    timezone: str
    country: str | None
    region: str | None
    opening_hours: str | None
    opening_hours_structured: WeeklyHours | None
    categories: list[str]
    attributes: dict[str, Any]
    state: HoursState
    open_now: bool
    next_change: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class StorePage(Page, kw_only=True):
    items: list[StoreOut]


class GeoJSONGeometry(msgspec.Struct, kw_only=True, frozen=True):
    """RFC 7946 Polygon or MultiPolygon; positions are ``[longitude, latitude]``."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class Circle(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A circle of ``radius_m`` metres (10 m - 10 km) around a centre."""

    lat: Latitude
    lng: Longitude
    radius_m: Annotated[float, Meta(ge=10, le=10_000)]


class GeofenceIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A geofence of a store: exactly one of ``geometry`` or ``circle``."""

    geometry: GeoJSONGeometry | None = None
    circle: Circle | None = None
    dwell_seconds: Annotated[int, Meta(ge=0, le=86_400)] = 0
    enabled: bool = True


class GeofenceOut(msgspec.Struct, kw_only=True):
    id: str
    store_id: str
    geometry: GeoJSONGeometry | None
    circle: Circle | None
    dwell_seconds: int
    enabled: bool
    area_m2: float
    version: int
    created_at: datetime
    updated_at: datetime


class GeofencePage(Page, kw_only=True):
    items: list[GeofenceOut]
