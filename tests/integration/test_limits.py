"""One limit, one place: the API schema and the database's CHECK constraints agree with
app.limits, so no value the API accepts can be refused by a column (a 500 in waiting)."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest

from app import limits
from app.cli import openapi_document
from app.settings import Settings
from tests.conftest import TEST_SECRET

# (table, column, the limit, OpenAPI schema, property) — the API may be stricter, never wider.
TEXT_LIMITS: list[tuple[str, str, int, str | None, str | None]] = [
    ("stores", "name", limits.NAME_MAX, "StoreIn", "name"),
    ("stores", "timezone", limits.TIMEZONE_MAX, None, None),
    ("stores", "opening_hours", limits.OPENING_HOURS_MAX, None, None),
    ("campaigns", "name", limits.NAME_MAX, "CampaignIn", "name"),
    ("devices", "token", limits.PUSH_TOKEN_MAX, "DeviceIn", "token"),
    ("devices", "app_version", limits.APP_VERSION_MAX, None, None),
    ("support_cases", "summary", limits.CASE_SUMMARY_MAX, None, None),
    ("events", "event_id", limits.EVENT_ID_MAX, None, None),
    ("customers", "first_name", limits.FIRST_NAME_MAX, None, None),
]


async def _checks(db: asyncpg.Connection, table: str) -> list[str]:
    return [
        r["def"]
        for r in await db.fetch(
            """SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
                JOIN pg_class t ON t.oid = c.conrelid
               WHERE t.relname = $1 AND c.contype = 'c'""",
            table,
        )
    ]


def _max_in(definition: str, column: str) -> int | None:
    match = re.search(
        rf"length\(\(?{column}\)?\) (?:<= (\d+)|>= \d+\) AND \(length\(\(?{column}\)?\) <= (\d+))",
        definition,
    )
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


def _openapi() -> dict[str, Any]:
    import json

    return json.loads(openapi_document(Settings.from_env({"KAIROS_JWT_SECRET": TEST_SECRET})))


def _property(schema: dict[str, Any], name: str) -> dict[str, Any]:
    prop = schema["properties"][name]
    for option in prop.get("oneOf", []) or prop.get("anyOf", []):
        if option.get("type") == "string":
            return option  # type: ignore[no-any-return]
    return prop  # type: ignore[no-any-return]


@pytest.mark.parametrize(("table", "column", "limit", "schema", "prop"), TEXT_LIMITS)
async def test_text_columns_hold_what_the_api_accepts(
    db: asyncpg.Connection,
    table: str,
    column: str,
    limit: int,
    schema: str | None,
    prop: str | None,
) -> None:
    found = [m for d in await _checks(db, table) if (m := _max_in(d, column)) is not None]
    assert found == [limit], (table, column, await _checks(db, table))
    if schema is not None and prop is not None:
        api = _property(_openapi()["components"]["schemas"][schema], prop)
        assert api["maxLength"] <= limit


async def test_brand_ids_fit_the_domain(db: asyncpg.Connection) -> None:
    domain = await db.fetchval(
        """SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
             JOIN pg_type t ON t.oid = c.contypid WHERE t.typname = 'brand_id'"""
    )
    assert f"{{0,{limits.ID_MAX - 1}}}" in domain


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("campaigns", "active_from"),
        ("campaigns", "active_until"),
        ("purchases", "occurred_at"),
        ("support_cases", "opened_at"),
        ("support_cases", "closed_at"),
        ("deliveries", "promised_at"),
        ("deliveries", "delivered_at"),
        ("events", "occurred_at"),
    ],
)
async def test_instant_columns_refuse_what_the_api_refuses(
    db: asyncpg.Connection, table: str, column: str
) -> None:
    definitions = [d for d in await _checks(db, table) if column in d and "1970" in d]
    assert len(definitions) == 1, (table, column, await _checks(db, table))
    assert f"{limits.YEAR_MIN}-01-01" in definitions[0]
    assert f"{limits.YEAR_MAX + 1}-01-01" in definitions[0]


def test_opening_hours_limit_is_the_hours_module_one() -> None:
    from app import hours

    assert hours.OPENING_HOURS_MAX_LENGTH == limits.OPENING_HOURS_MAX
