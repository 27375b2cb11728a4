"""``kairos simulate``: replay a day against the running server, then report.

Talks to the server ``make run`` started (``http://KAIROS_HOST:KAIROS_PORT``) through its
API, and to its database for two things the API has no route for: clearing an earlier
simulation's traffic, and reading the outbox for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from app.demo.environment import demo_files, require_development
from app.simulate.driver import SimulationConfig, SimulationError, Tally, Tokens, simulate_day
from app.simulate.report import print_summary, render_html
from app.simulate.results import DEFAULT_STORIES, collect_results, outbox_drained

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = ["simulate"]


async def _real_time(client: httpx.AsyncClient, settings: Settings) -> None:
    """Hand the clock back (also after a failure or Ctrl-C): real time, at speed 1."""
    with contextlib.suppress(httpx.HTTPError):
        await client.put(
            "/v1/dev/clock",
            json={"instant": dt.datetime.now(dt.UTC).isoformat(), "speed": 1},
            headers=Tokens(settings).admin,
        )


def simulate(
    settings: Settings,
    config: SimulationConfig,
    *,
    report: Path | None = None,
    stories: tuple[str, ...] = DEFAULT_STORIES,
    base_url: str | None = None,
) -> int:
    """Run the simulation, print the summary, write the HTML report; exit status."""
    from app.db import create_pool, resolve_database
    from app.demo.reset import clear_simulation

    require_development(settings, "kairos simulate")
    # One log line per request would bury the progress bar (and cost more than the request).
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    console = Console()
    url = base_url or f"http://{settings.server.host}:{settings.server.port}"
    target = resolve_database(settings)
    path = report or demo_files(settings).reports / f"simulation-{config.day.isoformat()}.html"

    async def run() -> int:
        pool = await create_pool(settings.with_database_url(target.url))
        timeout = httpx.Timeout(60.0, connect=5.0)
        limits = httpx.Limits(max_connections=config.concurrency + 4)
        try:
            async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

                async def clear() -> None:
                    async with pool.acquire() as conn:
                        await clear_simulation(conn)

                async def drained(at: dt.datetime) -> bool:
                    return await outbox_drained(pool, at)

                minutes = (config.end_at - config.start_at).total_seconds() / 60
                with Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    TextColumn("{task.fields[clock]}"),
                    TextColumn("{task.fields[stats]}"),
                    TimeElapsedColumn(),
                    console=console,
                ) as bar:
                    task = bar.add_task(f"{config.day:%a %d %b}", total=minutes, clock="", stats="")

                    def progress(now: dt.datetime, tally: Tally) -> None:
                        local = now.astimezone(config.start_at.tzinfo)
                        bar.update(
                            task,
                            completed=(now - config.start_at).total_seconds() / 60,
                            clock=f"{local:%H:%M}",
                            stats=(
                                f"{tally.events_sent:,} events · "
                                f"{tally.decisions['send'] + tally.decisions['defer']:,} invites "
                                f"· {tally.decisions['suppress']:,} suppressed"
                            ),
                        )

                    try:
                        run = await simulate_day(
                            client, settings, config, clear=clear, drained=drained,
                            progress=progress,
                        )  # fmt: skip
                    finally:
                        await _real_time(client, settings)
                results = await collect_results(client, Tokens(settings), pool, run, stories)
        except SimulationError as exc:
            console.print(f"[red]kairos simulate:[/red] {exc}")
            return 2
        finally:
            await pool.close()
        invariants = print_summary(results, console)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(results, invariants), encoding="utf-8")
        console.print(f"\nReport: [bold]{path}[/bold]  (open file://{path.resolve()})")
        return 0 if invariants.held else 1

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        print("kairos simulate: interrupted", file=sys.stderr)
        return 130
