"""Keeps this process's in-memory geofence index in step with the database.

A trigger (migration 0002) sends ``NOTIFY kairos_geofences`` with the id of every changed
geofence, after commit. Each API process LISTENs on a dedicated connection and re-reads just
that geofence. If the listening connection drops, notifications sent meanwhile are lost, so
after reconnecting the index is rebuilt from the table instead of drifting: LISTEN first,
then reload, so a change committed during the reload is applied twice rather than never.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from app.db import init_connection
from geo.index import GeofenceIndex
from geo.shapes import Geofence, GeofenceValidationError

__all__ = ["CHANNEL", "GeofenceIndexSync", "GeofenceMeta"]

log = logging.getLogger("kairos.geoindex")

CHANNEL = "kairos_geofences"

_SELECT = """
    SELECT g.id, g.store_id, g.geometry, g.center_lat, g.center_lng, g.radius_m,
           g.dwell_seconds, g.enabled, g.version
    FROM geofences g
"""


@dataclass(frozen=True, slots=True)
class GeofenceMeta:
    """What event handling needs besides the shape."""

    store_id: str
    dwell_seconds: int
    version: int


class _Notice(msgspec.Struct):
    op: str
    id: str
    version: int = 0


def _geofence(row: asyncpg.Record) -> Geofence:
    if row["geometry"] is not None:
        return Geofence.from_geojson(row["id"], row["geometry"])
    return Geofence.from_circle(row["id"], row["center_lat"], row["center_lng"], row["radius_m"])


class GeofenceIndexSync:
    """Owns a :class:`GeofenceIndex` and applies committed geofence changes to it.

    Args:
        url: Database URL for the dedicated LISTEN connection.
        pool: Pool used to read changed rows.
        keepalive_seconds: How often the listening connection is checked; a dead one is
            replaced and the index reloaded.
    """

    def __init__(self, url: str, pool: asyncpg.Pool, *, keepalive_seconds: float = 5.0) -> None:
        self.index = GeofenceIndex()
        self.meta: dict[str, GeofenceMeta] = {}
        self.reloads = 0
        self.last_change_at: float | None = None
        self._url = url
        self._pool = pool
        self._keepalive = keepalive_seconds
        self._conn: asyncpg.Connection | None = None
        self._queue: asyncio.Queue[_Notice] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._lost = asyncio.Event()
        self._closing = False
        # Serialises reloads and single changes: a change read before a reload's snapshot
        # must not be overwritten by it, and one read after must not be lost.
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self._connect_and_reload()
        self._tasks = [
            asyncio.create_task(self._apply_changes(), name="geoindex-apply"),
            asyncio.create_task(self._supervise(), name="geoindex-supervise"),
        ]

    async def stop(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    # -- connection -------------------------------------------------------------------

    async def _connect_and_reload(self) -> None:
        conn = await asyncpg.connect(
            self._url, server_settings={"application_name": "kairos-geoindex"}
        )
        await init_connection(conn)
        conn.add_termination_listener(self._on_terminated)
        await conn.add_listener(CHANNEL, self._on_notify)
        self._conn = conn
        self._lost.clear()
        await self.reload()

    def _on_terminated(self, _: Any) -> None:
        if not self._closing:
            log.warning("geofence listener connection lost; will reconnect and reload")
            self._lost.set()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            self._queue.put_nowait(msgspec.json.decode(str(payload), type=_Notice))
        except msgspec.DecodeError:
            log.error("ignored malformed geofence notification")

    async def _supervise(self) -> None:
        """Reconnect (then reload fully) whenever the listening connection dies."""
        delay = 0.2
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), timeout=self._keepalive)
            except TimeoutError:
                conn = self._conn
                try:
                    if conn is None or conn.is_closed():
                        raise ConnectionError("listener closed")
                    await conn.fetchval("SELECT 1", timeout=self._keepalive)
                    continue
                except (
                    OSError,
                    ConnectionError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                    TimeoutError,
                ):
                    self._lost.set()
            old = self._conn
            if old is not None and not old.is_closed():
                old.terminate()
            try:
                await self._connect_and_reload()
                delay = 0.2
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("geofence listener reconnect failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    # -- index updates ------------------------------------------------------------------

    async def reload(self) -> None:
        """Rebuild the index from every enabled geofence."""
        async with self._lock:
            await self._reload()

    async def _reload(self) -> None:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_SELECT + " WHERE g.enabled")
        items: list[tuple[str, Geofence]] = []
        meta: dict[str, GeofenceMeta] = {}
        for row in rows:
            try:
                items.append((row["id"], _geofence(row)))
            except GeofenceValidationError:
                # Stored shapes were validated on write; a rule tightened since must not
                # stop the whole index from loading.
                log.error("geofence %s no longer validates; not indexed", row["id"])
                continue
            meta[row["id"]] = GeofenceMeta(row["store_id"], row["dwell_seconds"], row["version"])
        await asyncio.to_thread(self.index.replace_all, items)
        self.meta = meta
        self.reloads += 1
        log.info("geofence index loaded: %d geofences", len(items))

    async def _apply_changes(self) -> None:
        while True:
            notice = await self._queue.get()
            try:
                async with self._lock:
                    await self._apply(notice)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                # The row could not be read: the reconnect path reloads everything.
                self._lost.set()
            self.last_change_at = time.monotonic()

    async def _apply(self, notice: _Notice) -> None:
        if notice.op == "delete":
            self._remove(notice.id)
            return
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_SELECT + " WHERE g.id = $1", notice.id)
        if row is None or not row["enabled"]:
            self._remove(notice.id)
            return
        current = self.meta.get(row["id"])
        if current is not None and current.version > row["version"]:
            return  # an older notification arriving late
        try:
            fence = _geofence(row)
        except GeofenceValidationError:
            log.error("geofence %s no longer validates; not indexed", row["id"])
            self._remove(notice.id)
            return
        self.index.upsert(row["id"], fence)
        self.meta[row["id"]] = GeofenceMeta(row["store_id"], row["dwell_seconds"], row["version"])

    def _remove(self, geofence_id: str) -> None:
        self.index.remove(geofence_id)
        self.meta.pop(geofence_id, None)
