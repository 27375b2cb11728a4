"""Periodic jobs of ``kairos worker``, on APScheduler 3.11's ``AsyncIOScheduler``.

* ``outbox_poll`` (every ``KAIROS_WORKER_POLL_INTERVAL``): wakes this process's dispatcher
  in case a notification was missed. Per process by design: every worker polls for itself
  and ``SKIP LOCKED`` shares out what they find.
* ``dwell_sweep`` (every ``KAIROS_WORKER_SWEEP_INTERVAL``): customers still ``inside`` a
  geofence past its ``dwell_seconds`` without a report that would have said so become
  ``dwelling`` and are handed to the dwell handler (which produces the dwell decision).
* ``invite_expiry`` (same interval): pending invites past ``send_by`` become ``expired``
  with ``send_by_passed``; processed receipt ids older than a day are forgotten.
* ``location_retention`` (every ``KAIROS_WORKER_RETENTION_INTERVAL``): raw locations older
  than ``KAIROS_LOCATION_RETENTION_DAYS`` are purged in bounded batches: bare fixes deleted,
  other events and each customer's last trusted fix stripped of their coordinates.
* ``queue_stats`` (every 5 s): the queue depth and oldest-due-age gauges.

The shared jobs run **once per period across all workers**: each takes a PostgreSQL
advisory lock (so runs never overlap) and then claims the period's slot in
``worker_job_runs`` (so a second worker firing a moment later in the same period skips).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app import metrics
from notifications import queries
from notifications.dispatcher import DB_ERRORS, Clock

__all__ = [
    "LOCK_NAMESPACE",
    "DwellDue",
    "DwellHandler",
    "PeriodicJobs",
    "record_dwell_event",
]

log = logging.getLogger("kairos.scheduler")

LOCK_NAMESPACE = 0x4B41
"""First key of every job's two-key advisory lock ("KA"); the second is the job's CRC32."""

_BATCH = 1000
_MAX_BATCHES_PER_RUN = 100
_WEBHOOK_ID_RETENTION = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DwellDue:
    """A customer who has been inside a geofence for its dwell time."""

    customer_id: str
    geofence_id: str
    store_id: str
    entered_at: datetime
    dwell_seconds: int

    @property
    def dwelled_at(self) -> datetime:
        return self.entered_at + timedelta(seconds=self.dwell_seconds)


DwellHandler = Callable[[Any, DwellDue, datetime], Awaitable[None]]
"""Called once per dwell found, inside the sweep's transaction: ``(conn, due, now)``."""


async def record_dwell_event(conn: Any, due: DwellDue, now: datetime) -> None:
    """The default dwell handler: record the dwell as an event (idempotent by event id).

    The policy's dwell decision hooks in by replacing this handler (``Worker(dwell_handler=)``)
    with one that records the event and decides on it.
    """
    await conn.execute(
        """
        INSERT INTO events (customer_id, event_id, type, occurred_at, received_at, store_id,
                            geofence_id, status)
        VALUES ($1, $2, 'dwell', $3, $4, $5, $6, 'swept')
        ON CONFLICT (customer_id, event_id) DO NOTHING
        """,
        due.customer_id,
        f"sweep:dwell:{due.geofence_id}:{int(due.entered_at.timestamp())}",
        due.dwelled_at,
        now,
        due.store_id,
        due.geofence_id,
    )


def _count(status: str) -> int:
    """The row count of a command status such as ``UPDATE 42``."""
    return int(status.rsplit(" ", 1)[-1])


async def _unlock(conn: Any, job: str) -> None:
    """Release ``job``'s session-level lock. Pooled connections are not reset on release
    (``app.db.create_pool``), so a lock that cannot be released must not go back to the pool
    held: the connection is closed instead, and the server drops the lock with the session."""
    try:
        await conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_NAMESPACE, _lock_key(job))
    except BaseException:
        conn.terminate()
        raise


def _lock_key(job: str) -> int:
    value = zlib.crc32(job.encode())
    return value - (1 << 32) if value >= (1 << 31) else value


