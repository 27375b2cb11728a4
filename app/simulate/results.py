"""What a simulated day produced, gathered for the report.

Decisions and their explanations come from the API (``GET /v1/decisions`` in pages of 500,
``GET /v1/decisions/{id}`` for the story customers), stores and their hours from
``GET /v1/stores``; whether each acceptance story happened, from :mod:`.storycheck`.
Invites are read from the database directly: there is no admin route listing the outbox,
and one query returns every invite of the day with its delivery status faster than any
paging would.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx

from app.demo.city import store_by_id
from app.demo.people import Person
from app.demo.stories import STORIES, Story
from app.hours import compile_hours
from app.simulate.storycheck import StoryCheck, check_stories

if TYPE_CHECKING:
    import asyncpg

    from app.simulate.driver import SimulationRun, Tokens

__all__ = [
    "DEFAULT_STORIES",
    "DayResults",
    "DecisionRow",
    "InviteRow",
    "StoreDay",
    "StoryTrail",
    "collect_results",
    "open_intervals",
]

DEFAULT_STORIES = ("nespresso", "satiation", "complaint")
"""The three customers whose day the report tells: the boutique before nine and at lunch,
the coffee ten minutes earlier, the garden table with three screws missing."""

_INVITES_SQL = """
SELECT i.id, i.decision_id, i.customer_id, i.store_id, i.campaign_id, i.kind, i.status,
       i.cancel_reason, i.cancel_message, i.not_before, i.send_by, i.sent_at, i.delivered_at,
       i.opened_at, i.created_at, i.title
  FROM invites i
 WHERE i.customer_id LIKE 'demo-%' AND i.created_at >= $1 AND i.created_at < $2
 ORDER BY i.created_at
"""

_PENDING_SQL = """
SELECT count(*) FROM invites
 WHERE customer_id LIKE 'demo-%' AND status IN ('pending', 'sending') AND due_at <= $1
   AND send_by > $1
"""


@dataclass(frozen=True, slots=True)
class DecisionRow:
    id: UUID
    decided_at: dt.datetime
    customer_id: str
    store_id: str | None
    campaign_id: str | None
    outcome: str
    reason: str | None
    message: str
    reason_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InviteRow:
    id: UUID
    decision_id: UUID
    customer_id: str
    store_id: str | None
    campaign_id: str | None
    kind: str
    status: str
    cancel_reason: str | None
    cancel_message: str | None
    not_before: dt.datetime
    send_by: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    opened_at: dt.datetime | None
    created_at: dt.datetime
    title: str


@dataclass(frozen=True, slots=True)
class StoreDay:
    """A store and when it was open during the simulated window."""

    id: str
    name: str
    banner: str
    opening_hours: str | None
    open: tuple[tuple[dt.datetime, dt.datetime], ...]


@dataclass(frozen=True, slots=True)
class StoryTrail:
    """A chosen customer's day: every decision with its full explanation."""

    story: Story
    person: Person
    decisions: list[dict[str, Any]]
    invites: list[InviteRow]


@dataclass
class DayResults:
    run: SimulationRun
    decisions: list[DecisionRow]
    invites: list[InviteRow]
    stores: list[StoreDay]
    stories: list[StoryTrail]
    checks: list[StoryCheck] = field(default_factory=list)
    invites_by_decision: dict[UUID, InviteRow] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.invites_by_decision = {i.decision_id: i for i in self.invites}

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(d.outcome for d in self.decisions)

    @property
    def suppression_reasons(self) -> Counter[str]:
        return Counter(d.reason or "unknown" for d in self.decisions if d.outcome == "suppress")

    @property
    def invite_statuses(self) -> Counter[str]:
        return Counter(i.status for i in self.invites)

    @property
    def delivered(self) -> int:
        """Invites the phone received (delivered, and those opened or dismissed after)."""
        return sum(1 for i in self.invites if i.status in ("delivered", "opened", "dismissed"))

    @property
    def opened(self) -> int:
        return sum(1 for i in self.invites if i.status == "opened")

    @property
    def held_out(self) -> int:
        return self.outcomes["holdout"]


