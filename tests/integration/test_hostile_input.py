"""Classes of hostile and sloppy input, sent to every route of the route table.

The table is read from the application itself, so a route added tomorrow is covered without
editing this file. For each class the answer must be a 4xx problem document (never a 500)
and the database must be exactly as it was.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.auth import route_roles
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET, TokenFactory
from tests.factories import campaign_body, circle_fence, order, store_body

Client = AsyncTestClient[Litestar]

_PARAM = re.compile(r"\{([^}:]+)(?::([^}]+))?\}")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_ROLE_ORDER = ("admin", "integration", "customer", "manager")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    roles: frozenset[str] | None  # None: public (or signature-authenticated)

    @property
    def role(self) -> str:
        roles = self.roles or frozenset({"admin"})
        return next(r for r in _ROLE_ORDER if r in roles)

    def path(self, **override: str) -> str:
        def value(match: re.Match[str]) -> str:
            name, kind = match.group(1), match.group(2)
            if name in override:
                return override[name]
            return str(uuid.UUID(int=7)) if kind == "uuid" else f"{name.split('_')[0]}-1"

        return _PARAM.sub(value, self.template)

    @property
    def template_plain(self) -> str:
        """``/v1/stores/{store_id}`` (without the ``:str`` converters)."""
        return re.sub(r":[^}]+\}", "}", self.template)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def _route_table() -> list[Route]:
    app = create_app(Settings.from_env({"KAIROS_JWT_SECRET": TEST_SECRET}))
    routes = []
    for route in app.routes:
        if route.path.startswith("/schema"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods):
                if method == "OPTIONS":
                    continue
                routes.append(Route(method, route.path, route_roles(handler)))
    return sorted(routes, key=str)


ROUTES = _route_table()
BODY_ROUTES = [r for r in ROUTES if r.method in _BODY_METHODS]
TEMPLATES = sorted({r.template for r in ROUTES})


def test_the_route_table_is_not_empty() -> None:
    # If the table were empty every parametrised test below would vanish silently.
    assert len(ROUTES) >= 20
    assert any(r.template.startswith("/v1/stores") for r in ROUTES)


@pytest.fixture
async def world(client: Client, auth: TokenFactory) -> None:
    """A store, a geofence, a campaign, a customer with a purchase: ids the paths name."""
    admin = auth("admin")
    for path, body in (
        ("/v1/stores/store-1", store_body()),
        ("/v1/stores/store-1/geofences/geofence-1", circle_fence()),
        ("/v1/campaigns/campaign-1", campaign_body(["store-1"])),
        ("/v1/customers/customer-1", {"locale": "en"}),
    ):
        response = await client.put(path, json=body, headers=admin)
        assert response.status_code == 201, (path, response.text)
    purchase = order(order_id="order-1", customer_id="customer-1", store_id="store-1")
    assert (await client.post("/v1/purchases", json=purchase, headers=admin)).is_success


async def _snapshot(db: asyncpg.Connection) -> dict[str, str]:
    """Every table's content, as a digest (schema_migrations aside)."""
    tables = [
        r["t"]
        for r in await db.fetch(
            "SELECT quote_ident(tablename) AS t FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY 1"
        )
    ]
    digests = {}
    for table in tables:
        digests[table] = await db.fetchval(
            f"SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"  # noqa: S608
        )
    return digests


def _headers(route: Route, auth: TokenFactory) -> dict[str, str]:
    return {**auth(route.role, sub="customer-1", stores=["store-1"])}


def _assert_problem(response: Any, where: str, statuses: set[int]) -> dict[str, Any]:
    assert response.status_code in statuses, (where, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), where
    body = response.json()
    assert body["type"].startswith("urn:kairos:problem:"), where
    assert body["status"] == response.status_code, where
    return body


@pytest.fixture
async def unchanged(world: None, db: asyncpg.Connection) -> AsyncIterator[None]:
    before = await _snapshot(db)
    yield
    assert await _snapshot(db) == before, "a rejected request changed the database"


