"""One clock: the simulation clock for development (PUT /v1/dev/clock), refused in
production, shared through the database, and the `now` every event is judged by."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.auth import mint_token
from app.clock import SimulatedClock
from app.main import create_app
from app.settings import Settings, SettingsError
from tests.conftest import TEST_SECRET, TokenFactory
from tests.factories import event_body, event_world

Client = AsyncTestClient[Litestar]

EARLY = dt.datetime(2025, 3, 14, 7, 45, tzinfo=dt.UTC)


@pytest.fixture
async def simulated(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Litestar, Client]]:
    settings = Settings.from_env(
        {
            "KAIROS_DATABASE_URL": db_url,
            "KAIROS_DATA_DIR": str(tmp_path / "data"),
            "KAIROS_JWT_SECRET": TEST_SECRET,
            "KAIROS_MIGRATE_ON_START": "false",
            "KAIROS_CLOCK": "simulated",
        }
    )
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        yield app, client


async def test_the_simulated_clock_is_set_once_for_every_process(
    simulated: tuple[Litestar, Client], auth: TokenFactory, db: asyncpg.Connection
) -> None:
    app, client = simulated
    response = await client.put(
        "/v1/dev/clock", json={"instant": EARLY.isoformat(), "speed": 0}, headers=auth("admin")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"mode": "simulated", "now": "2025-03-14T07:45:00Z", "speed": 0.0}
    assert (await client.get("/v1/dev/clock", headers=auth("admin"))).json()["now"] == (
        "2025-03-14T07:45:00Z"
    )
    # Another process (a worker) reads the same setting from the database.
    follower = SimulatedClock()
    assert await follower.load(db) is True
    assert follower() == EARLY
    # And events are judged by it: 07:45 at a store that opens at 09:00.
    await event_world(client, auth, app)
    answer = await client.post(
        "/v1/events", json={"events": [event_body(at=EARLY)]}, headers=auth("customer", sub="c1")
    )
    [decision] = answer.json()["results"][0]["decisions"]
    assert decision["reason_codes"][0] == "store_closed"


async def test_a_simulated_clock_runs_at_its_speed() -> None:
    wall = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    clock = SimulatedClock(wall=lambda: wall[0])
    clock.set(EARLY, 60.0)
    wall[0] += dt.timedelta(seconds=10)
    assert clock() == EARLY + dt.timedelta(minutes=10)


async def test_the_system_clock_cannot_be_set(client: Client, auth: TokenFactory) -> None:
    assert (await client.get("/v1/dev/clock", headers=auth("admin"))).json()["mode"] == "system"
    response = await client.put(
        "/v1/dev/clock", json={"instant": EARLY.isoformat()}, headers=auth("admin")
    )
    assert response.status_code == 409
    assert response.json()["type"] == "urn:kairos:problem:clock-not-simulated"
    assert (await client.get("/v1/dev/clock", headers=auth("customer"))).status_code == 403


async def test_production_has_no_simulation_clock(tmp_path: Path, db_url: str) -> None:
    with pytest.raises(SettingsError, match="KAIROS_CLOCK"):
        Settings.from_env(
            {"KAIROS_ENV": "production", "KAIROS_CLOCK": "simulated", "KAIROS_JWT_SECRET": "x"}
        )
    settings = Settings.from_env(
        {
            "KAIROS_ENV": "production",
            "KAIROS_JWT_SECRET": "a-production-secret-of-enough-bytes-0123456789",
            "KAIROS_DATABASE_URL": db_url,
            "KAIROS_MIGRATE_ON_START": "false",
            "KAIROS_DATA_DIR": str(tmp_path),
        }
    )
    dev = Settings.from_env({"KAIROS_JWT_SECRET": settings.auth.jwt_secret or ""})
    token = mint_token(dev, role="admin", sub="ops", stores=[], ttl_seconds=60)
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/v1/dev/clock", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