def open_intervals(
    opening_hours: str | None, timezone: str, country: str | None, region: str | None,
    start: dt.datetime, end: dt.datetime,
) -> tuple[tuple[dt.datetime, dt.datetime], ...]:  # fmt: skip
    """When the store is open between ``start`` and ``end`` (clipped to the window)."""
    hours = compile_hours(opening_hours, timezone, country, region)
    out: list[tuple[dt.datetime, dt.datetime]] = []
    at = start
    while at < end:
        current = hours.interval(at)
        if current is not None:
            closes = current[1] or end
            out.append((max(current[0], start), min(closes, end)))
            at = closes
            continue
        opens = hours.opens_at(at)
        if opens is None or opens >= end:
            break
        at = opens
    return tuple(out)


async def _all_decisions(
    client: httpx.AsyncClient, tokens: Tokens, since: dt.datetime, until: dt.datetime
) -> list[DecisionRow]:
    rows: list[DecisionRow] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {
            "limit": 500,
            "since": since.isoformat(),
            "until": until.isoformat(),
        }
        if cursor:
            params["cursor"] = cursor
        answer = await client.get("/v1/decisions", params=params, headers=tokens.admin)
        answer.raise_for_status()
        page = answer.json()
        for item in page["items"]:
            if not str(item["customer_id"]).startswith("demo-"):
                continue
            rows.append(
                DecisionRow(
                    id=UUID(item["id"]),
                    decided_at=dt.datetime.fromisoformat(item["decided_at"]),
                    customer_id=item["customer_id"],
                    store_id=item.get("store_id"),
                    campaign_id=item.get("campaign_id"),
                    outcome=item["outcome"],
                    reason=item.get("reason"),
                    message=item.get("message") or "",
                    reason_codes=tuple(item.get("reason_codes") or ()),
                )
            )
        cursor = page.get("next_cursor")
        if not cursor:
            break
    rows.sort(key=lambda d: (d.decided_at, str(d.id)))
    return rows


async def _stores(
    client: httpx.AsyncClient, tokens: Tokens, start: dt.datetime, end: dt.datetime
) -> list[StoreDay]:
    stores: list[StoreDay] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        answer = await client.get("/v1/stores", params=params, headers=tokens.admin)
        answer.raise_for_status()
        page = answer.json()
        for item in page["items"]:
            if not item["id"].startswith("demo-"):
                continue
            stores.append(
                StoreDay(
                    id=item["id"],
                    name=item["name"],
                    banner=store_by_id(item["id"]).banner,
                    opening_hours=item.get("opening_hours"),
                    open=open_intervals(
                        item.get("opening_hours"),
                        item["timezone"],
                        item.get("country"),
                        item.get("region"),
                        start,
                        end,
                    ),
                )
            )
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return stores


async def _invites(pool: asyncpg.Pool, start: dt.datetime, end: dt.datetime) -> list[InviteRow]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(_INVITES_SQL, start, end)
    return [InviteRow(**dict(r)) for r in rows]


async def outbox_drained(pool: asyncpg.Pool, at: dt.datetime) -> bool:
    """Nothing left that the worker should have delivered by ``at``."""
    async with pool.acquire() as conn:
        return int(await conn.fetchval(_PENDING_SQL, at)) == 0


async def collect_results(
    client: httpx.AsyncClient,
    tokens: Tokens,
    pool: asyncpg.Pool,
    run: SimulationRun,
    story_keys: tuple[str, ...] = DEFAULT_STORIES,
) -> DayResults:
    """Everything the report shows (see the module docstring)."""
    start, end = run.started_at, run.ended_at
    decisions = await _all_decisions(client, tokens, start, end + dt.timedelta(minutes=1))
    invites = await _invites(pool, start, end + dt.timedelta(minutes=1))
    stores = await _stores(client, tokens, start, end)
    taking_part = {p.id for p in run.people}
    story_customers = {s.person.id for s in STORIES} & taking_part
    explained: dict[str, list[dict[str, Any]]] = {c: [] for c in story_customers}
    for row in decisions:
        if row.customer_id in story_customers:
            answer = await client.get(f"/v1/decisions/{row.id}", headers=tokens.admin)
            answer.raise_for_status()
            explained[row.customer_id].append(answer.json())
    trails = [
        StoryTrail(
            story=story,
            person=story.person,
            decisions=explained[story.person.id],
            invites=[i for i in invites if i.customer_id == story.person.id],
        )
        for key in story_keys
        for story in STORIES
        if story.key == key and story.person.id in story_customers
    ]
    checks = await check_stories(pool, explained, taking_part)
    return DayResults(
        run=run,
        decisions=decisions,
        invites=invites,
        stores=stores,
        stories=trails,
        checks=checks,
    )
