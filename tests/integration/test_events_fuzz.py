"""The new routes never answer 500: random and mutated bodies for POST /v1/events (whole
batches and single events inside them), the invite receipts, the invite list's query and
the development clock; every 4xx is a problem document."""

from __future__ import annotations

import datetime as dt
import json
import uuid
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
from tests.factories import circle_fence, event_body, store_body

NOON = dt.datetime(2025, 3, 14, 12, 30, tzinfo=dt.UTC)

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

EDGES: list[Any] = [
    1e308, -1e308, 2**63, "", "x" * 200, "2200-12-31T23:59:59+14:00", "9999-01-01T00:00:00Z",
    "1970-01-01T00:00:00-14:00", "\ud800", 0, -0.0, 90.0000001,
]  # fmt: skip

VALID_EVENTS = [
    event_body(at=NOON),
    event_body("enter", at=NOON, geofence_id="g1"),
    event_body("exit", at=NOON, store_id="s1"),
    event_body("dwell", at=NOON, geofence_id="g1", speed_mps=1.2),
    event_body("checkin", at=NOON, store_id="s1", is_mocked=True),
]


@st.composite
def mutated_event(draw: st.DrawFn) -> Any:
    event = dict(draw(st.sampled_from(VALID_EVENTS)))
    event["event_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    choice = draw(st.integers(0, 4))
    key = draw(st.sampled_from(sorted(event)))
    if choice == 0:
        return draw(json_values)
    if choice == 1:
        event[key] = draw(json_values)
    elif choice == 2:
        del event[key]
    elif choice == 3:
        event[key] = draw(st.sampled_from(EDGES))
    return event


@st.composite
def batches(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 5)) == 0:
        return draw(json_values)
    return {"events": draw(st.lists(mutated_event(), min_size=0, max_size=6))}


@pytest.fixture
def sync_client(settings: Settings, auth: TokenFactory) -> Iterator[TestClient[Litestar]]:
    app = create_app(settings)
    app.state.clock = lambda: NOON
    with TestClient(app=app) as client:
        admin = auth("admin")
        assert client.put("/v1/stores/s1", json=store_body(), headers=admin).status_code == 201
        assert (
            client.put("/v1/stores/s1/geofences/g1", json=circle_fence(), headers=admin).status_code
            == 201
        )
        yield client


def _check(response: Any, where: Any) -> None:
    assert_handled(response, where)
    if response.status_code < 400 and response.request.url.path == "/v1/events":
        for result in response.json()["results"]:
            if result["status"] == "rejected" and result["reason"] == "invalid":
                assert result["errors"][0]["field"].startswith("events["), result


_FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_FUZZ
@given(body=batches())
def test_no_batch_makes_a_500(
    sync_client: TestClient[Litestar], auth: TokenFactory, body: Any
) -> None:
    # A fresh customer each time: the rate limit must not hide what the body does.
    headers = {
        **auth("customer", sub=f"fuzz-{uuid.uuid4().hex[:12]}"),
        "content-type": "application/json",
    }
    # json.dumps escapes lone surrogates (\ud800) the way a client would send them.
    content = json.dumps(body).encode()
    _check(sync_client.post("/v1/events", content=content, headers=headers), body)


@_FUZZ
@given(raw=st.binary(max_size=300))
def test_no_raw_bytes_make_a_500(
    sync_client: TestClient[Litestar], auth: TokenFactory, raw: bytes
) -> None:
    headers = {**auth("customer", sub="fuzz"), "content-type": "application/json"}
    _check(sync_client.post("/v1/events", content=raw, headers=headers), raw)


@_FUZZ
@given(
    body=json_values | st.fixed_dictionaries({"status": json_values}),
    invite=st.one_of(st.uuids().map(str), st.text(max_size=20)),
    query=st.dictionaries(
        st.sampled_from(["status", "cursor", "limit", "x"]), st.text(max_size=20)
    ),
    clock=json_values | st.fixed_dictionaries({"instant": json_values, "speed": json_values}),
)
def test_no_receipt_query_or_clock_makes_a_500(
    sync_client: TestClient[Litestar],
    auth: TokenFactory,
    body: Any,
    invite: str,
    query: dict[str, str],
    clock: Any,
) -> None:
    customer = auth("customer", sub="c1")
    path = f"/v1/me/invites/{quote(invite, safe='') or 'x'}/receipts"
    _check(sync_client.post(path, json=body, headers=customer), (path, body))
    _check(sync_client.get("/v1/me/invites", params=query, headers=customer), query)
    _check(sync_client.put("/v1/dev/clock", json=clock, headers=auth("admin")), clock)
