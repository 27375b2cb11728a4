"""The batch pipeline of ``POST /v1/events``.

Outside any transaction (no lock held): each event is decoded on its own (a bad one is
rejected with its field path, the others go on), the device rate limit is charged, events
from the future are rejected, and every fix is matched against this process's geo index.

Then one transaction:

1. **Lock the customer** (``FOR NO KEY UPDATE``; unknown customers are created with no
   consents, erased ones are refused). Every batch of one customer, the worker's dwell sweep
   and the policy take this lock, so they run one after another: concurrent duplicates are
   stored once and caps hold.
2. **Read the state** in one statement: the policy's current stale / accuracy limits, the
   events of this batch already stored (their first answer is replayed), the presence rows
   that matter, the previous trusted fix and the presence watermark.
3. **Process in ``occurred_at`` order**, in memory: quality (``stale`` / ``low_accuracy``:
   stored, nothing else), spoof flags, claims against the server's view, presence with
   hysteresis, and the triggers (enter, dwell, check-in).
4. **Decide** the triggers one after another, in memory: the store's campaigns, the settings
   and the customer's context are read once per store (one statement each), and each
   trigger's context adds what the batch stored before its event and what the triggers
   before it decided, exactly as reading it again would (``app.context.context_after``).
5. **Write** everything in one statement: the events with their answers (kept for replays)
   and the enter / exit / dwell rows derived from them, presence, tracking, the decisions
   and their invites.

Events of an erased customer are answered ``rejected`` / ``customer_erased`` and nothing is
stored: the customer does not come back.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec

from app import metrics
from app.customers.services import ensure_customer
from app.db import transaction
from app.decisions.inputs import EventFacts
from app.decisions.policy import decide
from app.decisions.services.pipeline import DecisionRow, decision_row, load_decision_bases
from app.decisions.settings import DEFAULT_SETTINGS
from app.events import queries
from app.events.schemas import (
    CheckinEvent,
    EnterEvent,
    Event,
    EventDecision,
    EventResult,
    EventResults,
    ExitEvent,
    FixEvent,
    PresenceChange,
    StoredAs,
    TriggerKind,
    decode_event,
    peek_event_id,
)
from app.events.services._presence import Claim, Presence, Zone, advance, is_late, zone_of
from app.events.services._ratelimit import DeviceRateLimiter
from app.events.services._spoof import LastFix, is_jump, newer_fix
from app.events.services._triggers import INVITING
from app.problems import FieldError, ProblemError, field_from_message
from geo.index import MAX_ACCURACY_M

if TYPE_CHECKING:
    from app.auth import Principal
    from app.db import DbConnection
    from app.geoindex import GeofenceMeta
    from app.settings import IngestSettings
    from geo.index import GeofenceIndex

__all__ = ["GeoView", "RateLimited", "ingest_events"]

log = logging.getLogger("kairos.events")

_INSIDE_OR_EDGE = ("inside", "edge")
_PRIORITY: dict[str, int] = {"enter": 0, "dwell": 1, "checkin": 2}


class RateLimited(ProblemError):
    """429: the device sent more events than its per-minute allowance."""

    def __init__(self, retry_after: float, limit: int) -> None:
        super().__init__(
            429,
            "rate-limited",
            "Too many events",
            f"at most {limit} events per device per minute; retry in {int(retry_after)} s",
            headers={"Retry-After": str(int(retry_after))},
        )


@dataclass(frozen=True, slots=True)
class GeoView:
    """This process's geo index and what it knows of each geofence."""

    index: GeofenceIndex
    meta: Mapping[str, GeofenceMeta]


