"""kairos import stores: validate everything, report all errors, import all-or-nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.auth import Principal
from app.cli import main
from app.stores.importer import import_stores

ADMIN = Principal(sub="cli:test", role="admin")


def _square(lng: float, lat: float, size: float = 0.0008) -> dict[str, Any]:
    ring = [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def _feature(props: dict[str, Any], geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _collection(*features: dict[str, Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


GOOD = [
    _feature(
        {
            "id": "lon-1",
            "name": "Soho",
            "opening_hours": "Mo-Sa 09:00-19:00; PH off",
            "country": "GB",
            "categories": "coffee;machines",
            "brand": "Nespresso",
            "addr:street": "Regent Street",
        },
        _square(-0.1365, 51.5136),
    ),
    _feature(
        {
            "id": "lon-2",
            "name": "Kiosk",
            "radius_m": 40,
            "opening_hours": "24/7",
            "dwell_seconds": 60,
        },
        {"type": "Point", "coordinates": [-0.1240, 51.5074]},
    ),
    _feature(
        {
            "id": "nyc-1",
            "name": "5th Avenue",
            "country": "US",
            "geofence_id": "nyc-1-front",
            "opening_hours": {"monday": [{"open": "10:00", "close": "20:00"}]},
        },
        {
            "type": "MultiPolygon",
            "coordinates": [
                _square(-73.9772, 40.7637)["coordinates"],
                _square(-73.9750, 40.7650)["coordinates"],
            ],
        },
    ),
]


async def test_valid_file_imports_and_reimport_changes_nothing(db: asyncpg.Connection) -> None:
    report = await import_stores(db, _collection(*GOOD), actor=ADMIN)
    assert report.errors == []
    assert (report.stores_created, report.geofences_created) == (3, 3)
    soho = await db.fetchrow("SELECT * FROM stores WHERE id = 'lon-1'")
    assert soho["timezone"] == "Europe/London"
    assert list(soho["categories"]) == ["coffee", "machines"]
    assert soho["attributes"] == {"brand": "Nespresso", "addr:street": "Regent Street"}
    assert 51.5136 < soho["lat"] < 51.5144  # a point inside its geofence
    kiosk_fence = await db.fetchrow("SELECT * FROM geofences WHERE store_id = 'lon-2'")
    assert kiosk_fence["id"] == "lon-2:main"
    assert (kiosk_fence["radius_m"], kiosk_fence["dwell_seconds"]) == (40, 60)
    nyc = await db.fetchrow("SELECT timezone, opening_hours FROM stores WHERE id = 'nyc-1'")
    assert nyc["timezone"] == "America/New_York"
    assert nyc["opening_hours"] == "Mo 10:00-20:00"
    audit_rows = await db.fetchval("SELECT count(*) FROM audit_log")
    assert audit_rows == 6

    again = await import_stores(db, _collection(*GOOD), actor=ADMIN)
    assert again.imported
    assert (again.stores_created, again.stores_updated) == (0, 0)
    assert (again.geofences_created, again.geofences_updated) == (0, 0)
    assert await db.fetchval("SELECT max(version) FROM stores") == 1
    assert await db.fetchval("SELECT count(*) FROM audit_log") == audit_rows

    renamed = [dict(GOOD[0], properties={**GOOD[0]["properties"], "name": "Soho 2"}), *GOOD[1:]]
    changed = await import_stores(db, _collection(*renamed), actor=ADMIN)
    assert (changed.stores_created, changed.stores_updated) == (0, 1)
    entry = await db.fetchrow("SELECT * FROM audit_log ORDER BY id DESC LIMIT 1")
    assert (entry["action"], entry["resource_id"], entry["actor_sub"]) == (
        "import",
        "lon-1",
        "cli:test",
    )
    assert (entry["before"]["name"], entry["after"]["name"]) == ("Soho", "Soho 2")


BAD = [
    GOOD[0],
    _feature(
        {"id": "bad-hours", "name": "X", "opening_hours": "Mo-Fx 09:00-18:00"}, _square(2.35, 48.85)
    ),
    GOOD[1],
    _feature(
        {"id": "bowtie", "name": "Y"},
        {
            "type": "Polygon",
            "coordinates": [
                [[2.0, 48.0], [2.001, 48.001], [2.001, 48.0], [2.0, 48.001], [2.0, 48.0]]
            ],
        },
    ),
    _feature({"name": "no id"}, _square(2.35, 48.85)),
    _feature({"id": "point", "name": "no radius"}, {"type": "Point", "coordinates": [2.35, 48.85]}),
    _feature({"id": "lon-1", "name": "dup"}, _square(2.36, 48.86)),
]


async def test_any_error_imports_nothing_and_all_are_reported(db: asyncpg.Connection) -> None:
    report = await import_stores(db, _collection(*BAD), actor=ADMIN)
    assert not report.imported
    assert await db.fetchval("SELECT count(*) FROM stores") == 0
    by_index: dict[int, list[str]] = {}
    for index, error in report.errors:
        by_index.setdefault(index, []).append(error.field)
    assert sorted(by_index) == [1, 3, 4, 5, 6]
    assert by_index[1] == ["features[1].properties.opening_hours"]
    assert all(f.startswith("features[3].geometry") for f in by_index[3])
    assert by_index[4] == ["features[4].properties.id"]
    assert by_index[5] == ["features[5].properties.radius_m"]
    assert by_index[6] == ["features[6].properties.id"]


async def test_skip_invalid_imports_the_rest(db: asyncpg.Connection) -> None:
    report = await import_stores(db, _collection(*BAD), actor=ADMIN, skip_invalid=True)
    assert report.imported
    assert report.stores_created == 2
    ids = [r["id"] for r in await db.fetch("SELECT id FROM stores ORDER BY id")]
    assert ids == ["lon-1", "lon-2"]


async def test_geofence_id_of_another_store_is_an_error(db: asyncpg.Connection) -> None:
    await import_stores(db, _collection(GOOD[0]), actor=ADMIN)
    thief = _feature(
        {"id": "other", "name": "Z", "geofence_id": "lon-1:main"}, _square(2.35, 48.85)
    )
    report = await import_stores(db, _collection(thief), actor=ADMIN)
    assert [e.field for _, e in report.errors] == ["features[0].properties.geofence_id"]
    assert await db.fetchval("SELECT store_id FROM geofences WHERE id = 'lon-1:main'") == "lon-1"


async def test_not_a_feature_collection(db: asyncpg.Connection) -> None:
    report = await import_stores(db, b'{"type": "Feature"}', actor=ADMIN)
    assert report.errors[0][1].field == "type"
    report = await import_stores(db, b"not json", actor=ADMIN)
    assert report.errors[0][1].field == "$"


async def test_cli_exit_codes(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAIROS_DATABASE_URL", db_url)
    monkeypatch.setenv("KAIROS_DATA_DIR", str(tmp_path))
    good = tmp_path / "good.geojson"
    good.write_bytes(_collection(*GOOD))
    bad = tmp_path / "bad.geojson"
    bad.write_bytes(_collection(*BAD))
    assert await asyncio.to_thread(main, ["import", "stores", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "feature 1: features[1].properties.opening_hours" in err
    assert await asyncio.to_thread(main, ["import", "stores", str(good)]) == 0
    assert "stores +3" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["import", "stores", str(tmp_path / "m.geojson")]) == 2
