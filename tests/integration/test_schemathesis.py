"""Schemathesis against the application in-process (ASGI), every operation, every role.

All of Schemathesis's checks run on every generated case (positive and negative data): no
500, every status and header documented, every body matching its schema, schema-valid data
accepted, schema-invalid data refused. The budget per operation and role is bounded so the
whole file stays well inside ``make test``'s time; ``KAIROS_SCHEMATHESIS_EXAMPLES`` raises it
for a deeper local run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS
from schemathesis.generation import GenerationMode

from app.auth import mint_token
from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SECRET

EXAMPLES = int(os.environ.get("KAIROS_SCHEMATHESIS_EXAMPLES", "10"))
ROLES = ("admin", "manager", "integration", "customer")


def _settings(url: str, data_dir: str) -> Settings:
    return Settings.from_env(
        {
            "KAIROS_DATABASE_URL": url,
            "KAIROS_DATA_DIR": data_dir,
            "KAIROS_JWT_SECRET": TEST_SECRET,
            "KAIROS_MIGRATE_ON_START": "false",
            "KAIROS_DB_POOL_MIN": "1",
            "KAIROS_DB_POOL_MAX": "4",
        }
    )


@pytest.fixture(scope="module")
def api(migrated_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One application (one pool, one lifespan) for the whole module."""
    from schemathesis.python import asgi

    app_settings = _settings(migrated_db_url, str(tmp_path_factory.mktemp("st")))
    app = create_app(app_settings)
    loaded = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    yield loaded
    asgi.shutdown_lifespans()


def _headers(role: str) -> dict[str, str]:
    settings_ = Settings.from_env({"KAIROS_JWT_SECRET": TEST_SECRET})
    token = mint_token(
        settings_, role=role, sub=f"st-{role}", stores=["store-1", "store-2"], ttl_seconds=3600
    )
    return {"Authorization": f"Bearer {token}"}


def _breaks_a_published_rule(case: Any, response: Any) -> bool:
    rules: dict[str, str] = case.operation.definition.raw.get("x-kairos-rules", {})
    if not rules:
        return False
    if response.status_code == 412:
        return "If-Match" in rules and any(k.lower() == "if-match" for k in case.headers or {})
    if response.status_code != 422:
        return False
    fields = [e["field"] for e in response.json().get("errors", [])]
    return bool(fields) and all(
        any(f == rule or f.startswith((f"{rule}.", f"{rule}[")) for rule in rules) for f in fields
    )


@pytest.mark.slow
def test_every_operation_every_role_every_check(api: Any) -> None:
    """Every operation x role x generation mode, all checks; every failure is reported."""
    # The OpenAPI checks register themselves when the schema is loaded: read the list now.
    all_checks = list(CHECKS.get_all())
    assert len(all_checks) >= 10, [c.__name__ for c in all_checks]
    failures: list[str] = []
    cases = 0
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            for role in ROLES:
                headers = _headers(role)

                @given(case=strategy)
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    database=None,
                    derandomize=True,
                )
                def run(case: Any) -> None:
                    nonlocal cases
                    cases += 1
                    response = case.call(headers=current_headers)
                    checks = all_checks
                    if _breaks_a_published_rule(case, response):
                        # The operation publishes this rule (x-kairos-rules): its 422/412 is
                        # the documented answer, so schema-valid-but-refused is expected.
                        checks = [c for c in all_checks if c.__name__ != "positive_data_acceptance"]
                    case.validate_response(response, checks=checks)

                current_headers = headers
                try:
                    run()
                except Unsatisfiable:
                    continue  # nothing to negate (e.g. GET /health has no inputs)
                except (Exception, BaseExceptionGroup) as exc:  # collected, reported below
                    text = str(exc).strip().splitlines()
                    failures.append(
                        f"{operation.label} [{role}, {mode.value}]: " + "\n".join(text[:40])
                    )
    print(f"schemathesis: {len(operations)} operations, {cases} cases, {len(failures)} failing")
    assert not failures, "\n\n".join(failures)
