"""The context loader against a real database: every fact, replayability, one round trip."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import asyncpg
import pytest

from app.context import calendar_year_start, load_context, local_day_start
from app.customers.schemas import QuietHours
from app.moments import PurchaseMade, Visit, detect_moments

UTC = dt.UTC
AT = dt.datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
ZURICH = "Europe/Zurich"


def ago(**kwargs: float) -> dt.datetime:
    return AT - dt.timedelta(**kwargs)


async def add_store(db: asyncpg.Connection, store_id: str, tz: str = ZURICH) -> None:
    await db.execute(
        """INSERT INTO stores (id, name, lat, lng, timezone)
           VALUES ($1::text, $1::text, 47.37, 8.54, $2)""",
        store_id,
        tz,
    )


async def add_customer(db: asyncpg.Connection, customer_id: str, **columns: object) -> None:
    await db.execute("INSERT INTO customers (id) VALUES ($1)", customer_id)
    for column, value in columns.items():
        await db.execute(
            f"UPDATE customers SET {column} = $2 WHERE id = $1",  # noqa: S608 - test's own names
            customer_id,
            value,
        )


async def add_purchase(
    db: asyncpg.Connection,
    order_id: str,
    customer_id: str,
    at: dt.datetime,
    *,
    store_id: str | None = "s1",
    total: str = "10.00",
    currency: str = "EUR",
    categories: tuple[str, ...] = ("coffee",),
) -> None:
    await db.execute(
        """INSERT INTO purchases (order_id, customer_id, store_id, channel, occurred_at, currency,
                                  total, categories, payload_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'h')""",
        order_id,
        customer_id,
        store_id,
        "store" if store_id else "online",
        at,
        currency,
        Decimal(total),
        list(categories),
    )


async def add_event(
    db: asyncpg.Connection, customer_id: str, at: dt.datetime, store_id: str | None, kind: str
) -> uuid.UUID:
    return await db.fetchval(
        """INSERT INTO events (customer_id, event_id, type, occurred_at, store_id, status)
           VALUES ($1, $2, $3, $4, $5, 'accepted') RETURNING id""",
        customer_id,
        uuid.uuid4().hex,
        kind,
        at,
        store_id,
    )


async def add_invite(
    db: asyncpg.Connection,
    customer_id: str,
    created: dt.datetime,
    status: str,
    campaign: str,
    store_id: str | None = None,
) -> uuid.UUID:
    decision: uuid.UUID = await db.fetchval(
        """INSERT INTO decisions (customer_id, store_id, campaign_id, decided_at, outcome,
                                  explanation, policy_version)
           VALUES ($1, $2, $3, $4, 'send', 'test', 't') RETURNING id""",
        customer_id,
        store_id,
        campaign,
        created,
    )
    await db.execute(
        """INSERT INTO invites (decision_id, customer_id, store_id, campaign_id, kind, locale,
                                title, body, status, not_before, send_by, created_at)
           VALUES ($1, $2, $3, $4, 'offer', 'en', 't', 'b', $5, $6::timestamptz,
                   $6::timestamptz + interval '1 hour', $6::timestamptz)""",
        decision,
        customer_id,
        store_id,
        campaign,
        status,
        created,
    )
    return decision


async def add_holdout(
    db: asyncpg.Connection, customer_id: str, at: dt.datetime, campaign: str, store_id: str
) -> uuid.UUID:
    """A holdout decision: no invite row, but it counts for caps like one."""
    decision: uuid.UUID = await db.fetchval(
        """INSERT INTO decisions (customer_id, store_id, campaign_id, decided_at, outcome,
                                  explanation, policy_version)
           VALUES ($1, $2, $3, $4, 'holdout', 'test', 't') RETURNING id""",
        customer_id,
        store_id,
        campaign,
        at,
    )
    return decision


@pytest.fixture
async def world(db: asyncpg.Connection) -> asyncpg.Connection:
    """Customer c1 with a history at s1 (Zurich), s2 and online, around ``AT``."""
    await add_store(db, "s1")
    await add_store(db, "s2")
    for campaign in ("camp-a", "camp-b"):
        await db.execute(
            """INSERT INTO campaigns (id, name, kind, templates, default_locale)
               VALUES ($1::text, $1::text, 'offer', '{"en": {"title": "t", "body": "b"}}', 'en')""",
            campaign,
        )
    await add_customer(
        db,
        "c1",
        locale="fr-CH",
        consent_location=True,
        consent_marketing=True,
        quiet_hours={"start": "22:00", "end": "07:00"},
        segments=["high_value"],
    )
    # 2024-12-31 23:30 UTC is already 2025 in Zurich: it counts for this calendar year.
    await add_purchase(db, "o-2023", "c1", dt.datetime(2023, 5, 1, 10, tzinfo=UTC), total="5.00")
    await add_purchase(db, "o-nye", "c1", dt.datetime(2024, 12, 31, 23, 30, tzinfo=UTC))
    await add_purchase(
        db, "o-online", "c1", ago(days=10), store_id=None, categories=("garden",), total="99.50"
    )
    await add_purchase(db, "o-s2", "c1", ago(days=3), store_id="s2", currency="CHF")
    await add_purchase(db, "o-s1", "c1", ago(hours=2), categories=("coffee", "cups"))
    await add_purchase(db, "o-future", "c1", AT + dt.timedelta(minutes=1))
    await add_event(db, "c1", ago(days=400), "s2", "enter")
    await add_event(db, "c1", ago(minutes=30), "s1", "dwell")
    await add_event(db, "c1", ago(minutes=20), "s1", "exit")  # not a visit
    await add_event(db, "c1", ago(minutes=10), None, "fix")  # not a visit
    await add_event(db, "c1", AT + dt.timedelta(minutes=1), "s2", "checkin")  # after AT
    cases = [
        ("case-open", "complaint", ago(days=2), None),
        ("case-closed", "question", ago(days=9), ago(days=8)),
        ("case-cancel", "cancellation", ago(days=1), None),
        ("case-closed-later", "question", ago(days=1), AT + dt.timedelta(days=1)),
        ("case-future", "complaint", AT + dt.timedelta(hours=1), None),
    ]
    for case_id, kind, opened, closed in cases:
        await db.execute(
            """INSERT INTO support_cases (id, customer_id, kind, opened_at, closed_at)
               VALUES ($1, 'c1', $2, $3, $4)""",
            case_id,
            kind,
            opened,
            closed,
        )
    await db.execute(
        """INSERT INTO deliveries (order_id, customer_id, promised_at, delivered_at) VALUES
           ('o-online', 'c1', $1, $2), ('o-old', 'c1', $3, $3), ('o-next', 'c1', $4, NULL)""",
        ago(days=8),
        ago(days=6),
        ago(days=60),
        AT + dt.timedelta(days=2),
    )
    await db.execute(
        """INSERT INTO devices (customer_id, platform, token, active) VALUES
           ('c1', 'fcm', 'tok-active-0123456789', true),
           ('c1', 'apns', 'tok-inactive-0123456789', false)"""
    )
    await add_invite(db, "c1", ago(days=1), "sent", "camp-a")
    await add_invite(db, "c1", ago(days=2), "delivered", "camp-a")
    await add_invite(db, "c1", ago(days=3), "pending", "camp-b")
    await add_invite(db, "c1", ago(days=1), "failed", "camp-b")  # does not count
    await add_invite(db, "c1", ago(days=8), "sent", "camp-a")  # outside the window
    return db


async def test_loads_every_fact_in_one_round_trip(world: asyncpg.Connection) -> None:
    # The first use on a connection prepares the statement and lets asyncpg introspect the
    # record types once; from then on, a load is one statement: one round trip.
    await load_context(world, customer_id="warm-up", store_id="s1", at=AT, timezone=ZURICH)
    statements: list[str] = []
    world.add_query_logger(lambda record: statements.append(record.query))
    ctx = await load_context(world, customer_id="c1", store_id="s1", at=AT, timezone=ZURICH)
    await asyncio.sleep(0)  # asyncpg calls query loggers with call_soon
    assert len(statements) == 1, statements

    assert ctx.known
    assert ctx.locale == "fr-CH"
    assert ctx.consent_location
    assert ctx.consent_marketing
    assert ctx.quiet_hours == QuietHours(start="22:00", end="07:00")
    assert ctx.segments == {"high_value"}
    assert [d.platform for d in ctx.devices] == ["fcm"]

    assert ctx.orders_total == 5  # o-future is after AT
    assert ctx.orders_this_year == 4  # o-nye counts: 2025 in Zurich
    assert ctx.orders_at_store == 3  # o-2023, o-nye, o-s1
    assert ctx.lifetime_value == {"EUR": Decimal("124.50"), "CHF": Decimal("10.00")}
    assert ctx.first_order_at == dt.datetime(2023, 5, 1, 10, tzinfo=UTC)
    assert ctx.last_order_at == ago(hours=2)
    assert ctx.last_purchase is not None
    assert ctx.last_purchase.order_id == "o-s1"
    assert ctx.last_purchase.categories == {"coffee", "cups"}
    assert ctx.last_purchase_at_store is not None
    assert ctx.last_purchase_at_store.order_id == "o-s1"
    assert ctx.categories == {"coffee", "cups", "garden"}
    assert ctx.last_purchase_by_category["garden"] == ago(days=10)
    assert ctx.last_purchase_by_category["coffee"] == ago(hours=2)

    assert ctx.first_visit_at == dt.datetime(2023, 5, 1, 10, tzinfo=UTC)  # a store purchase
    assert ctx.last_visit_at == ago(minutes=30)  # the dwell; exit and fix are no visits
    assert ctx.last_visit_at_store == ago(minutes=30)

    assert [c.case_id for c in ctx.open_cases] == ["case-open", "case-cancel", "case-closed-later"]
    assert ctx.pending_cancellation
    assert ctx.open_complaint

    delivery = ctx.latest_delivery
    assert delivery is not None
    assert delivery.order_id == "o-online"
    assert delivery.delayed
    assert delivery.delivered_at == ago(days=6)
    assert delivery.followed_by_visit  # o-s2, o-s1 and the dwell came after the promise

    assert ctx.invites_last_7d == 3
    assert ctx.invites_last_7d_by_campaign == {"camp-a": 2, "camp-b": 1}


async def test_replay_at_an_earlier_instant_sees_only_what_had_happened(
    world: asyncpg.Connection,
) -> None:
    earlier = ago(days=7)  # promised 8 days ago, delivered 6 days ago: overdue at this instant
    ctx = await load_context(world, customer_id="c1", store_id="s1", at=earlier, timezone=ZURICH)
    assert ctx.orders_total == 3
    assert ctx.last_purchase is not None
    assert ctx.last_purchase.order_id == "o-online"
    assert ctx.latest_delivery is not None
    assert ctx.latest_delivery.delivered_at is None
    assert ctx.latest_delivery.delayed
    assert not ctx.latest_delivery.followed_by_visit
    assert ctx.open_cases == ()
    assert ctx.last_visit_at_store == dt.datetime(2024, 12, 31, 23, 30, tzinfo=UTC)
    before_close = await load_context(
        world, customer_id="c1", store_id="s1", at=ago(days=8, hours=12), timezone=ZURICH
    )
    assert [c.case_id for c in before_close.open_cases] == ["case-closed"]
    assert before_close.latest_delivery is not None
    assert before_close.latest_delivery.order_id == "o-old"  # o-online was not yet promised
    assert not before_close.latest_delivery.delayed
    # The same instant loaded twice gives the same context.
    again = await load_context(world, customer_id="c1", store_id="s1", at=earlier, timezone=ZURICH)
    assert again == ctx


async def test_calendar_year_follows_the_store_time_zone(world: asyncpg.Connection) -> None:
    in_new_york = await load_context(
        world, customer_id="c1", store_id="s1", at=AT, timezone="America/New_York"
    )
    assert in_new_york.orders_this_year == 3  # 2024-12-31 18:30 in New York
    assert calendar_year_start(AT, ZURICH) == dt.datetime(2024, 12, 31, 23, tzinfo=UTC)


async def test_the_fact_at_hand_is_left_out(world: asyncpg.Connection) -> None:
    ctx = await load_context(
        world,
        customer_id="c1",
        store_id="s1",
        at=AT,
        timezone=ZURICH,
        exclude_order_id="o-s1",
    )
    assert ctx.orders_total == 4
    assert ctx.last_purchase is not None
    assert ctx.last_purchase.order_id == "o-s2"
    assert "cups" not in ctx.categories


async def test_unknown_customer_gets_an_empty_context(db: asyncpg.Connection) -> None:
    ctx = await load_context(db, customer_id="nobody", store_id="s1", at=AT, timezone=ZURICH)
    assert not ctx.known
    assert ctx.orders_total == 0
    assert ctx.latest_delivery is None
    assert ctx.devices == ()
    assert not ctx.consent_marketing
    assert ctx.lifetime_value == {}


async def test_naive_instant_is_refused(db: asyncpg.Connection) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await load_context(
            db, customer_id="c1", store_id="s1", at=AT.replace(tzinfo=None), timezone=ZURICH
        )


async def test_delayed_delivery_then_visit_end_to_end(db: asyncpg.Connection) -> None:
    """Loader and moments together: the first visit after a late delivery, then not again."""
    await add_store(db, "s1")
    await add_customer(db, "c2")
    await add_purchase(db, "o-1", "c2", ago(days=20), store_id=None)
    await db.execute(
        """INSERT INTO deliveries (order_id, customer_id, promised_at, delivered_at)
           VALUES ('o-1', 'c2', $1, $2)""",
        ago(days=15),
        ago(days=12),
    )
    visit_id = await add_event(db, "c2", ago(minutes=1), "s1", "checkin")
    ctx = await load_context(
        db,
        customer_id="c2",
        store_id="s1",
        at=ago(minutes=1),
        timezone=ZURICH,
        exclude_event_id=visit_id,
    )
    codes = [m.code for m in detect_moments(ctx, Visit(store_id="s1", at=ago(minutes=1)))]
    assert codes == ["first_visit_after_delayed_delivery", "first_visit_ever"]

    # An hour later the check-in is history: the next purchase is no longer "first back".
    ctx = await load_context(db, customer_id="c2", store_id="s1", at=AT, timezone=ZURICH)
    assert ctx.latest_delivery is not None
    assert ctx.latest_delivery.followed_by_visit
    purchase = PurchaseMade(
        order_id="o-2",
        at=AT,
        channel="store",
        store_id="s1",
        currency="EUR",
        total=Decimal(4),
        categories=frozenset({"coffee"}),
    )
    assert [m.code for m in detect_moments(ctx, purchase)] == ["first_repeat_order"]


async def test_what_caps_need(db: asyncpg.Connection) -> None:
    """Rolling 24 h and 7 days, today in the store's zone, the latest per campaign and at this
    store; holdouts count like invites; failed ones do not; a replayed decision is left out."""
    await add_store(db, "s1")
    await add_store(db, "s2")
    for campaign in ("camp-a", "camp-b", "camp-c"):
        await db.execute(
            """INSERT INTO campaigns (id, name, kind, templates, default_locale)
               VALUES ($1::text, $1::text, 'offer', '{"en": {"title": "t", "body": "b"}}', 'en')""",
            campaign,
        )
    await add_customer(db, "c1", first_name="Ana")
    # AT is 13:00 in Zurich: local midnight was 13 hours ago.
    await add_invite(db, "c1", ago(hours=2), "opened", "camp-a", "s1")
    await add_invite(db, "c1", ago(hours=14), "delivered", "camp-a", "s2")  # yesterday, local
    await add_invite(db, "c1", ago(hours=30), "sent", "camp-b", "s2")
    await add_invite(db, "c1", ago(hours=1), "failed", "camp-c", "s1")  # does not count
    await add_invite(db, "c1", ago(days=40), "sent", "camp-c", "s1")  # only for "last"
    replayed = await add_invite(db, "c1", AT, "pending", "camp-b", "s1")  # the one replayed
    await add_holdout(db, "c1", ago(hours=5), "camp-b", "s1")
    await add_invite(db, "c1", AT + dt.timedelta(seconds=1), "pending", "camp-a", "s1")  # later

    ctx = await load_context(
        db,
        customer_id="c1",
        store_id="s1",
        at=AT,
        timezone=ZURICH,
        exclude_decision_id=replayed,
    )
    assert ctx.first_name == "Ana"
    assert local_day_start(AT, ZURICH) == ago(hours=13)
    assert ctx.invites_last_24h == 3  # opened, delivered, holdout
    assert ctx.invites_last_24h_by_campaign == {"camp-a": 2, "camp-b": 1}
    assert ctx.invites_last_7d == 4
    assert ctx.invites_last_7d_by_campaign == {"camp-a": 2, "camp-b": 2}
    assert ctx.invites_today == 2  # opened 2 h ago and the holdout 5 h ago
    assert ctx.last_invite_at_by_campaign == {
        "camp-a": ago(hours=2),
        "camp-b": ago(hours=5),
        "camp-c": ago(days=40),
    }
    assert ctx.last_invite_at_store == ago(hours=2)

    with_replayed = await load_context(db, customer_id="c1", store_id="s1", at=AT, timezone=ZURICH)
    assert with_replayed.invites_last_24h == 4
    assert with_replayed.last_invite_at_store == AT
