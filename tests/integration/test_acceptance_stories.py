"""DESIGN.md's acceptance stories, end to end: the app posts an event over HTTP, the real
database holds the history, and the answer carries the decision each story asks for. The
clock is the application's (``app.state.clock``), set to the story's instants."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory
from tests.factories import campaign_body, event_body, event_world, iso, order

Client = AsyncTestClient[Litestar]

# Friday 14 March 2025; London is on UTC until the end of March.
EARLY = dt.datetime(2025, 3, 14, 7, 45, tzinfo=dt.UTC)
LUNCH = dt.datetime(2025, 3, 14, 12, 30, tzinfo=dt.UTC)


def offer(campaign_id: str, margin: float, p: float, **changes: Any) -> dict[str, Any]:
    body = campaign_body(
        ["s1"],
        name=campaign_id,
        margin=margin,
        acceptance_probability=p,
        holdout_pct=0,
        caps={"cooldown_seconds": 0},
        offer_categories=["coffee"],
    )
    body.update(changes)
    return body


def message(title: str) -> dict[str, Any]:
    return {"en": {"title": title, "body": "See you at {store_name}"}}


class Story:
    def __init__(self, client: Client, auth: TokenFactory, app: Litestar) -> None:
        self.client = client
        self.auth = auth
        self.app = app

    def at(self, instant: dt.datetime) -> None:
        self.app.state.clock = lambda: instant

    async def campaign(self, campaign_id: str, body: dict[str, Any]) -> None:
        response = await self.client.put(
            f"/v1/campaigns/{campaign_id}", json=body, headers=self.auth("admin")
        )
        assert response.status_code in (200, 201), response.text

    async def integration(self, method: str, path: str, body: dict[str, Any]) -> None:
        response = await self.client.request(
            method, path, json=body, headers=self.auth("integration")
        )
        assert response.status_code in (200, 201), response.text

    async def walk_past(self, instant: dt.datetime, **where: Any) -> dict[str, Any]:
        """The app reports a fix at the boutique (or ``where``) at ``instant``."""
        self.at(instant)
        response = await self.client.post(
            "/v1/events",
            json={"events": [event_body(at=instant, **where)]},
            headers=self.auth("customer", sub="c1"),
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["results"][0]
        return result

    async def decision(self, result: dict[str, Any]) -> dict[str, Any]:
        [summary] = result["decisions"]
        response = await self.client.get(
            f"/v1/decisions/{summary['decision_id']}", headers=self.auth("admin")
        )
        assert response.status_code == 200, response.text
        explained: dict[str, Any] = response.json()
        assert explained["outcome"] == summary["outcome"]
        return explained


@pytest.fixture
async def story(client: Client, auth: TokenFactory, app: Litestar) -> Story:
    await event_world(
        client,
        auth,
        app,
        campaign=offer("blend", 10, 0.8, templates=message("Try our new blend")),
    )
    return Story(client, auth, app)


async def test_closed_at_a_quarter_to_eight_then_invited_at_lunch(story: Story) -> None:
    early = await story.decision(await story.walk_past(EARLY))
    assert early["outcome"] == "suppress"
    assert early["reasons"][0]["code"] == "store_closed"
    assert "opens at 09:00" in early["reasons"][0]["message"]

    left = await story.walk_past(EARLY + dt.timedelta(minutes=5), east_m=3000)
    assert [p["change"] for p in left["presence"]] == ["exit"]

    lunch = await story.walk_past(LUNCH)
    [summary] = lunch["decisions"]
    assert summary["outcome"] == "send"
    assert summary["invite_id"] is not None
    explained = await story.decision(lunch)
    assert explained["campaign_id"] == "blend"
    assert explained["title"] == "Try our new blend"


async def test_coffee_bought_ten_minutes_ago_suppresses_a_coffee_offer(story: Story) -> None:
    await story.integration(
        "POST", "/v1/purchases", order(occurred_at=iso(LUNCH - dt.timedelta(minutes=10)))
    )
    explained = await story.decision(await story.walk_past(LUNCH))
    assert explained["outcome"] == "suppress"
    assert explained["reasons"][0]["code"] == "recently_purchased"
    assert "10 minutes ago" in explained["reasons"][0]["message"]


@pytest.mark.parametrize(
    ("kind", "code"), [("complaint", "open_complaint"), ("cancellation", "cancellation_pending")]
)
async def test_no_upsell_while_a_complaint_or_cancellation_is_open(
    story: Story, kind: str, code: str
) -> None:
    await story.integration(
        "PUT",
        "/v1/support-cases/k1",
        {
            "customer_id": "c1",
            "kind": kind,
            "opened_at": iso(LUNCH - dt.timedelta(days=2)),
            "summary": "three screws missing from the garden table",
        },
    )
    explained = await story.decision(await story.walk_past(LUNCH))
    assert explained["outcome"] == "suppress"
    assert explained["reasons"][0]["code"] == code


async def test_a_service_message_may_still_go_with_a_complaint_open(story: Story) -> None:
    await story.campaign(
        "repair-ready",
        campaign_body(
            ["s1"],
            name="Your repair is ready",
            kind="service",
            templates=message("Your repair is ready"),
            holdout_pct=0,
            margin=None,
            acceptance_probability=None,
        ),
    )
    await story.integration(
        "PUT",
        "/v1/support-cases/k1",
        {"customer_id": "c1", "kind": "complaint", "opened_at": iso(LUNCH - dt.timedelta(days=2))},
    )
    explained = await story.decision(await story.walk_past(LUNCH))
    assert explained["outcome"] == "send"
    assert explained["campaign_id"] == "repair-ready"
    blend = next(c for c in explained["candidates"] if c["campaign_id"] == "blend")
    assert blend["lost_because"]["code"] == "open_complaint"


async def test_a_first_visit_gets_a_thank_you_not_a_sale(story: Story) -> None:
    await story.campaign(
        "welcome",
        campaign_body(
            ["s1"],
            name="Welcome",
            kind="moment",
            templates=message("Welcome, and thank you"),
            eligibility={"moments": ["first_visit_ever"]},
            holdout_pct=0,
            margin=None,
            acceptance_probability=None,
        ),
    )
    explained = await story.decision(await story.walk_past(LUNCH))
    assert explained["outcome"] == "send"
    assert explained["campaign_id"] == "welcome"
    assert explained["campaign_kind"] == "moment"
    assert next(m["code"] for m in explained["moments"]) == "first_visit_ever"


async def test_the_first_visit_after_a_late_delivery_gets_an_apology(story: Story) -> None:
    await story.campaign(
        "sorry",
        campaign_body(
            ["s1"],
            name="Sorry for the wait",
            kind="moment",
            templates=message("Sorry about your delivery"),
            eligibility={"moments": ["first_visit_after_delayed_delivery"]},
            holdout_pct=0,
            margin=None,
            acceptance_probability=None,
        ),
    )
    # An earlier visit, so this is not a first visit ever.
    await story.walk_past(LUNCH - dt.timedelta(days=20))
    await story.walk_past(LUNCH - dt.timedelta(days=20, minutes=-5), east_m=3000)
    story.at(LUNCH)
    await story.integration(
        "POST",
        "/v1/deliveries",
        {
            "order_id": "o-late",
            "customer_id": "c1",
            "promised_at": iso(LUNCH - dt.timedelta(days=5)),
            "delivered_at": iso(LUNCH - dt.timedelta(days=3)),
        },
    )
    explained = await story.decision(await story.walk_past(LUNCH))
    assert explained["outcome"] == "send"
    assert explained["campaign_id"] == "sorry"


async def test_ten_pounds_at_80_percent_beats_twenty_at_50(story: Story) -> None:
    await story.campaign("premium", offer("premium", 20, 0.5))
    explained = await story.decision(await story.walk_past(LUNCH))
    assert explained["outcome"] == "send"
    assert explained["campaign_id"] == "blend"
    scores = {c["campaign_id"]: c["score"] for c in explained["candidates"]}
    assert scores == {"blend": pytest.approx(11.0), "premium": pytest.approx(10.0)}
    formulas = {c["campaign_id"]: c["score_formula"] for c in explained["candidates"]}
    assert formulas["blend"].endswith("= 11.00")
    assert formulas["premium"].endswith("= 10.00")


async def test_a_held_out_customer_is_recorded_but_not_invited(story: Story) -> None:
    await story.campaign("blend", offer("blend", 10, 0.8, holdout_pct=100))
    result = await story.walk_past(LUNCH)
    [summary] = result["decisions"]
    assert summary["outcome"] == "holdout"
    assert summary["invite_id"] is None
    explained = await story.decision(result)
    assert explained["reasons"][0]["code"] == "holdout"