HOSTILE_BODIES: dict[str, tuple[bytes, set[int], str | None]] = {
    # name: (raw body, acceptable statuses, the field the 422 must name)
    "invalid UTF-8": (b'{"name": "caf\xe9 \xff"}', {400}, None),
    "NUL in a value": (b'{"name": "a\\u0000b", "lat": 1}', {422}, "name"),
    "NUL in a key": (b'{"attributes": {"a\\u0000": 1}}', {422}, None),
    "lone surrogate": (b'{"name": "\\ud800x"}', {422}, "name"),
    "1,000-deep JSON": (b'{"attributes": ' + b"[" * 1000 + b"]" * 1000 + b"}", {422}, None),
    "100,000-deep JSON": (b"[" * 100_000 + b"]" * 100_000, {413, 422}, None),
    "309-digit integer": (b'{"lat": 1' + b"0" * 308 + b"}", {422}, "lat"),
    "integer beyond bigint": (b'{"limit": 9223372036854775808}', {422}, "limit"),
    "integer beyond 2**53": (b'{"dwell_seconds": 9007199254740992}', {422}, "dwell_seconds"),
    "float beyond double": (b'{"lng": 1e400}', {422}, "lng"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_BODIES))
async def test_hostile_bodies_get_a_problem_and_change_nothing(
    unchanged: None, client: Client, auth: TokenFactory, kind: str
) -> None:
    raw, statuses, field = HOSTILE_BODIES[kind]
    for route in BODY_ROUTES:
        response = await client.request(
            route.method,
            route.path(),
            content=raw,
            headers={**_headers(route, auth), "content-type": "application/json"},
        )
        body = _assert_problem(response, f"{route} {kind}", statuses)
        if response.status_code == 400:
            assert body["type"] == "urn:kairos:problem:malformed-json", (route, body)
        if response.status_code == 422:
            assert body["errors"], (route, body)
            if field is not None:
                assert body["errors"][0]["field"] == field, (route, body)
            # The offending character is named, never echoed.
            assert "\x00" not in response.text
            assert "\x00" not in body["errors"][0]["field"]


async def test_nul_and_bad_bytes_in_queries_and_paths_are_a_400(
    unchanged: None, client: Client, auth: TokenFactory
) -> None:
    for route in ROUTES:
        headers = _headers(route, auth)
        for query in ("cursor=%00", "limit=1&store_id=a%00b", "x=%ff%fe", "%00=1"):
            response = await client.request(
                route.method, f"{route.path()}?{query}", headers=headers
            )
            _assert_problem(response, f"{route} ?{query}", {400})
        params = _PARAM.findall(route.template)
        for bad in ("a%00b", "%ff%fe"):
            for name, _ in params:
                response = await client.request(
                    route.method, route.path(**{name: bad}), headers=headers
                )
                _assert_problem(response, f"{route} {name}={bad}", {400})


async def test_options_answers_with_the_complete_allow(auth: TokenFactory) -> None:
    import httpx

    # OPTIONS and 405 are answered at the edge: no database needed (no lifespan run).
    app = create_app(Settings.from_env({"KAIROS_JWT_SECRET": TEST_SECRET}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for template in TEMPLATES:
            route = next(r for r in ROUTES if r.template == template)
            expected = {r.method for r in ROUTES if r.template == template} | {"OPTIONS"}
            if "GET" in expected:
                expected.add("HEAD")
            for headers in ({}, _headers(route, auth)):
                response = await client.options(route.path(), headers=headers)
                assert response.status_code == 204, (template, response.text)
                assert set(response.headers["allow"].split(", ")) == expected, template
                assert not response.content
            for method in sorted({"PATCH", "PUT", "DELETE", "POST", "GET", "HEAD"} - expected):
                response = await client.request(method, route.path(), headers=_headers(route, auth))
                assert response.status_code == 405, (method, template, response.text)
                assert set(response.headers["allow"].split(", ")) == expected
                if method != "HEAD":  # a HEAD answer has no body
                    _assert_problem(response, f"{method} {template}", {405})


async def test_head_is_the_get_answer_without_its_content(
    world: None, client: Client, auth: TokenFactory
) -> None:
    """Every GET route answers HEAD (RFC 9110: load balancers and uptime checks use it)
    with the status and headers of the GET and no content; the app only sees the GET."""
    gets = [r for r in ROUTES if r.method == "GET"]
    assert len(gets) >= 10
    for route in gets:
        headers = _headers(route, auth)
        got = await client.get(route.path(), headers=headers)
        head = await client.head(route.path(), headers=headers)
        assert head.status_code == got.status_code, (str(route), got.text)
        assert head.headers.get("content-type") == got.headers.get("content-type"), str(route)
        assert head.content == b"", str(route)
        assert head.headers["x-request-id"] != got.headers["x-request-id"]
        assert int(head.headers["content-length"]) > 0, str(route)
        if route.template in ("/ready", "/metrics"):
            continue  # their bodies carry a latency and counters: each answer has its length
        again = await client.get(route.path(), headers=headers)
        if again.content == got.content:  # not a body that grows with each call (an export)
            assert head.headers["content-length"] == str(len(got.content)), str(route)
    # A bad query is refused for HEAD as for GET, and without a body either.
    bad = await client.head("/v1/stores?nope=1", headers=auth("admin"))
    assert bad.status_code == 400
    assert bad.content == b""


def _forged_claims() -> Iterator[dict[str, Any]]:
    yield {"sub": "a\x00b", "role": "admin"}
    yield {"sub": "x" * 5000, "role": "admin"}
    yield {"sub": "m", "role": "manager", "stores": ["store-1\x00"]}
    yield {"sub": "m", "role": "manager", "stores": ["../../etc"]}
    yield {"sub": "\ud800", "role": "customer"}


async def test_tokens_with_unstorable_claims_are_a_401(unchanged: None, client: Client) -> None:
    import time

    import jwt

    tokens = []
    for claims in _forged_claims():
        try:
            tokens.append(
                jwt.encode({**claims, "exp": int(time.time()) + 600}, TEST_SECRET, "HS256")
            )
        except (TypeError, ValueError, UnicodeEncodeError):
            continue  # the JWT library itself cannot encode a lone surrogate
    assert len(tokens) >= 4
    for route in (r for r in ROUTES if r.roles):
        for token in tokens:
            response = await client.request(
                route.method, route.path(), headers={"Authorization": f"Bearer {token}"}
            )
            _assert_problem(response, f"{route} {token[:20]}", {401})


INSTANT_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/campaigns/campaign-2", campaign_body(["store-1"]), "active_from"),
    ("/v1/purchases", order(order_id="order-2"), "occurred_at"),
    (
        "/v1/support-cases/case-2",
        {"customer_id": "customer-1", "kind": "complaint", "opened_at": None},
        "opened_at",
    ),
    (
        "/v1/deliveries",
        {"order_id": "order-1", "customer_id": "customer-1", "promised_at": None},
        "promised_at",
    ),
]
OUT_OF_RANGE = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "1969-12-31T23:59:59Z",
    "2201-01-01T00:00:00Z",
]


