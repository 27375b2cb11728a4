"""What the ingest path calls: load the inputs, decide (pure), record in one statement.

    async with conn.transaction():
        ...  # store the event
        inputs = await load_decision_inputs(
            conn, customer_id=c, store_id=s, event=facts, now=now, lock_customer=True
        )
        decision = decide(inputs, now)
        recorded = await record_decision(conn, decision, inputs)

:func:`load_decision_inputs` makes two round trips: the store, the campaigns running there,
the policy settings (and the customer lock) in one statement, then the customer context
(``app.context``). :func:`record_decision` writes the decision and, for ``send`` and
``defer``, its invite (the outbox row) in one statement.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec

from app.context import load_context
from app.decisions import queries
from app.decisions.inputs import CampaignFacts, DecisionInputs, EventFacts, MessageText, StoreFacts
from app.decisions.policy import Decision
from app.decisions.schemas import (
    CandidateOut,
    DecisionOut,
    EventFactsOut,
    MomentOut,
    ReasonOut,
)
from app.decisions.settings import PolicySettings
from app.problems import NotFoundProblem

if TYPE_CHECKING:
    from app.db import DbConnection
    from app.decisions.reasons import Reason

__all__ = [
    "RecordedDecision",
    "active_campaigns",
    "campaign_from_record",
    "event_facts_from_json",
    "event_facts_out",
    "explain",
    "load_decision_inputs",
    "record_decision",
    "settings_from_json",
]

# Settings versions never change once written: decoded ones are kept by version.
_SETTINGS_BY_VERSION: dict[int, PolicySettings] = {}


class RecordedDecision(msgspec.Struct, kw_only=True, frozen=True):
    """What :func:`record_decision` wrote: the decision row and, for send/defer, the invite."""

    decision_id: UUID
    invite_id: UUID | None


def settings_from_json(version: int, raw: Any) -> PolicySettings:
    """The settings of ``version`` (decoded once per process)."""
    cached = _SETTINGS_BY_VERSION.get(version)
    if cached is None:
        cached = msgspec.convert(raw, PolicySettings)
        _SETTINGS_BY_VERSION[version] = cached
    return cached


def _labels(values: Any) -> frozenset[str]:
    return frozenset(values or ())


def campaign_from_record(record: Any) -> CampaignFacts:
    """A row of :data:`app.decisions.queries.ACTIVE_CAMPAIGNS` as the policy's input."""
    (
        campaign_id, name, kind, templates, default_locale, eligibility, margin, acceptance,
        active_from, active_until, cap_per_day, cap_per_week, cooldown_seconds, holdout_pct,
        enabled, offer_categories, defer_window_seconds, freshness_seconds, version,
    ) = record  # fmt: skip
    templates = msgspec.json.decode(templates) if templates else {}
    eligibility = msgspec.json.decode(eligibility) if eligibility else {}
    return CampaignFacts(
        id=campaign_id,
        name=name,
        kind=kind,
        templates={
            locale: MessageText(title=str(t.get("title", "")), body=str(t.get("body", "")))
            for locale, t in templates.items()
            if isinstance(t, dict)
        },
        default_locale=default_locale,
        segments=_labels(eligibility.get("segments")),
        moments=_labels(eligibility.get("moments")),
        categories=_labels(eligibility.get("categories")),
        offer_categories=_labels(offer_categories),
        margin=Decimal(margin) if margin is not None else None,
        acceptance_probability=acceptance,
        active_from=active_from,
        active_until=active_until,
        cap_per_day=cap_per_day,
        cap_per_week=cap_per_week,
        cooldown_seconds=cooldown_seconds or 0,
        holdout_pct=holdout_pct or 0.0,
        enabled=enabled,
        defer_window_seconds=defer_window_seconds,
        freshness_seconds=freshness_seconds,
        version=version,
    )


async def active_campaigns(
    conn: DbConnection, store_id: str, at: dt.datetime
) -> list[CampaignFacts]:
    """The campaigns running at ``store_id`` at ``at`` (every caller, unpaged; margins as
    :class:`~decimal.Decimal`), ordered by id."""
    rows = await conn.fetch(queries.ACTIVE_CAMPAIGNS, store_id, at)
    return [campaign_from_record(tuple(r)) for r in rows]


