"""Structs of the development clock route (real annotations: msgspec reads them)."""

import datetime as dt
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from app.common import Instant, Payload

__all__ = ["ClockOut", "ClockSet"]

Speed = Annotated[
    float,
    Meta(ge=0, le=100_000, description="Simulated seconds per real second (0 stops time)"),
]


class ClockSet(Payload, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Set the simulated clock: it reads ``instant`` now and runs at ``speed`` from there."""

    instant: Instant
    speed: Speed = 1.0


class ClockOut(msgspec.Struct, kw_only=True, frozen=True):
    """The clock every request and the worker read.

    Attributes:
        mode: ``system`` (the real clock) or ``simulated``.
        now: What the clock reads at this moment.
        speed: Simulated seconds per real second (1 for the system clock).
    """

    mode: Literal["system", "simulated"]
    now: dt.datetime
    speed: float
