"""POST /v1/events end to end over HTTP: answers per event, idempotency, quality, claims,
presence and the decisions that follow, on the real database."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory
from tests.factories import campaign_body, event_body, event_world

Client = AsyncTestClient[Litestar]

NOON = dt.datetime(2025, 3, 14, 12, 30, tzinfo=dt.UTC)  # a Friday; London is on UTC
FAR = 3000.0  # metres east of the store: outside every geofence


def later(seconds: float) -> dt.datetime:
    return NOON + dt.timedelta(seconds=seconds)


@pytest.fixture
async def world(client: Client, auth: TokenFactory, app: Litestar) -> None:
    await event_world(client, auth, app)
    app.state.clock = lambda: NOON


async def post(client: Client, auth: TokenFactory, *events: dict[str, Any], sub: str = "c1") -> Any:
    response = await client.post(
        "/v1/events", json={"events": list(events)}, headers=auth("customer", sub=sub)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def stored(db: asyncpg.Connection, customer: str = "c1") -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM events WHERE customer_id = $1 ORDER BY occurred_at, event_id", customer
    )


# Answers, idempotency --------------------------------------------------------------------------
async def test_a_fix_inside_enters_and_invites(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    answer = await post(client, auth, event_body(at=NOON))
    [result] = answer["results"]
    assert result["status"] == "accepted"
    assert result["stored_as"] == "current"
    assert result["presence"] == [{"geofence_id": "g-s1", "store_id": "s1", "change": "enter"}]
    [decision] = result["decisions"]
    assert decision["outcome"] == "send"
    assert decision["trigger"] == "enter"
    assert decision["store_id"] == "s1"
    assert decision["reason_codes"][-1] == "selected"
    invite = await db.fetchrow(
        "SELECT * FROM invites WHERE id = $1", uuid.UUID(decision["invite_id"])
    )
    assert invite["status"] == "pending"
    assert invite["customer_id"] == "c1"
    rows = await stored(db)
    assert sorted((r["type"], r["status"]) for r in rows) == [
        ("enter", "derived"),
        ("fix", "accepted"),
    ]
    derived = next(r for r in rows if r["status"] == "derived")
    row = await db.fetchrow(
        "SELECT * FROM decisions WHERE id = $1", uuid.UUID(decision["decision_id"])
    )
    assert row["event_id"] == derived["id"]
    presence = await db.fetchrow("SELECT * FROM presence WHERE customer_id = 'c1'")
    assert presence["state"] == "inside"
    assert presence["entered_at"] == NOON
    assert presence["invited_at"] == NOON


async def test_the_same_event_again_replays_the_first_answer(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    event = event_body(at=NOON)
    first = (await post(client, auth, event))["results"][0]
    again = await post(client, auth, event)
    assert again["duplicates"] == 1
    [replayed] = again["results"]
    assert replayed["status"] == "duplicate"
    assert {k: v for k, v in replayed.items() if k != "status"} == {
        k: v for k, v in first.items() if k != "status"
    }
    assert await db.fetchval("SELECT count(*) FROM events WHERE status = 'accepted'") == 1
    assert await db.fetchval("SELECT count(*) FROM decisions") == 1


async def test_an_event_id_is_one_key_however_it_is_spelled(
    world: None, client: Client, auth: TokenFactory
) -> None:
    event = event_body(at=NOON, north_m=2000)
    await post(client, auth, event)
    shouted = {**event, "event_id": event["event_id"].upper()}
    assert (await post(client, auth, shouted))["results"][0]["status"] == "duplicate"


async def test_a_duplicate_inside_one_batch_answers_like_the_first(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    event = event_body(at=NOON)
    answer = await post(client, auth, event, event)
    first, second = answer["results"]
    assert (first["status"], second["status"]) == ("accepted", "duplicate")
    assert second["decisions"] == first["decisions"]
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'fix'") == 1


# Validation, one event at a time ---------------------------------------------------------------
async def test_one_bad_event_never_costs_the_good_ones(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    good = event_body(at=NOON, north_m=2000)
    bad_lat = {**event_body(at=NOON), "lat": 91}
    no_claim = event_body("enter", at=NOON)
    unknown = {**event_body(at=NOON), "type": "teleport"}
    answer = await post(client, auth, good, bad_lat, no_claim, unknown)
    results = answer["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "rejected"]
    assert results[1]["reason"] == "invalid"
    assert results[1]["event_id"] == bad_lat["event_id"]
    assert results[1]["errors"][0]["field"] == "events[1].lat"
    assert results[2]["errors"][0]["field"] == "events[2].geofence_id"
    assert results[3]["errors"][0]["field"] == "events[3].type"
    assert (answer["accepted"], answer["rejected"]) == (1, 3)
    assert [r["event_id"] for r in await stored(db)] == [good["event_id"]]


async def test_unstorable_values_inside_one_event_cost_only_that_event(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    """The edge refuses a NUL or a number beyond ±(2**53 - 1) in any body; inside a batch it
    leaves them to the route, which rejects the event that carries one and keeps the rest.
    (A lone surrogate still costs the batch: no JSON decoder reads past one.)"""
    good = event_body(at=NOON, north_m=2000)
    other = event_body(at=NOON, north_m=2100)
    hostile = [
        ('"device_id":"dev\\u0000-1"', "events[1].device_id"),
        ('"lat":1e400', "events[2].lat"),
        ('"speed_mps":1' + "0" * 308, "events[3].speed_mps"),
        ('"accuracy_m":9007199254740993', "events[4].accuracy_m"),
        ('"nick\\u0000name":1', "events[5]"),
    ]
    parts = [msgspec.json.encode(good).decode()]
    for n, (member, _) in enumerate(hostile):
        base = msgspec.json.encode({**event_body(at=NOON), "event_id": str(uuid.UUID(int=n))})
        parts.append(base.decode()[:-1] + "," + member + "}")
    parts.append(msgspec.json.encode(other).decode())
    body = ('{"events":[' + ",".join(parts) + "]}").encode()
    response = await client.post(
        "/v1/events",
        content=body,
        headers={**auth("customer", sub="c1"), "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    statuses = [r["status"] for r in results]
    assert statuses == ["accepted", *["rejected"] * len(hostile), "accepted"]
    for result, (_, field) in zip(results[1:-1], hostile, strict=True):
        assert result["reason"] == "invalid"
        assert result["errors"][0]["field"].startswith(field), result
    assert {r["event_id"] for r in await stored(db)} == {good["event_id"], other["event_id"]}

    surrogate = body.replace(b"dev\\u0000-1", b"dev\\ud800-1")
    response = await client.post(
        "/v1/events",
        content=surrogate,
        headers={**auth("customer", sub="c1"), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events[1].device_id"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lng", 180.5),
        ("accuracy_m", -1),
        ("occurred_at", "2025-03-14T12:30:00"),  # no offset
        ("occurred_at", "1969-12-31T23:59:59Z"),
        ("event_id", "not-a-uuid"),
        ("device_id", ""),
        ("speed_mps", -3),
        ("is_mocked", "yes"),
        ("surprise", 1),
    ],
)
async def test_each_field_is_checked(
    world: None, client: Client, auth: TokenFactory, field: str, value: Any
) -> None:
    answer = await post(client, auth, {**event_body(at=NOON), field: value})
    [result] = answer["results"]
    assert result["status"] == "rejected"
    assert result["errors"][0]["field"] == f"events[0].{field}"


async def test_events_from_the_future_are_rejected_beyond_two_minutes(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    soon = event_body(at=later(110), north_m=2000)
    too_soon = event_body(at=later(130), north_m=2000)
    answer = await post(client, auth, soon, too_soon)
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected"]
    assert answer["results"][1]["reason"] == "in_future"
    assert [r["event_id"] for r in await stored(db)] == [soon["event_id"]]


async def test_stale_and_inaccurate_reports_are_stored_without_a_decision(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    stale = event_body(at=later(-11 * 60))
    blurry = event_body(at=NOON, accuracy_m=480)
    answer = await post(client, auth, stale, blurry)
    assert [(r["status"], r["stored_as"]) for r in answer["results"]] == [
        ("accepted", "stale"),
        ("accepted", "low_accuracy"),
    ]
    assert all(not r["decisions"] and not r["presence"] for r in answer["results"])
    assert sorted(r["status"] for r in await stored(db)) == ["low_accuracy", "stale"]
    assert await db.fetchval("SELECT count(*) FROM presence") == 0
    assert await db.fetchval("SELECT count(*) FROM decisions") == 0


async def test_the_policy_thresholds_are_the_ones_ingestion_uses(
    world: None, client: Client, auth: TokenFactory
) -> None:
    policy = await client.get("/v1/policy", headers=auth("admin"))
    settings = {**policy.json()["settings"], "max_accuracy_m": 5.0, "stale_after_seconds": 60}
    changed = await client.put(
        "/v1/policy",
        json=settings,
        headers={**auth("admin"), "If-Match": policy.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    answer = await post(
        client,
        auth,
        event_body(at=later(-90), accuracy_m=4),
        event_body(at=later(-30), accuracy_m=10),
        event_body(at=later(-20), accuracy_m=4),
    )
    stale, blurry, sharp = answer["results"]
    assert (stale["stored_as"], blurry["stored_as"]) == ("stale", "low_accuracy")
    assert sharp["stored_as"] == "current"
    assert sharp["decisions"][0]["outcome"] == "send"


# Request-level problems ------------------------------------------------------------------------
async def test_the_batch_itself_must_be_sound(
    world: None, client: Client, auth: TokenFactory
) -> None:
    headers = auth("customer", sub="c1")
    cases: list[tuple[Any, int, str | None]] = [
        ({"events": []}, 422, "events"),
        ({"events": [event_body(at=NOON)] * 101}, 422, "events"),
        ({"events": "nope"}, 422, "events"),
        ([], 422, None),
        ({}, 422, "events"),
    ]
    for body, status, field in cases:
        response = await client.post("/v1/events", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        if field is not None:
            assert response.json()["errors"][0]["field"] == field
    response = await client.post(
        "/v1/events",
        content=b'{"events": [',
        headers={**headers, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "urn:kairos:problem:malformed-json"


async def test_bodies_over_256_kib_are_refused(
    world: None, client: Client, auth: TokenFactory
) -> None:
    padding = event_body(at=NOON, device_id="d" * 128)
    body = {"events": [padding] * 100, "pad": "x" * (256 * 1024)}
    response = await client.post("/v1/events", json=body, headers=auth("customer", sub="c1"))
    assert response.status_code == 413
    assert response.json()["type"] == "urn:kairos:problem:payload-too-large"


async def test_only_customers_post_events(world: None, client: Client, auth: TokenFactory) -> None:
    body = {"events": [event_body(at=NOON)]}
    assert (await client.post("/v1/events", json=body)).status_code == 401
    for role in ("manager", "integration", "admin"):
        response = await client.post(
            "/v1/events",
            json=body,
            headers=auth(role, stores=["s1"]),  # type: ignore[arg-type]
        )
        assert response.status_code == 403, role


async def test_an_erased_customer_is_answered_but_never_comes_back(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    erased = await client.delete("/v1/customers/c1", headers=auth("admin"))
    assert erased.status_code == 200, erased.text
    answer = await post(client, auth, event_body(at=NOON))
    assert answer["results"][0]["status"] == "rejected"
    assert answer["results"][0]["reason"] == "customer_erased"
    assert await db.fetchval("SELECT count(*) FROM customers WHERE id = 'c1'") == 0
    assert await db.fetchval("SELECT count(*) FROM events") == 0


async def test_a_new_customer_is_created_without_consent(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    answer = await post(client, auth, event_body(at=NOON), sub="newcomer")
    [decision] = answer["results"][0]["decisions"]
    assert decision["outcome"] == "suppress"
    assert decision["reason_codes"][0] == "no_location_consent"
    consent = await db.fetchval("SELECT consent_location FROM customers WHERE id = 'newcomer'")
    assert consent is False


# Spoofing and claims ---------------------------------------------------------------------------
async def test_a_mocked_location_never_invites(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    answer = await post(client, auth, event_body(at=NOON, is_mocked=True))
    [result] = answer["results"]
    assert result["flags"] == ["mocked"]
    [decision] = result["decisions"]
    assert (decision["outcome"], decision["reason_codes"][0]) == ("suppress", "suspected_spoof")
    assert await db.fetchval("SELECT count(*) FROM invites") == 0
    assert await db.fetchval("SELECT flags FROM events WHERE type = 'fix'") == ["mocked"]


async def test_a_jump_is_flagged_and_never_invites(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    zurich = {"lat": 47.3769, "lng": 8.5417}
    before = {**event_body(at=later(-120)), **zurich}
    answer = await post(client, auth, before, event_body(at=NOON))
    _, arrived = answer["results"]
    assert arrived["flags"] == ["jumped"]
    assert arrived["decisions"][0]["reason_codes"][0] == "suspected_spoof"
    assert await db.fetchval("SELECT count(*) FROM invites") == 0
    # After a flight the next fix is not a jump again: it is measured from the last one.
    answer = await post(client, auth, event_body(at=later(60), north_m=10))
    assert answer["results"][0]["flags"] == []


async def test_walking_is_not_a_jump(world: None, client: Client, auth: TokenFactory) -> None:
    walk = [event_body(at=later(-600 + 60 * i), north_m=1500 - 150 * i) for i in range(11)]
    answer = await post(client, auth, *walk)
    assert all(r["flags"] == [] for r in answer["results"])
    assert answer["results"][-1]["decisions"][0]["outcome"] == "send"


async def test_a_claim_the_fix_contradicts_is_flagged_and_the_server_wins(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    answer = await post(client, auth, event_body("enter", at=NOON, east_m=FAR, geofence_id="g-s1"))
    [result] = answer["results"]
    assert result["flags"] == ["claim_mismatch"]
    assert result["presence"] == []
    assert result["decisions"] == []
    row = (await stored(db))[0]
    assert (row["claimed_geofence_id"], row["geofence_id"]) == ("g-s1", None)


async def test_a_claim_of_an_unknown_geofence_is_a_mismatch(
    world: None, client: Client, auth: TokenFactory
) -> None:
    answer = await post(client, auth, event_body("enter", at=NOON, geofence_id="g-nowhere"))
    [result] = answer["results"]
    assert result["flags"] == ["claim_mismatch"]
    # The server's own view still counts: the fix is inside g-s1.
    assert [p["change"] for p in result["presence"]] == ["enter"]
    assert result["decisions"][0]["outcome"] == "send"


async def test_a_claimed_enter_within_the_accuracy_of_the_edge_is_believed(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    edge = event_body("enter", at=NOON, north_m=95, accuracy_m=30, geofence_id="g-s1")
    answer = await post(client, auth, edge)
    [result] = answer["results"]
    assert result["flags"] == []
    assert result["presence"] == [{"geofence_id": "g-s1", "store_id": "s1", "change": "enter"}]
    assert result["decisions"][0]["trigger"] == "enter"
    # The app's own enter is the visit: no derived row beside it.
    assert [(r["type"], r["status"], r["geofence_id"]) for r in await stored(db)] == [
        ("enter", "accepted", "g-s1")
    ]


async def test_a_fix_at_the_edge_does_not_enter(
    world: None, client: Client, auth: TokenFactory
) -> None:
    answer = await post(client, auth, event_body(at=NOON, north_m=95, accuracy_m=30))
    assert answer["results"][0]["presence"] == []


async def test_a_checkin_decides_for_its_store(
    world: None, client: Client, auth: TokenFactory
) -> None:
    answer = await post(client, auth, event_body("checkin", at=NOON, store_id="s1"))
    [result] = answer["results"]
    [decision] = result["decisions"]
    assert decision["trigger"] == "checkin"
    assert decision["outcome"] == "send"
    # The check-in's fix entered the geofence too, but one event makes one decision a store.
    assert [p["change"] for p in result["presence"]] == ["enter"]


async def test_claims_by_store_match_any_of_its_geofences(
    world: None, client: Client, auth: TokenFactory
) -> None:
    answer = await post(client, auth, event_body("enter", at=NOON, store_id="s1"))
    assert answer["results"][0]["flags"] == []
    assert answer["results"][0]["decisions"][0]["store_id"] == "s1"
    answer = await post(client, auth, event_body("exit", at=later(60), east_m=FAR, store_id="s1"))
    assert answer["results"][0]["presence"] == [
        {"geofence_id": "g-s1", "store_id": "s1", "change": "exit"}
    ]


async def test_a_claimed_exit_while_the_fix_is_inside_is_refused(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await post(client, auth, event_body(at=NOON))
    answer = await post(client, auth, event_body("exit", at=later(30), geofence_id="g-s1"))
    assert answer["results"][0]["flags"] == ["claim_mismatch"]
    assert await db.fetchval("SELECT state FROM presence") == "inside"


# Presence through HTTP -------------------------------------------------------------------------
async def test_hysteresis_at_the_door_then_a_clear_exit(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    await post(client, auth, event_body(at=NOON))
    # 80 m radius: 100 m out with 20 m accuracy is within accuracy + 25 m buffer.
    door = await post(client, auth, event_body(at=later(20), north_m=100, accuracy_m=20))
    assert door["results"][0]["presence"] == []
    assert await db.fetchval("SELECT state FROM presence") == "inside"
    gone = await post(client, auth, event_body(at=later(40), north_m=140, accuracy_m=20))
    assert gone["results"][0]["presence"][0]["change"] == "exit"
    row = await db.fetchrow("SELECT * FROM presence")
    assert (row["state"], row["exited_at"]) == ("outside", later(40))
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'exit'") == 1


async def test_out_of_order_fixes_never_move_presence_backwards(
    world: None, client: Client, auth: TokenFactory, db: asyncpg.Connection
) -> None:
    # Sent in one batch, out of order: processed by occurred_at (inside, then outside).
    answer = await post(client, auth, event_body(at=later(60), east_m=FAR), event_body(at=later(0)))
    assert [r["presence"][0]["change"] for r in answer["results"]] == ["exit", "enter"]
    # A late report from before the latest one changes nothing.
    late = await post(client, auth, event_body(at=later(30)))
    assert late["results"][0]["presence"] == []
    assert late["results"][0]["decisions"] == []
    assert await db.fetchval("SELECT state FROM presence") == "outside"


async def test_dwelling_is_derived_from_fixes(
    world: None, client: Client, auth: TokenFactory, app: Litestar
) -> None:
    await post(client, auth, event_body(at=NOON))
    app.state.clock = lambda: later(130)
    answer = await post(client, auth, event_body(at=later(60)), event_body(at=later(125)))
    first, second = answer["results"]
    assert first["presence"] == []
    assert second["presence"][0]["change"] == "dwell"
    [decision] = second["decisions"]
    assert decision["trigger"] == "dwell"
    # The enter already invited during this visit: the dwell says so.
    assert decision["reason_codes"][0] == "already_inside"


async def test_a_second_claimed_enter_in_the_same_visit_is_already_inside(
    world: None, client: Client, auth: TokenFactory
) -> None:
    answer = await post(
        client,
        auth,
        event_body(at=NOON),
        event_body("enter", at=later(10), geofence_id="g-s1"),
    )
    _, again = answer["results"]
    assert again["decisions"][0]["reason_codes"][0] == "already_inside"


async def test_each_decision_of_a_batch_sees_the_history_before_its_event(
    world: None, client: Client, auth: TokenFactory
) -> None:
    """Two visits uploaded together: the first is the first visit ever, the second is not."""
    welcome = campaign_body(
        ["s1"],
        name="Welcome",
        kind="moment",
        templates={"en": {"title": "Welcome", "body": "Thank you for visiting {store_name}"}},
        eligibility={"moments": ["first_visit_ever"]},
        holdout_pct=0,
        margin=None,
        acceptance_probability=None,
    )
    assert (
        await client.put("/v1/campaigns/welcome", json=welcome, headers=auth("admin"))
    ).status_code == 201
    answer = await post(
        client,
        auth,
        event_body("checkin", at=later(-300), store_id="s1"),
        event_body(at=later(-200), east_m=FAR),
        event_body("checkin", at=later(-100), store_id="s1"),
    )
    first, _, second = answer["results"]
    explained = await client.get(
        f"/v1/decisions/{first['decisions'][0]['decision_id']}", headers=auth("admin")
    )
    assert explained.json()["campaign_id"] == "welcome", explained.json()["moments"]
    assert explained.json()["moments"][0]["code"] == "first_visit_ever"
    again = await client.get(
        f"/v1/decisions/{second['decisions'][0]['decision_id']}", headers=auth("admin")
    )
    assert "first_visit_ever" not in [m["code"] for m in again.json()["moments"]]