class PeriodicJobs:
    """The worker's scheduled jobs.

    Args:
        pool: Database pool.
        clock: The worker's clock.
        worker_id: Recorded with each job run.
        wake: Wakes this process's dispatcher.
        poll_interval / sweep_interval / retention_interval: Periods in seconds.
        retention_days: Location retention.
        dwell_handler: What a due dwell becomes (default: :func:`record_dwell_event`).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Clock,
        worker_id: str,
        wake: Callable[[], None],
        poll_interval: float = 5.0,
        sweep_interval: float = 15.0,
        retention_interval: float = 3600.0,
        retention_days: int = 30,
        dwell_handler: DwellHandler | None = None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.worker_id = worker_id
        self.wake = wake
        self.poll_interval = poll_interval
        self.sweep_interval = sweep_interval
        self.retention_interval = retention_interval
        self.retention_days = retention_days
        self.dwell_handler = dwell_handler or record_dwell_event
        self.scheduler: AsyncIOScheduler | None = None
        self.runs: list[tuple[str, int]] = []  # (job, slot) this process ran

    # -- scheduling -----------------------------------------------------------------------

    def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(
            self._poll, "interval", seconds=self.poll_interval, id="outbox_poll", **common
        )
        for job, interval in self.shared_jobs().items():
            scheduler.add_job(
                self.run_shared,
                "interval",
                seconds=interval,
                args=[job],
                id=job,
                next_run_time=datetime.now(UTC) + timedelta(seconds=min(interval, 1.0)),
                **common,
            )
        scheduler.add_job(
            self.refresh_queue_stats, "interval", seconds=5, id="queue_stats", **common
        )
        scheduler.start()
        self.scheduler = scheduler

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def shared_jobs(self) -> dict[str, float]:
        return {
            "dwell_sweep": self.sweep_interval,
            "invite_expiry": self.sweep_interval,
            "location_retention": self.retention_interval,
        }

    async def _poll(self) -> None:
        self.wake()

    # -- once per period across workers ---------------------------------------------------

    async def run_shared(self, job: str) -> bool:
        """Run ``job`` if no other worker has run it this period; True when it ran."""
        interval = self.shared_jobs()[job]
        body = {
            "dwell_sweep": self.sweep_dwell,
            "invite_expiry": self.expire_invites,
            "location_retention": self.purge_locations,
        }[job]
        now = self.clock()
        slot = int(now.timestamp() // interval)
        try:
            async with self.pool.acquire() as conn:
                locked = await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, $2)", LOCK_NAMESPACE, _lock_key(job)
                )
                if not locked:
                    metrics.SCHEDULED_JOB_RUNS.labels(job, "skipped").inc()
                    return False
                try:
                    won = await conn.fetchval(queries.JOB_SLOT, job, slot, now, self.worker_id)
                    if won is None:
                        metrics.SCHEDULED_JOB_RUNS.labels(job, "skipped").inc()
                        return False
                    self.runs.append((job, slot))
                    log.debug("job %s ran for period %d", job, slot)
                    await body(conn, now)
                    metrics.SCHEDULED_JOB_RUNS.labels(job, "ran").inc()
                    return True
                finally:
                    await _unlock(conn, job)
        except DB_ERRORS as exc:
            log.warning("job %s could not run (%s)", job, type(exc).__name__)
            metrics.SCHEDULED_JOB_RUNS.labels(job, "error").inc()
            return False

    # -- the jobs -------------------------------------------------------------------------

    async def sweep_dwell(self, conn: Any, now: datetime) -> int:
        total = 0
        for _ in range(_MAX_BATCHES_PER_RUN):
            async with conn.transaction():
                rows = await conn.fetch(queries.DWELL_DUE, now, _BATCH)
                for row in rows:
                    await self.dwell_handler(conn, DwellDue(**dict(row)), now)
            total += len(rows)
            if len(rows) < _BATCH:
                break
        if total:
            log.info("dwell sweep: %d customers now dwelling", total)
        return total

    async def expire_invites(self, conn: Any, now: datetime) -> int:
        total = 0
        for _ in range(_MAX_BATCHES_PER_RUN):
            rows = await conn.fetch(queries.EXPIRE_DUE, now, _BATCH)
            for row in rows:
                metrics.INVITES_FINISHED.labels("expired", row["provider"] or "none").inc()
            if rows:
                metrics.INVITES_CANCELLED.labels("send_by_passed").inc(len(rows))
            total += len(rows)
            if len(rows) < _BATCH:
                break
        await conn.execute(queries.PURGE_WEBHOOK_IDS, now - _WEBHOOK_ID_RETENTION, 10 * _BATCH)
        return total

    async def purge_locations(self, conn: Any, now: datetime) -> tuple[int, int]:
        cutoff = now - timedelta(days=self.retention_days)
        deleted = scrubbed = 0
        for _ in range(_MAX_BATCHES_PER_RUN):
            row = await conn.fetchrow(queries.PURGE_LOCATIONS, cutoff, _BATCH)
            assert row is not None  # an aggregate always answers one row
            deleted += row["deleted"]
            scrubbed += row["scrubbed"]
            if row["deleted"] + row["scrubbed"] < _BATCH:
                break
        for _ in range(_MAX_BATCHES_PER_RUN):
            cleared = _count(await conn.execute(queries.PURGE_TRACKING, cutoff, _BATCH))
            scrubbed += cleared
            if cleared < _BATCH:
                break
        if deleted or scrubbed:
            log.info("location retention: %d fixes deleted, %d events scrubbed", deleted, scrubbed)
        return deleted, scrubbed

    async def refresh_queue_stats(self) -> None:
        now = self.clock()
        try:
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(queries.QUEUE_STATS, now)
        except DB_ERRORS:
            return
        assert row is not None  # an aggregate always answers one row
        metrics.OUTBOX_QUEUE_DEPTH.labels("due").set(row["due"])
        metrics.OUTBOX_QUEUE_DEPTH.labels("deferred").set(row["deferred"])
        oldest = row["oldest_due"]
        metrics.OUTBOX_OLDEST_DUE_AGE.set(
            max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        )