async def test_instants_outside_1970_2200_are_a_422_naming_the_field(
    unchanged: None, client: Client, auth: TokenFactory
) -> None:
    for path, body, field in INSTANT_CASES:
        method = "POST" if path in ("/v1/purchases", "/v1/deliveries") else "PUT"
        for instant in OUT_OF_RANGE:
            response = await client.request(
                method, path, json={**body, field: instant}, headers=auth("admin")
            )
            problem = _assert_problem(response, f"{path} {field}={instant}", {422})
            assert problem["errors"][0]["field"] == field


async def test_offsets_up_to_rfc3339s_23_59_are_the_instant_they_name(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    """RFC 3339 allows offsets up to ±23:59, PostgreSQL reads them only up to ±15:59: every
    instant is kept in UTC once decoded, so an extreme offset is just the instant it names,
    on every route and also inside an events batch (where a failure would cost the batch)."""
    import datetime as dt

    # 2025-06-01 12:00 UTC, written at the extremes.
    for instant in ("2025-06-02T11:59:00+23:59", "2025-05-31T12:01:00-23:59"):
        for path, body, field in INSTANT_CASES:
            method = "POST" if path in ("/v1/purchases", "/v1/deliveries") else "PUT"
            if path == "/v1/purchases":
                body = order(
                    order_id=f"order-{uuid.uuid4().hex[:8]}",
                    customer_id="customer-1",
                    store_id="store-1",
                )
            sent = {**body, field: instant}
            response = await client.request(method, path, json=sent, headers=auth("admin"))
            assert response.is_success, (path, instant, response.text)
        event = {
            "type": "fix",
            "event_id": str(uuid.uuid4()),
            "occurred_at": instant,
            "lat": 40.0,
            "lng": 40.0,
            "accuracy_m": 10,
            "device_id": "device-1",
            "is_mocked": False,
        }
        response = await client.post(
            "/v1/events",
            json={"events": [event, {**event, "event_id": str(uuid.uuid4())}]},
            headers=auth("customer", sub="customer-1"),
        )
        assert response.status_code == 200, response.text
        assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]
        stored = await db.fetchval(
            "SELECT occurred_at FROM events WHERE event_id = $1", event["event_id"]
        )
        assert stored == dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