@dataclass(slots=True)
class _Item:
    """An event that decoded, on its way through the pipeline."""

    index: int
    event: Event
    key: str
    row_id: UUID
    matches: dict[str, float]
    unsure_outside: bool
    flags: set[str] = field(default_factory=set)
    stored_as: StoredAs = "current"
    geofence_id: str | None = None
    store_id: str | None = None
    presence: list[PresenceChange] = field(default_factory=list)
    decisions: list[EventDecision] = field(default_factory=list)
    triggers: int = 0

    @property
    def claimed_geofence(self) -> str | None:
        return None if isinstance(self.event, FixEvent) else self.event.geofence_id

    @property
    def claimed_store(self) -> str | None:
        return None if isinstance(self.event, FixEvent) else self.event.store_id

    def result(self) -> EventResult:
        return EventResult(
            status="accepted",
            event_id=self.event.event_id,
            stored_as=self.stored_as,
            flags=sorted(self.flags),
            presence=self.presence,
            decisions=self.decisions,
        )


@dataclass(frozen=True, slots=True)
class _Derived:
    """An enter / exit / dwell row derived from an app event."""

    row_id: UUID
    key: str
    type: str
    occurred_at: datetime
    geofence_id: str
    store_id: str | None
    flags: frozenset[str]
    derived_from: UUID


@dataclass(slots=True)
class _Pending:
    """A trigger waiting for the events to be written; ``visit`` identifies the visit."""

    kind: TriggerKind
    store_id: str
    geofence_id: str
    event_row_id: UUID
    item: _Item
    was_inside: bool
    visit: tuple[str, datetime | None]


@dataclass(slots=True)
class _Batch:
    """The customer's state while a batch is processed."""

    rows: dict[str, Presence]
    last_fix: LastFix | None
    presence_at: datetime | None
    invited_visits: set[tuple[str, datetime | None]]
    tracking_dirty: bool = False
    derived: list[_Derived] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)


class _EventRow(msgspec.Struct, kw_only=True, gc=False):
    """An ``events`` row as :data:`~app.events.queries.WRITE_BATCH` takes it (JSON)."""

    id: UUID
    event_id: str
    type: str
    occurred_at: datetime
    status: str
    flags: list[str]
    store_id: str | None = None
    geofence_id: str | None = None
    lat: float | None = None
    lng: float | None = None
    accuracy_m: float | None = None
    result: EventResult | None = None
    device_id: str | None = None
    speed_mps: float | None = None
    claimed_geofence_id: str | None = None
    claimed_store_id: str | None = None
    derived_from: UUID | None = None


# Decoding ------------------------------------------------------------------------------------
def _rejected_invalid(index: int, raw: msgspec.Raw, exc: Exception) -> EventResult:
    path, message = field_from_message(str(exc), None)
    where = f"events[{index}]" if path in ("", "body") else f"events[{index}].{path}"
    return EventResult(
        status="rejected",
        event_id=peek_event_id(raw),
        reason="invalid",
        errors=[FieldError(field=where, message=message)],
    )


def _charge(
    limiter: DeviceRateLimiter | None, customer_id: str, devices: Sequence[str], limit: int
) -> None:
    if limiter is None or not limiter.enabled:
        return
    costs: dict[tuple[str, str], int] = {}
    for device in devices:
        costs[(customer_id, device)] = costs.get((customer_id, device), 0) + 1
    wait = limiter.take(costs)
    if wait is not None:
        raise RateLimited(wait, limit)


# Claims --------------------------------------------------------------------------------------
def _claimed_candidates(item: _Item, geo: GeoView, batch: _Batch) -> list[str] | None:
    """The geofences the claim names, best match first; None when it names an unknown one
    or a geofence of another store than the one claimed alongside it."""
    geofence_id, store_id = item.claimed_geofence, item.claimed_store
    if geofence_id is not None:
        meta = geo.meta.get(geofence_id)
        if meta is None or (store_id is not None and meta.store_id != store_id):
            return None
        return [geofence_id]
    found = [g for g in item.matches if (m := geo.meta.get(g)) and m.store_id == store_id]
    if isinstance(item.event, ExitEvent):
        found += [
            g
            for g, row in batch.rows.items()
            if row.inside and g not in found and (m := geo.meta.get(g)) and m.store_id == store_id
        ]
    return found


