"""Request and response bodies of the store-manager API."""

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from app.common import BrandId, Instant, Locale, Page, Payload
from app.hours import HoursState, WeeklyHours

__all__ = [
    "AuditEntry",
    "AuditPage",
    "CampaignCaps",
    "CampaignIn",
    "CampaignOut",
    "CampaignPage",
    "Circle",
    "Eligibility",
    "GeoJSONGeometry",
    "GeofenceIn",
    "GeofenceOut",
    "GeofencePage",
    "MessageTemplate",
    "StoreIn",
    "StoreOut",
    "StorePage",
]

Latitude = Annotated[float, Meta(ge=-90, le=90, description="WGS84 latitude, degrees")]
Longitude = Annotated[float, Meta(ge=-180, le=180, description="WGS84 longitude, degrees")]
CountryCode = Annotated[
    str, Meta(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2, for public holidays")
]
Label = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[^\s].*$")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]


class StoreIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A store as the brand describes it (``PUT /v1/stores/{store_id}``).

    ``opening_hours`` is an OpenStreetMap expression (``Mo-Fr 09:00-18:00; PH off``) or the
    structured weekly form; ``null`` means the hours are unknown, and Kairos never invites
    to a store whose hours it does not know. ``timezone`` is derived from the coordinates
    when absent.
    """

    name: Name
    lat: Latitude
    lng: Longitude
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    country: CountryCode | None = None
    opening_hours: str | WeeklyHours | None = None
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


class GeoJSONGeometry(msgspec.Struct, kw_only=True):
    """RFC 7946 Polygon or MultiPolygon; positions are ``[longitude, latitude]``."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class Circle(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A circle of ``radius_m`` metres (10 m - 10 km) around a centre."""

    lat: Latitude
    lng: Longitude
    radius_m: Annotated[float, Meta(ge=10, le=10_000)]


class GeofenceIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
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


class MessageTemplate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One locale's push text; ``{store_name}``-style placeholders (see app.templates)."""

    title: Annotated[str, Meta(min_length=1, max_length=120)]
    body: Annotated[str, Meta(min_length=1, max_length=1000)]


class Eligibility(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Who a campaign is for. Empty lists mean no restriction.

    ``moments`` are relationship-moment codes (app.moments): first_visit_after_delayed_delivery,
    return_after_absence, first_visit_ever, milestone_order, first_repeat_order,
    first_visit_to_store, first_order_in_category.
    """

    segments: Annotated[list[Label], Meta(max_length=50)] = []
    moments: Annotated[list[Label], Meta(max_length=50)] = []
    categories: Annotated[list[Label], Meta(max_length=50)] = []


class CampaignCaps(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Per-customer limits: ``per_day`` / ``per_week`` invites, ``cooldown_seconds`` apart."""

    per_day: Annotated[int, Meta(ge=0, le=100)] | None = None
    per_week: Annotated[int, Meta(ge=0, le=700)] | None = None
    cooldown_seconds: Annotated[int, Meta(ge=0, le=90 * 86_400)] = 0


class CampaignIn(Payload, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A campaign (``PUT /v1/campaigns/{campaign_id}``).

    ``store_ids`` scopes it. ``all_stores: true`` (admins only, with no ``store_ids``) runs it in
    every store; a campaign whose stores have all been deleted runs nowhere.
    ``margin`` and ``acceptance_probability`` feed the long-term offer choice: by default
    the expected value with customer goodwill favours likely-welcome offers.
    """

    name: Name
    kind: Literal["moment", "offer", "service"]
    store_ids: Annotated[list[BrandId], Meta(max_length=10_000)] = []
    all_stores: bool = False
    templates: dict[Locale, MessageTemplate]
    default_locale: Locale
    eligibility: Eligibility = msgspec.field(default_factory=Eligibility)
    margin: Annotated[float, Meta(ge=0, le=1_000_000)] | None = None
    acceptance_probability: Annotated[float, Meta(ge=0, le=1)] | None = None
    active_from: Instant | None = None
    active_until: Instant | None = None
    caps: CampaignCaps = msgspec.field(default_factory=CampaignCaps)
    holdout_pct: Annotated[float, Meta(ge=0, le=100)] = 0.0
    enabled: bool = True


class CampaignOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: str
    store_ids: list[str]
    all_stores: bool
    templates: dict[str, MessageTemplate]
    default_locale: str
    eligibility: Eligibility
    margin: float | None
    acceptance_probability: float | None
    active_from: datetime | None
    active_until: datetime | None
    caps: CampaignCaps
    holdout_pct: float
    enabled: bool
    active_now: bool
    version: int
    created_at: datetime
    updated_at: datetime


class CampaignPage(Page, kw_only=True):
    items: list[CampaignOut]


class AuditEntry(msgspec.Struct, kw_only=True):
    id: int
    occurred_at: datetime
    actor_sub: str
    actor_role: str
    action: str
    resource_type: str
    resource_id: str
    store_ids: list[str]
    before: Any | None
    after: Any | None


class AuditPage(Page, kw_only=True):
    items: list[AuditEntry]