async def load_decision_inputs(
    conn: DbConnection,
    *,
    customer_id: str,
    store_id: str,
    event: EventFacts,
    now: dt.datetime,
    settings_version: int | None = None,
    lock_customer: bool = False,
    exclude_order_id: str | None = None,
    exclude_decision_id: UUID | None = None,
) -> DecisionInputs:
    """Everything :func:`~app.decisions.policy.decide` needs, as of ``now``, in two round trips.

    Args:
        event: The trigger; its ``event_id`` (and for a purchase its order) is left out of
            the history.
        now: The decision instant: campaigns running then, history up to then.
        settings_version: The settings to use (a replay); None: the current ones.
        lock_customer: Lock the customer row until the caller's transaction ends, so that
            concurrent triggers for one customer decide one after the other and caps hold.
            Needs a transaction.
        exclude_order_id: A purchase being decided on, left out of the history.
        exclude_decision_id: A recorded decision being replayed: its own invite is not
            history.

    Raises:
        NotFoundProblem: No such store, or no such settings version.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if lock_customer:
        row = await conn.fetchrow(
            queries.DECISION_SETUP_LOCKED, store_id, now, settings_version, customer_id
        )
    else:
        row = await conn.fetchrow(queries.DECISION_SETUP, store_id, now, settings_version)
    if row is None:
        raise NotFoundProblem("store", store_id)
    if row["settings_version"] is None:
        raise NotFoundProblem("policy settings version", str(settings_version))
    store = StoreFacts(
        id=row["id"],
        name=row["name"],
        timezone=row["timezone"],
        country=row["country"],
        region=row["region"],
        categories=frozenset(row["categories"] or ()),
        opening_hours=row["opening_hours"],
        version=row["version"],
    )
    if exclude_order_id is None and event.order is not None:
        exclude_order_id = event.order.order_id
    customer = await load_context(
        conn,
        customer_id=customer_id,
        store_id=store_id,
        at=now,
        timezone=store.timezone,
        exclude_order_id=exclude_order_id,
        exclude_event_id=event.event_id,
        exclude_decision_id=exclude_decision_id,
    )
    return DecisionInputs(
        customer=customer,
        store=store,
        event=event,
        campaigns=tuple(campaign_from_record(r) for r in row["campaigns"] or ()),
        settings=settings_from_json(row["settings_version"], row["settings"]),
        settings_version=row["settings_version"],
    )


# Explanations -----------------------------------------------------------------------------
def _reason(reason: Reason) -> ReasonOut:
    return ReasonOut(code=reason.code, message=reason.message, data=reason.data)


def event_facts_out(event: EventFacts) -> EventFactsOut:
    return EventFactsOut(
        kind=event.kind,
        occurred_at=event.occurred_at,
        received_at=event.received_at,
        event_id=event.event_id,
        accuracy_m=event.accuracy_m,
        flags=sorted(event.flags),
        already_inside=event.already_inside,
        customer_timezone=event.customer_timezone,
        geofence_id=event.geofence_id,
        order=event.order,
    )


def event_facts_from_json(raw: Any) -> EventFacts:
    """The event facts stored with a decision (``decisions.inputs -> 'event'``)."""
    out = msgspec.convert(raw, EventFactsOut)
    return EventFacts(
        kind=out.kind,
        occurred_at=out.occurred_at,
        received_at=out.received_at,
        event_id=out.event_id,
        accuracy_m=out.accuracy_m,
        flags=frozenset(out.flags),
        already_inside=out.already_inside,
        customer_timezone=out.customer_timezone,
        geofence_id=out.geofence_id,
        order=out.order,
    )


def explain(decision: Decision, event: EventFacts, decision_id: UUID | None) -> DecisionOut:
    """The decision as people (and the API) read it: every reason with its sentence."""
    return DecisionOut(
        id=decision_id,
        customer_id=decision.customer_id,
        store_id=decision.store_id,
        decided_at=decision.decided_at,
        outcome=decision.outcome,
        reason=decision.reasons[0].code,
        summary=decision.summary,
        reasons=[_reason(r) for r in decision.reasons],
        campaign_id=decision.campaign_id,
        campaign_kind=decision.campaign_kind,
        locale=decision.locale,
        title=decision.title,
        body=decision.body,
        not_before=decision.not_before,
        send_by=decision.send_by,
        moments=[MomentOut(code=m.code, message=m.message, data=m.data) for m in decision.moments],
        candidates=[
            CandidateOut(
                campaign_id=c.campaign_id,
                campaign_name=c.campaign_name,
                kind=c.kind,
                chosen=c.chosen,
                rank=c.rank,
                score=c.score,
                score_formula=c.score_formula,
                acceptance_probability=c.acceptance_probability,
                margin=c.margin,
                moments=list(c.moments),
                lost_because=None if c.lost_because is None else _reason(c.lost_because),
            )
            for c in decision.candidates
        ],
        score_formula=decision.score_formula,
        settings_version=decision.settings_version,
        policy_version=decision.policy_version,
        event=event_facts_out(event),
    )


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


async def record_decision(
    conn: DbConnection, decision: Decision, inputs: DecisionInputs
) -> RecordedDecision:
    """Write ``decision`` and, for ``send`` / ``defer``, its invite, in one statement.

    Runs in the caller's transaction (the ingest path writes the event in the same one).
    ``decisions.decided_at`` and ``invites.created_at`` are the decision's own instant (caps
    count by it), the invite is ``pending`` between ``not_before`` and ``send_by``, and its
    payload asks the sender to check the customer is still there when it was deferred. A
    holdout writes no invite; the context loader counts it for caps all the same.
    """
    shown = explain(decision, inputs.event, None)
    chosen = next((c for c in decision.candidates if c.chosen), None)
    moment = (chosen.moments[0] if chosen and chosen.moments else None) or (
        decision.moments[0].code if decision.moments else None
    )
    payload: dict[str, Any] = {
        "store_id": decision.store_id,
        "campaign_id": decision.campaign_id,
        "kind": decision.campaign_kind,
        "moment": moment if decision.campaign_kind == "moment" else None,
        "recheck_presence": decision.outcome == "defer",
        "geofence_id": inputs.event.geofence_id,
    }
    stored_inputs = {
        "event": _builtins(shown.event),
        "store_version": inputs.store.version,
        "campaign_versions": {c.id: c.version for c in inputs.campaigns},
        "policy_version": decision.policy_version,
        "score_formula": decision.score_formula,
    }
    row = await conn.fetchrow(
        queries.INSERT_DECISION_AND_INVITE,
        decision.customer_id,
        inputs.event.event_id,
        decision.store_id,
        decision.campaign_id,
        decision.decided_at,
        decision.outcome,
        moment,
        _builtins(shown.reasons),
        {c.campaign_id: c.score for c in decision.candidates if c.score is not None},
        shown.summary,
        decision.policy_version,
        decision.settings_version,
        list(decision.reason_codes),
        decision.campaign_kind,
        decision.locale,
        decision.title,
        decision.body,
        decision.send_by,
        decision.not_before,
        _builtins(shown.candidates),
        _builtins(shown.moments),
        stored_inputs,
        payload,
    )
    assert row is not None
    return RecordedDecision(decision_id=row["decision_id"], invite_id=row["invite_id"])
