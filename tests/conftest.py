"""Shared fixtures.

Integration tests run against a real PostgreSQL: ``KAIROS_TEST_DATABASE_URL`` when set,
otherwise an embedded pgserver started once per session. A fresh database is created and
migrated once per session; every integration test starts from empty tables.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.auth import Role, mint_token
from app.main import create_app
from app.migrate import migrate_url
from app.settings import Settings

TEST_SECRET = "kairos-test-secret-" + "x7Q2" * 8

# CI (CI=true) replays the same examples every run, so a landing never hinges on the luck of
# the draw; local runs keep exploring new examples (and store failures in .hypothesis/).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def database_url_for(server_url: str, database: str) -> str:
    """``server_url`` with its database name replaced."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the session (its maintenance database URL)."""
    url = os.environ.get("KAIROS_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    # Keep the path short: the Unix socket lives inside it (108-byte limit).
    pgdata = Path(f"/tmp/kairos-test-{os.getpid()}")
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
async def migrated_db_url(pg_server_url: str) -> AsyncIterator[str]:
    """A freshly created, fully migrated database for this session."""
    name = f"kairos_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url_for(pg_server_url, name)
    await migrate_url(url)
    yield url
    admin = await asyncpg.connect(pg_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _truncate_all(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) AS t FROM pg_tables "
            "WHERE schemaname = 'public' "
            "AND tablename NOT IN ('schema_migrations', 'policy_settings')"
        )
        if tables:
            names = ", ".join(r["t"] for r in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        # Version 1 of the policy settings comes with migration 0005, like the schema.
        await conn.execute("DELETE FROM policy_settings WHERE version > 1")
    finally:
        await conn.close()


@pytest.fixture
async def db_url(migrated_db_url: str) -> str:
    """The session database, emptied before the test (so a failure leaves data to inspect)."""
    await _truncate_all(migrated_db_url)
    return migrated_db_url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the (empty) test database."""
    from app.db import init_connection

    conn = await asyncpg.connect(db_url)
    await init_connection(conn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "KAIROS_DATABASE_URL": db_url,
            "KAIROS_DATA_DIR": str(tmp_path / "data"),
            "KAIROS_JWT_SECRET": TEST_SECRET,
            "KAIROS_MIGRATE_ON_START": "false",
            "KAIROS_DB_POOL_MIN": "1",
            "KAIROS_DB_POOL_MAX": "5",
        }
    )


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


TokenFactory = Callable[..., dict[str, str]]


@pytest.fixture
def auth(settings: Settings) -> TokenFactory:
    """``auth("manager", stores=["s1"])`` → an Authorization header dict."""

    def make(
        role: Role, sub: str | None = None, stores: list[str] | None = None, ttl: int = 600
    ) -> dict[str, str]:
        token = mint_token(
            settings, role=role, sub=sub or f"test-{role}", stores=stores or [], ttl_seconds=ttl
        )
        return {"Authorization": f"Bearer {token}"}

    return make


class LiveServer:
    """The application served by uvicorn in a thread on a loopback port, with an HTTP client.

    ``AsyncTestClient`` runs one request at a time; tests of races need requests that truly
    overlap in the database. ``most_in_flight`` is the proof that they did.
    """

    def __init__(self, app: Litestar, client: Any) -> None:
        self.app = app
        self.client = client
        self.in_flight = 0
        self.most_in_flight = 0

    def wrap(self, asgi: Any) -> Any:
        async def counting(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await asgi(scope, receive, send)
                return
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await asgi(scope, receive, send)
            finally:
                self.in_flight -= 1

        return counting


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveServer]:
    """A real server for race tests (see :class:`LiveServer`)."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    app = create_app(settings)
    server_box = LiveServer(app, None)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(server_box.wrap(app), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(3000):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    assert server.started, "the server did not start"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            server_box.client = client
            yield server_box
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def assert_handled(response: Any, where: object) -> None:
    """Never a 500; a 4xx is a problem document, and a 422 names the field of every error."""
    assert response.status_code < 500, (where, response.status_code, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), where
        body = response.json()
        assert body["type"].startswith("urn:kairos:problem:")
        if response.status_code == 422:
            assert all(e["field"] for e in body["errors"]), body
