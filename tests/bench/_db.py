"""A throw-away, migrated database for benchmarks.

Uses ``KAIROS_DATABASE_URL``'s server when set, else an embedded pgserver in /tmp. The
database is created fresh and dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.migrate import migrate_url


def _server_url() -> tuple[str, object | None]:
    url = os.environ.get("KAIROS_DATABASE_URL")
    if url:
        return url, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(
            Path(f"/tmp/kairos-bench-{os.getpid()}"), cleanup_mode="delete"
        )
    return server.get_uri(), server


@asynccontextmanager
async def bench_database(prefix: str = "kairos_bench") -> AsyncIterator[str]:
    server_url, server = _server_url()
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    await migrate_url(url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(server_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]
