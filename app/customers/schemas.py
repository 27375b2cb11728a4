"""Request and response bodies of the customer-context API.

Structs here keep real (not postponed) annotations so msgspec and Litestar resolve them at
runtime. Constraints that msgspec can express live in the types; the rest (money, currency
codes, instants in the future) is checked by :mod:`app.customers.services`, which names the
field in its 422.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from app.common import BrandId, Instant, Locale, Payload
from app.customers._currencies import ACTIVE_ISO_4217
from app.limits import (
    APP_VERSION_MAX,
    CASE_SUMMARY_MAX,
    FIRST_NAME_MAX,
    FLAG_VALUE_MAX,
    ID_MAX,
    LABEL_MAX,
    PUSH_TOKEN_MAX,
    TIMEZONE_MAX,
)

__all__ = [
    "Channel",
    "ConsentChanges",
    "Consents",
    "Customer",
    "CustomerExport",
    "CustomerUpsert",
    "Delivery",
    "DeliveryIn",
    "Device",
    "DeviceIn",
    "DeviceList",
    "ErasureReport",
    "MyProfile",
    "Platform",
    "Purchase",
    "PurchaseIn",
    "PurchaseItem",
    "QuietHours",
    "SupportCase",
    "SupportCaseIn",
    "SupportCaseKind",
]

ClockTime = Annotated[
    str,
    msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, 24-hour clock"),
]
ZoneName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=TIMEZONE_MAX,
        description="IANA time zone; omitted = the zone of the store in question",
        examples=["Europe/Zurich"],
    ),
]
Segment = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$",
        description="Lower-case label from the brand's CRM",
        examples=["high_value", "life_stage:new_parent"],
    ),
]
FirstName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=FIRST_NAME_MAX,
        pattern=r"^[^\s\u0000]([^\n\u0000]*[^\s\u0000])?$",
        description="How invites greet the customer ({first_name}); no surrounding spaces",
        examples=["Ana"],
    ),
]
FlagName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$")]
FlagValue = bool | int | Annotated[str, msgspec.Meta(max_length=FLAG_VALUE_MAX)]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=LABEL_MAX, examples=["coffee"])]
Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=ID_MAX)]
CurrencyCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Z]{3}$",
        description="Active ISO 4217 code",
        examples=["EUR"],
        extra_json_schema={"enum": sorted(ACTIVE_ISO_4217)},
    ),
]
Money = Annotated[
    Decimal,
    msgspec.Meta(
        description="Non-negative decimal amount (JSON number or string), at most 2 decimals",
        examples=["12.50"],
    ),
]
Channel = Literal["store", "online"]
SupportCaseKind = Literal["complaint", "cancellation", "question"]
Platform = Literal["fcm", "apns", "webpush", "webhook"]


# Customers ------------------------------------------------------------------------------
class Consents(msgspec.Struct, kw_only=True, frozen=True):
    """What the customer agreed to. Both default to false: nothing is sent without consent.

    Attributes:
        location: Kairos may use the app's location reports.
        marketing: Kairos may send invites.
    """

    location: bool = False
    marketing: bool = False


class QuietHours(msgspec.Struct, kw_only=True, frozen=True):
    """A daily window without invites; ``start`` after ``end`` spans midnight (22:00-07:00)."""

    start: ClockTime
    end: ClockTime
    timezone: ZoneName | None = None


class CustomerUpsert(msgspec.Struct, kw_only=True, frozen=True):
    """``PUT /v1/customers/{id}``: the profile as the brand's CRM knows it.

    Omitted ``locale``, ``segments`` and ``flags`` take their defaults. Omitted ``consents``
    and ``quiet_hours`` keep their current values (a new customer: no consents, no quiet
    hours), because customers set those in the app; ``"quiet_hours": null`` clears them.
    Omitted ``first_name`` keeps the current one too (``null`` clears it); invites greet by
    first name when one is known.
    """

    locale: Locale = "en"
    first_name: FirstName | msgspec.UnsetType | None = msgspec.UNSET
    consents: Consents | msgspec.UnsetType = msgspec.UNSET
    quiet_hours: QuietHours | msgspec.UnsetType | None = msgspec.UNSET
    segments: Annotated[list[Segment], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    flags: Annotated[dict[FlagName, FlagValue], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=dict
    )


class Customer(msgspec.Struct, kw_only=True, frozen=True):
    """A customer profile as Kairos holds it."""

    id: str
    locale: str
    first_name: str | None = None
    consents: Consents
    consents_updated_at: datetime | None
    quiet_hours: QuietHours | None
    segments: list[str]
    flags: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class MyProfile(msgspec.Struct, kw_only=True, frozen=True):
    """``GET /v1/me``: what the app shows the customer about themselves.

    Attributes:
        registered: False when Kairos has no record yet; the other fields are then the defaults.
    """

    id: str
    registered: bool
    locale: str
    first_name: str | None
    consents: Consents
    consents_updated_at: datetime | None
    quiet_hours: QuietHours | None


class ConsentChanges(msgspec.Struct, kw_only=True, frozen=True):
    """``PATCH /v1/me/consents``: omitted (or null) fields stay as they are."""

    location: bool | None = None
    marketing: bool | None = None


# Devices --------------------------------------------------------------------------------
class DeviceIn(msgspec.Struct, kw_only=True, frozen=True):
    """``POST /v1/me/devices``: register or refresh a push target.

    Attributes:
        token: The FCM/APNs token, Web Push subscription or webhook address. Stored, never
            returned in full and never logged.
    """

    platform: Platform
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=PUSH_TOKEN_MAX)]
    app_version: Annotated[str, msgspec.Meta(min_length=1, max_length=APP_VERSION_MAX)] | None = (
        None
    )


class Device(msgspec.Struct, kw_only=True, frozen=True):
    """A registered push target.

    Attributes:
        token_masked: First and last four characters of the token (``"fcm1…9xZ2"``); short
            tokens are shown as ``"…"`` only.
    """

    id: UUID
    platform: str
    token_masked: str
    app_version: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime


class DeviceList(msgspec.Struct, kw_only=True, frozen=True):
    items: list[Device]


# Facts from the brand's systems ---------------------------------------------------------
class PurchaseItem(msgspec.Struct, kw_only=True, frozen=True):
    sku: Sku
    category: Category
    quantity: Annotated[Decimal, msgspec.Meta(description="Positive; may be fractional (kg)")]
    unit_price: Money


class PurchaseIn(Payload, kw_only=True, frozen=True):
    """``POST /v1/purchases``: one order, idempotent by ``order_id``."""

    order_id: BrandId
    customer_id: BrandId
    channel: Channel
    occurred_at: Instant
    currency: CurrencyCode
    total: Money
    store_id: BrandId | None = None
    items: Annotated[list[PurchaseItem], msgspec.Meta(max_length=500)] = msgspec.field(
        default_factory=list
    )


class Purchase(msgspec.Struct, kw_only=True, frozen=True):
    """A recorded order.

    Attributes:
        customer_id: Null once the customer has been erased (the row stays for the accounts).
        categories: Distinct item categories, sorted.
    """

    order_id: str
    customer_id: str | None
    channel: str
    store_id: str | None
    occurred_at: datetime
    currency: str
    total: Decimal
    items: list[PurchaseItem]
    categories: list[str]
    received_at: datetime


class SupportCaseIn(Payload, kw_only=True, frozen=True):
    """``PUT /v1/support-cases/{case_id}``: the whole case as the brand's CRM sees it."""

    customer_id: BrandId
    kind: SupportCaseKind
    opened_at: Instant
    closed_at: Instant | None = None
    store_id: BrandId | None = None
    summary: Annotated[str, msgspec.Meta(max_length=CASE_SUMMARY_MAX)] | None = None


