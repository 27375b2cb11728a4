"""``GET/PUT /v1/dev/clock``: read or set the simulation clock (development only, admins).

In production the route answers 404 (and ``KAIROS_CLOCK=simulated`` is refused at start);
on a system clock it reads the clock and refuses to set it (409).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put
from litestar.params import JSONBody

from app.auth import requires
from app.clock import SimulatedClock
from app.clock.schemas import ClockOut, ClockSet
from app.db import Conn
from app.problems import ConflictProblem, NotFoundProblem, problem_responses

__all__ = ["ClockController"]


def _clock(request: Request[Any, Any, Any]) -> Any:
    if request.app.state.settings.is_production:
        raise NotFoundProblem("route", request.url.path)
    return request.app.state.clock


def _out(clock: Any) -> ClockOut:
    if isinstance(clock, SimulatedClock):
        return ClockOut(mode="simulated", now=clock(), speed=clock.speed)
    return ClockOut(mode="system", now=clock(), speed=1.0)


class ClockController(Controller):
    """The application clock, for demos and simulations."""

    path = "/v1/dev/clock"
    tags = ["development"]
    guards = [requires("admin")]

    @get(
        "/",
        operation_id="getClock",
        summary="Read the application clock (development)",
        responses=problem_responses(401, 403, 404),
    )
    async def get_clock(self, request: Request[Any, Any, Any]) -> ClockOut:
        return _out(_clock(request))

    @put(
        "/",
        operation_id="setClock",
        summary="Set the simulation clock (development, KAIROS_CLOCK=simulated)",
        description=(
            "The API and every worker read `instant` now and advance at `speed` simulated "
            "seconds per real second (0 stops time). Kept in the database, so a separate "
            "`kairos worker` follows within a second. 404 in production; 409 when the "
            "server runs on the system clock."
        ),
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def set_clock(
        self, request: Request[Any, Any, Any], conn: Conn, data: JSONBody[ClockSet]
    ) -> ClockOut:
        clock = _clock(request)
        if not isinstance(clock, SimulatedClock):
            raise ConflictProblem(
                "the server runs on the system clock; start it with KAIROS_CLOCK=simulated",
                slug="clock-not-simulated",
            )
        await clock.save(conn, data.instant, data.speed)
        return _out(clock)
