"""How fast the outbox drains to a gateway, beside the network floor, and how soon it sends.

Run: ``kairos bench dispatch [--invites 4000] [--latency-samples 200]``

A sink process on 127.0.0.1 plays the gateway: HTTP/1.1 (the signed-webhook gateway) and
HTTP/2 with prior knowledge (the APNs gateway), counting requests by idempotency key and
stamping their arrival. For each sink, the same number of invites is committed at once and
drained by 1 and then 2 ``kairos worker`` processes; invites/s is from the commit to the last
invite recorded ``sent``. The baseline drives the same sink with a bare httpx loop (same
protocol, same concurrency): the network floor any worker on this machine has. Finally, with
one idle worker, invites are committed one at a time and the latency from commit to arrival
at the sink is reported (p50 / p99).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import msgspec  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from tests.bench._db import bench_database  # noqa: E402
from tests.fake_gateways import free_port  # noqa: E402
from tests.outbox_builders import (  # noqa: E402
    bulk_invites,
    make_device,
    make_invite,
    make_store,
    set_policy,
)

CONCURRENCY = 64


# -- the sink (a child process) -------------------------------------------------------------


def run_sink(port: int, h2_port: int) -> None:
    """HTTP/1.1 on ``port`` (a bare asyncio parser: hypercorn's HTTP/1.1 was the bottleneck
    on this machine), HTTP/2 on ``h2_port`` (hypercorn, prior knowledge)."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    arrivals: dict[str, float] = {}
    count = [0]

    async def h1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                fields = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    fields[name.strip().lower()] = value.strip()
                await reader.readexactly(int(fields.get("content-length", "0")))
                if lines[0].split(" ")[1] == "/stats":
                    body = msgspec.json.encode({"count": count[0], "arrivals": arrivals})
                    arrivals.clear()
                    count[0] = 0
                else:
                    arrivals.setdefault(fields.get("webhook-id", ""), time.time())
                    count[0] += 1
                    body = b"{}"
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        if scope["path"] == "/stats":
            body = msgspec.json.encode({"count": count[0], "arrivals": arrivals})
            arrivals.clear()
            count[0] = 0
        else:
            key = (headers.get(b"webhook-id") or headers.get(b"apns-id") or b"").decode()
            arrivals.setdefault(key, time.time())
            count[0] += 1
            body = b"{}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    config = Config()
    config.bind = [f"127.0.0.1:{h2_port}"]
    config.accesslog = None
    config.keep_alive_max_requests = 1 << 30
    config.h2_max_concurrent_streams = 1000

    async def both() -> None:
        server = await asyncio.start_server(h1, "127.0.0.1", port)
        async with server:
            await serve(app, config)  # type: ignore[arg-type]

    asyncio.run(both())


# -- helpers ---------------------------------------------------------------------------------


async def sink_stats(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base}/stats")
        return dict(msgspec.json.decode(response.content))


async def baseline(base: str, path: str, count: int, http2: bool) -> float:
    """Requests/s of a bare httpx loop against the sink: the network floor."""
    async with httpx.AsyncClient(http1=not http2, http2=http2) as client:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            async with semaphore:
                await client.post(
                    f"{base}{path}",
                    content=b'{"invite": "x"}',
                    headers={"webhook-id": f"b{i}", "apns-id": f"b{i}"},
                )

        await one(-1)
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.perf_counter() - started
    await sink_stats(base)
    return count / elapsed


def spawn_workers(n: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def drain_rate(
    conn: asyncpg.Connection, url: str, env: dict[str, str], workers: int, invites: int
) -> float:
    await conn.execute("DELETE FROM invites; DELETE FROM decisions")
    processes = spawn_workers(workers, env)
    try:
        await asyncio.sleep(3.0)  # let them start and go idle
        started = time.perf_counter()
        await bulk_invites(conn, invites, customers=[f"c{i}" for i in range(50)])
        while await conn.fetchval("SELECT count(*) FROM invites WHERE status = 'sent'") < invites:
            await asyncio.sleep(0.02)
        return invites / (time.perf_counter() - started)
    finally:
        stop(processes)


async def idle_latency(
    conn: asyncpg.Connection, env: dict[str, str], base: str, samples: int
) -> tuple[float, float]:
    await conn.execute("DELETE FROM invites; DELETE FROM decisions")
    await sink_stats(base)
    processes = spawn_workers(1, env)
    committed: dict[str, float] = {}
    try:
        await asyncio.sleep(3.0)
        for i in range(samples):
            invite_id = await make_invite(conn, customer_id=f"c{i % 50}")
            committed[str(invite_id)] = time.time()
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)
    finally:
        stop(processes)
    arrivals = (await sink_stats(base))["arrivals"]
    delays = sorted((arrivals[k] - t) * 1000 for k, t in committed.items() if k in arrivals)
    if len(delays) < len(committed):
        print(f"warning: {len(committed) - len(delays)} invites did not arrive", flush=True)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return statistics.median(delays), p99


