"""What the ingest path calls: load the inputs, decide (pure), record in one statement.

    async with conn.transaction():
        ...  # store the event
        inputs = await load_decision_inputs(
            conn, customer_id=c, store_id=s, event=facts, now=now, lock_customer=True
        )
        decision = decide(inputs, now)
        recorded = await record_decision(conn, decision, inputs)

:func:`load_decision_inputs` reads the store, the campaigns running there, the policy
settings and the customer context (``app.context``) in one statement
(:data:`~app.decisions.queries.DECISION_INPUTS`), after the customer lock when asked for it.
:func:`record_decision` writes the decision and, for ``send`` and ``defer``, its invite (the
outbox row) in one statement.

A caller with several triggers of one customer in one transaction (the ingest path) loads a
:class:`DecisionBase` for every store at once, with :func:`load_decision_bases`, builds each
trigger's inputs from its store's (:meth:`DecisionBase.inputs`, with what it recorded
since), then writes every :func:`decision_row` at once
(:data:`~app.decisions.queries.DECISION_WRITES`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec

from app.context import CustomerContext, context_after, context_from_row, context_parameters
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
    import asyncpg

    from app.db import DbConnection
    from app.decisions.reasons import Reason

__all__ = [
    "DecisionBase",
    "DecisionRow",
    "RecordedDecision",
    "active_campaigns",
    "campaign_from_record",
    "decision_row",
    "event_facts_from_json",
    "event_facts_out",
    "explain",
    "load_decision_bases",
    "load_decision_inputs",
    "record_decision",
    "settings_from_json",
]

INVITING = frozenset({"send", "defer"})
"""Outcomes that write an invite (the outbox row); a holdout is recorded, nothing is sent."""

# Settings versions never change once written: decoded ones are kept by version.
_SETTINGS_BY_VERSION: dict[int, PolicySettings] = {}
# Decoded campaigns by (id, version, row version): any change to a row, even one that leaves
# ``version`` alone or re-creates a deleted id, gives it a new ``xmin``. Bounded: a process
# that has seen more rows than this starts over.
_CAMPAIGNS_BY_ROW: dict[tuple[str, int, str], CampaignFacts] = {}
_CAMPAIGN_CACHE_SIZE = 20_000
# The zone of each store this process has decided at: a hint only (every statement checks it
# and answers again in the right zone), so it saves a round trip and is never wrong.
_STORE_ZONES: dict[str, str] = {}
_STORE_ZONE_CACHE_SIZE = 200_000


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


def _campaigns(records: Iterable[Any] | None) -> tuple[CampaignFacts, ...]:
    """Rows of :data:`~app.decisions.queries.DECISION_INPUTS`'s ``campaigns`` (each ending
    with its ``xmin``), decoded once per row version."""
    out = []
    for record in records or ():
        fields = tuple(record)
        key = (fields[0], fields[-2], fields[-1])
        facts = _CAMPAIGNS_BY_ROW.get(key)
        if facts is None:
            facts = campaign_from_record(fields[:-1])
            if len(_CAMPAIGNS_BY_ROW) >= _CAMPAIGN_CACHE_SIZE:
                _CAMPAIGNS_BY_ROW.clear()
            _CAMPAIGNS_BY_ROW[key] = facts
        out.append(facts)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class DecisionBase:
    """What every decision for one customer at one store shares in one transaction: the
    store, its running campaigns, the policy settings and the customer's context, all as of
    ``at``. :meth:`inputs` adds the trigger and what was recorded since.

    Attributes:
        stores_found: Of the stores the loader was asked about, those that exist.
    """

    customer_id: str
    at: dt.datetime
    store: StoreFacts
    campaigns: tuple[CampaignFacts, ...]
    settings: PolicySettings
    settings_version: int
    context: CustomerContext
    stores_found: frozenset[str]

    def inputs(
        self,
        event: EventFacts,
        *,
        visits: Sequence[tuple[dt.datetime, str]] = (),
        contacts: Sequence[tuple[str | None, str | None]] = (),
    ) -> DecisionInputs:
        """The policy's inputs for ``event``, with the visits stored and the invites and
        holdouts decided since the base was loaded, in the same transaction (see
        :func:`app.context.context_after`)."""
        return DecisionInputs(
            customer=context_after(self.context, visits=visits, contacts=contacts),
            store=self.store,
            event=event,
            campaigns=self.campaigns,
            settings=self.settings,
            settings_version=self.settings_version,
        )


def _base(
    row: asyncpg.Record, customer_id: str, at: dt.datetime, settings_version: int | None
) -> DecisionBase:
    if row["settings_version"] is None:
        raise NotFoundProblem("policy settings version", str(settings_version))
    store_id, zone = row["store_id"], row["store_timezone"]
    return DecisionBase(
        customer_id=customer_id,
        at=at,
        store=StoreFacts(
            id=row["store_id"],
            name=row["store_name"],
            timezone=row["store_timezone"],
            country=row["store_country"],
            region=row["store_region"],
            categories=frozenset(row["store_categories"] or ()),
            opening_hours=row["store_opening_hours"],
            version=row["store_version"],
        ),
        campaigns=_campaigns(row["campaigns"]),
        settings=settings_from_json(row["settings_version"], row["settings"]),
        settings_version=row["settings_version"],
        context=context_from_row(row, customer_id, store_id, at, zone),
        stores_found=frozenset(row["stores_found"] or ()),
    )


async def load_decision_bases(
    conn: DbConnection,
    *,
    customer_id: str,
    store_ids: Sequence[str],
    now: dt.datetime,
    zones: Mapping[str, str] | None = None,
    settings_version: int | None = None,
    exclude_order_id: str | None = None,
    exclude_event_id: UUID | None = None,
    exclude_decision_id: UUID | None = None,
    check_stores: Sequence[str] = (),
) -> dict[str, DecisionBase]:
    """For each store: the store, its campaigns, the settings and the context, as of
    ``now``, all in one round trip (one more when a store's zone is not known, or changed).

    Args:
        zones: The stores' zones, when the caller knows them (a context's calendar year and
            local day are computed in its store's zone; a wrong one costs a round trip).
        check_stores: Stores whose existence the caller wants to know
            (:attr:`DecisionBase.stores_found`).

    Returns:
        The bases by store id; a store that does not exist is left out.

    Raises:
        NotFoundProblem: No such settings version.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    known = zones or {}
    asked: dict[str, str | None] = {
        store_id: known.get(store_id) or _STORE_ZONES.get(store_id) for store_id in store_ids
    }
    unknown = [store_id for store_id, zone in asked.items() if zone is None]
    if unknown:
        found: dict[str, str] = {
            row["id"]: row["timezone"] for row in await conn.fetch(queries.STORE_ZONES, unknown)
        }
        asked.update((store_id, found.get(store_id)) for store_id in unknown)
    pending = {store_id: zone for store_id, zone in asked.items() if zone is not None}
    bases: dict[str, DecisionBase] = {}
    for _ in range(3):  # again only for a store that moved to another zone meanwhile
        if not pending:
            break
        windows = {store_id: context_parameters(now, zone) for store_id, zone in pending.items()}
        _, week, statuses, lookback, day, _ = next(iter(windows.values()))
        rows = await conn.fetch(
            queries.DECISION_INPUTS,
            customer_id,
            list(pending),
            now,
            [window[0] for window in windows.values()],
            week,
            exclude_order_id,
            exclude_event_id,
            statuses,
            lookback,
            day,
            [window[5] for window in windows.values()],
            exclude_decision_id,
            settings_version,
            list(pending.values()),
            list(check_stores),
        )
        pending = {}
        for row in rows:
            store_id = row["store_id"]
            if row["zone_matches"]:
                bases[store_id] = _base(row, customer_id, now, settings_version)
            else:
                pending[store_id] = row["store_timezone"]
    if pending:
        raise RuntimeError(f"the time zones of stores {sorted(pending)} keep changing")
    if len(_STORE_ZONES) + len(bases) > _STORE_ZONE_CACHE_SIZE:
        _STORE_ZONES.clear()
    for store_id in asked:
        if store_id in bases:
            _STORE_ZONES[store_id] = bases[store_id].store.timezone
        else:
            _STORE_ZONES.pop(store_id, None)
    return bases


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
    """Everything :func:`~app.decisions.policy.decide` needs, as of ``now``, in one round
    trip (plus the lock, when asked for).

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
        # A statement of its own: the context read next sees whatever the previous holder
        # of the lock committed.
        await conn.fetchval(queries.LOCK_CUSTOMER, customer_id)
    if exclude_order_id is None and event.order is not None:
        exclude_order_id = event.order.order_id
    bases = await load_decision_bases(
        conn,
        customer_id=customer_id,
        store_ids=[store_id],
        now=now,
        settings_version=settings_version,
        exclude_order_id=exclude_order_id,
        exclude_event_id=event.event_id,
        exclude_decision_id=exclude_decision_id,
    )
    if store_id not in bases:
        raise NotFoundProblem("store", store_id)
    return bases[store_id].inputs(event)


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
    """The decision as people (and the API) read it: every reason with its sentence.

    A reason that removed several candidates (a cap, a closed store) is one object: its
    sentence is written once.
    """
    said: dict[int, ReasonOut] = {}

    def _said(reason: Reason) -> ReasonOut:
        out = said.get(id(reason))
        if out is None:
            out = said[id(reason)] = _reason(reason)
        return out

    return DecisionOut(
        id=decision_id,
        customer_id=decision.customer_id,
        store_id=decision.store_id,
        decided_at=decision.decided_at,
        outcome=decision.outcome,
        reason=decision.reasons[0].code,
        summary=decision.summary,
        reasons=[_said(r) for r in decision.reasons],
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
                lost_because=None if c.lost_because is None else _said(c.lost_because),
            )
            for c in decision.candidates
        ],
        score_formula=decision.score_formula,
        settings_version=decision.settings_version,
        policy_version=decision.policy_version,
        event=event_facts_out(event),
    )


class DecisionRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A decision (and its invite, when ``invite_id`` is set) as
    :data:`~app.decisions.queries.DECISION_WRITES` takes it, ids included."""

    id: UUID
    event_id: UUID | None
    store_id: str
    campaign_id: str | None
    decided_at: dt.datetime
    outcome: str
    moment: str | None
    reasons: Any
    scores: dict[str, float]
    explanation: str
    policy_version: str
    settings_version: int
    reason_codes: list[str]
    campaign_kind: str | None
    locale: str | None
    title: str | None
    body: str | None
    send_by: dt.datetime | None
    not_before: dt.datetime | None
    candidates: Any
    moments: Any
    inputs: Any
    invite_id: UUID | None
    payload: Any


def decision_row(decision: Decision, inputs: DecisionInputs) -> DecisionRow:
    """``decision`` as it is recorded, with fresh ids for it and (send / defer) its invite.

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
    # The explanation's Structs go into the row as they are: encoding them gives the same
    # JSON as encoding their msgspec.to_builtins() (checked), without the copy.
    stored_inputs = {
        "event": shown.event,
        "store_version": inputs.store.version,
        "campaign_versions": {c.id: c.version for c in inputs.campaigns},
        "policy_version": decision.policy_version,
        "score_formula": decision.score_formula,
    }
    return DecisionRow(
        id=uuid.uuid4(),
        event_id=inputs.event.event_id,
        store_id=decision.store_id,
        campaign_id=decision.campaign_id,
        decided_at=decision.decided_at,
        outcome=decision.outcome,
        moment=moment,
        reasons=shown.reasons,
        scores={c.campaign_id: c.score for c in decision.candidates if c.score is not None},
        explanation=shown.summary,
        policy_version=decision.policy_version,
        settings_version=decision.settings_version,
        reason_codes=list(decision.reason_codes),
        campaign_kind=decision.campaign_kind,
        locale=decision.locale,
        title=decision.title,
        body=decision.body,
        send_by=decision.send_by,
        not_before=decision.not_before,
        candidates=shown.candidates,
        moments=shown.moments,
        inputs=stored_inputs,
        invite_id=uuid.uuid4() if decision.outcome in INVITING else None,
        payload=payload,
    )


async def record_decision(
    conn: DbConnection, decision: Decision, inputs: DecisionInputs
) -> RecordedDecision:
    """Write ``decision`` and, for ``send`` / ``defer``, its invite, in one statement (see
    :func:`decision_row`).

    Runs in the caller's transaction (the ingest path writes the event in the same one).
    """
    row = decision_row(decision, inputs)
    await conn.execute(queries.INSERT_DECISIONS, decision.customer_id, [row])
    return RecordedDecision(decision_id=row.id, invite_id=row.invite_id)
