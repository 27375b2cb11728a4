"""Request and response Structs of ``POST /v1/events`` (real annotations: msgspec reads them).

An event is a tagged union over ``type``: ``fix`` (a plain location fix), ``enter``,
``exit``, ``dwell`` (the device's own geofencing claims) and ``checkin`` (the customer says
they are at a store, e.g. scanned its QR code). Every kind carries the fix it was made at:
the server checks each claim against its own geo index.

The batch envelope is decoded first and each event on its own (``decode_event``), so one bad
event is rejected with the path of the offending field (``events[3].lat``) while the others
in its batch are accepted.
"""

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from app.common import BrandId, Instant, Latitude, Longitude, Payload
from app.limits import ID_MAX
from app.problems import FieldError

__all__ = [
    "MAX_BATCH",
    "CheckinEvent",
    "DwellEvent",
    "EnterEvent",
    "Event",
    "EventBatch",
    "EventDecision",
    "EventResult",
    "EventResults",
    "ExitEvent",
    "FixEvent",
    "PresenceChange",
    "RejectReason",
    "ResultStatus",
    "StoredAs",
]

MAX_BATCH = 100
"""Most events one request may carry (``KAIROS_INGEST_MAX_BATCH`` may only lower it)."""

DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"

DeviceId = Annotated[
    str,
    Meta(
        pattern=DEVICE_ID_PATTERN,
        max_length=ID_MAX,
        description="The app installation's id (1-128 of A-Z a-z 0-9 . _ : -); the rate limit "
        "is per device",
        examples=["ios-6F1C2A9E"],
    ),
]
Accuracy = Annotated[
    float,
    Meta(ge=0, le=100_000, description="Horizontal accuracy (68 % radius) in metres"),
]
Speed = Annotated[float, Meta(ge=0, le=1_000, description="Ground speed the OS reports, m/s")]


