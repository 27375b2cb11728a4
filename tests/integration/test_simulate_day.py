"""A short simulated day on the real database, through the real API, worker and relay.

Fifty demo customers (the story customers and some ordinary ones) live a day of app
traffic against the API on a simulation clock; the outbox worker delivers to the demo's
push relay, which posts receipts back. Then the design's invariants must hold and every
acceptance story must have happened with its expected reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app.auth import mint_token
from app.db import create_pool
from app.demo.city import DEMO_DAY
from app.demo.people import demo_people
from app.demo.receiver import Receiver
from app.demo.reset import clear_simulation
from app.demo.seed import seed_demo
from app.demo.stories import STORIES
from app.events.services import decide_swept_dwell
from app.main import create_app
from app.settings import Settings
from app.simulate.driver import SimulationConfig, Tokens, simulate_day
from app.simulate.invariants import check_invariants
from app.simulate.report import render_html
from app.simulate.results import DayResults, collect_results, outbox_drained
from notifications.worker import Worker
from tests.conftest import TEST_SECRET

WEBHOOK_SECRET = "whsec_" + "c2ltdWxhdGlvbi13ZWJob29rLXNlY3JldC0wMDAx"
RECEIPTS_SECRET = "whsec_" + "c2ltdWxhdGlvbi1yZWNlaXB0cy1zZWNyZXQtMDAwMQ=="
CUSTOMERS = 50


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Client and servers share this event loop: without it each answer waits for a delayed
    # ACK (40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def _serving(app: Any, sock: socket.socket) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on ``sock`` in this event loop, as ``make run`` does."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def relay_socket() -> socket.socket:
    return _socket()


@pytest.fixture
def sim_settings(db_url: str, tmp_path: Path, relay_socket: socket.socket) -> Settings:
    return Settings.from_env(
        {
            "KAIROS_DATABASE_URL": db_url,
            "KAIROS_DATA_DIR": str(tmp_path / "data"),
            "KAIROS_JWT_SECRET": TEST_SECRET,
            "KAIROS_MIGRATE_ON_START": "false",
            "KAIROS_DB_POOL_MIN": "1",
            "KAIROS_DB_POOL_MAX": "12",
            "KAIROS_CLOCK": "simulated",
            "KAIROS_INGEST_RATE_LIMIT": "0",
            "KAIROS_WEBHOOK_URL": f"http://127.0.0.1:{relay_socket.getsockname()[1]}/push",
            "KAIROS_WEBHOOK_SECRETS": WEBHOOK_SECRET,
            "KAIROS_RECEIPTS_SECRETS": RECEIPTS_SECRET,
            "KAIROS_WORKER_POLL_INTERVAL": "0.05",
            "KAIROS_WORKER_SWEEP_INTERVAL": "0.5",
        }
    )


def _app_with_worker(settings: Settings) -> Any:
    """The API and an outbox worker on its clock, like ``kairos serve --with-worker``."""
    app = create_app(settings)
    workers: list[Worker] = []

    async def start(app: Any) -> None:
        worker = Worker(settings, clock=lambda: app.state.clock(), dwell_handler=decide_swept_dwell)
        await worker.start()
        workers.append(worker)

    async def stop(_: Any) -> None:
        for worker in workers:
            await worker.stop()

    app.on_startup.append(start)
    app.on_shutdown.insert(0, stop)
    return app


@pytest.fixture
async def day(sim_settings: Settings, relay_socket: socket.socket) -> AsyncIterator[DayResults]:
    """The simulated day, run once the demo's first fifty customers are seeded: the API
    with its worker and the demo's push relay, both served over HTTP on 127.0.0.1."""
    pool = await create_pool(sim_settings)
    try:
        await seed_demo(pool, people=demo_people()[:CUSTOMERS])
        async with (
            _serving(_app_with_worker(sim_settings), _socket()) as url,
            httpx.AsyncClient(base_url=url, timeout=60) as client,
        ):
            receiver = Receiver(
                webhook_secrets=(WEBHOOK_SECRET,),
                receipts_secret=RECEIPTS_SECRET,
                kairos=client,
                customer_token=lambda c: mint_token(
                    sim_settings, role="customer", sub=c, ttl_seconds=600
                ),
            )
            async with _serving(receiver, relay_socket):

                async def clear() -> None:
                    async with pool.acquire() as conn:
                        await clear_simulation(conn)

                async def drained(at: dt.datetime) -> bool:
                    return await outbox_drained(pool, at)

                run = await simulate_day(
                    client,
                    sim_settings,
                    SimulationConfig(day=DEMO_DAY, customers=CUSTOMERS, speed=0),
                    clear=clear,
                    drained=drained,
                )
                await receiver.drain()
                yield await collect_results(client, Tokens(sim_settings), pool, run)
    finally:
        await pool.close()


async def test_a_simulated_day_keeps_the_invariants_and_tells_every_story(
    day: DayResults,
) -> None:
    tally = day.run.tally
    assert tally.events_sent > 1000
    assert tally.results["accepted"] > 0.9 * tally.events_sent
    assert tally.results["duplicate"] > 0  # resent batches were answered once
    assert tally.orders_recorded == tally.orders_sent > 0
    assert not tally.http_errors
    assert {"send", "suppress", "holdout", "defer"} <= set(day.outcomes)

    invariants = check_invariants(day)
    assert invariants.invites_sent > 10
    assert invariants.sent_while_closed == []
    assert invariants.over_cap == []
    assert invariants.sent_to_holdout == []
    # Every invite handed to the relay was delivered, and a share of them opened.
    assert day.delivered == invariants.invites_sent
    assert 0 < day.opened < day.delivered

    # Every acceptance story happened, with its expected reason.
    assert len(day.checks) == sum(len(story.expects) for story in STORIES)
    assert [(c.story.key, c.expect.code) for c in day.checks if not c.met] == []

    # The boutique at 07:45 "opens at 09:00"; at lunch the £10 at 80 % beat the £20 at 50 %.
    claire = next(t for t in day.stories if t.person.id == "demo-c-claire")
    morning = claire.decisions[0]
    assert morning["reason"] == "store_closed"
    assert "09:00" in morning["reasons"][0]["message"]
    lunch = next(d for d in claire.decisions if d["outcome"] == "send")
    assert lunch["campaign_id"] == "demo-offer-blend"
    scores = {c["campaign_id"]: c["score"] for c in lunch["candidates"] if c["score"]}
    assert scores == {"demo-offer-blend": 11.0, "demo-offer-machine": 10.0}

    # The report renders every part, and needs nothing from the network.
    page = render_html(day, invariants)
    for part in ("Claire", "Priya", "Tom", "<svg", "store_closed", "&#10003;"):
        assert part in page
    assert "&#10007;" not in page  # no story missing
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
