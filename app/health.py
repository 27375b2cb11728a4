"""Liveness and readiness probes (public: load balancers call them without tokens)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from app.problems import PROBLEM_JSON, Problem, problem_responses

__all__ = ["HealthController"]


class Health(msgspec.Struct, kw_only=True, frozen=True):
    """The process answers."""

    status: str


class Readiness(msgspec.Struct, kw_only=True, frozen=True):
    """The process and its database answer."""

    status: str
    database: str
    latency_ms: float


_PUBLIC: dict[str, Any] = {"exclude_from_auth": True}


class HealthController(Controller):
    """``/health`` and ``/ready``."""

    tags = ["operations"]
    security = [{}]  # public: overrides the global bearer requirement
    opt = _PUBLIC

    @get("/health", operation_id="health", summary="Liveness: the process is alive")
    async def health(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        operation_id="ready",
        summary="Readiness: the database answers within the ready timeout",
        responses=problem_responses(503),
    )
    async def ready(self, state: State) -> Response[Readiness | Problem]:
        pool: asyncpg.Pool = state.pool
        timeout: float = state.settings.server.ready_timeout
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                async with pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return Response(
                Problem(
                    type="urn:kairos:problem:unavailable",
                    title="Service unavailable",
                    status=HTTP_503_SERVICE_UNAVAILABLE,
                    detail=f"database unreachable ({type(exc).__name__})",
                    instance="/ready",
                ),
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
                media_type=PROBLEM_JSON,
                headers={"Retry-After": "1"},
            )
        latency = (time.perf_counter() - started) * 1000
        return Response(Readiness(status="ready", database="ok", latency_ms=round(latency, 2)))
