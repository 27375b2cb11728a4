"""Client input never produces a 500: random bodies and mutations of valid ones, every write
route, against the real database. Any 4xx must be a problem document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import TokenFactory, assert_handled
from tests.factories import campaign_body, circle_fence, order, square_fence, store_body

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("PUT", "/v1/stores/s1", "admin", store_body()),
    ("PUT", "/v1/stores/s1/geofences/g1", "admin", circle_fence()),
    ("PUT", "/v1/stores/s1/geofences/g2", "admin", square_fence()),
    ("PUT", "/v1/campaigns/c1", "admin", campaign_body(["s1"])),
    ("PUT", "/v1/customers/c1", "integration", {"locale": "en", "segments": ["vip"]}),
    ("POST", "/v1/purchases", "integration", order()),
    (
        "PUT",
        "/v1/support-cases/k1",
        "integration",
        {"customer_id": "c1", "kind": "complaint", "opened_at": "2026-01-01T10:00:00Z"},
    ),
    (
        "POST",
        "/v1/deliveries",
        "integration",
        {"order_id": "o-1", "customer_id": "c1", "promised_at": "2026-01-01T10:00:00Z"},
    ),
    ("POST", "/v1/me/devices", "customer", {"platform": "fcm", "token": "t" * 40}),
    ("PATCH", "/v1/me/consents", "customer", {"marketing": True}),
]


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    choice = draw(st.integers(min_value=0, max_value=3))
    if choice == 0:
        return draw(json_values)
    body = dict(valid)
    key = draw(st.sampled_from(sorted(body)))
    if choice == 1:
        body[key] = draw(json_values)
    elif choice == 2:
        del body[key]
    else:
        body[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    return body


@pytest.fixture
def sync_client(settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=create_app(settings)) as client:
        yield client


@pytest.fixture
def seeded(sync_client: TestClient[Litestar], auth: TokenFactory) -> TestClient[Litestar]:
    """A store and a campaign exist, so mutations exercise updates as well as creates."""
    assert (
        sync_client.put("/v1/stores/s1", json=store_body(), headers=auth("admin")).status_code
        == 201
    )
    return sync_client


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_body_makes_a_500(
    seeded: TestClient[Litestar], auth: TokenFactory, data: st.DataObject
) -> None:
    method, path, role, valid = data.draw(st.sampled_from(ROUTES))
    body = data.draw(mutated(valid))
    headers = {
        **auth(role, sub="c1" if role == "customer" else None),
        "content-type": "application/json",
    }
    response = seeded.request(method, path, content=json.dumps(body), headers=headers)
    assert_handled(response, f"{method} {path} {body!r}")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200), route=st.sampled_from(ROUTES))
def test_no_raw_bytes_make_a_500(
    seeded: TestClient[Litestar],
    auth: TokenFactory,
    raw: bytes,
    route: tuple[str, str, str, dict[str, Any]],
) -> None:
    method, path, role, _ = route
    headers = {
        **auth(role, sub="c1" if role == "customer" else None),
        "content-type": "application/json",
    }
    assert_handled(
        seeded.request(method, path, content=raw, headers=headers), f"{method} {path} {raw!r}"
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    segment=st.text(min_size=1, max_size=40).filter(
        lambda s: "/" not in s and "?" not in s and "#" not in s
    ),
    query=st.dictionaries(
        st.sampled_from(
            ["cursor", "limit", "country", "category", "kind", "active", "enabled", "store_id"]
        ),
        st.text(max_size=20),
        max_size=3,
    ),
)
def test_no_path_or_query_makes_a_500(
    seeded: TestClient[Litestar], auth: TokenFactory, segment: str, query: dict[str, str]
) -> None:
    admin = auth("admin")
    segment = quote(segment, safe="")
    for path in (
        f"/v1/stores/{segment}",
        f"/v1/stores/s1/geofences/{segment}",
        f"/v1/campaigns/{segment}",
        "/v1/stores",
        "/v1/campaigns",
        "/v1/audit",
        "/v1/stores/s1/geofences",
    ):
        assert_handled(seeded.get(path, params=query, headers=admin), f"GET {path} {query}")
