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
4. **Write** the events (and the enter / exit / dwell rows derived from them), presence and
   tracking, then run the triggers through the policy, each decision and invite written in
   the same transaction; the answers are stored with the events for replays.

Events of an erased customer are answered ``rejected`` / ``customer_erased`` and nothing is
stored: the customer does not come back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec

from app import metrics
from app.customers.services import ensure_customer
from app.db import transaction
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
from app.events.services._triggers import INVITING, Trigger, run_trigger
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
def _json(result: EventResult) -> str:
    return msgspec.json.encode(result).decode()


def _event_columns(
    items: Sequence[_Item], derived: Sequence[_Derived], with_answers: bool
) -> list[list[Any]]:
    """The events of ``items`` and the rows derived from them, as WRITE_BATCH's columns.

    Answers are written with the events unless ``with_answers`` is false and the event
    triggers decisions (its answer follows them).
    """
    columns: list[list[Any]] = [[] for _ in range(17)]
    rows = {item.row_id for item in items}
    for item in items:
        event = item.event
        values: tuple[Any, ...] = (
            item.row_id,
            item.key,
            event.type,
            event.occurred_at,
            event.lat,
            event.lng,
            event.accuracy_m,
            item.store_id,
            item.geofence_id,
            "accepted" if item.stored_as == "current" else item.stored_as,
            ",".join(sorted(item.flags)),
            _json(item.result()) if with_answers or not item.triggers else None,
            event.device_id,
            event.speed_mps,
            item.claimed_geofence,
            item.claimed_store,
            None,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    for row in derived:
        if row.derived_from not in rows:
            continue
        values = (
            row.row_id,
            row.key,
            row.type,
            row.occurred_at,
            None,
            None,
            None,
            row.store_id,
            row.geofence_id,
            "derived",
            ",".join(sorted(row.flags)),
            None,
            None,
            None,
            None,
            None,
            row.derived_from,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns


def _presence_columns(rows: Sequence[Presence]) -> list[list[Any]]:
    return [
        [r.geofence_id for r in rows],
        [r.state for r in rows],
        [r.entered_at for r in rows],
        [r.last_seen_at for r in rows],
        [r.exited_at for r in rows],
        [r.invited_at for r in rows],
    ]


async def _write(
    conn: DbConnection,
    customer_id: str,
    now: datetime,
    *,
    events: list[list[Any]] | None = None,
    batch: _Batch | None = None,
    answers: Sequence[_Item] = (),
) -> None:
    empty: list[list[Any]] = [[] for _ in range(17)]
    rows = [r for r in batch.rows.values() if r.dirty] if batch is not None else []
    fix = batch.last_fix if batch is not None else None
    await conn.fetchrow(
        queries.WRITE_BATCH,
        customer_id,
        now,
        *(events or empty),
        *_presence_columns(rows),
        fix.lat if fix else None,
        fix.lng if fix else None,
        fix.at if fix else None,
        batch.presence_at if batch is not None else None,
        batch is not None and batch.tracking_dirty,
        [item.row_id for item in answers],
        [_json(item.result()) for item in answers],
    )


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
    for index, result in enumerate(results):
        assert result is not None
        if result.status == "rejected":
            label: str = result.reason or "invalid"
        elif result.status == "duplicate":
            label = "duplicate"
        else:
            label = "accepted" if result.stored_as == "current" else str(result.stored_as)
        metrics.EVENTS.labels(types.get(index, "unknown"), label).inc()
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
            queries.BATCH_STATE, customer_id, [item.key for item in items], matched
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

        # Each decision sees the history before its event: the events are written in
        # segments, up to and including the trigger's own event, just before it is decided.
        # Without triggers (most batches) everything is one statement.
        done = 0
        position = {id(item): n for n, item in enumerate(stored)}
        for pending in batch.pending:
            upto = position[id(pending.item)] + 1
            if upto > done:
                segment = stored[done:upto]
                await _write(
                    conn, customer_id, now, events=_event_columns(segment, batch.derived, False)
                )
                done = upto
            await _decide(conn, customer_id, pending, batch, now)
        await _write(
            conn,
            customer_id,
            now,
            events=_event_columns(stored[done:], batch.derived, True),
            batch=batch,
            answers=[item for item in stored[:done] if item.triggers],
        )
    for item in stored:
        results[item.index] = item.result()
    for item, original in duplicates:
        results[item.index] = msgspec.structs.replace(
            original.result(), status="duplicate", event_id=item.event.event_id
        )


async def _decide(
    conn: DbConnection, customer_id: str, pending: _Pending, batch: _Batch, now: datetime
) -> None:
    item = pending.item
    event = item.event
    trigger = Trigger(
        kind=pending.kind,
        store_id=pending.store_id,
        geofence_id=pending.geofence_id,
        event_row_id=pending.event_row_id,
        item=item.index,
        occurred_at=event.occurred_at,
        accuracy_m=event.accuracy_m,
        flags=frozenset(item.flags),
        already_inside=pending.was_inside and pending.visit in batch.invited_visits,
    )
    summary = await run_trigger(conn, customer_id=customer_id, trigger=trigger, now=now)
    if summary is None:
        return
    item.decisions.append(summary)
    if summary.outcome in INVITING:
        batch.invited_visits.add(pending.visit)
        row = batch.rows.get(pending.geofence_id)
        if row is not None and row.inside and row.entered_at == pending.visit[1]:
            row.invited_at = now
            row.dirty = True
