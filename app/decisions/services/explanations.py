"""Decisions as people read them: list, explain, replay, preview.

Scoping as everywhere in the manager API: a manager sees the decisions at the stores in
their token, and anything else answers 404 as if it did not exist; admins see everything.
Replays are for admins; previews for managers (their stores) and admins.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import msgspec

from app.common import clamp_limit, decode_cursor, page, timezone_problem
from app.decisions import queries
from app.decisions.inputs import EventFacts
from app.decisions.policy import decide
from app.decisions.schemas import (
    CandidateOut,
    DecisionOut,
    DecisionPage,
    DecisionSummary,
    EventFactsOut,
    MomentOut,
    PreviewIn,
    ReasonOut,
    ReplayDifference,
    ReplayOut,
)
from app.decisions.services.pipeline import (
    event_facts_from_json,
    explain,
    load_decision_inputs,
)
from app.problems import ConflictProblem, NotFoundProblem, ValidationProblem

if TYPE_CHECKING:
    from app.auth import Principal
    from app.db import DbConnection

__all__ = [
    "COMPARED_FIELDS",
    "get_decision",
    "list_decisions",
    "preview_decision",
    "replay_decision",
]

COMPARED_FIELDS = (
    "outcome",
    "reason_codes",
    "campaign_id",
    "locale",
    "title",
    "body",
    "not_before",
    "send_by",
)
"""What a replay must reproduce to count as the same decision."""


def _visible_stores(principal: Principal) -> list[str] | None:
    return None if principal.is_admin else sorted(principal.stores)


def _can_see(principal: Principal, store_id: str | None) -> bool:
    return principal.is_admin or (store_id is not None and principal.can_see_store(store_id))


T = TypeVar("T")


def _each(raw: Any, item: type[T]) -> list[T]:
    """The entries of a jsonb list that read as ``item``; others (rows written by older or
    other code) are left out rather than failing the whole explanation."""
    out: list[T] = []
    for entry in raw if isinstance(raw, list) else ():
        try:
            out.append(msgspec.convert(entry, item))
        except msgspec.ValidationError:
            continue
    return out


def _one(raw: Any, item: type[T]) -> T | None:
    try:
        return None if raw is None else msgspec.convert(raw, item)
    except msgspec.ValidationError:
        return None


def stored_decision(row: Any) -> DecisionOut:
    """A ``decisions`` row (:data:`~app.decisions.queries.DECISION_COLUMNS`) as an explanation."""
    inputs = row["inputs"] if isinstance(row["inputs"], dict) else {}
    reasons = _each(row["reasons"], ReasonOut)
    return DecisionOut(
        id=row["id"],
        customer_id=row["customer_id"],
        store_id=row["store_id"],
        decided_at=row["decided_at"],
        outcome=row["outcome"],
        reason=reasons[0].code if reasons else None,
        summary=row["explanation"],
        reasons=reasons,
        campaign_id=row["campaign_id"],
        campaign_kind=row["campaign_kind"],
        locale=row["locale"],
        title=row["title"],
        body=row["body"],
        not_before=row["not_before"],
        send_by=row["send_by"],
        moments=_each(row["moments"], MomentOut),
        candidates=_each(row["candidates"], CandidateOut),
        score_formula=str(inputs.get("score_formula", "")),
        settings_version=row["settings_version"],
        policy_version=row["policy_version"],
        event=_one(inputs.get("event"), EventFactsOut),
    )


async def list_decisions(
    conn: DbConnection,
    principal: Principal,
    *,
    cursor: str | None,
    limit: int,
    customer_id: str | None,
    store_id: str | None,
    campaign_id: str | None,
    outcome: str | None,
    reason: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> DecisionPage:
    """Newest first, filtered; a manager filtering on another store's id gets 404."""
    if store_id is not None and not principal.can_see_store(store_id):
        raise NotFoundProblem("store", store_id)
    after_at: dt.datetime | None = None
    after_id: UUID | None = None
    key = decode_cursor(cursor)
    if key is not None:
        at_text, _, id_text = key.partition("|")
        try:
            after_at, after_id = dt.datetime.fromisoformat(at_text), UUID(id_text)
        except ValueError:
            raise ValidationProblem.single(
                "cursor", "not a cursor returned by a previous page"
            ) from None
    limit = clamp_limit(limit)
    rows = await conn.fetch(
        queries.LIST_DECISIONS,
        _visible_stores(principal),
        customer_id,
        store_id,
        campaign_id,
        outcome,
        reason,
        since,
        until,
        after_at,
        after_id,
        limit + 1,
    )
    shown, next_cursor = page(rows, limit, lambda r: f"{r['decided_at'].isoformat()}|{r['id']}")
    return DecisionPage(items=[_summary(r) for r in shown], next_cursor=next_cursor)


