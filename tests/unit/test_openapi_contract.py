"""The OpenAPI document is a product: every operation is named, summarised, tagged, and
documents the problems it can answer with; the served document is the committed one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth import route_roles
from app.cli import OPENAPI_PATH, openapi_document
from app.main import create_app
from app.openapi import openapi_dict
from app.settings import Settings


def _settings(tmp: Path) -> Settings:
    return Settings.from_env(
        {"KAIROS_DATABASE_URL": "postgresql://unused/none", "KAIROS_DATA_DIR": str(tmp)}
    )


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return openapi_dict(create_app(_settings(tmp_path_factory.mktemp("data"))))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    ]


def test_every_operation_is_named_summarised_and_tagged(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) > 20
    ids = [op.get("operationId") for _, _, op in operations]
    assert all(ids), [f"{m} {p}" for p, m, op in operations if not op.get("operationId")]
    assert len(set(ids)) == len(ids)
    for path, method, op in operations:
        assert op.get("summary"), f"{method} {path} lacks a summary"
        assert op.get("tags"), f"{method} {path} lacks tags"


def test_guarded_operations_document_their_problems(
    document: dict[str, Any], tmp_path: Path
) -> None:
    app = create_app(_settings(tmp_path))
    guarded = {
        (route.path_format, method.lower())
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        for method in handler.http_methods
        if route_roles(handler) is not None
    }
    checked = 0
    for path, method, op in _operations(document):
        statuses = ("400", "401", "403") if (path, method) in guarded else ("400",)
        checked += (path, method) in guarded
        for status in statuses:
            assert status in op["responses"], f"{method} {path} does not document {status}"
            content = op["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], f"{method} {path} {status}"
        if op.get("requestBody"):
            assert {"413", "422"} <= set(op["responses"]), f"{method} {path}"
    assert checked > 20


async def test_the_document_is_served_under_schema_and_committed(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        served = (await client.get("/schema/openapi.json")).json()
    written = json.loads(openapi_document(_settings(tmp_path)))
    assert served == written
    assert json.loads(Path(OPENAPI_PATH).read_text()) == written, "run kairos openapi"


def test_request_bodies_forbid_what_they_refuse(document: dict[str, Any]) -> None:
    # Bodies that refuse unknown fields say so; free-form values are JSON values without NUL.
    schemas = document["components"]["schemas"]
    assert schemas["StoreIn"]["additionalProperties"] is False
    assert schemas["CampaignIn"]["additionalProperties"] is False
    segments = schemas["CustomerUpsert"]["properties"]["segments"]["items"]
    assert "pattern" in segments  # constraints on list items survive
    assert schemas["StoreIn"]["properties"]["attributes"]["additionalProperties"] == {
        "$ref": "#/components/schemas/JsonValue"
    }
