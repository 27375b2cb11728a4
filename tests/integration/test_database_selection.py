"""Embedded pgserver vs KAIROS_DATABASE_URL, and /ready across a database restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from app.db import resolve_database
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET


def _pg_ctl(pgdata: Path, *args: str) -> None:
    import pgserver

    bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    user = ["runuser", "-u", "pgserver", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*user, str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-w", *args],
        check=True,
        capture_output=True,
        timeout=30,
    )


async def test_url_setting_never_starts_an_embedded_server(
    migrated_db_url: str, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {"KAIROS_DATABASE_URL": migrated_db_url, "KAIROS_DATA_DIR": str(tmp_path)}
    )
    target = resolve_database(settings)
    assert not target.embedded
    assert target.url == migrated_db_url
    assert not (tmp_path / "pgdata").exists()


@pytest.mark.slow
async def test_embedded_server_starts_in_data_dir_and_keeps_data(tmp_path: Path) -> None:
    data_dir = Path(f"/tmp/kairos-emb-{uuid.uuid4().hex[:8]}")
    settings = Settings.from_env({"KAIROS_DATA_DIR": str(data_dir)})
    try:
        target = await asyncio.to_thread(resolve_database, settings)
        assert target.embedded
        assert (data_dir / "pgdata" / "PG_VERSION").exists()
        assert str(data_dir) in target.description
        conn = await asyncpg.connect(target.url)
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        await conn.close()

        _pg_ctl(data_dir / "pgdata", "stop")
        again = await asyncio.to_thread(resolve_database, settings)
        conn = await asyncpg.connect(again.url)
        assert await conn.fetchval("SELECT v FROM kept") == "still here"
        await conn.close()
    finally:
        _stop_quietly(data_dir / "pgdata")
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)


def _stop_quietly(pgdata: Path) -> None:
    with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
        _pg_ctl(pgdata, "stop", "-m", "immediate")


@pytest.mark.slow
async def test_ready_turns_503_when_database_stops_and_200_after_restart(tmp_path: Path) -> None:
    import pgserver

    pgdata = Path(f"/tmp/kairos-rdy-{uuid.uuid4().hex[:8]}")
    server = await asyncio.to_thread(pgserver.get_server, pgdata, cleanup_mode="delete")
    try:
        settings = Settings.from_env(
            {
                "KAIROS_DATABASE_URL": server.get_uri(),
                "KAIROS_DATA_DIR": str(tmp_path),
                "KAIROS_JWT_SECRET": TEST_SECRET,
                "KAIROS_MIGRATE_ON_START": "true",
                "KAIROS_DB_POOL_MIN": "1",
            }
        )
        app = create_app(settings)
        async with AsyncTestClient(app=app) as client:
            assert (await client.get("/ready")).status_code == 200

            await asyncio.to_thread(_pg_ctl, pgdata, "stop", "-m", "fast")
            down = await client.get("/ready")
            assert down.status_code == 503
            assert down.headers["content-type"].startswith("application/problem+json")
            assert (await client.get("/health")).status_code == 200

            await asyncio.to_thread(
                _pg_ctl, pgdata, "start", "-o", f'-h "" -k {pgdata}', "-l", str(pgdata / "log")
            )
            statuses = []
            for _ in range(20):
                status = (await client.get("/ready")).status_code
                statuses.append(status)
                if status == 200:
                    break
                await asyncio.sleep(0.25)
            assert statuses[-1] == 200, statuses
    finally:
        await asyncio.to_thread(server.cleanup)


def _postmaster_running(pgdata: Path) -> bool:
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


@pytest.mark.slow
async def test_sigterm_to_serve_stops_the_embedded_server_it_started(tmp_path: Path) -> None:
    """`kairos serve` on the embedded database, then SIGTERM (what a service manager sends):
    the server exits and the database it started stops with it, instead of running on."""
    import signal
    import socket
    import sys

    import httpx

    data_dir = Path(f"/tmp/kairos-term-{uuid.uuid4().hex[:8]}")
    pgdata = data_dir / "pgdata"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KAIROS_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env |= {"KAIROS_DATA_DIR": str(data_dir), "KAIROS_JWT_SECRET": TEST_SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(600):  # the first start runs initdb and the migrations
                assert proc.poll() is None, "kairos serve exited before it was ready"
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("kairos serve never became ready")
        assert _postmaster_running(pgdata)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 60)
        assert code == 128 + signal.SIGTERM
        for _ in range(100):  # pg_ctl stop returns once the postmaster is gone; allow a beat
            if not _postmaster_running(pgdata):
                break
            await asyncio.sleep(0.1)
        assert not _postmaster_running(pgdata)
    finally:
        if proc.poll() is None:
            proc.kill()
        _stop_quietly(pgdata)
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)
