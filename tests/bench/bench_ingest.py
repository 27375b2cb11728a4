"""Benchmark: event ingestion over HTTP against a bare Litestar JSON echo, in one run.

    python tests/bench/bench_ingest.py [--stores 10000] [--customers 100000] [--purchases 5]
                                       [--seconds 10] [--connections 32] [--compare DIR ...]
    kairos bench ingest

Seeds a fresh database (on ``KAIROS_DATABASE_URL``'s server, else an embedded pgserver) with
stores in a 40 km x 40 km city, an 80 m-ish circle geofence each, five offers running
everywhere, and customers with consents, a device and purchase history (COPY). Then starts
the real server as a user would deploy it (``kairos serve``: uvicorn, one worker, default
settings, rate limit on) and, on the same uvicorn settings (event loop and HTTP parser
included), a bare Litestar app that decodes a JSON body and sends it back. The same client
drives both: keep-alive connections, pre-encoded requests, a raw HTTP/1.1 loop in this
process. ``--compare DIR`` also serves another source tree of Kairos (e.g. the previous
commit, ``git archive HEAD~1 | tar -x -C DIR``) on the same database, with bodies of its
own, so a change is measured against its baseline in the same run.

Workloads, each against both servers with the same bodies:

* **single**: one event per request; ~70 % fixes, ~20 % enter / dwell claims, ~10 %
  check-ins, 2 % of requests re-sent (duplicates). Customers at random, each around a home
  store, so nothing looks like a jump.
* **batch**: 100 of one customer's events per request (same mix, in time order).

For each: the peak (``--connections`` closed-loop connections for ``--seconds``), then an
open-loop run at half the peak rate (latency counted from each request's intended start, so
queueing is not hidden). Besides rates and latencies, the CPU each request cost the server
process and (embedded database only) the PostgreSQL processes, measured from /proc during
the peak run: on a shared machine these move less than the rates do. Prints a markdown
table and the load average. Goals: single-event ingest >= 25 % of the echo's requests/s;
batch ingest >= 20,000 events/s; p99 <= 50 ms at half of peak load.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from tests.bench._db import bench_database  # noqa: E402

SECRET = "kairos-bench-secret-" + "k3Yq" * 8
CENTRE = (51.5072, -0.1276)  # London
HALF_SIDE_M = 20_000.0
METERS_PER_DEGREE = 111_195.0
CATEGORIES = ["coffee", "capsules", "machines", "cups", "tea", "chocolate", "gifts", "kitchen"]


# The echo baseline ---------------------------------------------------------------------------
def echo_app() -> Any:
    """A bare Litestar app: decode the JSON body, send it back (uvicorn factory)."""
    from litestar import Litestar, post

    @post("/echo", status_code=200)
    async def echo(data: dict[str, Any]) -> dict[str, Any]:
        return data

    return Litestar(route_handlers=[echo], debug=False)


# Seeding -------------------------------------------------------------------------------------
def daytime_zone() -> str:
    """An IANA zone where it is now between 10:00 and 16:00 (so no quiet hours or closed
    stores whenever the benchmark runs); Europe/London when it is daytime there."""
    import zoneinfo

    now = dt.datetime.now(dt.UTC)
    for zone in ["Europe/London", *sorted(zoneinfo.available_timezones())]:
        if zone.startswith(("Etc/", "SystemV/")) or "/" not in zone:
            continue
        if 10 <= now.astimezone(zoneinfo.ZoneInfo(zone)).hour < 16:
            return zone
    return "Europe/London"


def _point(rng: random.Random) -> tuple[float, float]:
    north = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M)
    east = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M)
    return _moved(CENTRE, north, east)


def _moved(origin: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    lat = origin[0] + north_m / METERS_PER_DEGREE
    lng = origin[1] + east_m / (METERS_PER_DEGREE * math.cos(math.radians(origin[0])))
    return lat, lng


@dataclass
class World:
    stores: list[tuple[str, float, float, float]]  # id, lat, lng, radius
    customers: list[str]
    home: dict[str, int] = field(default_factory=dict)


async def seed(
    url: str, n_stores: int, n_customers: int, purchases: int, rng: random.Random, zone: str
) -> World:
    conn = await asyncpg.connect(url)
    try:
        stores = []
        for i in range(n_stores):
            lat, lng = _point(rng)
            stores.append((f"s{i:05d}", lat, lng, rng.uniform(40.0, 120.0)))
        await conn.copy_records_to_table(
            "stores",
            records=[
                (s, f"Store {s}", lat, lng, zone, "GB",
                 "24/7" if rng.random() < 0.8 else "Mo-Sa 08:00-20:00", ["coffee", "capsules"])
                for s, lat, lng, _ in stores
            ],
            columns=["id", "name", "lat", "lng", "timezone", "country", "opening_hours",
                     "categories"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "geofences",
            records=[(f"g-{s}", s, lat, lng, r, 120) for s, lat, lng, r in stores],
            columns=["id", "store_id", "center_lat", "center_lng", "radius_m", "dwell_seconds"],
        )
        templates = json.dumps({"en": {"title": "Hello {first_name}", "body": "At {store_name}"}})
        await conn.copy_records_to_table(
            "campaigns",
            records=[
                (f"offer-{k}", f"Offer {k}", "offer", templates, "en", 5 + 3 * k, 0.2 + 0.1 * k,
                 True, [CATEGORIES[k]], 10.0)
                for k in range(5)
            ],
            columns=["id", "name", "kind", "templates", "default_locale", "margin",
                     "acceptance_probability", "all_stores", "offer_categories", "holdout_pct"],
        )  # fmt: skip
        customers = [f"cust-{i:07d}" for i in range(n_customers)]
        await conn.copy_records_to_table(
            "customers",
            records=[(c, "en", "Ana", True, rng.random() < 0.8) for c in customers],
            columns=["id", "locale", "first_name", "consent_location", "consent_marketing"],
        )
        await conn.copy_records_to_table(
            "devices",
            records=[(c, "fcm", f"fcm-{c}-{secrets.token_hex(6)}") for c in customers],
            columns=["customer_id", "platform", "token"],
        )
        world = World(stores=stores, customers=customers)
        now = dt.datetime.now(dt.UTC)
        rows: list[tuple[Any, ...]] = []
        columns = ["order_id", "customer_id", "store_id", "channel", "occurred_at", "currency",
                   "total", "items", "categories", "payload_hash"]  # fmt: skip
        for n, c in enumerate(customers):
            home = rng.randrange(n_stores)
            world.home[c] = home
            for k in range(purchases):
                cats = rng.sample(CATEGORIES, 2)
                rows.append(
                    (f"o-{n:07d}-{k}", c, stores[home][0], "store",
                     now - dt.timedelta(days=rng.uniform(1, 700)), "GBP", 19.9,
                     json.dumps([{"sku": "X", "category": cats[0], "quantity": "1",
                                  "unit_price": "19.90"}]), cats, "h")
                )  # fmt: skip
            if len(rows) >= 100_000:
                await conn.copy_records_to_table("purchases", records=rows, columns=columns)
                rows.clear()
        if rows:
            await conn.copy_records_to_table("purchases", records=rows, columns=columns)
        # Vacuumed now, so that autovacuum does not do it on the copied rows during the
        # first measured run (it would bill that run's database CPU and slow it down).
        await conn.execute("VACUUM ANALYZE")
        return world
    finally:
        await conn.close()


# Requests ------------------------------------------------------------------------------------
class Workload:
    """Pre-encoded HTTP requests for both servers (same bodies)."""

    def __init__(self, world: World, port: int, echo_port: int, rng: random.Random) -> None:
        from app.auth import mint_token
        from app.settings import Settings

        self.world = world
        self.rng = rng
        self.port = port
        self.echo_port = echo_port
        self.settings = Settings.from_env({"KAIROS_JWT_SECRET": SECRET})
        self._tokens: dict[str, str] = {}
        self._mint = mint_token

    def token(self, customer: str) -> str:
        token = self._tokens.get(customer)
        if token is None:
            token = self._mint(
                self.settings, role="customer", sub=customer, stores=[], ttl_seconds=7200
            )
            self._tokens[customer] = token
        return token

    def event(self, customer: str, at: dt.datetime) -> dict[str, Any]:
        store_id, lat, lng, _ = self.world.stores[self.world.home[customer]]
        draw = self.rng.random()
        body: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": at.isoformat(),
            "accuracy_m": round(self.rng.uniform(5, 40), 1),
            "device_id": f"dev-{customer}",
        }
        if draw < 0.70:  # a fix somewhere within 600 m of home, now and then inside
            spot = _moved((lat, lng), self.rng.uniform(-600, 600), self.rng.uniform(-600, 600))
            body.update(type="fix", lat=spot[0], lng=spot[1])
        elif draw < 0.90:
            spot = _moved((lat, lng), self.rng.uniform(-10, 10), self.rng.uniform(-10, 10))
            kind = "enter" if draw < 0.82 else "dwell"
            body.update(type=kind, lat=spot[0], lng=spot[1], geofence_id=f"g-{store_id}")
        else:
            spot = _moved((lat, lng), self.rng.uniform(-10, 10), self.rng.uniform(-10, 10))
            body.update(type="checkin", lat=spot[0], lng=spot[1], store_id=store_id)
        return body

    def requests(
        self, *, batch: int, count: int, duplicates: float = 0.02, port: int | None = None
    ) -> list[tuple[bytes, bytes]]:
        """``count`` (ingest request, echo request) pairs of ``batch`` events each
        (``port``: of another Kairos server than the first)."""
        out: list[tuple[bytes, bytes]] = []
        now = dt.datetime.now(dt.UTC)
        for _ in range(count):
            if out and self.rng.random() < duplicates:
                out.append(self.rng.choice(out))
                continue
            customer = self.rng.choice(self.world.customers)
            start = now - dt.timedelta(seconds=batch + 5)
            events = [self.event(customer, start + dt.timedelta(seconds=k)) for k in range(batch)]
            body = json.dumps({"events": events}, separators=(",", ":")).encode()
            out.append(
                (
                    _request("/v1/events", body, port or self.port, self.token(customer)),
                    _request("/echo", body, self.echo_port, None),
                )
            )
        return out


def _request(path: str, body: bytes, port: int, token: str | None) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    return head.encode() + b"\r\n" + body


# The client ----------------------------------------------------------------------------------
@dataclass
class Run:
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0  # seconds of CPU, the server process
    db_cpu: float | None = None  # seconds of CPU, PostgreSQL (embedded server only)

    def cpu_ms(self, seconds: float | None) -> str:
        if seconds is None or not self.requests:
            return "—"
        return f"{seconds / self.requests * 1000:.2f}"

    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def drive(
    port: int,
    requests: list[bytes],
    *,
    connections: int,
    seconds: float,
    rate: float | None = None,
) -> Run:
    """Closed loop (``rate`` None: each connection sends as soon as it has its answer) or open
    loop at ``rate`` requests/s (latency from each request's intended start)."""
    run = Run()
    index = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                n = index
                if n >= len(requests):
                    return
                index += 1
                if rate is not None:
                    intended = started + n / rate
                    if intended > deadline:
                        return
                    delay = intended - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    t0 = intended
                else:
                    t0 = time.perf_counter()
                    if t0 > deadline:
                        return
                try:
                    status = await _exchange(reader, writer, requests[n])
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    run.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                run.latencies.append(time.perf_counter() - t0)
                run.statuses[status] = run.statuses.get(status, 0) + 1
                run.requests += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    run.seconds = time.perf_counter() - started
    return run


# Servers -------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import httpx

    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited ({proc.returncode})")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not become ready")