def _resolve_claim(
    item: _Item, zones: Mapping[str, Zone], geo: GeoView, batch: _Batch
) -> tuple[Claim | None, list[str]]:
    """The claim as the server accepts it: its kind and geofences, or (None, []) when it
    does not match the fix (flagged ``claim_mismatch``; the server's own view is used)."""
    event = item.event
    if isinstance(event, FixEvent):
        return None, []
    candidates = _claimed_candidates(item, geo, batch)
    if isinstance(event, ExitEvent):
        if candidates is None or any(zones.get(g) == "inside" for g in candidates):
            item.flags.add("claim_mismatch")
            return None, []
        return "exit", candidates
    agreeing = [g for g in candidates or () if zones.get(g) in _INSIDE_OR_EDGE]
    if not agreeing:
        item.flags.add("claim_mismatch")
        return None, []
    if isinstance(event, CheckinEvent):
        return None, agreeing[:1]  # a check-in moves presence like its fix, no more
    return ("enter" if isinstance(event, EnterEvent) else "dwell"), agreeing[:1]


# Processing ----------------------------------------------------------------------------------
def _zones(item: _Item, buffer_m: float) -> dict[str, Zone]:
    accuracy = item.event.accuracy_m
    return {g: zone_of(d, accuracy, buffer_m) for g, d in item.matches.items()}


def _process(
    item: _Item, batch: _Batch, geo: GeoView, settings: IngestSettings, now: datetime
) -> None:
    """Flags, claims, presence and triggers of one current event (in ``occurred_at`` order)."""
    event = item.event
    at = event.occurred_at
    previous = batch.last_fix
    if is_jump(
        previous,
        event.lat,
        event.lng,
        at,
        speed_kmh=settings.jump_speed_kmh,
        min_distance_m=settings.jump_min_distance_m,
    ):
        item.flags.add("jumped")
    if not event.is_mocked:
        remembered = newer_fix(previous, LastFix(event.lat, event.lng, at))
        if remembered is not previous:
            batch.last_fix = remembered
            batch.tracking_dirty = True

    zones = _zones(item, settings.exit_buffer_m)
    claim, claimed = _resolve_claim(item, zones, geo, batch)
    checkin_geofence: str | None = None
    if isinstance(event, CheckinEvent):
        if claimed:
            checkin_geofence = claimed[0]
        else:  # the server's view wins: the store the fix is inside, if any
            checkin_geofence = next((g for g, z in zones.items() if z == "inside"), None)
    if claimed and not isinstance(event, CheckinEvent | ExitEvent):
        item.geofence_id = claimed[0]
    elif checkin_geofence is not None:
        item.geofence_id = checkin_geofence
    elif isinstance(event, ExitEvent) and claimed:
        item.geofence_id = claimed[0] if item.claimed_geofence else None
    if item.geofence_id is not None and (meta := geo.meta.get(item.geofence_id)):
        item.store_id = meta.store_id

    late = is_late(at, batch.presence_at)
    changes: list[tuple[str, str]] = []
    before: dict[str, tuple[bool, datetime | None]] = {}
    if not late:
        batch.presence_at = at
        batch.tracking_dirty = True
        considered = list(zones)
        considered += [g for g, row in batch.rows.items() if row.inside and g not in zones]
        considered += [g for g in claimed if g not in considered]
        for geofence_id in considered:
            meta = geo.meta.get(geofence_id)
            row = batch.rows.get(geofence_id)
            if meta is None and row is None:
                continue
            zone = zones.get(geofence_id) or ("near" if item.unsure_outside else "outside")
            if row is None:
                row = Presence(geofence_id)
            before[geofence_id] = (row.inside, row.entered_at)
            made = advance(
                row,
                zone,
                at,
                dwell_seconds=meta.dwell_seconds if meta else 0,
                claim=claim if geofence_id in claimed else None,
            )
            if row.dirty:
                batch.rows[geofence_id] = row
            changes += [(geofence_id, change) for change in made]

    for geofence_id, change in changes:
        meta = geo.meta.get(geofence_id)
        store_id = meta.store_id if meta else None
        item.presence.append(
            PresenceChange(
                geofence_id=geofence_id,
                store_id=store_id,
                change=change,  # type: ignore[arg-type]
            )
        )
        row_id = item.row_id
        # The app's own report is the row for this change when it says the same (its enter
        # or exit of this geofence), or when it is already a visit to this store (a
        # check-in, or a claimed enter / dwell): a second visit row at the same instant would
        # read as an earlier visit to the policy's history.
        same = change == event.type and geofence_id == item.geofence_id
        visit = change != "exit" and event.type != "fix" and event.type != "exit"
        if not (same or (visit and store_id is not None and store_id == item.store_id)):
            row_id = uuid.uuid4()
            batch.derived.append(
                _Derived(
                    row_id=row_id,
                    key=f"derived:{item.key}:{change}:{len(batch.derived)}",
                    type=change,
                    occurred_at=at,
                    geofence_id=geofence_id,
                    store_id=store_id,
                    flags=frozenset(item.flags),
                    derived_from=item.row_id,
                )
            )
        if change != "exit" and store_id is not None:
            was_inside = before.get(geofence_id, (False, None))[0]
            _want(item, batch, change, store_id, geofence_id, row_id, was_inside)

    if checkin_geofence is not None and (meta := geo.meta.get(checkin_geofence)):
        row = batch.rows.get(checkin_geofence)
        was_inside = before.get(checkin_geofence, (row is not None and row.inside, None))[0]
        _want(item, batch, "checkin", meta.store_id, checkin_geofence, item.row_id, was_inside)
    elif claim in ("enter", "dwell") and not late and not changes and claimed:
        # A claim of what presence already says: still a trigger (the policy sees the visit).
        row = batch.rows.get(claimed[0])
        if row is not None and row.inside and (meta := geo.meta.get(claimed[0])):
            _want(item, batch, claim, meta.store_id, claimed[0], item.row_id, True)


