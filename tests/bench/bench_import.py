"""Bulk import: 10,000 stores from one GeoJSON file, beside the per-store API path.

Run: ``kairos bench import [--stores 10000] [--baseline 1000]``

Stores are spread over a 40 km x 40 km area around London: half circles of 30-300 m, half
polygons of 8-64 vertices, realistic OSM-style properties. Prints a markdown table with the
import time, the re-import time (which must change nothing), and the baseline: the same
features written one by one through the PUT services (stores then geofences).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
import msgspec

from app.auth import Principal
from app.db import init_connection
from app.stores import services
from app.stores.importer import import_stores
from app.stores.schemas import GeofenceIn, StoreIn
from tests.bench._db import bench_database

HOURS = [
    "Mo-Sa 09:00-19:00; Su 11:00-17:00; PH off",
    "Mo-Fr 07:00-19:00; Sa-Su 08:00-18:00",
    "24/7",
    "Mo-Fr 10:00-12:30,13:30-18:00; Sa 10:00-16:00; PH off",
    "Mo-Su 17:00-02:00",
]
ADMIN = Principal(sub="bench", role="admin")


def make_features(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    features = []
    for i in range(count):
        lat = 51.33 + rng.random() * 0.36
        lng = -0.38 + rng.random() * 0.58
        props: dict[str, Any] = {
            "id": f"store-{i:05d}",
            "name": f"Store {i}",
            "opening_hours": rng.choice(HOURS),
            "country": "GB",
            "timezone": "Europe/London" if i % 2 else None,
            "categories": rng.choice(["coffee", "coffee;machines", "bakery", "fashion"]),
            "brand": "Kairos Coffee",
            "dwell_seconds": rng.choice([0, 60, 120]),
        }
        props = {k: v for k, v in props.items() if v is not None}
        if i % 2:
            props["radius_m"] = rng.uniform(30, 300)
            geometry: dict[str, Any] = {"type": "Point", "coordinates": [lng, lat]}
        else:
            n = rng.randint(8, 64)
            radius = rng.uniform(30, 300)
            ring = []
            for k in range(n):
                angle = 2 * math.pi * k / n
                r = radius * rng.uniform(0.7, 1.0)
                ring.append(
                    [
                        lng + r * math.cos(angle) / (111_320 * math.cos(math.radians(lat))),
                        lat + r * math.sin(angle) / 110_540,
                    ]
                )
            ring.append(ring[0])
            geometry = {"type": "Polygon", "coordinates": [ring]}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return features


async def _connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    return conn


async def run(stores: int, baseline: int) -> None:
    features = make_features(stores)
    document = msgspec.json.encode({"type": "FeatureCollection", "features": features})
    rows: list[tuple[str, int, float]] = []
    async with bench_database() as url:
        conn = await _connect(url)
        started = time.perf_counter()
        report = await import_stores(conn, document, actor=ADMIN)
        first = time.perf_counter() - started
        assert not report.errors, report.errors[:3]
        assert report.imported
        assert report.stores_created == stores
        rows.append(("kairos import stores (validate + one transaction)", stores, first))

        started = time.perf_counter()
        again = await import_stores(conn, document, actor=ADMIN)
        second = time.perf_counter() - started
        assert again.stores_updated == 0
        assert again.geofences_updated == 0
        rows.append(("re-import of the same file (changes nothing)", stores, second))
        await conn.close()

    async with bench_database() as url:
        conn = await _connect(url)
        subset = features[:baseline]
        started = time.perf_counter()
        for feature in subset:
            props = feature["properties"]
            store = {
                "name": props["name"],
                "opening_hours": props["opening_hours"],
                "country": props["country"],
                "timezone": props.get("timezone"),
                "categories": props["categories"].split(";"),
            }
            geometry = feature["geometry"]
            if geometry["type"] == "Point":
                lng, lat = geometry["coordinates"]
                fence = {"circle": {"lat": lat, "lng": lng, "radius_m": props["radius_m"]}}
            else:
                lng, lat = geometry["coordinates"][0][0]
                fence = {"geometry": geometry}
            store |= {"lat": lat, "lng": lng}
            await services.put_store(
                conn,
                ADMIN,
                props["id"],
                msgspec.convert(store, StoreIn),
                if_match=None,
                now=datetime.now(UTC),
            )
            await services.put_geofence(
                conn,
                ADMIN,
                props["id"],
                f"{props['id']}:main",
                msgspec.convert(fence, GeofenceIn),
                if_match=None,
            )
        elapsed = time.perf_counter() - started
        rows.append((f"baseline: PUT services one by one ({baseline} stores)", baseline, elapsed))
        await conn.close()

    print(f"\n{stores} stores (half circles 30-300 m, half polygons of 8-64 vertices)\n")
    print("| path | stores | seconds | stores/s |")
    print("|---|---:|---:|---:|")
    for name, n, seconds in rows:
        print(f"| {name} | {n:,} | {seconds:.2f} | {n / seconds:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    args = parser.parse_args()
    asyncio.run(run(args.stores, args.baseline))


if __name__ == "__main__":
    main()
