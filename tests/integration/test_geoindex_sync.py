"""Geofence changes reach every API process's in-memory index, and survive reconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.geoindex import GeofenceIndexSync
from app.main import create_app
from app.settings import Settings
from tests.conftest import TokenFactory
from tests.factories import LONDON, circle_fence, store_body

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def two_instances(settings: Settings) -> AsyncIterator[tuple[Client, Client]]:
    """Two independent app instances (own pools, own listeners) on one database."""
    async with (
        AsyncTestClient(app=create_app(settings)) as first,
        AsyncTestClient(app=create_app(settings)) as second,
    ):
        yield first, second


def _sync(client: Client) -> GeofenceIndexSync:
    sync: GeofenceIndexSync = client.app.state.geo
    return sync


async def _wait_for(predicate: object, timeout: float = 5.0) -> float:
    started = time.perf_counter()
    while not predicate():  # type: ignore[operator]
        if time.perf_counter() - started > timeout:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


def _matches(client: Client, lat: float, lng: float) -> list[str]:
    return [m.geofence_id for m in _sync(client).index.match(lat, lng, 10)]


async def test_a_change_on_one_instance_reaches_the_other(
    two_instances: tuple[Client, Client], auth: TokenFactory
) -> None:
    first, second = two_instances
    admin = auth("admin")
    await first.put("/v1/stores/s1", json=store_body(), headers=admin)

    # How fast it arrives is measured by `kairos bench propagation`; here: that it arrives.
    response = await first.put("/v1/stores/s1/geofences/g1", json=circle_fence(80), headers=admin)
    assert response.status_code == 201
    await _wait_for(lambda: "g1" in _sync(second).index)
    assert _matches(second, LONDON["lat"], LONDON["lng"]) == ["g1"]
    assert _sync(second).meta["g1"].store_id == "s1"
    assert _sync(second).meta["g1"].dwell_seconds == 120

    # Shrink it: a point 150 m north stops... then grow it: it starts matching.
    north = LONDON["lat"] + 150 / 111_320
    assert _matches(second, north, LONDON["lng"]) == []
    await first.put("/v1/stores/s1/geofences/g1", json=circle_fence(300), headers=admin)
    await _wait_for(lambda: _matches(second, north, LONDON["lng"]) == ["g1"], timeout=10.0)

    disabled = {**circle_fence(300), "enabled": False}
    await first.put("/v1/stores/s1/geofences/g1", json=disabled, headers=admin)
    await _wait_for(lambda: "g1" not in _sync(second).index, timeout=10.0)

    await first.put("/v1/stores/s1/geofences/g1", json=circle_fence(), headers=admin)
    await _wait_for(lambda: "g1" in _sync(second).index, timeout=10.0)
    await first.delete("/v1/stores/s1", headers=admin)  # cascades to its geofences
    await _wait_for(lambda: "g1" not in _sync(second).index, timeout=10.0)
    # The writing instance hears about its own change the same way.
    await _wait_for(lambda: "g1" not in _sync(first).index, timeout=10.0)


async def test_after_a_lost_connection_the_index_reloads_fully(
    two_instances: tuple[Client, Client], auth: TokenFactory, db: asyncpg.Connection
) -> None:
    first, second = two_instances
    admin = auth("admin")
    await first.put("/v1/stores/s1", json=store_body(), headers=admin)
    await first.put("/v1/stores/s1/geofences/g1", json=circle_fence(), headers=admin)
    await _wait_for(lambda: "g1" in _sync(second).index)
    reloads_before = _sync(second).reloads

    # A change that sends no notification (the trigger is off inside this transaction only;
    # table owners may do that, no superuser needed), as if made while the listener was away...
    async with db.transaction():
        await db.execute("ALTER TABLE geofences DISABLE TRIGGER geofences_notify")
        await db.execute(
            "INSERT INTO geofences (id, store_id, center_lat, center_lng, radius_m) "
            "VALUES ('g-silent', 's1', $1, $2, 50)",
            LONDON["lat"],
            LONDON["lng"],
        )
        await db.execute("DELETE FROM geofences WHERE id = 'g1'")
        await db.execute("ALTER TABLE geofences ENABLE TRIGGER geofences_notify")
    # Notifications arrive in commit order: once a later, noisy change has arrived, a
    # notification of the silent one would have arrived before it. None did.
    await first.put("/v1/stores/s1/geofences/g-marker", json=circle_fence(), headers=admin)
    await _wait_for(lambda: "g-marker" in _sync(second).index)
    assert "g1" in _sync(second).index  # drifted: nothing told it
    assert "g-silent" not in _sync(second).index

    # ...then the listener connection dies. It must come back and reload everything.
    await db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'kairos-geoindex' AND datname = current_database()"
    )
    await _wait_for(lambda: _sync(second).reloads > reloads_before, timeout=10.0)
    assert "g-silent" in _sync(second).index
    assert "g1" not in _sync(second).index

    # And it listens again afterwards.
    await first.put("/v1/stores/s1/geofences/g2", json=circle_fence(), headers=admin)
    await _wait_for(lambda: "g2" in _sync(second).index, timeout=10.0)
