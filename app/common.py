"""Pieces every API area shares: id types, ETags, cursors, the audit log, the caller.

Structs defined here keep real annotations (no ``from __future__ import annotations``) so
msgspec and Litestar can resolve them at runtime.
"""

import base64
import binascii
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.auth import Principal
from app.limits import INSTANT_MAX, INSTANT_MIN, LABEL_MAX, NAME_MAX, YEAR_MAX, YEAR_MIN
from app.problems import PreconditionFailedProblem, ProblemError, ValidationProblem

__all__ = [
    "BRAND_ID_PATTERN",
    "BrandId",
    "Caller",
    "Clock",
    "CountryCode",
    "Cursor",
    "CursorParam",
    "IfMatch",
    "Instant",
    "Label",
    "Latitude",
    "Locale",
    "Longitude",
    "Name",
    "Now",
    "Page",
    "PageSize",
    "Payload",
    "Written",
    "check_if_match",
    "clamp_limit",
    "created_spec",
    "decode_cursor",
    "encode_cursor",
    "etag",
    "instant_problem",
    "page",
    "principal_of",
    "provide_now",
    "provide_principal",
    "timezone_problem",
    "utcnow",
    "written_response",
]

BRAND_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""Ids the brand chooses: 1-128 characters, letters, digits and ``. _ : -``, not starting with
punctuation. Safe in URLs, logs and file names; enforced by the database too."""

BrandId = Annotated[
    str,
    msgspec.Meta(
        pattern=BRAND_ID_PATTERN,
        description="1-128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit",
        examples=["store-0042"],
    ),
]

Instant = Annotated[
    datetime,
    msgspec.Meta(
        tz=True,
        description=(
            f"RFC 3339 instant with an explicit offset (naive times are refused), "
            f"years {YEAR_MIN}-{YEAR_MAX}"
        ),
        examples=["2025-03-14T09:30:00+01:00"],
    ),
]


def instant_problem(value: datetime) -> str | None:
    """Why ``value`` is not an instant the API accepts, or None (see :data:`Instant`)."""
    # The year test comes first: comparing year 1 at +14:00 with a UTC bound overflows.
    if not YEAR_MIN <= value.year <= YEAR_MAX or not INSTANT_MIN <= value < INSTANT_MAX:
        return f"must be between {YEAR_MIN}-01-01 and {YEAR_MAX}-12-31 (UTC)"
    return None


class Payload(msgspec.Struct, kw_only=True, frozen=True):
    """Base of every request body that carries instants.

    msgspec has no range constraint for datetimes; this checks every ``datetime`` field
    while decoding, so the 422 names the field (``$.events[3].occurred_at``) and no route
    can store ``±infinity`` or a year PostgreSQL reads back wrong. A test walks the route
    table and fails for a request body with an instant that does not derive from this.
    """

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime):
                problem = instant_problem(value)
                if problem is not None:
                    raise ValueError(f"invalid field `{name}`: {problem}")
                if value.utcoffset():
                    # Kept in UTC from here on: the offset says nothing the instant does not,
                    # and PostgreSQL reads offsets only up to ±15:59 where RFC 3339 allows
                    # ±23:59 (an instant sent to it as text, e.g. inside JSON, would fail).
                    msgspec.structs.force_setattr(self, name, value.astimezone(UTC))


Locale = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        max_length=35,
        description="BCP 47 language tag, e.g. en or fr-CH",
        examples=["fr-CH"],
    ),
]

Label = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=LABEL_MAX,
        pattern=r"^[^\s\u0000][^\n\u0000]*$",
        description="A short label",
    ),
]
"""Categories, segments and similar labels: 1-64 characters, not starting with a space."""

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX)]
"""Names people read (stores, campaigns)."""

Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90, description="WGS84 latitude, degrees")]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180, description="WGS84 longitude, degrees")]
CountryCode = Annotated[
    str, msgspec.Meta(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2, for public holidays")
]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone Kairos accepts, or None.

    The one validator for zones in every area (stores, quiet hours, events): names from the
    IANA database only, so ``ZoneInfo(name)`` can never fail later on a stored value.
    """
    if name not in _zones():
        return f"{name!r} is not an IANA time zone name, e.g. Europe/London"
    return None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Written(Generic[T]):
    """What a write returns: the resource and whether it was created (201) or not (200:
    replaced, or unchanged because the request matched what is stored)."""

    value: T
    created: bool


