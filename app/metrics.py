"""Prometheus metrics: one registry and one naming convention for the API and the worker.

Conventions: every name starts with ``kairos_``; counters end in ``_total``; durations are
histograms in seconds (``_seconds``); labels are small closed sets (gateway, status, reason,
job), never ids. With ``PROMETHEUS_MULTIPROC_DIR`` set (several uvicorn workers, or the API
and worker processes side by side), prometheus-client keeps values in files there and
:func:`render` aggregates every process; otherwise the process's own registry is served.

The API's ``GET /metrics`` and a standalone worker's metrics port both serve :func:`render`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from litestar import Controller, Response, get
from litestar.datastructures import State
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

if TYPE_CHECKING:
    from pathlib import Path

    from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_TYPE",
    "DECISIONS",
    "EVENTS",
    "GATEWAY_CIRCUIT_OPEN",
    "GEO_INDEX_GEOFENCES",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "INVITES_CANCELLED",
    "INVITES_FINISHED",
    "INVITE_DISPATCH_DELAY",
    "INVITE_SEND_LATENCY",
    "INVITE_SEND_RESULTS",
    "OUTBOX_OLDEST_DUE_AGE",
    "OUTBOX_QUEUE_DEPTH",
    "SCHEDULED_JOB_RUNS",
    "HttpMetrics",
    "MetricsController",
    "render",
    "serve_metrics",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Latencies of a push request: a local gateway answers in ~1 ms, a provider in ~100 ms.
_SEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# From due to handed over: milliseconds when idle, seconds under a backlog.
_DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

INVITES_FINISHED = Counter(
    "kairos_invites_finished_total",
    "Invites that left the worker, by final status (sent, failed, expired, cancelled) "
    "and gateway (none when no gateway was reached).",
    ["status", "gateway"],
)
INVITES_CANCELLED = Counter(
    "kairos_invites_cancelled_total",
    "Invites cancelled or expired by the last-moment check, by reason code.",
    ["reason"],
)
INVITE_SEND_RESULTS = Counter(
    "kairos_invite_send_results_total",
    "Gateway answers by gateway and outcome (sent, retry, token_dead, failed).",
    ["gateway", "outcome"],
)
INVITE_SEND_LATENCY = Histogram(
    "kairos_invite_send_seconds",
    "Duration of one gateway request.",
    ["gateway"],
    buckets=_SEND_BUCKETS,
)
INVITE_DISPATCH_DELAY = Histogram(
    "kairos_invite_dispatch_delay_seconds",
    "From the moment an invite was due to its acceptance by the gateway.",
    ["gateway"],
    buckets=_DELAY_BUCKETS,
)
OUTBOX_QUEUE_DEPTH = Gauge(
    "kairos_outbox_queue_depth",
    "Pending invites: due now, or deferred to a later not_before / retry.",
    ["state"],
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_DUE_AGE = Gauge(
    "kairos_outbox_oldest_due_age_seconds",
    "How long the oldest due pending invite has waited (0 when none).",
    multiprocess_mode="mostrecent",
)
GATEWAY_CIRCUIT_OPEN = Gauge(
    "kairos_gateway_circuit_open",
    "1 while a gateway's circuit breaker holds its invites back.",
    ["gateway"],
    multiprocess_mode="max",
)
SCHEDULED_JOB_RUNS = Counter(
    "kairos_scheduled_job_runs_total",
    "Periodic job runs by job and result (ran, skipped: another worker had the period).",
    ["job", "result"],
)

# The API: requests by route template (never the raw path: ids would explode the label set).
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "kairos_http_requests_total",
    "HTTP requests by route template, method and status (route 'unrouted' for requests "
    "answered before routing, e.g. an unknown path).",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "kairos_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route, method and status.",
    ["route", "method", "status"],
    buckets=_HTTP_BUCKETS,
)
EVENTS = Counter(
    "kairos_events_total",
    "App events by type and result: accepted, stale, low_accuracy (stored, no decision), "
    "duplicate, invalid, in_future, customer_erased (rejected); swept for the worker's dwells.",
    ["type", "result"],
)
DECISIONS = Counter(
    "kairos_decisions_total",
    "Decisions made on app events and dwells, by outcome and decisive reason code.",
    ["outcome", "reason"],
)
GEO_INDEX_GEOFENCES = Gauge(
    "kairos_geo_index_geofences",
    "Geofences in the serving process's in-memory index (refreshed at each scrape).",
    multiprocess_mode="mostrecent",
)


class HttpMetrics:
    """ASGI wrapper counting and timing every HTTP request (the outermost layer).

    The route label is Litestar's path template (``/v1/stores/{store_id}``), read from the
    scope after the application ran, or ``unrouted``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = scope.get("path_template") or "unrouted"
            labels = (route, scope.get("method", "GET"), str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)


def render(multiproc_dir: Path | None = None) -> tuple[bytes, str]:
    """The exposition text and its content type.

    Args:
        multiproc_dir: ``PROMETHEUS_MULTIPROC_DIR`` (from settings) when several processes
            share their metrics through it.
    """
    if multiproc_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiproc_dir))
        return generate_latest(registry), CONTENT_TYPE
    return generate_latest(REGISTRY), CONTENT_TYPE


def serve_metrics(host: str, port: int, multiproc_dir: Path | None = None) -> int:
    """Serve ``/metrics`` on a port of its own (a standalone worker); returns the port.

    Runs prometheus-client's small HTTP server in a daemon thread.
    """
    registry: CollectorRegistry = REGISTRY
    if multiproc_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiproc_dir))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return int(server.server_port)


class MetricsController(Controller):
    """``GET /metrics``: Prometheus text format, every process's values with
    ``PROMETHEUS_MULTIPROC_DIR`` (several uvicorn workers).

    Public, like ``/health``: scrapers rarely carry bearer tokens, and no label holds an id
    or anything about a customer. Keep it off the public internet at the load balancer.
    """

    tags = ["operations"]
    security = [{}]  # public: overrides the global bearer requirement
    opt = {"exclude_from_auth": True}

    @get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics (text exposition format)",
        description=(
            "Requests and latency by route and status, events by type and result, decisions "
            "by outcome and reason code, the geo index size, and the in-process worker's "
            "outbox metrics. Aggregated over every process when `PROMETHEUS_MULTIPROC_DIR` "
            "is set."
        ),
        media_type=CONTENT_TYPE,
    )
    async def metrics(self, state: State) -> Response[bytes]:
        geo = getattr(state, "geo", None)
        if geo is not None:
            GEO_INDEX_GEOFENCES.set(len(geo.index))
        body, content_type = render(state.settings.worker.metrics_multiproc_dir)
        return Response(body, media_type=content_type)