def test_every_request_body_with_an_instant_checks_its_range() -> None:
    """A body type with a datetime field must derive from app.common.Payload (which checks
    the range while decoding), at any depth: a new route cannot forget it."""
    import datetime as dt
    import typing

    import msgspec

    from app.common import Payload

    app = create_app(Settings.from_env({"KAIROS_JWT_SECRET": TEST_SECRET}))
    seen: set[type] = set()
    offenders: list[str] = []

    def visit(tp: Any) -> None:
        for arg in typing.get_args(tp):
            visit(arg)
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct) and tp not in seen:
            seen.add(tp)
            hints = typing.get_type_hints(tp, include_extras=True)
            for name, hint in hints.items():
                flat = {hint, *typing.get_args(hint)}
                for inner in list(flat):
                    flat |= set(typing.get_args(inner))
                if dt.datetime in flat and not issubclass(tp, Payload):
                    offenders.append(f"{tp.__name__}.{name}")
                visit(hint)

    bodies = 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None:
                bodies += 1
                visit(data.annotation)
    assert bodies >= 10
    assert offenders == []


async def test_a_500_never_carries_exception_text(settings: Settings) -> None:
    from litestar import get

    @get("/boom", opt={"exclude_from_auth": True}, sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    async with AsyncTestClient(app=create_app(settings, extra_handlers=[boom])) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 500
    assert "secret" not in response.text
    assert "passwd" not in response.text
    assert response.headers["x-request-id"] == "req-123"


async def test_every_response_carries_a_request_id(client: Client) -> None:
    fresh = await client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    echoed = await client.get("/nope", headers={"X-Request-ID": "abc-123"})
    assert echoed.status_code == 404
    assert echoed.headers["x-request-id"] == "abc-123"
    odd = await client.get("/health", headers={"X-Request-ID": "a b\tc"})
    assert odd.headers["x-request-id"] != "a b\tc"


def _identical_body(route: Route) -> Any:
    """A body the route accepts, where we know one; else an empty object (it still must not
    make two identical requests at once answer differently or 500)."""
    from tests.factories import event_body, now

    bodies: dict[str, Any] = {
        "/v1/stores/{store_id}": store_body(),
        "/v1/stores/{store_id}/geofences/{geofence_id}": circle_fence(),
        "/v1/campaigns/{campaign_id}": campaign_body(["store-1"]),
        "/v1/customers/{customer_id}": {"locale": "en"},
        "/v1/purchases": order(order_id="order-race", customer_id="customer-1", store_id=None)
        | {"channel": "online"},
        "/v1/support-cases/{case_id}": {
            "customer_id": "customer-1",
            "kind": "question",
            "opened_at": "2026-01-01T10:00:00Z",
        },
        "/v1/deliveries": {
            "order_id": "order-1",
            "customer_id": "customer-1",
            "promised_at": "2026-01-01T10:00:00Z",
        },
        "/v1/me/devices": {"platform": "fcm", "token": "t" * 40},
        "/v1/me/consents": {"marketing": True},
        "/v1/me/quiet-hours": {"start": "22:00", "end": "07:00"},
        "/v1/events": {"events": [event_body(at=now())]},
    }
    return bodies.get(route.template_plain, {})


@pytest.mark.slow
async def test_two_identical_requests_at_once_never_disagree_or_fail(
    live: Any, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    """Every write route of the table: two identical requests in flight together get the same
    kind of answer (both succeed, or the same problem), never a 500."""
    for path, body in (
        ("/v1/stores/store-1", store_body()),
        ("/v1/stores/store-1/geofences/geofence-1", circle_fence()),
        ("/v1/customers/customer-1", {"locale": "en"}),
    ):
        assert (await live.client.put(path, json=body, headers=auth("admin"))).is_success
    overlapped = 0
    for route in BODY_ROUTES:
        body = _identical_body(route)
        live.most_in_flight = 0
        first, second = await asyncio.gather(
            *(
                live.client.request(
                    route.method, route.path(), json=body, headers=_headers(route, auth)
                )
                for _ in range(2)
            )
        )
        overlapped += live.most_in_flight >= 2
        for response in (first, second):
            assert response.status_code < 500, (str(route), response.text)
        both_fine = first.is_success and second.is_success
        # DELETE is idempotent in effect, not in answer: one deletes, the other finds nothing.
        deleted_once = route.method == "DELETE" and {first.is_success, second.is_success} == {
            True,
            False,
        }
        if deleted_once:
            assert 404 in (first.status_code, second.status_code), str(route)
        assert both_fine or deleted_once or first.status_code == second.status_code, (
            str(route),
            first.status_code,
            first.text,
            second.status_code,
            second.text,
        )
    assert overlapped >= len(BODY_ROUTES) // 2, "too few pairs were in flight together"