class _EventBase(Payload, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Fields every event has.

    Attributes:
        event_id: The app's idempotency key (a UUID it generates once per event): the same
            id again answers ``duplicate`` with the first answer.
        occurred_at: When it happened on the device (RFC 3339 with offset).
        lat / lng / accuracy_m: The fix it happened at.
        device_id: The app installation.
        is_mocked: The OS says the location is mocked (a developer setting or a spoofing
            app): such events are stored, flagged ``mocked`` and never lead to an invite.
        speed_mps: Optional ground speed from the OS.
    """

    event_id: UUID
    occurred_at: Instant
    lat: Latitude
    lng: Longitude
    accuracy_m: Accuracy
    device_id: DeviceId
    is_mocked: bool = False
    speed_mps: Speed | None = None

    @property
    def type(self) -> str:
        """The event's kind (its ``type`` tag)."""
        return str(self.__struct_config__.tag)


class _Claim(_EventBase, kw_only=True, frozen=True):
    """An event the device attributes to a geofence or a store.

    Attributes:
        geofence_id: The geofence the device claims (its OS geofencing fired for it).
        store_id: Or the store (any of its geofences). At least one of the two.
    """

    geofence_id: BrandId | None = None
    store_id: BrandId | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.geofence_id is None and self.store_id is None:
            raise ValueError("invalid field `geofence_id`: give geofence_id or store_id")


class FixEvent(_EventBase, kw_only=True, frozen=True, tag="fix", tag_field="type"):
    """A plain location fix: the server derives enter, exit and dwell from these."""


class EnterEvent(_Claim, kw_only=True, frozen=True, tag="enter", tag_field="type"):
    """The device's geofencing says the customer entered a geofence."""


class ExitEvent(_Claim, kw_only=True, frozen=True, tag="exit", tag_field="type"):
    """The device's geofencing says the customer left a geofence."""


class DwellEvent(_Claim, kw_only=True, frozen=True, tag="dwell", tag_field="type"):
    """The device's geofencing says the customer has stayed in a geofence."""


class CheckinEvent(_Claim, kw_only=True, frozen=True, tag="checkin", tag_field="type"):
    """The customer checked in at a store (e.g. scanned its QR code)."""


Event = FixEvent | EnterEvent | ExitEvent | DwellEvent | CheckinEvent
"""One event, picked by its ``type``."""


class EventBatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A batch of 1-100 events of the calling customer (the token's ``sub``).

    Events are processed in ``occurred_at`` order, whatever their order here; the answer
    keeps this order.
    """

    events: Annotated[list[Event], Meta(min_length=1, max_length=MAX_BATCH)]


class _Envelope(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What is decoded first: the events stay raw, each is then decoded on its own."""

    events: Annotated[list[msgspec.Raw], Meta(min_length=1, max_length=MAX_BATCH)]


ResultStatus = Literal["accepted", "duplicate", "rejected"]
StoredAs = Literal["current", "stale", "low_accuracy"]
RejectReason = Literal["invalid", "in_future", "customer_erased"]
PresenceKind = Literal["enter", "exit", "dwell"]
TriggerKind = Literal["enter", "dwell", "checkin"]


class PresenceChange(msgspec.Struct, kw_only=True, frozen=True):
    """What the server derived from the event for one geofence (``store_id`` None: the
    geofence is no longer known)."""

    geofence_id: str
    store_id: str | None
    change: PresenceKind


class EventDecision(msgspec.Struct, kw_only=True, frozen=True):
    """A decision the event led to (the full explanation: ``GET /v1/decisions/{id}``).

    Attributes:
        trigger: ``enter`` (derived or claimed), ``dwell`` or ``checkin``.
        outcome: ``send``, ``defer``, ``holdout`` or ``suppress``.
        reason_codes: The decisive reason first.
        invite_id: The invite, for ``send`` and ``defer``.
    """

    decision_id: UUID
    trigger: TriggerKind
    store_id: str
    geofence_id: str | None
    outcome: str
    reason_codes: list[str]
    invite_id: UUID | None = None


class EventResult(msgspec.Struct, kw_only=True):
    """The answer for one event, in the request's order.

    Attributes:
        status: ``accepted`` (stored now), ``duplicate`` (stored before: the first answer is
            replayed in the other fields) or ``rejected`` (not stored; see ``reason``).
        event_id: The event's id; None when it could not be read.
        reason: Why it was rejected: ``invalid`` (see ``errors``), ``in_future`` (more than
            2 minutes ahead of the server's clock) or ``customer_erased``.
        errors: For ``invalid``: each offending field, e.g. ``events[3].lat``.
        stored_as: ``current``; ``stale`` (older than the policy's ``stale_after_seconds``)
            or ``low_accuracy`` (worse than its ``max_accuracy_m``): stored, no presence
            change and no decision.
        flags: ``mocked``, ``jumped`` (implied speed), ``claim_mismatch`` (the claimed
            geofence or store does not match the fix: the server's view was used).
        presence: Enter / exit / dwell the server derived or accepted.
        decisions: The decisions made because of this event.
    """

    status: ResultStatus
    event_id: UUID | None = None
    reason: RejectReason | None = None
    errors: list[FieldError] | None = None
    stored_as: StoredAs | None = None
    flags: list[str] = msgspec.field(default_factory=list)
    presence: list[PresenceChange] = msgspec.field(default_factory=list)
    decisions: list[EventDecision] = msgspec.field(default_factory=list)


class EventResults(msgspec.Struct, kw_only=True, frozen=True):
    """One result per event, in the order they were sent."""

    results: list[EventResult]
    accepted: int
    duplicates: int
    rejected: int


_EVENT_DECODER = msgspec.json.Decoder(Event)
_ENVELOPE_DECODER = msgspec.json.Decoder(_Envelope)


def decode_envelope(body: bytes) -> list[msgspec.Raw]:
    """The raw events of a batch body.

    Raises:
        msgspec.DecodeError: Not JSON (``msgspec.ValidationError``: not a batch).
    """
    return _ENVELOPE_DECODER.decode(body).events


def decode_event(raw: msgspec.Raw) -> Event:
    """One event (``msgspec.ValidationError`` names the field, e.g. ``$.lat``)."""
    return _EVENT_DECODER.decode(raw)


def peek_event_id(raw: msgspec.Raw) -> UUID | None:
    """The ``event_id`` of an event that did not validate, when it can be read."""
    try:
        value: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if isinstance(value, dict):
        try:
            return UUID(str(value.get("event_id")))
        except ValueError:
            return None
    return None