def _want(
    item: _Item,
    batch: _Batch,
    kind: str,
    store_id: str,
    geofence_id: str,
    row_id: UUID,
    was_inside: bool,
) -> None:
    """Queue a trigger: one per store per event, a check-in before a dwell before an enter.

    The visit is the geofence's current one after the event (its ``entered_at``): an invite
    decided for it makes later triggers of the same visit ``already_inside``.
    """
    row = batch.rows.get(geofence_id)
    visit = (geofence_id, row.entered_at if row is not None and row.inside else None)
    for pending in batch.pending:
        if pending.item is item and pending.store_id == store_id:
            if _PRIORITY[kind] > _PRIORITY[pending.kind]:
                pending.kind = kind  # type: ignore[assignment]
                pending.geofence_id = geofence_id
                pending.event_row_id = row_id
                pending.was_inside = was_inside
                pending.visit = visit
            return
    batch.pending.append(
        _Pending(
            kind=kind,  # type: ignore[arg-type]
            store_id=store_id,
            geofence_id=geofence_id,
            event_row_id=row_id,
            item=item,
            was_inside=was_inside,
            visit=visit,
        )
    )
    item.triggers += 1


# Writing -------------------------------------------------------------------------------------
_VISITS = frozenset({"checkin", "enter", "dwell"})  # app.context.VISIT_EVENT_TYPES


def _event_rows(stored: Sequence[_Item], derived: Sequence[_Derived]) -> list[_EventRow]:
    """The events of ``stored``, with their answers, and the rows derived from them."""
    rows = []
    for item in stored:
        event = item.event
        rows.append(
            _EventRow(
                id=item.row_id,
                event_id=item.key,
                type=event.type,
                occurred_at=event.occurred_at,
                lat=event.lat,
                lng=event.lng,
                accuracy_m=event.accuracy_m,
                store_id=item.store_id,
                geofence_id=item.geofence_id,
                status="accepted" if item.stored_as == "current" else item.stored_as,
                flags=sorted(item.flags),
                result=item.result(),
                device_id=event.device_id,
                speed_mps=event.speed_mps,
                claimed_geofence_id=item.claimed_geofence,
                claimed_store_id=item.claimed_store,
            )
        )
    rows.extend(
        _EventRow(
            id=row.row_id,
            event_id=row.key,
            type=row.type,
            occurred_at=row.occurred_at,
            store_id=row.store_id,
            geofence_id=row.geofence_id,
            status="derived",
            flags=sorted(row.flags),
            derived_from=row.derived_from,
        )
        for row in derived
    )
    return rows


