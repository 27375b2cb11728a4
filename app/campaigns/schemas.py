"""Request and response bodies of the campaigns API."""

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from app.common import BrandId, Instant, Label, Locale, Name, Page, Payload
from app.limits import TEMPLATE_BODY_MAX, TEMPLATE_TITLE_MAX

__all__ = [
    "CampaignCaps",
    "CampaignIn",
    "CampaignKind",
    "CampaignOut",
    "CampaignPage",
    "Eligibility",
    "MessageTemplate",
]

CampaignKind = Literal["moment", "offer", "service"]


class MessageTemplate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One locale's push text; ``{store_name}``-style placeholders (see app.templates)."""

    title: Annotated[str, Meta(min_length=1, max_length=TEMPLATE_TITLE_MAX)]
    body: Annotated[str, Meta(min_length=1, max_length=TEMPLATE_BODY_MAX)]


class Eligibility(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Who a campaign is for. Empty lists mean no restriction.

    ``moments`` are relationship-moment codes (app.moments): first_visit_after_delayed_delivery,
    return_after_absence, first_visit_ever, milestone_order, first_repeat_order,
    first_visit_to_store, first_order_in_category. ``categories``: the customer has bought in
    one of them before.
    """

    segments: Annotated[list[Label], Meta(max_length=50)] = []
    moments: Annotated[list[Label], Meta(max_length=50)] = []
    categories: Annotated[list[Label], Meta(max_length=50)] = []


class CampaignCaps(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
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
    ``offer_categories`` say what an offer is about (a recent purchase in one of them, or a
    substitute, suppresses it). ``defer_window_seconds`` opts in to deferring: when the store
    is closed but opens within the window, the invite is scheduled for the opening.
    ``freshness_seconds`` is how long an invite stays worth sending (default: the policy's).
    """

    name: Name
    kind: CampaignKind
    store_ids: Annotated[list[BrandId], Meta(max_length=10_000)] = []
    all_stores: bool = False
    templates: dict[Locale, MessageTemplate]
    default_locale: Locale
    eligibility: Eligibility = msgspec.field(default_factory=Eligibility)
    offer_categories: Annotated[list[Label], Meta(max_length=50)] = []
    margin: Annotated[float, Meta(ge=0, le=1_000_000)] | None = None
    acceptance_probability: Annotated[float, Meta(ge=0, le=1)] | None = None
    active_from: Instant | None = None
    active_until: Instant | None = None
    caps: CampaignCaps = msgspec.field(default_factory=CampaignCaps)
    holdout_pct: Annotated[float, Meta(ge=0, le=100)] = 0.0
    defer_window_seconds: Annotated[int, Meta(ge=60, le=86_400)] | None = None
    freshness_seconds: Annotated[int, Meta(ge=60, le=604_800)] | None = None
    enabled: bool = True


class CampaignOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: CampaignKind
    store_ids: list[str]
    all_stores: bool
    templates: dict[str, MessageTemplate]
    default_locale: str
    eligibility: Eligibility
    offer_categories: list[str]
    margin: float | None
    acceptance_probability: float | None
    active_from: datetime | None
    active_until: datetime | None
    caps: CampaignCaps
    holdout_pct: float
    defer_window_seconds: int | None
    freshness_seconds: int | None
    enabled: bool
    active_now: bool
    version: int
    created_at: datetime
    updated_at: datetime


class CampaignPage(Page, kw_only=True):
    items: list[CampaignOut]
