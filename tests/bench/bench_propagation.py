"""How fast a geofence change reaches another process's in-memory index.

Run: ``kairos bench propagation [--changes 200]``

The parent process writes geofences through the PUT service (one transaction each). A child
process runs the same GeofenceIndexSync an API process runs and reports when each change is
in its index. As the baseline, the child also reports when the bare NOTIFY arrives on a
second, plain LISTEN connection: the floor any design on PostgreSQL notifications has.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import msgspec  # noqa: E402

from app.auth import Principal  # noqa: E402
from app.db import create_pool, init_connection  # noqa: E402
from app.geoindex import CHANNEL, GeofenceIndexSync  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.stores import services  # noqa: E402
from app.stores.schemas import GeofenceIn, StoreIn  # noqa: E402
from tests.bench._db import bench_database  # noqa: E402

ADMIN = Principal(sub="bench", role="admin")


async def child(url: str) -> None:
    """The 'other API process': prints 'index <id> <t>' and 'notify <id> <t>' lines."""
    settings = Settings.from_env({"KAIROS_DATABASE_URL": url, "KAIROS_DB_POOL_MIN": "1"})
    pool = await create_pool(settings)

    class Reporting(GeofenceIndexSync):
        async def _apply(self, notice) -> None:  # type: ignore[no-untyped-def]
            await super()._apply(notice)
            print(f"index {notice.id} {time.time():.6f}", flush=True)

    sync = Reporting(url, pool)
    await sync.start()
    raw = await asyncpg.connect(url)

    def on_notify(_c: object, _p: int, _ch: str, payload: str) -> None:
        ident = msgspec.json.decode(payload)["id"]
        print(f"notify {ident} {time.time():.6f}", flush=True)

    await raw.add_listener(CHANNEL, on_notify)
    print("ready", flush=True)
    await asyncio.Event().wait()


async def parent(changes: int) -> None:
    async with bench_database() as url:
        conn = await asyncpg.connect(url)
        await init_connection(conn)
        now = datetime.now(UTC)
        store = msgspec.convert(
            {"name": "S", "lat": 51.5, "lng": -0.12, "timezone": "Europe/London"}, StoreIn
        )
        await services.put_store(conn, ADMIN, "s1", store, if_match=None, now=now)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--child", url, stdout=asyncio.subprocess.PIPE, cwd=ROOT
        )
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
        index_delays: list[float] = []
        notify_delays: list[float] = []
        try:
            for i in range(changes):
                fence = msgspec.convert(
                    {"circle": {"lat": 51.5, "lng": -0.12, "radius_m": 50 + i}}, GeofenceIn
                )
                committed = time.time()  # the clock starts when the writer starts its PUT
                await services.put_geofence(conn, ADMIN, "s1", "g1", fence, if_match=None)
                seen: dict[str, float] = {}
                while len(seen) < 2:
                    kind, _, stamp = (await proc.stdout.readline()).decode().split()
                    seen[kind] = float(stamp)
                index_delays.append((seen["index"] - committed) * 1000)
                notify_delays.append((seen["notify"] - committed) * 1000)
                await asyncio.sleep(0.01)
        finally:
            proc.kill()
            await proc.wait()
            await conn.close()

    def row(name: str, values: list[float]) -> str:
        q = statistics.quantiles(values, n=100)
        return f"| {name} | {q[49]:.2f} | {q[98]:.2f} | {max(values):.2f} |"

    print(f"\n{changes} geofence changes, writer and reader in separate processes\n")
    print("| from the start of the write until | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|")
    print(row("Kairos: the other process's geo index has the change", index_delays))
    print(row("baseline: the other process receives the bare NOTIFY", notify_delays))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child))
    else:
        asyncio.run(parent(args.changes))


if __name__ == "__main__":
    main()
