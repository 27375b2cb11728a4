"""Request and response Structs of the invites area (real annotations: msgspec reads them)."""

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from app.common import Instant, Page, Payload

__all__ = [
    "RECEIPT_STATUSES",
    "AppReceipt",
    "AppReceiptStatus",
    "InviteStatus",
    "MyInvite",
    "MyInvitePage",
    "ReceiptData",
    "ReceiptEvent",
    "ReceiptResult",
    "ReceiptStatus",
]

InviteStatus = Literal[
    "pending",
    "sending",
    "sent",
    "delivered",
    "opened",
    "dismissed",
    "failed",
    "expired",
    "cancelled",
]
ReceiptStatus = Literal["delivered", "opened", "dismissed", "failed"]
RECEIPT_STATUSES: tuple[str, ...] = ("delivered", "opened", "dismissed", "failed")

ReceiptType = Literal["invite.delivered", "invite.opened", "invite.dismissed", "invite.failed"]


class ReceiptData(msgspec.Struct, kw_only=True, frozen=True):
    """What the receipt is about.

    Attributes:
        invite_id: The invite (the ``webhook-id`` / ``apns-id`` / FCM ``invite_id`` it was
            sent with).
        occurred_at: When it happened on the device or at the gateway (default: now).
        detail: A short note from the gateway (e.g. why delivery failed); no personal data.
    """

    invite_id: UUID
    occurred_at: Instant | None = None
    detail: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class ReceiptEvent(msgspec.Struct, kw_only=True, frozen=True):
    """A Standard Webhooks event body: ``type``, ``timestamp`` and ``data``."""

    type: ReceiptType
    timestamp: Instant
    data: ReceiptData

    @property
    def status(self) -> str:
        return self.type.removeprefix("invite.")


class ReceiptResult(msgspec.Struct, kw_only=True, frozen=True):
    """The invite after the receipt.

    Attributes:
        invite_id: The invite.
        status: Its status now.
        applied: False when the receipt repeated the current status (nothing changed).
    """

    invite_id: UUID
    status: InviteStatus
    applied: bool


AppReceiptStatus = Literal["opened", "dismissed"]


class AppReceipt(Payload, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What the customer did with an invite.

    Attributes:
        status: ``opened`` (tapped) or ``dismissed`` (swiped away).
        occurred_at: When, on the device (default: now).
    """

    status: AppReceiptStatus
    occurred_at: Instant | None = None


class MyInvite(msgspec.Struct, kw_only=True, frozen=True):
    """An invite as the customer's app shows it.

    Attributes:
        status: ``pending`` (waiting to be sent, e.g. deferred to the store's opening),
            ``sending``, ``sent``, ``delivered``, ``opened``, ``dismissed``, or ``cancelled``
            / ``expired`` / ``failed``.
        not_before / send_by: When it may go, and after when it is no longer worth it.
    """

    id: UUID
    status: InviteStatus
    store_id: str | None
    campaign_id: str | None
    kind: str
    locale: str
    title: str
    body: str
    created_at: dt.datetime
    not_before: dt.datetime
    send_by: dt.datetime
    sent_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    opened_at: dt.datetime | None = None
    dismissed_at: dt.datetime | None = None


class MyInvitePage(Page, kw_only=True):
    """The customer's invites, newest first."""

    items: list[MyInvite]