async def _write(
    conn: DbConnection,
    customer_id: str,
    now: datetime,
    stored: Sequence[_Item],
    batch: _Batch,
    decisions: Sequence[DecisionRow],
) -> None:
    fix = batch.last_fix
    await conn.execute(
        queries.WRITE_BATCH_DECIDED if decisions else queries.WRITE_BATCH,
        customer_id,
        now,
        _event_rows(stored, batch.derived),
        # Presence rows as they are (a dataclass: JSON objects whose extra keys are ignored).
        [row for row in batch.rows.values() if row.dirty],
        fix.lat if fix else None,
        fix.lng if fix else None,
        fix.at if fix else None,
        batch.presence_at,
        batch.tracking_dirty,
        *((decisions,) if decisions else ()),
    )


# Deciding ------------------------------------------------------------------------------------
def _trigger_stores(items: Sequence[_Item], geo: GeoView) -> list[str]:
    """Every store a trigger of ``items`` may be at, but for those the customer is inside
    already (the state statement adds them): of the geofences matched or claimed, and the
    stores claimed."""
    stores: set[str] = set()
    for item in items:
        for geofence_id in (*item.matches, item.claimed_geofence):
            if geofence_id is not None and (meta := geo.meta.get(geofence_id)):
                stores.add(meta.store_id)
        if item.claimed_store is not None:
            stores.add(item.claimed_store)
    return sorted(stores)


def _visits_of(item: _Item, derived: Sequence[_Derived]) -> list[tuple[datetime, str, int]]:
    """``(occurred_at, store_id, row id as an int)`` of the visit rows ``item`` stores (its own
    and those derived from it), as the context counts visits."""
    visits = []
    event = item.event
    if event.type in _VISITS and item.store_id is not None:
        visits.append((event.occurred_at, item.store_id, item.row_id.int))
    visits.extend(
        (row.occurred_at, row.store_id, row.row_id.int)
        for row in derived
        if row.type in _VISITS and row.store_id is not None
    )
    return visits


