"""GET /metrics (Prometheus text), the request metrics on the ingest path, request ids in
responses and in log lines, and metrics added up over several processes."""

from __future__ import annotations

import datetime as dt
import logging
import re
import subprocess
import sys
from pathlib import Path

from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.logs import LOG_FORMAT, RequestIdFilter
from tests.conftest import TokenFactory
from tests.factories import event_body, event_world

Client = AsyncTestClient[Litestar]

NOON = dt.datetime(2025, 3, 14, 12, 30, tzinfo=dt.UTC)


async def scrape(client: Client) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` (labels in any order; 0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if line.split("{")[0].split(" ")[0] == name and found == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_events_decisions_and_geofences(
    client: Client, auth: TokenFactory, app: Litestar
) -> None:
    await event_world(client, auth, app)
    app.state.clock = lambda: NOON
    before = await scrape(client)
    response = await client.post(
        "/v1/events",
        json={"events": [event_body(at=NOON), {"type": "fix"}]},
        headers=auth("customer", sub="c1"),
    )
    assert response.status_code == 200
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"route": "/v1/events", "method": "POST", "status": "200"}
    assert grew("kairos_http_requests_total", **route) == 1
    assert grew("kairos_http_request_duration_seconds_count", **route) == 1
    assert grew("kairos_http_request_duration_seconds_bucket", **route, le="+Inf") == 1
    assert grew("kairos_events_total", type="fix", result="accepted") == 1
    assert grew("kairos_events_total", type="unknown", result="invalid") == 1
    assert grew("kairos_decisions_total", outcome="send", reason="selected") == 1
    assert value(after, "kairos_geo_index_geofences") == 1
    # Routes are labelled by template, never by raw path (ids would explode the label set).
    await client.get("/v1/stores/s1", headers=auth("admin"))
    text = await scrape(client)
    assert value(text, "kairos_http_requests_total", route="/v1/stores/{store_id}",
                 method="GET", status="200") >= 1  # fmt: skip
    assert 'route="/v1/stores/s1"' not in text


async def test_metrics_are_public_and_documented(client: Client) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "kairos_http_requests_total" in response.text
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["paths"]["/metrics"]["get"]["security"] == [{}]


async def test_every_response_carries_a_request_id_that_its_log_lines_share(
    client: Client, auth: TokenFactory, app: Litestar
) -> None:
    await event_world(client, auth, app)
    app.state.clock = lambda: NOON
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("kairos.events")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        response = await client.post(
            "/v1/events",
            json={"events": [event_body(at=NOON)]},
            headers={**auth("customer", sub="c1"), "X-Request-ID": "app-req-42"},
        )
        fresh = await client.get("/health")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert response.headers["x-request-id"] == "app-req-42"
    assert re.fullmatch(r"[A-Za-z0-9._:-]{8,128}", fresh.headers["x-request-id"])
    assert lines
    assert all("[app-req-42]" in line for line in lines), lines


_BUMP = """
import sys
from app import metrics
metrics.EVENTS.labels("fix", "accepted").inc(int(sys.argv[1]))
"""

_READ = """
import sys
from pathlib import Path
from app import metrics
print(metrics.render(Path(sys.argv[1]))[0].decode())
"""


def test_metrics_add_up_over_processes(tmp_path: Path) -> None:
    """What several uvicorn workers write with PROMETHEUS_MULTIPROC_DIR, /metrics adds up."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    root = Path(__file__).resolve().parents[2]
    for count in (2, 3):
        subprocess.run([sys.executable, "-c", _BUMP, str(count)], env=env, cwd=root, check=True)
    out = subprocess.run(
        [sys.executable, "-c", _READ, str(tmp_path)],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert value(out, "kairos_events_total", type="fix", result="accepted") == 5


async def test_unrouted_requests_are_counted_without_their_path(client: Client) -> None:
    before = value(await scrape(client), "kairos_http_requests_total", route="unrouted",
                   method="GET", status="404")  # fmt: skip
    await client.get("/no/such/thing/42")
    text = await scrape(client)
    after = value(text, "kairos_http_requests_total", route="unrouted", method="GET",
                  status="404")  # fmt: skip
    assert after == before + 1
    assert "/no/such" not in text
