"""Every size and range limit of the API, defined once.

The API schema (msgspec ``Meta`` constraints), the validation code and the database's CHECK
constraints all use these numbers; ``tests/integration/test_limits.py`` reads the CHECK
constraints back from PostgreSQL and fails when one of them disagrees with this module, so
a limit can never be wider in the API than in the column (a 500 waiting to happen).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "APP_VERSION_MAX",
    "CASE_SUMMARY_MAX",
    "CURSOR_MAX",
    "EVENT_ID_MAX",
    "FIRST_NAME_MAX",
    "FLAG_VALUE_MAX",
    "ID_MAX",
    "INSTANT_MAX",
    "INSTANT_MIN",
    "INT_MAX",
    "INT_MIN",
    "JSON_MAX_DEPTH",
    "LABEL_MAX",
    "NAME_MAX",
    "NUMBER_MAX",
    "OPENING_HOURS_MAX",
    "PUSH_TOKEN_MAX",
    "TEMPLATE_BODY_MAX",
    "TEMPLATE_TITLE_MAX",
    "TIMEZONE_MAX",
    "YEAR_MAX",
    "YEAR_MIN",
]

ID_MAX = 128
"""Brand ids (stores, geofences, campaigns, customers, orders, cases): 1-128 characters."""

NAME_MAX = 200
"""Store and campaign names."""

LABEL_MAX = 64
"""Categories, segments, flag names."""

TIMEZONE_MAX = 64
"""IANA zone names."""

OPENING_HOURS_MAX = 4000
"""OSM ``opening_hours`` expressions, in characters."""

CASE_SUMMARY_MAX = 2000
"""Support-case summaries."""

PUSH_TOKEN_MAX = 8192
"""Push tokens (Web Push subscriptions are long JSON documents)."""

APP_VERSION_MAX = 64
"""The app version a device reports."""

EVENT_ID_MAX = 128
"""The client's idempotency key of an app event."""

TEMPLATE_TITLE_MAX = 120
TEMPLATE_BODY_MAX = 1000
"""Push texts: what the platforms display without truncating, roughly."""

FIRST_NAME_MAX = 100
"""A customer's first name, for greetings."""

FLAG_VALUE_MAX = 256
"""String values of customer flags."""

CURSOR_MAX = 512
"""Opaque pagination cursors."""

JSON_MAX_DEPTH = 32
"""Deepest nesting of arrays and objects in a request body (the document itself is depth 1).
GeoJSON MultiPolygons need 5; free-form ``attributes`` get the rest."""

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
"""PostgreSQL's bigint."""

NUMBER_MAX = 2**53 - 1
"""Numbers anywhere in a request body lie within ±(2**53 - 1): the largest integers every JSON
parser (JavaScript's included) reads exactly, and well inside a bigint and a double."""

YEAR_MIN = 1970
YEAR_MAX = 2200
"""Instants the API accepts, in any field: years 1970-2200 (UTC). Anything else is a typo or
a probe, and PostgreSQL's ``±infinity`` never gets stored."""

INSTANT_MIN = datetime(YEAR_MIN, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(YEAR_MAX + 1, 1, 1, tzinfo=UTC)
"""The accepted instants are ``INSTANT_MIN <= t < INSTANT_MAX``."""
