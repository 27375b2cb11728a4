"""Fault tests against the real database, with real worker processes where one must die.

* kill -9 a worker mid-batch: every invite reaches the gateway, once by idempotency key;
  the resends (invites in flight at the kill) carry the same key, and none is lost;
* the database drops every connection of a running worker: it recovers by itself;
* two workers on one database: no double sends, each periodic job once per period.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from app.settings import REPO_ROOT, Settings
from notifications.worker import Worker
from tests.fake_gateways import FakeGateways, GatewayKeys
from tests.outbox_builders import (
    bulk_invites,
    make_customer,
    make_device,
    make_invite,
    make_store,
    set_policy,
    worker_env,
)


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[FakeGateways]:
    async with FakeGateways(GatewayKeys(tmp_path / "keys")) as gw:
        yield gw


async def _customers(db: asyncpg.Connection, count: int) -> list[str]:
    await set_policy(db)
    await make_store(db)
    ids = [f"c{i}" for i in range(count)]
    for customer in ids:
        await make_customer(db, customer)
        await make_device(db, customer, "webhook")
    return ids


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


async def _statuses(db: asyncpg.Connection) -> Counter[str]:
    rows = await db.fetch("SELECT status, count(*) AS n FROM invites GROUP BY status")
    return Counter({r["status"]: r["n"] for r in rows})


async def _until_all(db: asyncpg.Connection, status: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (await _statuses(db))[status] < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"statuses after {timeout} s: {dict(await _statuses(db))}")
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_kill_9_mid_batch_loses_nothing_and_resends_with_the_same_key(
    db_url: str, db: asyncpg.Connection, tmp_path: Path, gateways: FakeGateways
) -> None:
    customers = await _customers(db, 10)
    invite_ids = await bulk_invites(db, 300, customers=customers)
    gateways.delay = 0.25  # slow gateway: the kill lands with requests in flight
    env = worker_env(
        db_url,
        str(tmp_path / "data"),
        gateways.env,
        KAIROS_WORKER_LEASE_SECONDS="3",
        KAIROS_PUSH_TIMEOUT="1",
        KAIROS_WORKER_BATCH_SIZE="50",
        KAIROS_WORKER_GATEWAY_CONCURRENCY="32",
    )
    victim = _spawn(env, tmp_path / "victim.log")
    try:
        deadline = time.monotonic() + 60
        while gateways.attempts["webhook"] < 80 or not await db.fetchval(
            "SELECT count(*) FROM invites WHERE status = 'sent'"
        ):
            assert victim.poll() is None, (tmp_path / "victim.log").read_text()
            assert time.monotonic() < deadline, "the worker never sent"
            await asyncio.sleep(0.01)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    recorded_sent = {
        str(r["id"]) for r in await db.fetch("SELECT id FROM invites WHERE status = 'sent'")
    }
    assert recorded_sent  # the victim had finished part of its work
    attempts_at_kill = gateways.attempts["webhook"]
    assert attempts_at_kill < 300  # it died mid-way
    gateways.delay = 0.0
    survivor = Worker(Settings.from_env(env), scheduler=False)
    await survivor.start()
    try:
        await _until_all(db, "sent", 300, timeout=60)
    finally:
        await survivor.stop()
    keys = gateways.keys_of("webhook")
    assert set(keys) == {str(i) for i in invite_ids}  # none lost
    resent = {key for key, n in keys.items() if n > 1}
    # Only invites without a recorded result (in flight at the kill) went twice, under the
    # same webhook-id, which receivers drop; none recorded as sent was sent again.
    assert not resent & recorded_sent
    assert gateways.errors == []


async def test_the_worker_recovers_when_the_database_drops_its_connections(
    db_url: str, db: asyncpg.Connection, tmp_path: Path, gateways: FakeGateways
) -> None:
    await _customers(db, 1)
    env = worker_env(
        db_url, str(tmp_path / "data"), gateways.env, KAIROS_WORKER_POLL_INTERVAL="0.3"
    )
    worker = Worker(Settings.from_env(env), scheduler=False)
    await worker.start()
    try:
        first = await make_invite(db, customer_id="c0")
        await gateways.wait_for(1)
        terminated = await db.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()"""
        )
        assert terminated >= 2  # the pool's connections and the listener
        second = await make_invite(db, customer_id="c0")
        await gateways.wait_for(2, timeout=30)
        deadline = time.monotonic() + 15
        while worker.reconnects < 1:
            assert time.monotonic() < deadline, "the listener never reconnected"
            await asyncio.sleep(0.05)
        # Woken by NOTIFY again, not only by the poll: a third invite with a long poll.
        third = await make_invite(db, customer_id="c0")
        await gateways.wait_for(3, timeout=30)
    finally:
        await worker.stop()
    await _until_all(db, "sent", 3, timeout=10)
    assert gateways.keys_of() == {str(first): 1, str(second): 1, str(third): 1}


def _job_runs(logs: list[Path]) -> list[tuple[int, str, int]]:
    """``(worker index, job, period)`` of every periodic job run the workers logged."""
    runs = []
    for index, log in enumerate(logs):
        text = log.read_text() if log.exists() else ""
        for job, period in re.findall(r"job (\w+) ran for period (\d+)", text):
            runs.append((index, job, int(period)))
    return runs


@pytest.mark.slow
async def test_two_workers_share_the_outbox_and_the_periodic_jobs(
    db_url: str, db: asyncpg.Connection, tmp_path: Path, gateways: FakeGateways
) -> None:
    customers = await _customers(db, 10)
    env = worker_env(
        db_url,
        str(tmp_path / "data"),
        gateways.env,
        KAIROS_WORKER_BATCH_SIZE="20",
        KAIROS_WORKER_SWEEP_INTERVAL="0.5",
        KAIROS_WORKER_RETENTION_INTERVAL="0.5",
        KAIROS_LOG_LEVEL="debug",  # each job run is logged at DEBUG
    )
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [_spawn(env, log) for log in logs]
    stopped: set[int] = set()
    try:
        invite_ids = await bulk_invites(db, 400, customers=customers)
        await _until_all(db, "sent", 400, timeout=60)
        await asyncio.sleep(2.0)  # a few more job periods
        # The slots are shared, not owned: stop whichever worker ran the latest period, and
        # the other one runs the periods after it (which one wins each period is a race).
        runs = _job_runs(logs)
        assert runs, "no periodic job ran"
        latest = max(runs, key=lambda run: run[2])
        winner = latest[0]
        workers[winner].send_signal(signal.SIGTERM)
        workers[winner].wait(timeout=15)
        stopped.add(winner)
        deadline = time.monotonic() + 20
        while not any(
            index != winner and period > latest[2] for index, _, period in _job_runs(logs)
        ):
            assert time.monotonic() < deadline, "the other worker never took over the jobs"
            await asyncio.sleep(0.2)
    finally:
        for index, proc in enumerate(workers):
            if index not in stopped:
                proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    keys = gateways.keys_of("webhook")
    assert keys == Counter({str(i): 1 for i in invite_ids})  # no double sends
    owners = await db.fetch("SELECT DISTINCT provider FROM invites")
    assert [r["provider"] for r in owners] == ["webhook"]
    runs = _job_runs(logs)
    per_period = Counter((job, period) for _, job, period in runs)
    assert max(per_period.values()) == 1  # each job once per period across both workers
    assert {job for _, job, _ in runs} == {"dwell_sweep", "invite_expiry", "location_retention"}
