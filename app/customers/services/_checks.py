"""Checks and helpers the customer-context services share."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from app.common import timezone_problem
from app.db import DbConnection
from app.problems import FieldError, ValidationProblem

__all__ = [
    "MAX_FUTURE_SKEW",
    "check_instant",
    "check_money",
    "check_zone",
    "mask_token",
    "one",
    "raise_if",
]

MAX_FUTURE_SKEW = timedelta(minutes=5)
"""Instants of things that happened may run this far ahead of our clock, no further."""

MAX_TOTAL = Decimal("1e12")  # purchases.total is numeric(14, 2)


def mask_token(token: str) -> str:
    """First four and last four characters; tokens shorter than 16 reveal nothing."""
    if len(token) < 16:
        return "…"
    return f"{token[:4]}…{token[-4:]}"


def check_instant(
    errors: list[FieldError], field: str, value: datetime | None, now: datetime
) -> None:
    if value is not None and value > now + MAX_FUTURE_SKEW:
        errors.append(FieldError(field=field, message="is more than 5 minutes in the future"))


def check_money(errors: list[FieldError], field: str, value: Decimal, *, scale: int) -> None:
    if not value.is_finite():
        errors.append(FieldError(field=field, message="must be a finite number"))
    elif value < 0:
        errors.append(FieldError(field=field, message="must not be negative"))
    elif value >= MAX_TOTAL:
        errors.append(FieldError(field=field, message="is too large"))
    elif scale >= 0 and -value.as_tuple().exponent > scale:  # type: ignore[operator]
        errors.append(FieldError(field=field, message=f"has more than {scale} decimal places"))


def check_zone(errors: list[FieldError], field: str, name: str | None) -> None:
    if name is not None:
        problem = timezone_problem(name)
        if problem is not None:
            errors.append(FieldError(field=field, message=problem))


def raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationProblem(errors)


async def one(conn: DbConnection, query: str, *args: object) -> asyncpg.Record:
    """The row a statement must return (an INSERT/UPDATE ... RETURNING of a locked row)."""
    row = await conn.fetchrow(query, *args)
    if row is None:  # pragma: no cover - the callers hold the lock that guarantees the row
        raise RuntimeError("expected a row")
    return row
