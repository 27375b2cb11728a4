"""Request and response Structs of the invites area (real annotations: msgspec reads them)."""

from typing import Annotated, Literal
from uuid import UUID

import msgspec

from app.common import Instant

__all__ = [
    "RECEIPT_STATUSES",
    "InviteStatus",
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