class SupportCase(msgspec.Struct, kw_only=True, frozen=True):
    """A support case. ``customer_id`` (and ``summary``) are null for a case kept de-linked
    because its customer was erased."""

    id: str
    customer_id: str | None
    kind: str
    store_id: str | None
    opened_at: datetime
    closed_at: datetime | None
    summary: str | None
    open: bool
    version: int
    created_at: datetime
    updated_at: datetime


class DeliveryIn(Payload, kw_only=True, frozen=True):
    """``POST /v1/deliveries``: the promise and (once known) the actual delivery of an order.

    Attributes:
        customer_id: May be omitted when the order was posted to ``/v1/purchases`` first.
    """

    order_id: BrandId
    promised_at: Instant
    delivered_at: Instant | None = None
    customer_id: BrandId | None = None


class Delivery(msgspec.Struct, kw_only=True, frozen=True):
    """A delivery.

    Attributes:
        delayed: As of the response: delivered after the promise, or still undelivered after it.
    """

    order_id: str
    customer_id: str | None
    promised_at: datetime
    delivered_at: datetime | None
    delayed: bool
    created_at: datetime
    updated_at: datetime


# Data-subject requests ------------------------------------------------------------------
class CustomerExport(msgspec.Struct, kw_only=True, frozen=True):
    """Everything Kairos holds about one customer (push tokens masked).

    ``events``, ``presence``, ``decisions``, ``invites`` and ``audit`` are the stored rows as
    JSON objects, column by column, so a column added later is exported without code changes.
    """

    exported_at: datetime
    customer: Customer
    devices: list[Device]
    purchases: list[Purchase]
    deliveries: list[Delivery]
    support_cases: list[SupportCase]
    events: list[dict[str, Any]]
    presence: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    invites: list[dict[str, Any]]
    audit: list[dict[str, Any]]


class ErasureReport(msgspec.Struct, kw_only=True, frozen=True):
    """What an erasure removed.

    Attributes:
        reference: Random reference of this erasure; the audit log knows it, not the customer id.
        removed: Rows deleted per table.
        purchases_delinked: Purchases kept for the accounts, now without a customer.
        deliveries_delinked: Deliveries of those orders, likewise.
        audit_entries_deidentified: Earlier audit entries about the customer, scrubbed.
    """

    reference: str
    erased_at: datetime
    removed: dict[str, int]
    purchases_delinked: int
    deliveries_delinked: int
    audit_entries_deidentified: int
