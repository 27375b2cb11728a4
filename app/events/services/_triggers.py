"""Triggers: an enter (derived or claimed), a dwell or a check-in, decided by the policy.

Runs inside the caller's transaction, with the customer already locked (``_ingest`` and the
worker's dwell sweep both hold it), so decisions for one customer happen one after another
and each sees the invites of the one before: caps hold under any concurrency. The event, the
presence change, the decision and its invite commit together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from app import metrics
from app.decisions.inputs import EventFacts
from app.decisions.policy import decide
from app.decisions.services import load_decision_inputs, record_decision
from app.events import queries
from app.events.schemas import EventDecision, TriggerKind
from app.problems import NotFoundProblem

if TYPE_CHECKING:
    from app.db import DbConnection
    from notifications.scheduler import DwellDue

__all__ = ["INVITING", "Trigger", "decide_swept_dwell", "run_trigger"]

log = logging.getLogger("kairos.events")

INVITING = frozenset({"send", "defer", "holdout"})
"""Outcomes that count as this visit's invite: a later trigger in the visit is
``already_inside``."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """One decision to make.

    Attributes:
        event_row_id: ``events.id`` the decision refers to (the app's report, or the row
            derived from it).
        item: Index of the app's event in its batch (whose answer lists the decision).
        already_inside: The customer was inside this geofence before the event and an
            invite was made during this visit.
    """

    kind: TriggerKind
    store_id: str
    geofence_id: str | None
    event_row_id: UUID
    item: int
    occurred_at: datetime
    accuracy_m: float | None
    flags: frozenset[str]
    already_inside: bool


async def run_trigger(
    conn: DbConnection, *, customer_id: str, trigger: Trigger, now: datetime
) -> EventDecision | None:
    """Load the context, decide, record (decision and, for send / defer, the invite).

    Returns None when the store no longer exists (deleted since the geo index saw it).
    """
    facts = EventFacts(
        kind=trigger.kind,
        occurred_at=trigger.occurred_at,
        received_at=now,
        event_id=trigger.event_row_id,
        accuracy_m=trigger.accuracy_m,
        flags=trigger.flags,
        already_inside=trigger.already_inside,
        geofence_id=trigger.geofence_id,
    )
    try:
        inputs = await load_decision_inputs(
            conn,
            customer_id=customer_id,
            store_id=trigger.store_id,
            event=facts,
            now=now,
            lock_customer=True,
        )
    except NotFoundProblem:
        log.info("store %s is gone; no decision for its %s", trigger.store_id, trigger.kind)
        return None
    decision = decide(inputs, now)
    recorded = await record_decision(conn, decision, inputs)
    codes = list(decision.reason_codes)
    metrics.DECISIONS.labels(decision.outcome, codes[0]).inc()
    return EventDecision(
        decision_id=recorded.decision_id,
        trigger=trigger.kind,
        store_id=trigger.store_id,
        geofence_id=trigger.geofence_id,
        outcome=decision.outcome,
        reason_codes=codes,
        invite_id=recorded.invite_id,
    )


async def decide_swept_dwell(conn: Any, due: DwellDue, now: datetime) -> None:
    """The worker's dwell handler: record the dwell event and decide on it.

    Called inside the sweep's transaction, which has marked the presence row ``dwelling``
    and holds the customer's lock (the sweep claims both, SKIP LOCKED), like ingestion.
    """
    key = f"sweep:dwell:{due.geofence_id}:{int(due.entered_at.timestamp())}"
    row_id = await conn.fetchval(
        queries.INSERT_SWEPT_DWELL,
        due.customer_id,
        key[:128],
        due.dwelled_at,
        now,
        due.store_id,
        due.geofence_id,
    )
    if row_id is None:
        return  # this dwell was decided on before
    metrics.EVENTS.labels("dwell", "swept").inc()
    presence = await conn.fetchrow(queries.PRESENCE_INVITED, due.customer_id, due.geofence_id)
    trigger = Trigger(
        kind="dwell",
        store_id=due.store_id,
        geofence_id=due.geofence_id,
        event_row_id=row_id,
        item=-1,
        occurred_at=due.dwelled_at,
        accuracy_m=None,
        flags=frozenset(),
        already_inside=presence is not None and presence["invited_at"] is not None,
    )
    summary = await run_trigger(conn, customer_id=due.customer_id, trigger=trigger, now=now)
    if summary is not None and summary.outcome in INVITING:
        await conn.execute(queries.MARK_INVITED, due.customer_id, due.geofence_id, now)