def serving_options() -> list[str]:
    """The event loop and HTTP parser ``kairos serve`` picks (``app.cli``), for the echo."""
    from importlib.util import find_spec

    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    http = "httptools" if find_spec("httptools") else "h11"
    return ["--loop", loop, "--http", http]


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int


def _kairos(name: str, tree: Path, url: str, logs: Path, profile: Path | None = None) -> Server:
    port = _free_port()
    env = {
        **os.environ,
        "KAIROS_DATABASE_URL": url,
        "KAIROS_JWT_SECRET": SECRET,
        "KAIROS_PORT": str(port),
        "KAIROS_WORKERS": "1",
        "KAIROS_DATA_DIR": str(logs / "data"),
        "PYTHONPATH": str(tree),
    }
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    proc = subprocess.Popen(
        [sys.executable, *profiler, "-m", "app.cli", "serve"],
        cwd=tree,
        env=env,
        stdout=(logs / f"kairos-{port}.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Server(name, proc, port)


def start_servers(
    url: str, logs: Path, profile: Path | None = None, compare: tuple[Path, ...] = ()
) -> tuple[list[Server], Server]:
    """Kairos from this tree (and from each ``compare`` tree), and the echo."""
    kairos = [_kairos("Kairos", ROOT, url, logs, profile)]
    for tree in compare:
        kairos.append(_kairos(f"Kairos ({tree.name})", tree.resolve(), url, logs))
    echo_port = _free_port()
    # The same uvicorn settings as `kairos serve`: one worker, its loop and HTTP parser.
    echo = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.bench.bench_ingest:echo_app", "--factory",
         "--host", "127.0.0.1", "--port", str(echo_port), "--workers", "1",
         "--log-level", "info", "--proxy-headers", *serving_options()],
        cwd=ROOT,
        env={**os.environ, "KAIROS_JWT_SECRET": SECRET},
        stdout=(logs / "echo.log").open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    for server in kairos:
        _wait_ready(server.port, "/ready", server.proc)
    _wait_ready(echo_port, "/echo", echo)
    return kairos, Server("bare Litestar echo", echo, echo_port)


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def database_process(url: str) -> int | None:
    """The embedded server's postmaster; None for another server (its CPU is not ours to
    read)."""
    from urllib.parse import parse_qs, urlsplit

    host = parse_qs(urlsplit(url).query).get("host", [""])[0]
    pid_file = Path(host) / "postmaster.pid"
    if not host or not pid_file.exists():
        return None
    try:
        return int(pid_file.read_text().split()[0])
    except ValueError:
        return None


def _database_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster, its live backends and every child that has exited
    (backends come and go with the pools' connections)."""
    import psutil

    try:
        root = psutil.Process(postmaster)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            try:
                child_times = child.cpu_times()
            except psutil.Error:
                continue
            total += child_times.user + child_times.system
    except psutil.Error:
        return 0.0
    return total


# The run -------------------------------------------------------------------------------------
@dataclass
class Row:
    workload: str
    target: str
    peak: Run
    half: Run
    events_per_request: int


def _line(row: Row) -> str:
    peak, half = row.peak, row.half
    bad = sum(n for s, n in peak.statuses.items() if s != 200) + peak.errors
    return (
        f"| {row.workload} | {row.target} | {peak.rate():,.0f} | "
        f"{peak.rate() * row.events_per_request:,.0f} | {peak.pct(0.50):.1f} | "
        f"{peak.pct(0.99):.1f} | {half.rate():,.0f} | {half.pct(0.50):.1f} | "
        f"{half.pct(0.99):.1f} | {peak.cpu_ms(peak.server_cpu)} | {peak.cpu_ms(peak.db_cpu)} | "
        f"{bad} |"
    )


async def measure(
    name: str,
    targets: list[tuple[Server, list[bytes]]],
    args: argparse.Namespace,
    events: int,
    postmaster: int | None,
) -> list[Row]:
    rows = []
    for server, requests in targets:
        await drive(server.port, requests[:200], connections=8, seconds=2)  # warm-up
        requests = requests[200:]
        cpu = _cpu_seconds([server.proc.pid])
        db = _database_cpu(postmaster) if postmaster else None
        peak = await drive(
            server.port, requests, connections=args.connections, seconds=args.seconds
        )
        peak.server_cpu = _cpu_seconds([server.proc.pid]) - cpu
        if postmaster and db is not None:
            peak.db_cpu = _database_cpu(postmaster) - db
        half_rate = max(1.0, peak.rate() / 2)
        fresh = requests[peak.requests :] + requests[: peak.requests]
        half = await drive(
            server.port, fresh, connections=args.connections, seconds=args.seconds, rate=half_rate
        )
        rows.append(Row(name, server.name, peak, half, events))
        print(f"  {name} {server.name}: {peak.rate():,.0f} req/s, statuses {peak.statuses}, "
              f"server CPU {peak.cpu_ms(peak.server_cpu)} ms/request, load {_load()}",
              file=sys.stderr, flush=True)  # fmt: skip
    return rows


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    load_before = _load()
    async with bench_database("kairos_bench_ingest") as url:
        started = time.perf_counter()
        zone = daytime_zone()
        world = await seed(url, args.stores, args.customers, args.purchases, rng, zone)
        print(
            f"seeded {args.stores:,} stores, {args.customers:,} customers, "
            f"{args.customers * args.purchases:,} purchases "
            f"in {time.perf_counter() - started:.1f}s; stores keep {zone} time (daytime now)",
            file=sys.stderr,
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="kbench-ingest-") as tmp:
            kairos, echo = start_servers(url, Path(tmp), args.profile, tuple(args.compare))
            postmaster = database_process(url)
            try:
                work = Workload(world, kairos[0].port, echo.port, rng)
                rows: list[Row] = []
                for name, batch, count in (
                    ("single event", 1, int(args.seconds * 4000)),
                    ("100-event batch", 100, int(args.seconds * 600)),
                ):
                    targets: list[tuple[Server, list[bytes]]] = []
                    for n, server in enumerate(kairos):
                        # Bodies of its own for each Kairos (one's events would be the
                        # other's duplicates); the echo answers the first one's.
                        pairs = work.requests(batch=batch, count=count, port=server.port)
                        targets.append((server, [p[0] for p in pairs]))
                        if n == 0:
                            echo_requests = [p[1] for p in pairs]
                        del pairs
                    targets.append((echo, echo_requests))
                    rows += await measure(name, targets, args, batch, postmaster)
                    del targets, echo_requests
            finally:
                servers = [*kairos, echo]
                for server in servers:
                    server.proc.terminate()
                for server in servers:
                    try:
                        server.proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        server.proc.kill()
            async with _connect(url) as conn:
                stored = await conn.fetchval("SELECT count(*) FROM events")
                decisions = await conn.fetchval("SELECT count(*) FROM decisions")
                invites = await conn.fetchval("SELECT count(*) FROM invites")

    print()
    print(f"Ingest vs a bare Litestar JSON echo, same uvicorn settings (1 worker, "
          f"{' '.join(serving_options())}), {args.connections} keep-alive connections, "
          f"{args.seconds:.0f} s per run; {args.stores:,} stores, {args.customers:,} customers; "
          f"load average {load_before} before, {_load()} after (1, 5, 15 min), "
          f"{os.cpu_count()} CPUs.")  # fmt: skip
    print()
    print("| workload | server | peak req/s | peak events/s | p50 ms | p99 ms | "
          "half-load req/s | half p50 ms | half p99 ms | server CPU ms/req | "
          "db CPU ms/req | non-200 |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(_line(row))
    print()
    for workload in ("single event", "100-event batch"):
        mine = [r for r in rows if r.workload == workload]
        echo_row = mine[-1]
        for row in mine[:-1]:
            if workload == "single event":
                ratio = row.peak.rate() / echo_row.peak.rate() if echo_row.peak.rate() else 0
                print(f"- {row.target}, single-event ingest / echo requests/s: {ratio:.0%} "
                      "(goal >= 25 %)")  # fmt: skip
            else:
                print(f"- {row.target}, batch ingest: {row.peak.rate() * 100:,.0f} events/s "
                      "(goal >= 20,000)")  # fmt: skip
            print(f"- {row.target}, p99 at half of peak, {workload}: {row.half.pct(0.99):.1f} ms "
                  "(goal <= 50 ms)")  # fmt: skip
    print(f"- stored: {stored:,} events, {decisions:,} decisions, {invites:,} invites")


class _connect:
    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self.conn = await asyncpg.connect(self.url)
        return self.conn

    async def __aexit__(self, *_: object) -> None:
        if self.conn is not None:
            await self.conn.close()


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--purchases", type=int, default=5, help="per customer")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--profile", type=Path, help="run the Kairos server under cProfile, stats to this file"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="*",
        default=[],
        metavar="DIR",
        help="also serve the Kairos source tree in DIR (e.g. an export of the previous commit)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_args()))