async def _decide_triggers(
    conn: DbConnection,
    customer_id: str,
    stored: Sequence[_Item],
    batch: _Batch,
    zones: Mapping[str, str],
    now: datetime,
) -> list[DecisionRow]:
    """Decide the batch's triggers in order; each sees the history before its own event.

    Its context is the store's, read once for the batch before anything is written, plus
    the visit rows of the events up to and including the trigger's own (but for the
    trigger's row itself) and the invites and holdouts decided before it
    (:meth:`~app.decisions.services.pipeline.DecisionBase.inputs`): what reading it again
    after writing those would give, the customer being locked.
    """
    derived: dict[UUID, list[_Derived]] = {}
    for derived_row in batch.derived:
        derived.setdefault(derived_row.derived_from, []).append(derived_row)
    visits_by_item = [_visits_of(item, derived.get(item.row_id, ())) for item in stored]
    visited = sorted({store for visits in visits_by_item for _, store, _ in visits})
    position = {id(item): n for n, item in enumerate(stored)}
    bases = await load_decision_bases(
        conn,
        customer_id=customer_id,
        store_ids=list(dict.fromkeys(pending.store_id for pending in batch.pending)),
        now=now,
        zones=zones,
        check_stores=visited,
    )
    visits: list[tuple[datetime, str, int]] = []
    contacts: list[tuple[str | None, str | None]] = []
    rows: list[DecisionRow] = []
    done = 0
    for pending in batch.pending:
        upto = position[id(pending.item)] + 1
        for item_visits in visits_by_item[done:upto]:
            visits.extend(item_visits)
        done = max(done, upto)
        store_id = pending.store_id
        base = bases.get(store_id)
        if base is None:
            log.info("store %s is gone; no decision for its %s", store_id, pending.kind)
            continue
        item = pending.item
        event = item.event
        facts = EventFacts(
            kind=pending.kind,
            occurred_at=event.occurred_at,
            received_at=now,
            event_id=pending.event_row_id,
            accuracy_m=event.accuracy_m,
            flags=frozenset(item.flags),
            already_inside=pending.was_inside and pending.visit in batch.invited_visits,
            geofence_id=pending.geofence_id,
        )
        own = pending.event_row_id.int
        inputs = base.inputs(
            facts,
            visits=[
                (at, store)
                for at, store, row in visits
                if row != own and store in base.stores_found
            ],
            contacts=contacts,
        )
        decision = decide(inputs, now)
        row = decision_row(decision, inputs)
        rows.append(row)
        codes = list(decision.reason_codes)
        metrics.DECISIONS.labels(decision.outcome, codes[0]).inc()
        item.decisions.append(
            EventDecision(
                decision_id=row.id,
                trigger=pending.kind,
                store_id=store_id,
                geofence_id=pending.geofence_id,
                outcome=decision.outcome,
                reason_codes=codes,
                invite_id=row.invite_id,
            )
        )
        if decision.outcome in INVITING:
            contacts.append((decision.campaign_id, decision.store_id))
            batch.invited_visits.add(pending.visit)
            presence = batch.rows.get(pending.geofence_id)
            if presence is not None and presence.inside and presence.entered_at == pending.visit[1]:
                presence.invited_at = now
                presence.dirty = True
    return rows


# The pipeline --------------------------------------------------------------------------------
def _load_batch(state: Any) -> tuple[_Batch, dict[str, str | None]]:
    rows: dict[str, Presence] = {}
    invited: set[tuple[str, datetime | None]] = set()
    for geofence_id, status, entered_at, last_seen_at, exited_at, invited_at in (
        state["presence"] or ()
    ):
        rows[geofence_id] = Presence(
            geofence_id=geofence_id,
            state=status,
            entered_at=entered_at,
            last_seen_at=last_seen_at,
            exited_at=exited_at,
            invited_at=invited_at,
        )
        if invited_at is not None and status != "outside":
            invited.add((geofence_id, entered_at))
    last_fix = None
    if state["fixed_at"] is not None:
        last_fix = LastFix(state["lat"], state["lng"], state["fixed_at"])
    batch = _Batch(
        rows=rows, last_fix=last_fix, presence_at=state["presence_at"], invited_visits=invited
    )
    seen = {key: answer for key, answer in state["seen"] or ()}
    return batch, seen


def _replayed(answer: str | None, event_id: UUID) -> EventResult:
    if answer is None:
        return EventResult(status="duplicate", event_id=event_id)
    first = msgspec.json.decode(answer, type=EventResult)
    return msgspec.structs.replace(first, status="duplicate", event_id=event_id)


