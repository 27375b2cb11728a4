"""The decisions and policy routes: scoping (404 as elsewhere), filters, pages, explanation,
replay, a preview that writes nothing, and the policy settings resource."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.decisions.policy import decide
from app.decisions.reasons import REASON_CODES
from app.decisions.services import load_decision_inputs, record_decision
from tests.conftest import TokenFactory
from tests.integration.test_decisions import LUNCH, add_campaign, seed, visit

Client = AsyncTestClient[Litestar]
MORNING = dt.datetime(2025, 3, 14, 6, 45, tzinfo=dt.UTC)  # 07:45 in Zurich: closed


async def record(db: asyncpg.Connection, at: dt.datetime, store_id: str) -> str:
    inputs = await load_decision_inputs(
        db, customer_id="c1", store_id=store_id, event=visit(at), now=at
    )
    recorded = await record_decision(db, decide(inputs, at), inputs)
    return str(recorded.decision_id)


@pytest.fixture
async def decided(db: asyncpg.Connection) -> dict[str, str]:
    """Four decisions: s1 closed, s1 send, s2 send, s2 capped (2 per 24 h; newest last)."""
    await seed(db, "s1", "s2")
    return {
        "s1-closed": await record(db, MORNING, "s1"),
        "s1-send": await record(db, LUNCH, "s1"),
        "s2-send": await record(db, LUNCH + dt.timedelta(minutes=5), "s2"),
        "s2-capped": await record(db, LUNCH + dt.timedelta(minutes=10), "s2"),
    }


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def test_admins_see_every_decision_newest_first(
    client: Client, auth: TokenFactory, decided: dict[str, str]
) -> None:
    response = await client.get("/v1/decisions", headers=auth("admin"))
    assert response.status_code == 200, response.text
    page = response.json()
    assert ids(page) == [
        decided["s2-capped"],
        decided["s2-send"],
        decided["s1-send"],
        decided["s1-closed"],
    ]
    first = page["items"][0]
    assert first["outcome"] == "suppress"
    assert first["reason"] == "frequency_cap"
    assert first["message"] == "2 invites in the last 24 hours (limit 2)."


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"outcome": "send"}, ["s2-send", "s1-send"]),
        ({"reason": "store_closed"}, ["s1-closed"]),
        ({"reason": "selected", "store_id": "s1"}, ["s1-send"]),
        ({"customer_id": "c1", "campaign_id": "blend"}, ["s2-send", "s1-send"]),
        ({"customer_id": "someone-else"}, []),
        (
            {"since": "2025-03-14T11:30:00Z", "until": "2025-03-14T11:40:00Z"},
            ["s2-send", "s1-send"],
        ),
    ],
)
async def test_filters(
    client: Client,
    auth: TokenFactory,
    decided: dict[str, str],
    params: dict[str, str],
    expected: list[str],
) -> None:
    response = await client.get("/v1/decisions", params=params, headers=auth("admin"))
    assert response.status_code == 200, response.text
    assert ids(response.json()) == [decided[name] for name in expected]


async def test_pages_follow_the_cursor(
    client: Client, auth: TokenFactory, decided: dict[str, str]
) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/decisions", params=params, headers=auth("admin"))).json()
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [decided[k] for k in ("s2-capped", "s2-send", "s1-send", "s1-closed")]
    bad = await client.get("/v1/decisions", params={"cursor": "garbage"}, headers=auth("admin"))
    assert bad.status_code == 422


async def test_managers_see_their_stores_only(
    client: Client, auth: TokenFactory, decided: dict[str, str]
) -> None:
    manager = auth("manager", sub="mia", stores=["s1"])
    page = (await client.get("/v1/decisions", headers=manager)).json()
    assert ids(page) == [decided["s1-send"], decided["s1-closed"]]
    other = await client.get("/v1/decisions", params={"store_id": "s2"}, headers=manager)
    assert other.status_code == 404
    assert (
        await client.get(f"/v1/decisions/{decided['s2-send']}", headers=manager)
    ).status_code == 404
    own = await client.get(f"/v1/decisions/{decided['s1-send']}", headers=manager)
    assert own.status_code == 200
    for role in ("customer", "integration"):
        assert (await client.get("/v1/decisions", headers=auth(role))).status_code == 403


async def test_the_explanation_reads_like_one(
    client: Client, auth: TokenFactory, decided: dict[str, str]
) -> None:
    response = await client.get(f"/v1/decisions/{decided['s1-closed']}", headers=auth("admin"))
    explained = response.json()
    assert explained["outcome"] == "suppress"
    assert explained["reason"] == "store_closed"
    assert explained["summary"] == (
        "Suppressed (store_closed): The store is closed; it opens at 09:00."
    )
    assert explained["reasons"] == [
        {
            "code": "store_closed",
            "message": "The store is closed; it opens at 09:00.",
            "data": {
                "opens_at": "2025-03-14T09:00:00+01:00",
                "local_date": "2025-03-14",
                "local_time": "07:45",
                "timezone": "Europe/Zurich",
            },
        }
    ]
    assert explained["candidates"][0]["lost_because"]["code"] == "store_closed"
    assert explained["event"]["kind"] == "enter"
    assert explained["settings_version"] == 1

    sent = (await client.get(f"/v1/decisions/{decided['s1-send']}", headers=auth("admin"))).json()
    assert sent["title"] == "Hi Ana"
    assert sent["send_by"] == "2025-03-14T12:00:00Z"
    assert sent["candidates"][0]["score_formula"] == "0.80 x 10.00 + 5 x (0.80 - 0.20) = 11.00"
    assert sent["score_formula"].startswith("score = p x margin + 5 x (p - (1 - p))")
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(f"/v1/decisions/{missing}", headers=auth("admin"))).status_code == 404


async def test_replay_is_for_admins_and_says_same(
    client: Client, auth: TokenFactory, decided: dict[str, str]
) -> None:
    path = f"/v1/decisions/{decided['s2-capped']}/replay"
    assert (await client.post(path, headers=auth("manager", stores=["s2"]))).status_code == 403
    response = await client.post(path, headers=auth("admin"))
    assert response.status_code == 200, response.text
    replay = response.json()
    assert replay["same"] is True
    assert replay["differences"] == []
    assert replay["original"]["reason"] == replay["replayed"]["reason"] == "frequency_cap"


async def _counts(db: asyncpg.Connection) -> tuple[int, int, int, int]:
    return (
        await db.fetchval("SELECT count(*) FROM decisions"),
        await db.fetchval("SELECT count(*) FROM invites"),
        await db.fetchval("SELECT count(*) FROM audit_log"),
        await db.fetchval("SELECT count(*) FROM policy_settings"),
    )


async def test_preview_writes_nothing(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await seed(db, "s1", "s2")
    before = await _counts(db)
    manager = auth("manager", sub="mia", stores=["s1"])
    body = {"customer_id": "c1", "store_id": "s1", "at": "2025-03-14T12:30:00+01:00"}
    response = await client.post("/v1/decisions/preview", json=body, headers=manager)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["id"] is None
    assert preview["outcome"] == "send"
    assert preview["title"] == "Hi Ana"
    assert preview["event"]["kind"] == "preview"
    assert await _counts(db) == before

    early = {**body, "at": "2025-03-14T07:45:00+01:00"}
    closed = (await client.post("/v1/decisions/preview", json=early, headers=manager)).json()
    assert closed["reasons"][0]["message"] == "The store is closed; it opens at 09:00."
    assert await _counts(db) == before


async def test_preview_scoping_and_validation(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await seed(db, "s1", "s2")
    manager = auth("manager", sub="mia", stores=["s1"])
    other = {"customer_id": "c1", "store_id": "s2"}
    assert (
        await client.post("/v1/decisions/preview", json=other, headers=manager)
    ).status_code == 404
    unknown = {"customer_id": "c1", "store_id": "nowhere"}
    response = await client.post("/v1/decisions/preview", json=unknown, headers=auth("admin"))
    assert response.status_code == 404
    bad_zone = {"customer_id": "c1", "store_id": "s1", "customer_timezone": "Mars/Olympus"}
    response = await client.post("/v1/decisions/preview", json=bad_zone, headers=auth("admin"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "customer_timezone"
    naive = {"customer_id": "c1", "store_id": "s1", "at": "2025-03-14T12:30:00"}
    response = await client.post("/v1/decisions/preview", json=naive, headers=auth("admin"))
    assert response.status_code == 422
    stranger = {"customer_id": "nobody", "store_id": "s1"}
    response = await client.post("/v1/decisions/preview", json=stranger, headers=auth("admin"))
    assert response.json()["reason"] == "no_location_consent"


async def test_policy_resource(client: Client, auth: TokenFactory, db: asyncpg.Connection) -> None:
    admin = auth("admin", sub="ops")
    response = await client.get("/v1/policy", headers=admin)
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    current = response.json()
    assert current["version"] == 1
    assert current["settings"]["closing_margin_minutes"] == 20
    assert (
        await client.get("/v1/policy", headers=auth("manager", stores=["s1"]))
    ).status_code == 403

    same = await client.put("/v1/policy", json=current["settings"], headers=admin)
    assert same.json()["version"] == 1
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 0

    changed = {**current["settings"], "closing_margin_minutes": 30}
    stale = await client.put("/v1/policy", json=changed, headers={**admin, "If-Match": '"7"'})
    assert stale.status_code == 412
    response = await client.put("/v1/policy", json=changed, headers={**admin, "If-Match": '"1"'})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    assert response.json()["created_by"] == "ops"
    entry = await db.fetchrow("SELECT * FROM audit_log")
    assert (entry["action"], entry["resource_type"], entry["resource_id"]) == (
        "update",
        "policy_settings",
        "2",
    )
    assert entry["before"]["settings"]["closing_margin_minutes"] == 20
    assert entry["after"]["settings"]["closing_margin_minutes"] == 30

    invalid = {**current["settings"], "quiet_hours_start": "25:00"}
    response = await client.put("/v1/policy", json=invalid, headers=admin)
    assert response.status_code == 422
    unknown = {"closing_margin": 5}
    assert (await client.put("/v1/policy", json=unknown, headers=admin)).status_code == 422


async def test_decisions_record_the_settings_version_they_used(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await seed(db)
    await add_campaign(db, "other")
    admin = auth("admin")
    response = await client.put("/v1/policy", json={"closing_margin_minutes": 45}, headers=admin)
    assert response.json()["version"] == 2
    decision_id = await record(db, LUNCH, "s1")
    explained = (await client.get(f"/v1/decisions/{decision_id}", headers=admin)).json()
    assert explained["settings_version"] == 2


def test_reason_codes_are_an_enum_in_the_openapi_document(app: Litestar) -> None:
    schema = app.openapi_schema.to_schema()
    reason = schema["components"]["schemas"]["ReasonOut"]["properties"]["code"]
    assert set(reason["enum"]) == set(REASON_CODES)
    tags = {tag["name"] for tag in schema["tags"]}
    assert {"decisions", "policy"} <= tags


HOSTILE: list[Any] = [
    None,
    -1,
    0,
    1e308,
    -1e308,
    "",
    "x" * 5000,
    "\u0000",
    "NaN",
    "-Infinity",
    [],
    {},
    True,
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00",
]


async def test_no_hostile_value_makes_a_500(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    """Each field of the two write bodies, replaced by each hostile value: a 4xx problem or
    a success, never a 500. Whatever the policy PUT accepts, decisions still work after."""
    await seed(db)
    admin = auth("admin")
    settings = (await client.get("/v1/policy", headers=admin)).json()["settings"]
    bodies: list[tuple[str, str, dict[str, Any]]] = []
    for name in settings:
        for value in HOSTILE:
            bodies.append(("PUT", "/v1/policy", {**settings, name: value}))
    for name in settings["moments"]:
        for value in HOSTILE:
            moments = {**settings["moments"], name: value}
            bodies.append(("PUT", "/v1/policy", {**settings, "moments": moments}))
    preview = {"customer_id": "c1", "store_id": "s1", "at": "2025-03-14T12:30:00+01:00"}
    for name in (*preview, "kind", "accuracy_m", "flags", "already_inside", "customer_timezone"):
        for value in HOSTILE:
            bodies.append(("POST", "/v1/decisions/preview", {**preview, name: value}))
    for method, path, body in bodies:
        response = await client.request(method, path, json=body, headers=admin)
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
        if method == "PUT" and response.status_code == 200:
            # Accepted settings must still decide: preview once with them.
            check = await client.post("/v1/decisions/preview", json=preview, headers=admin)
            assert check.status_code == 200, (body, check.text)


@pytest.mark.parametrize(
    ("moments", "field"),
    [
        ({"high_value_lifetime_value": "NaN"}, "moments.high_value_lifetime_value"),
        ({"high_value_lifetime_value": "-5"}, "moments.high_value_lifetime_value"),
        ({"absence_days": 0}, "moments.absence_days"),
        ({"milestones": [10, 0]}, "moments.milestones[1]"),
    ],
)
async def test_moment_rules_in_the_settings_are_checked(
    client: Client, auth: TokenFactory, moments: dict[str, Any], field: str
) -> None:
    response = await client.put("/v1/policy", json={"moments": moments}, headers=auth("admin"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_a_decision_written_by_other_means_still_reads(
    client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    """Rows recorded without this package's explanation (tests, old code) never make a 500."""
    await seed(db)
    decision_id = await db.fetchval(
        """INSERT INTO decisions (customer_id, store_id, decided_at, outcome, reasons,
                                  explanation, policy_version)
           VALUES ('c1', 's1', $1, 'send', '[{"code": "moment"}]', 'legacy', 'old')
           RETURNING id""",
        LUNCH,
    )
    admin = auth("admin")
    [item] = (await client.get("/v1/decisions", headers=admin)).json()["items"]
    assert (item["reason"], item["message"], item["reason_codes"]) == (None, "legacy", [])
    explained = (await client.get(f"/v1/decisions/{decision_id}", headers=admin)).json()
    assert (explained["summary"], explained["reasons"], explained["event"]) == ("legacy", [], None)
