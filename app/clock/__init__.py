"""Where "now" comes from: the system clock, or a simulation clock in development.

Every request reads ``app.state.clock`` once (the ``now`` dependency) and the worker takes
the same clock, so the whole server can run on simulated time for demos and tests:

* ``KAIROS_CLOCK=simulated`` (refused when ``KAIROS_ENV=production``) installs a
  :class:`SimulatedClock`, which reads ``instant + (wall clock - set_at) x speed``.
* ``PUT /v1/dev/clock`` (admins; 404 in production) sets the instant and the speed. The
  setting is kept in the ``simulation_clock`` row, so a separate ``kairos worker`` process
  follows it too: each process re-reads the row every second (:func:`follow`).

Until the row is first written, a simulated clock reads the real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from litestar import Litestar

    from app.db import DbConnection

__all__ = [
    "READ_CLOCK",
    "WRITE_CLOCK",
    "SimulatedClock",
    "follow",
    "install_clock",
]

log = logging.getLogger("kairos.clock")

READ_CLOCK = "SELECT instant, speed, set_at FROM simulation_clock WHERE id"
WRITE_CLOCK = """
INSERT INTO simulation_clock (id, instant, speed, set_at) VALUES (true, $1, $2, $3)
ON CONFLICT (id) DO UPDATE
   SET instant = EXCLUDED.instant, speed = EXCLUDED.speed, set_at = EXCLUDED.set_at
"""


def _wall() -> datetime:
    return datetime.now(UTC)


class SimulatedClock:
    """A clock reading ``instant + (wall - set_at) x speed``.

    Args:
        wall: The real clock it runs on (tests pass a fake).
    """

    def __init__(self, wall: Callable[[], datetime] = _wall) -> None:
        self._wall = wall
        now = wall()
        self.instant = now
        self.set_at = now
        self.speed = 1.0

    def __call__(self) -> datetime:
        elapsed = (self._wall() - self.set_at).total_seconds()
        return self.instant + timedelta(seconds=elapsed * self.speed)

    def set(self, instant: datetime, speed: float, set_at: datetime | None = None) -> None:
        self.instant = instant
        self.speed = speed
        self.set_at = set_at or self._wall()

    async def save(self, conn: DbConnection, instant: datetime, speed: float) -> None:
        """Set the clock here and for every process following the row."""
        set_at = self._wall()
        await conn.execute(WRITE_CLOCK, instant, speed, set_at)
        self.set(instant, speed, set_at)

    async def load(self, conn: DbConnection) -> bool:
        """Take the setting from the database; False when none was written yet."""
        row = await conn.fetchrow(READ_CLOCK)
        if row is None:
            return False
        self.set(row["instant"], row["speed"], row["set_at"])
        return True


async def follow(clock: SimulatedClock, pool: asyncpg.Pool, interval: float = 1.0) -> None:
    """Re-read the clock row every ``interval`` seconds until cancelled."""
    while True:
        try:
            async with pool.acquire() as conn:
                await clock.load(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("simulation clock not refreshed (%s)", type(exc).__name__)
        await asyncio.sleep(interval)


def install_clock(app: Litestar) -> None:
    """Give the application its clock (``app.state.clock``) per ``settings.clock``."""
    from app.common import utcnow

    if app.state.settings.clock != "simulated":
        app.state.clock = utcnow
        return
    clock = SimulatedClock()
    app.state.clock = clock
    tasks: list[asyncio.Task[None]] = []

    async def start(app: Litestar) -> None:
        tasks.append(asyncio.create_task(follow(clock, app.state.pool), name="clock-follow"))

    async def stop(_: Any) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.on_startup.append(start)
    app.on_shutdown.insert(0, stop)