def _summary(row: Any) -> DecisionSummary:
    reasons = _each(row["reasons"], ReasonOut)
    return DecisionSummary(
        id=row["id"],
        decided_at=row["decided_at"],
        customer_id=row["customer_id"],
        store_id=row["store_id"],
        campaign_id=row["campaign_id"],
        outcome=row["outcome"],
        reason=reasons[0].code if reasons else None,
        message=reasons[0].message if reasons else row["explanation"],
        reason_codes=[r.code for r in reasons],
        send_by=row["send_by"],
    )


async def get_decision(conn: DbConnection, principal: Principal, decision_id: UUID) -> DecisionOut:
    row = await conn.fetchrow(queries.GET_DECISION, decision_id)
    if row is None or not _can_see(principal, row["store_id"]):
        raise NotFoundProblem("decision", str(decision_id))
    return stored_decision(row)


def _comparable(decision: DecisionOut) -> dict[str, Any]:
    values = {
        "outcome": decision.outcome,
        "reason_codes": [r.code for r in decision.reasons],
        "campaign_id": decision.campaign_id,
        "locale": decision.locale,
        "title": decision.title,
        "body": decision.body,
        "not_before": decision.not_before,
        "send_by": decision.send_by,
    }
    return {name: values[name] for name in COMPARED_FIELDS}


async def replay_decision(conn: DbConnection, decision_id: UUID) -> ReplayOut:
    """Re-run a recorded decision: the history as of ``decided_at``, the recorded settings
    version and event, the campaigns and store as they are now (notes say what changed).

    Raises:
        NotFoundProblem: No such decision.
        ConflictProblem: Its store has been deleted since.
    """
    row = await conn.fetchrow(queries.GET_DECISION, decision_id)
    if row is None:
        raise NotFoundProblem("decision", str(decision_id))
    original = stored_decision(row)
    if row["store_id"] is None:
        raise ConflictProblem(
            "the decision's store has been deleted since; it cannot be replayed",
            slug="replay-impossible",
        )
    stored = row["inputs"] or {}
    event = event_facts_from_json(stored.get("event"))
    inputs = await load_decision_inputs(
        conn,
        customer_id=row["customer_id"],
        store_id=row["store_id"],
        event=event,
        now=row["decided_at"],
        settings_version=row["settings_version"],
        exclude_decision_id=row["id"],
    )
    replayed = explain(decide(inputs, row["decided_at"]), event, None)
    before, after = _comparable(original), _comparable(replayed)
    differences = [
        ReplayDifference(
            field=name,
            original=msgspec.to_builtins(before[name]),
            replayed=msgspec.to_builtins(after[name]),
        )
        for name in COMPARED_FIELDS
        if before[name] != after[name]
    ]
    notes: list[str] = []
    if stored.get("store_version") not in (None, inputs.store.version):
        notes.append(
            f"The store has changed since (version {stored['store_version']} then, "
            f"{inputs.store.version} now)."
        )
    then: dict[str, int] = stored.get("campaign_versions") or {}
    now_versions = {c.id: c.version for c in inputs.campaigns}
    for campaign_id in sorted(set(then) | set(now_versions)):
        old, new = then.get(campaign_id), now_versions.get(campaign_id)
        if old == new:
            continue
        if new is None:
            notes.append(f"Campaign {campaign_id} no longer runs at this store or was deleted.")
        elif old is None:
            notes.append(f"Campaign {campaign_id} runs at this store now but did not then.")
        else:
            notes.append(f"Campaign {campaign_id} has changed (version {old} then, {new} now).")
    if original.policy_version != replayed.policy_version:
        notes.append(
            f"The policy code has changed ({original.policy_version} then, "
            f"{replayed.policy_version} now)."
        )
    return ReplayOut(
        same=not differences,
        differences=differences,
        notes=notes,
        original=original,
        replayed=msgspec.structs.replace(replayed, id=original.id),
    )


async def preview_decision(
    conn: DbConnection, principal: Principal, body: PreviewIn, now: dt.datetime
) -> DecisionOut:
    """What would happen if the customer stood at the store at ``body.at`` (default now).

    Nothing is written: the decision runs in a read-only transaction.

    Raises:
        NotFoundProblem: The store does not exist or is not the caller's.
        ValidationProblem: ``customer_timezone`` is not an IANA zone.
    """
    if not principal.can_see_store(body.store_id):
        raise NotFoundProblem("store", body.store_id)
    if body.customer_timezone is not None:
        problem = timezone_problem(body.customer_timezone)
        if problem is not None:
            raise ValidationProblem.single("customer_timezone", problem)
    at = body.at or now
    event = EventFacts(
        kind=body.kind,
        occurred_at=at,
        received_at=at,
        accuracy_m=body.accuracy_m,
        flags=frozenset(body.flags),
        already_inside=body.already_inside,
        customer_timezone=body.customer_timezone,
    )
    async with conn.transaction(readonly=True):
        inputs = await load_decision_inputs(
            conn, customer_id=body.customer_id, store_id=body.store_id, event=event, now=at
        )
    return explain(decide(inputs, at), event, None)
