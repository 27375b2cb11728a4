"""The OpenAPI document is a product: every operation is named, summarised, tagged, and
documents the problems it can answer with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.main import create_app
from app.settings import Settings

PUBLIC = {"/health", "/ready"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings.from_env(
        {
            "KAIROS_DATABASE_URL": "postgresql://unused/none",
            "KAIROS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        }
    )
    schema: dict[str, Any] = create_app(settings).openapi_schema.to_schema()
    return schema


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    ]


def test_every_operation_is_named_summarised_and_tagged(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) > 2
    ids = [op.get("operationId") for _, _, op in operations]
    assert all(ids), [f"{m} {p}" for p, m, op in operations if not op.get("operationId")]
    assert len(set(ids)) == len(ids)
    for path, method, op in operations:
        assert op.get("summary"), f"{method} {path} lacks a summary"
        assert op.get("tags"), f"{method} {path} lacks tags"


def test_protected_operations_document_their_problems(document: dict[str, Any]) -> None:
    for path, method, op in _operations(document):
        if path in PUBLIC:
            assert op.get("security") == [{}], f"{method} {path} should be public"
            continue
        responses = op["responses"]
        for status in ("401", "403"):
            assert status in responses, f"{method} {path} does not document {status}"
            content = responses[status]["content"]
            assert "application/problem+json" in content, f"{method} {path} {status}"


def test_the_document_is_served_under_schema() -> None:
    # The committed file and the served one are the same document (drift is a CI failure).
    assert Path("openapi/openapi.json").exists()