async def ingest_events(
    conn: DbConnection,
    *,
    principal: Principal,
    customer_id: str,
    raws: Sequence[msgspec.Raw],
    now: datetime,
    geo: GeoView,
    settings: IngestSettings,
    limiter: DeviceRateLimiter | None = None,
) -> EventResults:
    """Ingest one batch of the customer's events (see the module docstring).

    Raises:
        RateLimited: 429, the device's allowance is spent (nothing was stored).
    """
    results: list[EventResult | None] = [None] * len(raws)
    decoded: list[tuple[int, Event]] = []
    devices: list[str] = []
    for index, raw in enumerate(raws):
        try:
            event = decode_event(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            results[index] = _rejected_invalid(index, raw, exc)
            devices.append("")
            continue
        decoded.append((index, event))
        devices.append(event.device_id)
    _charge(limiter, customer_id, devices, settings.rate_limit_per_minute)

    skew = timedelta(seconds=settings.max_future_skew_seconds)
    buffer_m = settings.exit_buffer_m
    items: list[_Item] = []
    for index, event in decoded:
        if event.occurred_at - now > skew:
            results[index] = EventResult(
                status="rejected", event_id=event.event_id, reason="in_future"
            )
            continue
        searched = event.accuracy_m + buffer_m
        matches = geo.index.match(event.lat, event.lng, min(searched, MAX_ACCURACY_M))
        items.append(
            _Item(
                index=index,
                event=event,
                key=str(event.event_id),
                row_id=uuid.uuid4(),
                matches={m.geofence_id: m.distance_m for m in matches},
                unsure_outside=searched > MAX_ACCURACY_M,
            )
        )
    items.sort(key=lambda i: (i.event.occurred_at, i.index))

    if items:
        await _ingest_items(conn, principal, customer_id, items, results, now, geo, settings)

    types = {index: event.type for index, event in decoded}
    counted: Counter[tuple[str, str]] = Counter()
    for index, result in enumerate(results):
        assert result is not None
        if result.status == "rejected":
            label: str = result.reason or "invalid"
        elif result.status == "duplicate":
            label = "duplicate"
        else:
            label = "accepted" if result.stored_as == "current" else str(result.stored_as)
        counted[(types.get(index, "unknown"), label)] += 1
    for labels, count in counted.items():  # one update per kind: labels() is not cheap
        metrics.EVENTS.labels(*labels).inc(count)
    done = [r for r in results if r is not None]
    return EventResults(
        results=done,
        accepted=sum(r.status == "accepted" for r in done),
        duplicates=sum(r.status == "duplicate" for r in done),
        rejected=sum(r.status == "rejected" for r in done),
    )


async def _ingest_items(
    conn: DbConnection,
    principal: Principal,
    customer_id: str,
    items: list[_Item],
    results: list[EventResult | None],
    now: datetime,
    geo: GeoView,
    settings: IngestSettings,
) -> None:
    async with transaction(conn):
        if await conn.fetchval(queries.LOCK_CUSTOMER, customer_id) is None:
            if not await ensure_customer(conn, principal, customer_id):
                for item in items:
                    results[item.index] = EventResult(
                        status="rejected", event_id=item.event.event_id, reason="customer_erased"
                    )
                return
            await conn.fetchval(queries.LOCK_CUSTOMER, customer_id)
        matched = sorted({g for item in items for g in item.matches})
        state = await conn.fetchrow(
            queries.BATCH_STATE,
            customer_id,
            [item.key for item in items],
            matched,
            _trigger_stores(items, geo),
        )
        assert state is not None  # one row, whatever is stored
        batch, seen = _load_batch(state)
        stale_after = state["stale_after_seconds"] or DEFAULT_SETTINGS.stale_after_seconds
        max_accuracy = state["max_accuracy_m"] or DEFAULT_SETTINGS.max_accuracy_m

        first: dict[str, _Item] = {}
        stored: list[_Item] = []
        duplicates: list[tuple[_Item, _Item]] = []
        for item in items:
            event = item.event
            if item.key in seen:
                results[item.index] = _replayed(seen[item.key], event.event_id)
                continue
            if item.key in first:
                duplicates.append((item, first[item.key]))
                continue
            first[item.key] = item
            stored.append(item)
            if event.is_mocked:
                item.flags.add("mocked")
            if (now - event.occurred_at).total_seconds() > stale_after:
                item.stored_as = "stale"
            elif event.accuracy_m > max_accuracy:
                item.stored_as = "low_accuracy"
            else:
                _process(item, batch, geo, settings, now)

        decisions: list[DecisionRow] = []
        if batch.pending:
            zones = {store_id: zone for store_id, zone in state["zones"] or ()}
            decisions = await _decide_triggers(conn, customer_id, stored, batch, zones, now)
        await _write(conn, customer_id, now, stored, batch, decisions)
    for item in stored:
        results[item.index] = item.result()
    for item, original in duplicates:
        results[item.index] = msgspec.structs.replace(
            original.result(), status="duplicate", event_id=item.event.event_id
        )
