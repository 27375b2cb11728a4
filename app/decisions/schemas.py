"""Request and response bodies of the decisions and policy API.

A decision reads as an explanation: the outcome, the decisive reason first (a stable
``code`` from an enum, a sentence and the data behind it), the chosen campaign and its
rendered message, every candidate with its score and why it lost, the moments found, and
the instants (``not_before``, ``send_by``).

Structs here keep real (not postponed) annotations so msgspec and Litestar resolve them at
runtime.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from app.common import BrandId, Instant, Page, Payload
from app.decisions.policy import Outcome
from app.decisions.reasons import ReasonCode
from app.decisions.settings import PolicySettings
from app.moments import PurchaseMade

__all__ = [
    "CandidateOut",
    "DecisionOut",
    "DecisionPage",
    "DecisionSummary",
    "EventFactsOut",
    "MomentOut",
    "PolicyOut",
    "PreviewIn",
    "ReasonOut",
    "ReplayDifference",
    "ReplayOut",
]

CampaignKindOut = Literal["moment", "offer", "service"]


class ReasonOut(msgspec.Struct, kw_only=True, frozen=True):
    """Why: a stable code, one sentence, and the facts that led to it."""

    code: ReasonCode
    message: str
    data: dict[str, Any]


class MomentOut(msgspec.Struct, kw_only=True, frozen=True):
    """A relationship moment found at this visit (``app.moments``)."""

    code: str
    message: str
    data: dict[str, Any]


class CandidateOut(msgspec.Struct, kw_only=True, frozen=True):
    """A campaign the decision weighed.

    Attributes:
        rank: Among the candidates that passed every gate, 1 = best; null when it was out
            before the ranking.
        score: Offers only: ``p x margin + w x (p - (1 - p))``; ``score_formula`` shows the
            arithmetic with this offer's numbers.
        lost_because: Why it was not chosen; null for the chosen campaign.
    """

    campaign_id: str
    campaign_name: str
    kind: CampaignKindOut
    chosen: bool
    rank: int | None
    score: float | None
    score_formula: str | None
    acceptance_probability: float | None
    margin: float | None
    moments: list[str]
    lost_because: ReasonOut | None


class EventFactsOut(msgspec.Struct, kw_only=True, frozen=True):
    """The trigger as decided on (stored with the decision; replays use it)."""

    kind: Literal["checkin", "enter", "dwell", "purchase", "preview"]
    occurred_at: datetime
    received_at: datetime
    event_id: UUID | None = None
    accuracy_m: float | None = None
    flags: list[str] = []
    already_inside: bool = False
    customer_timezone: str | None = None
    geofence_id: str | None = None
    order: PurchaseMade | None = None


class DecisionOut(msgspec.Struct, kw_only=True, frozen=True):
    """A decision with its full explanation.

    Attributes:
        id: Null for a preview (nothing is stored).
        reason: The decisive reason's code (``reasons[0].code``; null only for a decision
            recorded without reasons by other means).
        summary: The decision in a sentence or two.
        not_before: Earliest delivery: the decision instant, or the opening when deferred.
        send_by: After this the invite is worthless: the earlier of the store's closing
            minus the margin and the campaign's (or default) freshness window.
        score_formula: How offers are scored, with the weight in force.
        event: The trigger as decided on.
    """

    id: UUID | None
    customer_id: str
    store_id: str | None
    decided_at: datetime
    outcome: Outcome
    reason: ReasonCode | None
    summary: str
    reasons: list[ReasonOut]
    campaign_id: str | None
    campaign_kind: CampaignKindOut | None
    locale: str | None
    title: str | None
    body: str | None
    not_before: datetime | None
    send_by: datetime | None
    moments: list[MomentOut]
    candidates: list[CandidateOut]
    score_formula: str
    settings_version: int | None
    policy_version: str
    event: EventFactsOut | None


class DecisionSummary(msgspec.Struct, kw_only=True, frozen=True):
    """One row of ``GET /v1/decisions``; ``GET /v1/decisions/{id}`` has the explanation."""

    id: UUID
    decided_at: datetime
    customer_id: str
    store_id: str | None
    campaign_id: str | None
    outcome: Outcome
    reason: ReasonCode | None
    message: str
    reason_codes: list[ReasonCode]
    send_by: datetime | None


class DecisionPage(Page, kw_only=True):
    items: list[DecisionSummary]


class ReplayDifference(msgspec.Struct, kw_only=True, frozen=True):
    """A field whose replayed value differs from the recorded one."""

    field: str
    original: Any
    replayed: Any


class ReplayOut(msgspec.Struct, kw_only=True, frozen=True):
    """``POST /v1/decisions/{id}/replay``.

    Attributes:
        same: Outcome, reason codes, campaign, message and instants are all identical.
        differences: What differs, field by field.
        notes: What changed since the decision that a replay cannot restore (the store or a
            campaign was edited, a campaign was removed): read differences in their light.
    """

    same: bool
    differences: list[ReplayDifference]
    notes: list[str]
    original: DecisionOut
    replayed: DecisionOut


EventFlag = Annotated[
    str,
    Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$", examples=["mocked"], description="e.g. mocked"),
]


class PreviewIn(Payload, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """``POST /v1/decisions/preview``: what if customer C stood at store S at instant T?

    Attributes:
        at: The instant to decide at (default: now). The customer's history as of then.
        kind: The trigger to imagine.
        accuracy_m: Accuracy of the imagined fix (default: unknown, no accuracy gate).
        flags: Event flags to imagine, e.g. ``mocked`` or ``jumped``.
        already_inside: Imagine the customer already inside since an earlier decision.
        customer_timezone: Where the customer stands, for quiet hours (default: the
            store's zone).
    """

    customer_id: BrandId
    store_id: BrandId
    at: Instant | None = None
    kind: Literal["checkin", "enter", "dwell", "preview"] = "preview"
    accuracy_m: Annotated[float, Meta(ge=0, le=100_000)] | None = None
    flags: Annotated[list[EventFlag], Meta(max_length=10)] = []
    already_inside: bool = False
    customer_timezone: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class PolicyOut(msgspec.Struct, kw_only=True, frozen=True):
    """The current policy settings (``ETag``: the version)."""

    version: int
    settings: PolicySettings
    created_at: datetime
    created_by: str
