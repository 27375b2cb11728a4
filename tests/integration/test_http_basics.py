"""Health, readiness, problem+json on bad input, and bearer auth over real HTTP handling."""

from __future__ import annotations

import time

import jwt
import msgspec
import pytest
from litestar import Controller, Litestar, post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient

from app.auth import requires
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET, TokenFactory

PROBLEM = "application/problem+json"


class Probe(msgspec.Struct, kw_only=True):
    name: str
    lat: float = msgspec.field(default=0.0)
    count: int = 0


class ProbeController(Controller):
    """Test-only routes to exercise validation and the 500 handler."""

    path = "/probe"
    guards = [requires("admin", "integration")]

    @post("/echo", operation_id="probeEcho")
    async def echo(self, data: JSONBody[Probe]) -> Probe:
        return data

    @post("/boom", operation_id="probeBoom")
    async def boom(self) -> None:
        raise RuntimeError("secret internal detail")


@pytest.fixture
async def probe_client(settings: Settings):
    app = create_app(settings, extra_handlers=[ProbeController])
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_health_needs_no_token(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_answers_when_database_is_up(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_unknown_route_is_problem_404(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == "urn:kairos:problem:not-found"
    assert body["status"] == 404
    assert body["title"]


async def test_wrong_method_is_problem_405(client: AsyncTestClient[Litestar]) -> None:
    response = await client.delete("/health")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"] == "urn:kairos:problem:method-not-allowed"


async def test_malformed_json_is_400(
    probe_client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    response = await probe_client.post(
        "/probe/echo",
        content=b'{"name": "x",',
        headers={**auth("admin"), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"] == "urn:kairos:problem:malformed-json"


async def test_validation_error_names_the_field(
    probe_client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    response = await probe_client.post(
        "/probe/echo", json={"name": "x", "count": "many"}, headers=auth("admin")
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "urn:kairos:problem:validation-error"
    assert [e["field"] for e in body["errors"]] == ["count"]
    assert "int" in body["errors"][0]["message"]


async def test_missing_field_is_named(
    probe_client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    response = await probe_client.post("/probe/echo", json={"lat": 1.0}, headers=auth("admin"))
    assert response.status_code == 422
    assert "name" in response.json()["errors"][0]["message"]


async def test_oversized_body_is_413(settings: Settings, auth: TokenFactory) -> None:
    from dataclasses import replace

    small = replace(settings, server=replace(settings.server, max_body_bytes=1024))
    app = create_app(small, extra_handlers=[ProbeController])
    async with AsyncTestClient(app=app) as client:
        response = await client.post(
            "/probe/echo", json={"name": "x" * 5000}, headers=auth("admin")
        )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_unexpected_error_is_opaque_500(
    probe_client: AsyncTestClient[Litestar], auth: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    response = await probe_client.post("/probe/boom", headers=auth("admin"))
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "secret internal detail" not in response.text


async def test_missing_token_is_401_with_challenge(probe_client: AsyncTestClient[Litestar]) -> None:
    response = await probe_client.post("/probe/echo", json={"name": "x"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert response.json()["type"] == "urn:kairos:problem:unauthorized"


async def test_expired_token_is_401(probe_client: AsyncTestClient[Litestar]) -> None:
    now = int(time.time())
    token = jwt.encode(
        {"sub": "a", "role": "admin", "iat": now - 7200, "exp": now - 3600}, TEST_SECRET, "HS256"
    )
    response = await probe_client.post(
        "/probe/echo", json={"name": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_forged_token_is_401(probe_client: AsyncTestClient[Litestar]) -> None:
    token = jwt.encode(
        {"sub": "a", "role": "admin", "exp": int(time.time()) + 600}, "not-the-secret" * 4, "HS256"
    )
    response = await probe_client.post(
        "/probe/echo", json={"name": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


async def test_alg_none_token_is_401(probe_client: AsyncTestClient[Litestar]) -> None:
    token = jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) + 600}, None, "none")
    response = await probe_client.post(
        "/probe/echo", json={"name": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


async def test_token_without_exp_is_401(probe_client: AsyncTestClient[Litestar]) -> None:
    token = jwt.encode({"sub": "a", "role": "admin"}, TEST_SECRET, "HS256")
    response = await probe_client.post(
        "/probe/echo", json={"name": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert "exp" in response.json()["detail"]


async def test_wrong_role_is_403(
    probe_client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    response = await probe_client.post(
        "/probe/echo", json={"name": "x"}, headers=auth("customer", sub="c1")
    )
    assert response.status_code == 403
    assert response.json()["type"] == "urn:kairos:problem:forbidden"


async def test_right_role_passes(
    probe_client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    response = await probe_client.post(
        "/probe/echo", json={"name": "x", "count": 2}, headers=auth("integration")
    )
    assert response.status_code == 201
    assert response.json() == {"name": "x", "lat": 0.0, "count": 2}


def test_a_route_without_a_role_refuses_to_start(settings: Settings) -> None:
    class Unguarded(Controller):
        path = "/unguarded"

        @post("/", operation_id="unguarded")
        async def handler(self) -> None:
            return None

    with pytest.raises(RuntimeError, match="without an explicit role"):
        create_app(settings, extra_handlers=[Unguarded])


async def test_api_docs_are_served_under_schema(client: AsyncTestClient[Litestar]) -> None:
    document = await client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert "/v1/stores/{store_id}" in document.json()["paths"]
    assert (await client.get("/schema/swagger")).status_code == 200
