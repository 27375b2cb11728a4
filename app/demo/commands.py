"""What ``kairos demo seed | reset | receiver`` and ``kairos serve --demo`` do.

``app.cli`` parses the arguments and calls these; each refuses ``KAIROS_ENV=production``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from app.demo.environment import (
    demo_files,
    demo_secrets,
    receiver_port,
    require_development,
    serve_environment,
)

if TYPE_CHECKING:
    import asyncpg

    from app.settings import Settings

__all__ = ["receiver", "reset", "seed", "seed_if_empty", "serve_demo", "start_receiver"]


async def _pool(settings: Settings, url: str) -> asyncpg.Pool:
    from app.db import create_pool

    return await create_pool(settings.with_database_url(url))


def seed(settings: Settings) -> int:
    """``kairos demo seed``: migrate, then write the demo (idempotent)."""
    from app.db import resolve_database
    from app.demo.seed import seed_demo
    from app.migrate import migrate_url

    require_development(settings, "kairos demo seed")
    target = resolve_database(settings)
    print(f"kairos demo: using {target.description}", file=sys.stderr)

    async def run() -> str:
        await migrate_url(target.url)
        pool = await _pool(settings, target.url)
        try:
            report = await seed_demo(pool)
        finally:
            await pool.close()
        return report.summary()

    print(asyncio.run(run()))
    return 0


def seed_if_empty(settings: Settings, url: str) -> str | None:
    """``make run``: seed the demo when the database has no store, campaign or customer.

    Returns the seed's summary, or None when the database already had data.
    """
    from app.demo.seed import is_empty, seed_demo

    async def run() -> str | None:
        pool = await _pool(settings, url)
        try:
            async with pool.acquire() as conn:
                if not await is_empty(conn):
                    return None
            return (await seed_demo(pool)).summary()
        finally:
            await pool.close()

    require_development(settings, "kairos serve --demo")
    return asyncio.run(run())


def reset(settings: Settings) -> int:
    """``kairos demo reset``: delete every ``demo-`` row, nothing else."""
    import asyncpg

    from app.db import init_connection, resolve_database
    from app.demo.reset import reset_demo

    require_development(settings, "kairos demo reset")
    target = resolve_database(settings)

    async def run() -> dict[str, int]:
        conn = await asyncpg.connect(target.url)
        await init_connection(conn)
        try:
            return await reset_demo(conn)
        finally:
            await conn.close()

    removed = asyncio.run(run())
    shown = ", ".join(f"{n} {table}" for table, n in removed.items() if n)
    print(f"demo data removed: {shown or 'there was none'}")
    deliveries = demo_files(settings).deliveries
    deliveries.unlink(missing_ok=True)
    return 0


def receiver(settings: Settings, port: int | None = None, *, follow_parent: bool = False) -> int:
    """``kairos demo receiver``: serve the push relay until interrupted."""
    import httpx
    import uvicorn

    from app.auth import mint_token
    from app.demo.receiver import Receiver

    require_development(settings, "kairos demo receiver")
    port = port or receiver_port(settings)
    keys = demo_secrets(settings)
    host = settings.server.host
    kairos = httpx.AsyncClient(base_url=f"http://{host}:{settings.server.port}", timeout=10)

    def customer_token(customer_id: str) -> str:
        return mint_token(settings, role="customer", sub=customer_id, ttl_seconds=600)

    app = Receiver(
        webhook_secrets=(keys.webhook,),
        receipts_secret=keys.receipts,
        kairos=kairos,
        customer_token=customer_token,
        log_path=demo_files(settings).deliveries,
    )
    print(
        f"kairos demo receiver: http://{host}:{port}/push, recording to "
        f"{demo_files(settings).deliveries}",
        file=sys.stderr,
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))

    async def serve() -> None:
        watch = asyncio.create_task(_exit_with_parent(server)) if follow_parent else None
        try:
            await server.serve()
        finally:
            if watch is not None:
                watch.cancel()

    asyncio.run(serve())
    return 0


async def _exit_with_parent(server: Any) -> None:
    """Stop the relay when the ``kairos serve --demo`` that started it is gone (however it
    ended: uvicorn re-raises SIGTERM after its shutdown, so no exit hook runs there)."""
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 - no event tells a child its parent died
        await asyncio.sleep(1)
    server.should_exit = True


def start_receiver(port: int) -> subprocess.Popen[bytes]:
    """Run ``kairos demo receiver`` beside the server (``make run``); the caller stops it."""
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "receiver", "--port", str(port), "--with-parent"]
    )


def serve_demo(settings: Settings, url: str, environ: MutableMapping[str, str]) -> None:
    """``kairos serve --demo`` before the server starts: point the webhook gateway at the
    local receiver (``environ`` is the server's environment, updated in place), seed an empty
    database, and start the receiver, stopped when this process exits."""
    import atexit

    environ.update(serve_environment(settings, environ))
    summary = seed_if_empty(settings, url)
    if summary is not None:
        print(f"kairos: {summary}", file=sys.stderr, flush=True)
    process = start_receiver(receiver_port(settings))
    atexit.register(process.terminate)
    print(
        f"kairos: demo push relay on http://{settings.server.host}:{receiver_port(settings)}/push; "
        "replay a day with `.venv/bin/kairos simulate`",
        file=sys.stderr,
        flush=True,
    )