Clock = Callable[[], datetime]
"""Where "now" comes from: ``app.state.clock``. Handlers read it once per request through
the ``now`` dependency and pass it down; nothing below a controller reads the clock."""


def provide_now(state: State) -> datetime:
    """Litestar dependency ``now``: the request's one reading of the application clock."""
    clock: Clock = getattr(state, "clock", None) or utcnow
    return clock()


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """Litestar dependency ``principal``: the authenticated caller."""
    return principal_of(request)


Caller = NamedDependency[Principal]
"""Handler parameter type for the authenticated caller (``principal: Caller``)."""

Now = NamedDependency[datetime]
"""Handler parameter type for the request's instant (``now: Now``), read once from the clock."""


MAX_PAGE = 500


def clamp_limit(limit: int) -> int:
    """Page sizes are 1-500 whatever the client asks for."""
    return max(1, min(limit, MAX_PAGE))


R = TypeVar("R")


def page(rows: Sequence[R], limit: int, key: Callable[[R], str]) -> tuple[list[R], str | None]:
    """Split ``limit + 1`` fetched rows into this page and the cursor of the next one.

    Queries fetch one row more than the page holds: if it comes back, there is a next page,
    and its cursor is the key of the last row shown.
    """
    items = list(rows[:limit])
    next_cursor = encode_cursor(key(items[-1])) if len(rows) > limit and items else None
    return items, next_cursor


CursorParam = Annotated[
    str | None,
    Parameter(description="next_cursor of the previous page", required=False, max_length=512),
]
PageSize = Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="Page size (1-500)")]


def written_response(
    written: Written[Any], *, version: int | None = None, location: str | None = None
) -> Response[Any]:
    """201 (with ``Location``) when created, else 200; ``ETag`` when the resource has one."""
    headers: dict[str, str] = {}
    if version is not None:
        headers["ETag"] = etag(version)
    if written.created and location is not None:
        headers["Location"] = location
    return Response(
        written.value,
        status_code=HTTP_201_CREATED if written.created else HTTP_200_OK,
        headers=headers or None,
    )


def created_spec(model: type, description: str = "Created") -> dict[int, ResponseSpec]:
    """The OpenAPI entry of a write's 201 answer (its 200 comes from the return type)."""
    return {HTTP_201_CREATED: ResponseSpec(data_container=model, description=description)}


IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        description="ETag of the version you read; a stale one gets 412 and changes nothing",
    ),
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller (the auth middleware guarantees one on guarded routes)."""
    principal = request.user
    if not isinstance(principal, Principal):  # pragma: no cover - middleware guarantees it
        raise ProblemError(401, "unauthorized", "Authentication required")
    return principal


def etag(version: int) -> str:
    """Strong ETag of a resource version."""
    return f'"{version}"'


def check_if_match(if_match: str | None, current_version: int | None) -> None:
    """Enforce ``If-Match`` (optional; ``*`` matches any existing version).

    Raises:
        PreconditionFailedProblem: The header names another version, or the resource is new.
    """
    if if_match is None:
        return
    candidates = [c.strip() for c in if_match.split(",")]
    if current_version is None:
        raise PreconditionFailedProblem("If-Match was sent but the resource does not exist")
    if "*" in candidates:
        return
    wanted = etag(current_version)
    if wanted not in candidates and f"W/{wanted}" not in candidates:
        raise PreconditionFailedProblem(
            f"If-Match {if_match} does not match the current version {wanted}"
        )


class Cursor(msgspec.Struct, array_like=True, frozen=True):
    """Opaque keyset position: the sort key of the last row returned."""

    key: str


def encode_cursor(key: str) -> str:
    raw = msgspec.msgpack.encode(Cursor(key=key))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str | None, field: str = "cursor") -> str | None:
    """The key inside a cursor from a previous page.

    Raises:
        ValidationProblem: The cursor was not produced by Kairos.
    """
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return msgspec.msgpack.decode(raw, type=Cursor).key
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ValidationProblem.single(field, "not a cursor returned by a previous page") from None


class Page(msgspec.Struct, kw_only=True):
    """Common shape of list responses: ``items`` plus ``next_cursor`` (null on the last page)."""

    next_cursor: str | None = None
