"""The ``kairos worker`` process: outbox dispatch, wake-ups, periodic jobs, metrics.

Wake-ups: a dedicated connection LISTENs on ``kairos_invites``; the trigger of migration
0006 notifies on commit of new pending invites, so an invite is usually claimed within
milliseconds of its decision. When idle, the worker sleeps until the earliest of: a
notification, the next deferred invite or retry coming due (asked from the database after
each empty claim), a lease running out, or the fallback poll (``KAIROS_WORKER_POLL_INTERVAL``).

Failure handling: any database error stops nothing. The dispatch loop waits and tries
again (the pool replaces dead connections), and the listener reconnects by itself; after
a reconnect the worker polls once, since notifications sent meanwhile are lost.

``kairos serve --with-worker`` runs the same worker inside the API process
(:func:`create_app_with_worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING, Any

import asyncpg

from app.db import create_pool, init_connection
from notifications import queries
from notifications.dispatcher import DB_ERRORS, RECOVERABLE, Clock, Dispatcher, utc_clock
from notifications.gateways import build_gateways
from notifications.retry import RetryPolicy
from notifications.scheduler import DwellHandler, PeriodicJobs

if TYPE_CHECKING:
    from litestar import Litestar

    from app.settings import Settings
    from notifications.gateways.base import Gateway

__all__ = ["Worker", "create_app_with_worker", "run_worker"]

log = logging.getLogger("kairos.worker")


class Worker:
    """One worker: a pool, a listener, the dispatcher and the periodic jobs.

    Args:
        settings: Settings with a resolved ``database.url``.
        gateways: Gateways by platform (default: built from settings).
        clock: The worker's clock (default: the real UTC clock).
        worker_id: Lease owner name (default host:pid:random).
        scheduler: Run the APScheduler jobs (tests drive them directly when False).
        dwell_handler: What a due dwell becomes (see :mod:`notifications.scheduler`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        gateways: dict[str, Gateway] | None = None,
        clock: Clock = utc_clock,
        worker_id: str | None = None,
        scheduler: bool = True,
        dwell_handler: DwellHandler | None = None,
    ) -> None:
        if not settings.database.url:
            raise ValueError("the worker needs a resolved database URL")
        self.settings = settings
        self.url: str = settings.database.url
        self.clock = clock
        self._gateways = gateways
        self._worker_id = worker_id
        self._use_scheduler = scheduler
        self._dwell_handler = dwell_handler
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._listener_lost = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.pool: asyncpg.Pool | None = None
        self.dispatcher: Dispatcher | None = None
        self.jobs: PeriodicJobs | None = None
        self.notifications = 0
        self.reconnects = 0

    async def start(self) -> None:
        w = self.settings.worker
        gateways = self._gateways if self._gateways is not None else build_gateways(self.settings)
        self.pool = await create_pool(self.settings)
        self.dispatcher = Dispatcher(
            self.pool,
            gateways,
            clock=self.clock,
            worker_id=self._worker_id,
            batch_size=w.batch_size,
            lease_seconds=w.lease_seconds,
            concurrency=w.gateway_concurrency,
            retry=RetryPolicy(base=w.retry_base, cap=w.retry_max, max_attempts=w.max_attempts),
            breaker_failures=w.breaker_failures,
            breaker_reset=w.breaker_reset,
            send_timeout=self.settings.push.timeout,
        )
        self.dispatcher.start()
        self.jobs = PeriodicJobs(
            self.pool,
            clock=self.clock,
            worker_id=self.dispatcher.worker_id,
            wake=self.wake,
            poll_interval=w.poll_interval,
            sweep_interval=w.sweep_interval,
            retention_interval=w.retention_interval,
            retention_days=w.location_retention_days,
            dwell_handler=self._dwell_handler,
        )
        with contextlib.suppress(*DB_ERRORS):
            await self._listen()
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="outbox-dispatch"),
            asyncio.create_task(self._supervise_listener(), name="outbox-listener"),
        ]
        if self._use_scheduler:
            self.jobs.start()
        log.info("worker %s started", self.dispatcher.worker_id)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self.jobs is not None:
            self.jobs.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.dispatcher is not None:
            with contextlib.suppress(*DB_ERRORS):
                await asyncio.wait_for(self.dispatcher.stop(), timeout=15)
            for gateway in self.dispatcher.gateways.values():
                await gateway.aclose()
        if self._listener is not None and not self._listener.is_closed():
            self._listener.terminate()
        if self.pool is not None:
            self.pool.terminate()
        log.info("worker stopped")

    def wake(self) -> None:
        """Make the dispatch loop claim now (a notification, the poll, a test)."""
        self._wake.set()

    # -- LISTEN ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        conn = await asyncpg.connect(
            self.url, server_settings={"application_name": "kairos-worker-listen"}
        )
        await init_connection(conn)
        conn.add_termination_listener(lambda _c: self._listener_lost.set())
        await conn.add_listener(queries.CHANNEL, self._on_notify)
        self._listener = conn
        self._listener_lost.clear()
        self._wake.set()  # anything committed while we were not listening

    def _on_notify(self, _conn: object, _pid: int, _channel: str, _payload: object) -> None:
        self.notifications += 1
        self._wake.set()

    async def _supervise_listener(self) -> None:
        delay = 0.1
        keepalive = max(1.0, min(5.0, self.settings.worker.poll_interval))
        while True:
            try:
                await asyncio.wait_for(self._listener_lost.wait(), timeout=keepalive)
            except TimeoutError:
                conn = self._listener
                try:
                    if conn is None or conn.is_closed():
                        raise ConnectionError("listener closed")
                    await conn.fetchval("SELECT 1", timeout=keepalive)
                    continue
                except RECOVERABLE:
                    self._listener_lost.set()
            old = self._listener
            if old is not None and not old.is_closed():
                old.terminate()
            try:
                await self._listen()
                self.reconnects += 1
                log.info("invite listener reconnected")
                delay = 0.1
            except Exception as exc:  # keep trying whatever went wrong
                log.warning("invite listener reconnect failed (%s)", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- dispatch loop --------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        assert self.dispatcher is not None
        dispatcher = self.dispatcher
        poll = self.settings.worker.poll_interval
        delay = 0.1
        while not self._stopping.is_set():
            try:
                await dispatcher.wait_for_room()
                self._wake.clear()
                claimed = await dispatcher.claim_and_dispatch()
                if claimed >= dispatcher.batch_size:
                    continue  # more is probably due
                timeout = poll
                next_due = await dispatcher.next_due()
                if next_due is not None:
                    timeout = min(poll, max(0.0, (next_due - self.clock()).total_seconds()))
                delay = 0.1
            except RECOVERABLE as exc:
                log.warning(
                    "outbox dispatch: database unavailable (%s); retrying", type(exc).__name__
                )
                timeout = delay
                delay = min(delay * 2, 5.0)
            except Exception:  # a bug must not stop delivery: log it and go on
                log.exception("outbox dispatch cycle failed; retrying")
                timeout = delay
                delay = min(delay * 2, 5.0)
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)


