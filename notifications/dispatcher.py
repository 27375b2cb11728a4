"""The outbox dispatcher: claim due invites, check them once more, send, record.

One cycle: put back invites whose lease ran out (a worker died), claim a batch of due ones
(``FOR UPDATE SKIP LOCKED`` + a lease), read their facts in one query, run the last-moment
check, and send the rest concurrently through their gateways (a semaphore and a circuit
breaker per gateway, so a slow or dead provider holds up only its own invites). Each result
is queued to a recorder that writes whatever has accumulated in one statement (group
commit): results are durable within milliseconds of the provider's answer, which keeps the
window for a resend after a crash small, and a burst costs few round trips.

Claiming the next batch does not wait for the previous batch's sends (up to
``pipeline_depth`` batches are in flight), so the database and the network overlap.

Time comes from ``clock`` (a callable returning an aware UTC datetime), never from reading
the system clock here, so a simulation can drive the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from app import metrics
from notifications import queries
from notifications.breaker import CircuitBreaker
from notifications.gateways.base import Gateway, PushMessage, SendResult
from notifications.recheck import (
    Cancellation,
    DeviceTarget,
    InviteFacts,
    RecheckPolicy,
    recheck,
)
from notifications.retry import RetryPolicy

__all__ = [
    "DB_ERRORS",
    "RECOVERABLE",
    "Clock",
    "Dispatcher",
    "Outcome",
    "load_recheck_policy",
    "utc_clock",
]

log = logging.getLogger("kairos.dispatcher")

Clock = Callable[[], datetime]

# Errors that mean "the database is unreachable right now": wait and try again.
DB_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    TimeoutError,
)
RECOVERABLE: tuple[type[Exception], ...] = (*DB_ERRORS, ConnectionError, asyncpg.PostgresError)
"""Also statement errors (e.g. a migration not yet applied): log, wait, try again."""


def utc_clock() -> datetime:
    """The real clock: the default for every worker outside tests and simulations."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Outcome:
    """The new state of one claimed invite, as :data:`queries.RECORD_OUTCOMES` writes it."""

    invite_id: UUID
    status: str
    at: datetime
    attempt_delta: int = 0
    next_attempt_at: datetime | None = None
    provider: str | None = None
    provider_message_id: str | None = None
    last_error: str | None = None
    cancel_reason: str | None = None
    cancel_message: str | None = None
    device_id: UUID | None = None
    dead_device: UUID | None = None


@dataclass(slots=True)
class _Claimed:
    invite_id: UUID
    attempt: int
    due_at: datetime
    lease_expires_at: datetime
    facts: InviteFacts | None = None
    row: Any = None


@dataclass(slots=True)
class _Stats:
    claimed: int = 0
    recorded: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


async def load_recheck_policy(conn: Any) -> RecheckPolicy:
    """The closing margin and default quiet hours of the current policy settings version."""
    from app.decisions.settings import PolicySettings

    try:
        row = await conn.fetchrow(queries.POLICY_SETTINGS)
    except asyncpg.UndefinedTableError:
        row = None
    settings = PolicySettings()
    if row is not None:
        try:
            settings = msgspec.convert(row["settings"], PolicySettings)
        except msgspec.ValidationError:
            log.error("policy_settings version %s does not decode; using defaults", row["version"])
    return RecheckPolicy(
        closing_margin=timedelta(minutes=settings.closing_margin_minutes),
        quiet_start=settings.quiet_hours_start,
        quiet_end=settings.quiet_hours_end,
    )


def _facts(row: Any) -> InviteFacts:
    device = None
    if row["device_id"] is not None:
        device = DeviceTarget(row["device_id"], row["platform"], row["token"])
    return InviteFacts(
        invite_id=row["id"],
        kind=row["kind"],
        send_by=row["send_by"],
        decided_at=row["decided_at"],
        store_id=row["store_id"],
        store_timezone=row["store_timezone"],
        store_country=row["store_country"],
        store_region=row["store_region"],
        opening_hours=row["opening_hours"],
        consent_marketing=row["consent_marketing"],
        consent_location=row["consent_location"],
        quiet_hours=row["quiet_hours"],
        left_since_decision=row["left_since_decision"],
        purchased_since_decision=row["purchased_since_decision"],
        device=device,
    )


