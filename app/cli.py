"""The ``kairos`` command: serve, worker, migrate, openapi, token, import, demo, simulate, bench."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from app.settings import REPO_ROOT, Settings, SettingsError

__all__ = ["main"]

OPENAPI_PATH = REPO_ROOT / "openapi" / "openapi.json"
BENCH_DIR = REPO_ROOT / "tests" / "bench"

log = logging.getLogger("kairos")


def _configure_logging(level: str) -> None:
    import logging.config

    from app.logs import log_config

    logging.config.dictConfig(log_config(level))


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit, so that exit handlers run (the embedded PostgreSQL
    stops with its last user). uvicorn handles the signal itself while it serves, shuts down
    gracefully, then raises it again once the previous handler is back: without this one the
    default action would end the process there and leave the database running."""
    import signal

    def _exit(signum: int, _frame: object) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.db import resolve_database
    from app.logs import log_config
    from app.migrate import migrate_url

    settings.check_production_ready()
    _exit_on_sigterm()
    started = time.perf_counter()
    target = resolve_database(settings)
    print(f"kairos: using {target.description}", file=sys.stderr, flush=True)
    if settings.database.migrate_on_start:
        applied = asyncio.run(migrate_url(target.url))
        names = ", ".join(m.name for m in applied) or "none pending"
        print(f"kairos: migrations applied: {names}", file=sys.stderr, flush=True)
    # Workers read their settings from the environment: hand them the resolved database, and
    # skip the migration check they would repeat.
    os.environ["KAIROS_DATABASE_URL"] = target.url
    os.environ["KAIROS_MIGRATE_ON_START"] = "false"
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    if args.demo:  # development only: seed an empty database, start the demo's push relay
        from app.demo.commands import serve_demo

        # The relay (a process of its own) reads the server's address from the environment
        # to post its receipts back: hand it the one given on the command line.
        os.environ["KAIROS_HOST"], os.environ["KAIROS_PORT"] = host, str(port)
        serve_demo(Settings.from_env(dict(os.environ)), target.url, os.environ)
    workers = args.workers or settings.server.workers
    if workers > 1 and settings.worker.metrics_multiproc_dir is None:
        # prometheus-client shares values between processes through files: give the workers
        # a fresh folder so /metrics adds up all of them.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kairos-metrics-")
    print(
        f"kairos: serving on http://{host}:{port} (API docs at /schema), "
        f"database ready after {time.perf_counter() - started:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    if args.with_worker:
        print("kairos: with an outbox worker in the same process", file=sys.stderr, flush=True)
    # uvloop and httptools (uvicorn[standard]) when installed: C event loop and HTTP parser.
    from importlib.util import find_spec

    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    http = "httptools" if find_spec("httptools") else "h11"
    uvicorn.run(
        "notifications.worker:create_app_with_worker"
        if args.with_worker
        else "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.server.log_level,
        log_config=log_config(settings.server.log_level),
        proxy_headers=True,
        loop=loop,
        http=http,
    )
    return 0


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from app.db import resolve_database
    from app.migrate import migrate_url
    from notifications.worker import run_worker

    target = resolve_database(settings)
    print(f"kairos worker: using {target.description}", file=sys.stderr, flush=True)
    if settings.database.migrate_on_start:
        asyncio.run(migrate_url(target.url))
    asyncio.run(run_worker(settings.with_database_url(target.url), metrics_port=args.metrics_port))
    return 0


def _cmd_migrate(_: argparse.Namespace, settings: Settings) -> int:
    from app.db import resolve_database
    from app.migrate import MigrationError, migrate_url

    target = resolve_database(settings)
    print(f"kairos: using {target.description}", file=sys.stderr)
    try:
        applied = asyncio.run(migrate_url(target.url))
    except MigrationError as exc:
        print(f"kairos migrate: {exc}", file=sys.stderr)
        return 1
    for migration in applied:
        print(f"applied {migration.name}")
    if not applied:
        print("database is up to date")
    return 0


def openapi_document(settings: Settings) -> str:
    """The OpenAPI document as committed: stable key order, trailing newline."""
    from app.main import create_app
    from app.openapi import openapi_dict

    schema = openapi_dict(create_app(settings))
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _cmd_openapi(args: argparse.Namespace, settings: Settings) -> int:
    # The document must not depend on the machine: pin what settings could leak into it.
    document = openapi_document(settings.with_database_url("postgresql://openapi/none"))
    path = Path(args.output)
    if args.check:
        current = path.read_text() if path.exists() else ""
        if current != document:
            print(f"{path} is stale: run 'kairos openapi' and commit the result", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document)
    print(f"wrote {path}")
    return 0


def _cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth import TokenError, mint_token

    if args.role == "manager" and not args.stores:
        print("kairos token: a manager token needs --stores", file=sys.stderr)
        return 2
    try:
        token = mint_token(
            settings,
            role=args.role,
            sub=args.sub,
            stores=[s for s in (args.stores or "").split(",") if s],
            ttl_seconds=args.ttl,
        )
    except TokenError as exc:
        print(f"kairos token: {exc}", file=sys.stderr)
        return 1
    print(token)
    return 0


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    import asyncpg

    from app.auth import Principal
    from app.db import init_connection, resolve_database
    from app.migrate import migrate_url
    from app.stores.importer import import_stores

    path = Path(args.file)
    try:
        document = path.read_bytes()
    except OSError as exc:
        print(f"kairos import: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    target = resolve_database(settings)
    actor = Principal(sub=args.actor or f"cli:{getpass.getuser()}", role="admin")

    async def run() -> int:
        await migrate_url(target.url)
        conn = await asyncpg.connect(target.url)
        await init_connection(conn)
        try:
            report = await import_stores(
                conn, document, actor=actor, skip_invalid=args.skip_invalid, dry_run=args.dry_run
            )
        finally:
            await conn.close()
        for index, error in report.errors[: args.max_errors]:
            where = f"feature {index}" if index >= 0 else "file"
            print(f"{where}: {error.field}: {error.message}", file=sys.stderr)
        if len(report.errors) > args.max_errors:
            print(f"... and {len(report.errors) - args.max_errors} more", file=sys.stderr)
        print(
            f"{report.features} features, {report.valid} valid, "
            f"{report.invalid_features} invalid; stores +{report.stores_created} "
            f"~{report.stores_updated}, geofences +{report.geofences_created} "
            f"~{report.geofences_updated}; {'imported' if report.imported else 'nothing imported'} "
            f"in {report.seconds:.2f}s"
        )
        if report.errors and not args.skip_invalid:
            print("kairos import: fix the errors above, or pass --skip-invalid", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(run())


def _cmd_bench(args: argparse.Namespace, _: Settings) -> int:
    names = sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))
    wanted = names if args.name == "all" else [args.name]
    status = 0
    for name in wanted:
        script = BENCH_DIR / f"bench_{name}.py"
        if not script.exists():
            print(
                f"kairos bench: no benchmark {name!r} (have: {', '.join(names)})", file=sys.stderr
            )
            return 2
        print(f"## kairos bench {name}", flush=True)
        done = subprocess.run([sys.executable, str(script), *args.bench_args], cwd=REPO_ROOT)
        status = status or done.returncode
    return status


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo import commands

    if args.action == "seed":
        return commands.seed(settings)
    if args.action == "reset":
        return commands.reset(settings)
    return commands.receiver(settings, args.port, follow_parent=args.with_parent)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2026-11-24") from None


def _cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo.city import DEMO_DAY
    from app.simulate.command import simulate
    from app.simulate.driver import SimulationConfig

    if not 1 <= args.customers <= 500:
        print("kairos simulate: --customers must be between 1 and 500", file=sys.stderr)
        return 2
    clock = r"([01][0-9]|2[0-3]):[0-5][0-9]"
    if not re.fullmatch(clock, args.start) or not re.fullmatch(f"{clock}|24:00", args.end):
        print("kairos simulate: --start and --end are HH:MM (--end may be 24:00)", file=sys.stderr)
        return 2
    if args.start >= args.end:
        print("kairos simulate: --start must be before --end", file=sys.stderr)
        return 2
    config = SimulationConfig(
        day=args.day or DEMO_DAY,
        customers=args.customers,
        speed=max(0.0, args.speed),
        start=args.start,
        end=args.end,
    )
    report = Path(args.report) if args.report else None
    return simulate(settings, config, report=report, base_url=args.url)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kairos", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve the HTTP API with uvicorn")
    serve.add_argument("--host", help="bind address (default KAIROS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default KAIROS_PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default KAIROS_WORKERS or 1)")
    serve.add_argument(
        "--with-worker", action="store_true", help="also run the outbox worker in this process"
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="development: simulation clock, demo push relay, seed the demo if the database "
        "is empty (make run)",
    )
    serve.set_defaults(func=_cmd_serve)

    worker = sub.add_parser(
        "worker", help="run the outbox worker: deliver invites, run the periodic jobs"
    )
    worker.add_argument(
        "--metrics-port", type=int, help="metrics port (default KAIROS_WORKER_METRICS_PORT; 0 off)"
    )
    worker.set_defaults(func=_cmd_worker)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(func=_cmd_migrate)

    openapi = sub.add_parser("openapi", help="write openapi/openapi.json")
    openapi.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    openapi.add_argument("--output", default=str(OPENAPI_PATH), help="where to write")
    openapi.set_defaults(func=_cmd_openapi)

    token = sub.add_parser("token", help="mint a development JWT (refused in production)")
    token.add_argument(
        "--role", required=True, choices=["customer", "manager", "integration", "admin"]
    )
    token.add_argument("--sub", required=True, help="subject: customer id, user or system name")
    token.add_argument("--stores", help="comma-separated store ids (managers)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(func=_cmd_token)

    importer = sub.add_parser("import", help="bulk-import data files")
    import_kinds = importer.add_subparsers(dest="kind", required=True)
    stores = import_kinds.add_parser(
        "stores", help="stores and geofences from a GeoJSON FeatureCollection (idempotent)"
    )
    stores.add_argument("file", help="FeatureCollection: one store per feature")
    stores.add_argument(
        "--skip-invalid", action="store_true", help="import the valid features even if some fail"
    )
    stores.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    stores.add_argument("--actor", help="name recorded in the audit log (default cli:<user>)")
    stores.add_argument("--max-errors", type=int, default=200, help="errors to print (200)")
    stores.set_defaults(func=_cmd_import)

    demo = sub.add_parser("demo", help="the demo chain: seed, reset, push relay (development)")
    demo_actions = demo.add_subparsers(dest="action", required=True)
    demo_actions.add_parser("seed", help="load the demo chain and its 500 customers (idempotent)")
    demo_actions.add_parser("reset", help="remove the demo data (ids starting with demo-) only")
    relay = demo_actions.add_parser("receiver", help="serve the demo's signed-webhook push relay")
    relay.add_argument("--port", type=int, help="port (default KAIROS_PORT + 25: 8025)")
    relay.add_argument("--with-parent", action="store_true", help=argparse.SUPPRESS)
    demo.set_defaults(func=_cmd_demo)

    simulate = sub.add_parser(
        "simulate", help="replay a day of app traffic through the running server, then report"
    )
    simulate.add_argument("--day", type=_day, help="local day, YYYY-MM-DD (default 2026-11-24)")
    simulate.add_argument(
        "--speed", type=float, default=600.0, help="simulated seconds per second (600; 0 = max)"
    )
    simulate.add_argument("--customers", type=int, default=500, help="how many (1-500)")
    simulate.add_argument("--start", default="06:00", help="local start time (06:00)")
    simulate.add_argument("--end", default="24:00", help="local end time (24:00)")
    simulate.add_argument("--report", help="HTML report path (default in KAIROS_DATA_DIR)")
    simulate.add_argument("--url", help="the server (default http://KAIROS_HOST:KAIROS_PORT)")
    simulate.set_defaults(func=_cmd_simulate)

    bench = sub.add_parser(
        "bench", help="run a benchmark from tests/bench (geo, hours, ... or all)"
    )
    bench.add_argument("name", help="benchmark name, or 'all'")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"kairos: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.server.log_level)
    try:
        result: int = args.func(args, settings)
    except SettingsError as exc:
        print(f"kairos: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