# -- main ------------------------------------------------------------------------------------


async def main(invites: int, samples: int) -> None:
    port, h2_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    h2_base = f"http://127.0.0.1:{h2_port}"
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink", str(port), "--h2-port", str(h2_port)], cwd=ROOT
    )
    keys = Path(tempfile.mkdtemp(prefix="kairos-bench-"))
    apns_key = keys / "apns.p8"
    apns_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    try:
        for _ in range(100):
            try:
                await sink_stats(base)
                await sink_stats(h2_base)
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        async with bench_database("kairos_bench_dispatch") as url:
            conn = await asyncpg.connect(url)
            from app.db import init_connection

            await init_connection(conn)
            await set_policy(conn)
            await make_store(conn)
            env = {
                "KAIROS_DATABASE_URL": url,
                "KAIROS_MIGRATE_ON_START": "false",
                "KAIROS_WORKER_METRICS_PORT": "0",
                "KAIROS_LOG_LEVEL": "warning",
                "KAIROS_DB_POOL_MAX": "6",
                "KAIROS_WORKER_GATEWAY_CONCURRENCY": str(CONCURRENCY),
                "KAIROS_WEBHOOK_URL": f"{base}/hook",
                "KAIROS_WEBHOOK_SECRETS": secret,
                "KAIROS_APNS_KEY_FILE": str(apns_key),
                "KAIROS_APNS_KEY_ID": "KEY1234567",
                "KAIROS_APNS_TEAM_ID": "TEAM123456",
                "KAIROS_APNS_TOPIC": "com.example.bench",
                "KAIROS_APNS_BASE_URL": h2_base,
            }
            rows = []
            for platform, label, sink_base, path, http2 in (
                ("webhook", "webhook sink (HTTP/1.1)", base, "/hook", False),
                ("apns", "HTTP/2 sink (APNs gateway)", h2_base, "/3/device/x", True),
            ):
                await conn.execute(
                    "DELETE FROM invites; DELETE FROM decisions; DELETE FROM devices"
                )
                for i in range(50):
                    await conn.execute(
                        "INSERT INTO customers (id, consent_location, consent_marketing) "
                        "VALUES ($1, true, true) ON CONFLICT DO NOTHING",
                        f"c{i}",
                    )
                    await make_device(conn, f"c{i}", platform, f"{platform}-{i:060d}")
                floor = await baseline(sink_base, path, invites, http2)
                one = await drain_rate(conn, url, env, 1, invites)
                two = await drain_rate(conn, url, env, 2, invites)
                rows.append((label, floor, one, two))
                print(
                    f"{label}: bare httpx {floor:,.0f}/s, 1 worker {one:,.0f}/s, "
                    f"2 workers {two:,.0f}/s",
                    flush=True,
                )
            await conn.execute("DELETE FROM invites; DELETE FROM decisions; DELETE FROM devices")
            for i in range(50):
                await make_device(conn, f"c{i}", "webhook", f"webhook-{i:060d}")
            p50, p99 = await idle_latency(conn, env, base, samples)
            await conn.close()
        print()
        print(f"{invites:,} invites per run, {CONCURRENCY} requests in flight per gateway")
        print("| sink | bare httpx loop /s | 1 worker /s | 2 workers /s | 2 workers vs bare |")
        print("|---|---:|---:|---:|---:|")
        for label, floor, one, two in rows:
            print(f"| {label} | {floor:,.0f} | {one:,.0f} | {two:,.0f} | {two / floor:.0%} |")
        print()
        print(f"idle latency, decision commit → arrival at the webhook sink ({samples} invites):")
        print(f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    finally:
        sink.terminate()
        sink.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--invites", type=int, default=4000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--h2-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink, args.h2_port)
    else:
        asyncio.run(main(args.invites, args.latency_samples))