class _Recorder:
    """Writes outcomes in groups: whatever accumulated while the previous write ran."""

    def __init__(self, pool: asyncpg.Pool, worker_id: str, on_recorded: Callable[[Outcome], None]):
        self._pool = pool
        self._worker_id = worker_id
        self._pending: list[Outcome] = []
        self._more = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._on_recorded = on_recorded
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-recorder")

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._idle.clear()
        self._more.set()

    async def flush(self) -> None:
        await self._idle.wait()

    async def _run(self) -> None:
        delay = 0.05
        while True:
            await self._more.wait()
            self._more.clear()
            batch, self._pending = self._pending, []
            if not batch:
                self._idle.set()
                continue
            while True:
                try:
                    await self._write(batch)
                    delay = 0.05
                    break
                except Exception as exc:  # the recorder must never die
                    # The leases still protect these invites; keep trying until the
                    # database is back (or the lease runs out and another worker resends).
                    log.warning(
                        "recording %d outcomes failed (%s); retrying",
                        len(batch),
                        type(exc).__name__,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
            for outcome in batch:
                self._on_recorded(outcome)
            if not self._pending:
                self._idle.set()

    async def _write(self, batch: list[Outcome]) -> None:
        dead = [o.dead_device for o in batch if o.dead_device is not None]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.fetch(
                queries.RECORD_OUTCOMES,
                self._worker_id,
                [o.invite_id for o in batch],
                [o.status for o in batch],
                [o.attempt_delta for o in batch],
                [o.next_attempt_at for o in batch],
                [o.provider for o in batch],
                [o.provider_message_id for o in batch],
                [o.last_error for o in batch],
                [o.cancel_reason for o in batch],
                [o.cancel_message for o in batch],
                [o.device_id for o in batch],
                [o.at for o in batch],
            )
            if dead:
                await conn.execute(queries.DEACTIVATE_DEVICES, dead, batch[0].at)


class Dispatcher:
    """Claims and sends invites for one worker process.

    Args:
        pool: Database pool (a few connections: claim, facts, recorder).
        gateways: Gateway per platform.
        clock: Returns the current aware UTC instant.
        worker_id: The lease owner name (host:pid:random by default).
        batch_size: Invites claimed per query.
        lease_seconds: Lease per claim.
        concurrency: Requests in flight per gateway.
        retry: Backoff policy.
        breaker_failures / breaker_reset: Circuit breaker per gateway.
        send_timeout: The gateways' request timeout: no send starts with less lease left.
        pipeline_depth: Claimed batches in flight at once.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        gateways: dict[str, Gateway],
        *,
        clock: Clock = utc_clock,
        worker_id: str | None = None,
        batch_size: int = 200,
        lease_seconds: float = 30.0,
        concurrency: int = 64,
        retry: RetryPolicy | None = None,
        breaker_failures: int = 10,
        breaker_reset: float = 30.0,
        send_timeout: float = 10.0,
        pipeline_depth: int = 4,
        policy_ttl: float = 30.0,
    ) -> None:
        self.pool = pool
        self.gateways = gateways
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.retry = retry or RetryPolicy()
        self.send_timeout = timedelta(seconds=send_timeout)
        self.pipeline_depth = pipeline_depth
        self.breakers = {name: CircuitBreaker(breaker_failures, breaker_reset) for name in gateways}
        self._semaphores = {name: asyncio.Semaphore(concurrency) for name in gateways}
        self._policy: RecheckPolicy | None = None
        self._policy_read_at = -1e18
        self._policy_ttl = policy_ttl
        self._recorder = _Recorder(pool, self.worker_id, self._count)
        self._inflight: set[asyncio.Task[None]] = set()
        self.stats = _Stats()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._recorder.start()

    async def stop(self) -> None:
        """Finish the sends in flight and record them (a graceful shutdown loses no lease)."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        await self._recorder.stop()

    async def idle(self) -> None:
        """Wait until every claimed invite's outcome is recorded."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)
        await self._recorder.flush()

    @property
    def busy(self) -> bool:
        return len(self._inflight) >= self.pipeline_depth

    async def wait_for_room(self) -> None:
        if self.busy:
            await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)

    # -- one cycle ---------------------------------------------------------------------------

    async def claim_and_dispatch(self) -> int:
        """Claim one batch and start sending it; returns how many invites were claimed.

        The database work happens before this returns; the sends go on in a task.
        """
        now = self.clock()
        async with self.pool.acquire() as conn:
            await conn.execute(queries.RECLAIM, now)
            rows = await conn.fetch(
                queries.CLAIM, now, self.batch_size, self.worker_id, self.lease.total_seconds()
            )
            if not rows:
                return 0
            claimed = {
                r["id"]: _Claimed(r["id"], r["attempts"], r["due_at"], r["lease_expires_at"])
                for r in rows
            }
            for fact_row in await conn.fetch(queries.INVITE_FACTS, list(claimed)):
                item = claimed[fact_row["id"]]
                item.facts = _facts(fact_row)
                item.row = fact_row
            policy = await self._current_policy(conn)
        self.stats.claimed += len(claimed)
        task = asyncio.create_task(self._dispatch(list(claimed.values()), policy))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return len(claimed)

    async def drain(self) -> int:
        """Claim and send until nothing is due; wait for every outcome. For tests and CLI."""
        total = 0
        while True:
            await self.wait_for_room()
            claimed = await self.claim_and_dispatch()
            total += claimed
            if claimed < self.batch_size:
                break
        await self.idle()
        return total

    async def next_due(self) -> datetime | None:
        async with self.pool.acquire() as conn:
            value: datetime | None = await conn.fetchval(queries.NEXT_DUE)
        return value

    # -- internals ------------------------------------------------------------------------

    async def _current_policy(self, conn: Any) -> RecheckPolicy:
        if self._policy is None or time.monotonic() - self._policy_read_at > self._policy_ttl:
            self._policy = await load_recheck_policy(conn)
            self._policy_read_at = time.monotonic()
        return self._policy

    async def _dispatch(self, claimed: list[_Claimed], policy: RecheckPolicy) -> None:
        sends = []
        for item in claimed:
            if item.facts is None:  # deleted (erasure) between claim and read: nothing to do
                continue
            sends.append(self._one(item, policy))
        await asyncio.gather(*sends)

    async def _one(self, item: _Claimed, policy: RecheckPolicy) -> None:
        try:
            outcome = await self._attempt(item, policy)
        except Exception as exc:  # never lose an invite to a bug: retry it later
            log.exception("dispatching invite %s failed", item.invite_id)
            now = self.clock()
            outcome = self._after_failure(
                item, now, SendResult("retry", error=f"worker error: {type(exc).__name__}"), None
            )
        self._recorder.add(outcome)

    def _cancel(self, item: _Claimed, now: datetime, cancel: Cancellation) -> Outcome:
        metrics.INVITES_CANCELLED.labels(cancel.code).inc()
        return Outcome(
            item.invite_id,
            cancel.status,
            now,
            attempt_delta=-1,  # nothing was sent: not an attempt
            cancel_reason=cancel.code,
            cancel_message=cancel.message,
        )

    async def _attempt(self, item: _Claimed, policy: RecheckPolicy) -> Outcome:
        facts = item.facts
        assert facts is not None
        now = self.clock()
        cancel = recheck(facts, now, policy)
        if cancel is not None:
            return self._cancel(item, now, cancel)
        assert facts.device is not None
        device = facts.device
        gateway = self.gateways.get(device.platform)
        if gateway is None:
            result = SendResult("retry", error=f"no gateway configured for {device.platform}")
            return self._after_failure(item, now, result, None)
        breaker = self.breakers[gateway.name]
        async with self._semaphores[gateway.name]:
            now = self.clock()
            # Time passed waiting for a slot: check the time-bound conditions again.
            cancel = recheck(facts, now, policy)
            if cancel is not None:
                return self._cancel(item, now, cancel)
            if now + self.send_timeout >= item.lease_expires_at:
                # Too little lease left to be sure no other worker sends it meanwhile.
                return Outcome(item.invite_id, "pending", now, attempt_delta=-1)
            if not breaker.allow():
                metrics.GATEWAY_CIRCUIT_OPEN.labels(gateway.name).set(1)
                retry_at = now + timedelta(seconds=max(breaker.retry_in(), 0.05))
                if retry_at >= facts.send_by:
                    return self._cancel(
                        item,
                        now,
                        Cancellation(
                            "expired",
                            "send_by_passed",
                            f"The {gateway.name} gateway was unavailable until send_by.",
                        ),
                    )
                return Outcome(
                    item.invite_id,
                    "pending",
                    now,
                    attempt_delta=-1,
                    next_attempt_at=retry_at,
                    last_error=f"{gateway.name} circuit open",
                )
            message = _message(item, device, now)
            started = time.perf_counter()
            result = await gateway.send(message)
            metrics.INVITE_SEND_LATENCY.labels(gateway.name).observe(time.perf_counter() - started)
        metrics.INVITE_SEND_RESULTS.labels(gateway.name, result.outcome).inc()
        if result.outcome == "retry":
            breaker.record_failure()
        else:
            breaker.record_success()
            metrics.GATEWAY_CIRCUIT_OPEN.labels(gateway.name).set(0)
        done = self.clock()
        if result.outcome == "sent":
            metrics.INVITE_DISPATCH_DELAY.labels(gateway.name).observe(
                max(0.0, (done - item.due_at).total_seconds())
            )
            return Outcome(
                item.invite_id,
                "sent",
                done,
                provider=gateway.name,
                provider_message_id=result.provider_message_id,
                device_id=device.device_id,
            )
        if result.outcome == "token_dead":
            return Outcome(
                item.invite_id,
                "failed",
                done,
                provider=gateway.name,
                last_error=f"device token rejected: {result.error}",
                device_id=device.device_id,
                dead_device=device.device_id,
            )
        if result.outcome == "failed":
            return Outcome(
                item.invite_id,
                "failed",
                done,
                provider=gateway.name,
                last_error=result.error,
                device_id=device.device_id,
            )
        return self._after_failure(item, done, result, gateway.name, device.device_id)

    def _after_failure(
        self,
        item: _Claimed,
        now: datetime,
        result: SendResult,
        gateway: str | None,
        device_id: UUID | None = None,
    ) -> Outcome:
        assert item.facts is not None
        decision = self.retry.decide(
            attempt=item.attempt,
            now=now,
            send_by=item.facts.send_by,
            retry_after=result.retry_after,
        )
        common: dict[str, Any] = {
            "provider": gateway,
            "last_error": result.error,
            "device_id": device_id,
        }
        if decision.action == "retry":
            return Outcome(item.invite_id, "pending", now, next_attempt_at=decision.at, **common)
        if decision.action == "expire":
            metrics.INVITES_CANCELLED.labels("send_by_passed").inc()
            return Outcome(
                item.invite_id,
                "expired",
                now,
                cancel_reason="send_by_passed",
                cancel_message="The next retry would have come after send_by.",
                **common,
            )
        return Outcome(item.invite_id, "failed", now, **common)

    def _count(self, outcome: Outcome) -> None:
        self.stats.recorded += 1
        self.stats.by_status[outcome.status] = self.stats.by_status.get(outcome.status, 0) + 1
        if outcome.status != "pending":
            metrics.INVITES_FINISHED.labels(outcome.status, outcome.provider or "none").inc()


def _message(item: _Claimed, device: DeviceTarget, now: datetime) -> PushMessage:
    row = item.row
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    return PushMessage(
        invite_id=item.invite_id,
        platform=device.platform,
        token=device.token,
        title=row["title"],
        body=row["body"],
        locale=row["locale"],
        kind=row["kind"],
        send_by=row["send_by"],
        now=now,
        customer_id=row["customer_id"],
        store_id=row["store_id"],
        campaign_id=row["campaign_id"],
        payload=payload,
        attempt=item.attempt,
    )
