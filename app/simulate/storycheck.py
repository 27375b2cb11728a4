"""Did each acceptance story happen? The report's checklist and the simulation test's oracle.

A visit expectation is met by a decision of the story's customer at the story's store whose
decisive reason (or, for ``any``, one of its reasons or a candidate's) is the expected code,
with the expected outcome and campaign when the story names them. A purchase expectation
(an order moment: a milestone, a first repeat order, a first order in a new category) is
met when the till's order of the day makes that moment in the customer's context as of the
order: ``POST /v1/purchases`` records orders but does not run the policy, so there is no
decision to read; the context is read from the database with the policy's own loader.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.context import load_context
from app.demo.city import TIMEZONE
from app.demo.stories import STORIES, Expect, Story
from app.moments import Moment, PurchaseMade, detect_moments

if TYPE_CHECKING:
    import asyncpg

__all__ = ["StoryCheck", "check_stories", "matching_decision", "order_moments"]

_SIM_ORDER = """
SELECT order_id, occurred_at, currency, total, categories FROM purchases
 WHERE customer_id = $1 AND store_id = $2 AND order_id LIKE 'demo-sim-%'
 ORDER BY occurred_at LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class StoryCheck:
    """One expectation of one story, and what showed it (or its absence).

    Attributes:
        evidence: The decision's summary, or the moment's sentence; empty when not met.
        at: When it happened.
    """

    story: Story
    expect: Expect
    met: bool
    evidence: str
    at: dt.datetime | None


def matching_decision(expect: Expect, decisions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first explained decision (``GET /v1/decisions/{id}``) that shows ``expect``."""
    for d in sorted(decisions, key=lambda d: d["decided_at"]):
        if d.get("store_id") != expect.store_id:
            continue
        if expect.outcome is not None and d["outcome"] != expect.outcome:
            continue
        if expect.campaign_id is not None and d.get("campaign_id") != expect.campaign_id:
            continue
        codes = [r["code"] for r in d.get("reasons") or ()]
        lost = [(c.get("lost_because") or {}).get("code") for c in d.get("candidates") or ()]
        if expect.where == "decisive" and codes and codes[0] == expect.code:
            return d
        if expect.where == "any" and (expect.code in codes or expect.code in lost):
            return d
    return None


async def order_moments(
    conn: asyncpg.Connection | Any, customer_id: str, store_id: str
) -> tuple[dt.datetime | None, list[Moment]]:
    """The moments the customer's order of the simulated day at ``store_id`` makes, as of
    the order (the history before it); (None, []) when no such order was recorded."""
    order = await conn.fetchrow(_SIM_ORDER, customer_id, store_id)
    if order is None:
        return None, []
    context = await load_context(
        conn,
        customer_id=customer_id,
        store_id=store_id,
        at=order["occurred_at"],
        timezone=TIMEZONE,
        exclude_order_id=order["order_id"],
    )
    made = PurchaseMade(
        order_id=order["order_id"],
        at=order["occurred_at"],
        channel="store",
        store_id=store_id,
        currency=order["currency"],
        total=order["total"],
        categories=frozenset(order["categories"]),
    )
    return order["occurred_at"], detect_moments(context, made)


async def check_stories(
    pool: asyncpg.Pool,
    explained: dict[str, list[dict[str, Any]]],
    taking_part: set[str],
) -> list[StoryCheck]:
    """Every expectation of every story whose customer took part in the simulation.

    Args:
        explained: Each story customer's explained decisions.
    """
    checks: list[StoryCheck] = []
    async with pool.acquire() as conn:
        for story in STORIES:
            if story.person.id not in taking_part:
                continue
            for expect in story.expects:
                if expect.trigger == "purchase":
                    at, moments = await order_moments(conn, story.person.id, expect.store_id)
                    found = next((m for m in moments if m.code == expect.code), None)
                    checks.append(
                        StoryCheck(
                            story=story,
                            expect=expect,
                            met=found is not None,
                            evidence=found.message if found else "",
                            at=at,
                        )
                    )
                    continue
                decision = matching_decision(expect, explained.get(story.person.id, []))
                checks.append(
                    StoryCheck(
                        story=story,
                        expect=expect,
                        met=decision is not None,
                        evidence=decision["summary"] if decision else "",
                        at=(
                            dt.datetime.fromisoformat(decision["decided_at"]) if decision else None
                        ),
                    )
                )
    return checks