async def run_worker(settings: Settings, *, metrics_port: int | None = None) -> None:
    """Run a standalone worker until SIGINT / SIGTERM; serve metrics on its own port."""
    from app import metrics
    from app.db import resolve_database

    if not settings.database.url:
        target = await asyncio.to_thread(resolve_database, settings)
        settings = settings.with_database_url(target.url)
    port = settings.worker.metrics_port if metrics_port is None else metrics_port
    if port:
        bound = metrics.serve_metrics(
            settings.server.host, port, settings.worker.metrics_multiproc_dir
        )
        log.info("worker metrics on http://%s:%d/metrics", settings.server.host, bound)
    from app.clock import SimulatedClock, follow
    from app.events.services import decide_swept_dwell

    clock = SimulatedClock() if settings.clock == "simulated" else utc_clock
    worker = Worker(settings, clock=clock, dwell_handler=decide_swept_dwell)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await worker.start()
    following = None
    if isinstance(clock, SimulatedClock) and worker.pool is not None:
        following = asyncio.create_task(follow(clock, worker.pool), name="clock-follow")
    print(
        f"kairos worker: {worker.dispatcher.worker_id if worker.dispatcher else ''} ready",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        if following is not None:
            following.cancel()
        await worker.stop()


def create_app_with_worker() -> Litestar:
    """uvicorn factory for ``kairos serve --with-worker``: the API plus a worker in-process."""
    from app.main import create_app

    app = create_app()
    holder: dict[str, Any] = {}

    async def start_worker(app: Litestar) -> None:
        from app.events.services import decide_swept_dwell

        settings: Settings = app.state.settings
        # The API's own clock (a simulation clock included) and the dwell decisions.
        worker = Worker(settings, clock=lambda: app.state.clock(), dwell_handler=decide_swept_dwell)
        await worker.start()
        holder["worker"] = worker

    async def stop_worker(_: Litestar) -> None:
        worker = holder.pop("worker", None)
        if worker is not None:
            await worker.stop()

    app.on_startup.append(start_worker)
    app.on_shutdown.insert(0, stop_worker)
    return app
