"""``kairos demo seed``: the demo chain and its customers, through the API's own services.

Everything goes through the service functions the HTTP API calls (validation, audit log,
idempotency included), as the admin ``kairos-demo``; the customers' devices are registered
as the customers themselves. Customers are written in chunks, each chunk in one transaction,
over a few connections at once, so 500 customers and their histories take seconds.

Seeding twice changes nothing: every write is an idempotent upsert that leaves an identical
row alone (no new version, no audit entry), and a device already registered is not
refreshed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from app.auth import Principal
from app.campaigns.services import put_campaign
from app.common import utcnow
from app.customers.schemas import (
    Consents,
    CustomerUpsert,
    DeliveryIn,
    DeviceIn,
    PurchaseIn,
    PurchaseItem,
    QuietHours,
    SupportCaseIn,
)
from app.customers.services import (
    record_delivery,
    record_purchase,
    register_device,
    upsert_customer,
    upsert_support_case,
)
from app.demo.city import STORES, campaigns, geofence_id, geofence_of, store_in
from app.demo.people import Person, demo_people
from app.stores.services import put_geofence, put_store

if TYPE_CHECKING:
    import asyncpg

    from app.db import DbConnection

__all__ = [
    "DEMO_ACTOR",
    "SeedReport",
    "device_token",
    "is_empty",
    "seed_demo",
]

DEMO_ACTOR = Principal(sub="kairos-demo", role="admin")
"""Who the audit log says wrote the demo data."""

APP_VERSION = "meridian-app/4.2.0"

_CHUNK = 50
_CONNECTIONS = 4


def device_token(customer_id: str) -> str:
    """The push token a demo device registers: the relay's address for that phone."""
    return f"demo-push:{customer_id}:phone"


@dataclass
class SeedReport:
    """What one seeding wrote (``created``) and how long it took."""

    stores: int = 0
    geofences: int = 0
    campaigns: int = 0
    customers: int = 0
    devices: int = 0
    purchases: int = 0
    cases: int = 0
    deliveries: int = 0
    seconds: float = 0.0
    people: int = 0

    @property
    def created(self) -> int:
        return (
            self.stores + self.geofences + self.campaigns + self.customers + self.devices
            + self.purchases + self.cases + self.deliveries
        )  # fmt: skip

    def summary(self) -> str:
        if not self.created:
            return (
                f"demo already seeded: nothing changed ({len(STORES)} stores, {self.people} "
                f"customers checked in {self.seconds:.1f}s)"
            )
        return (
            f"demo seeded in {self.seconds:.1f}s: {self.stores} stores, {self.geofences} "
            f"geofences, {self.campaigns} campaigns, {self.customers} customers, "
            f"{self.devices} devices, {self.purchases} purchases, {self.cases} support cases, "
            f"{self.deliveries} deliveries written"
        )


async def is_empty(conn: DbConnection) -> bool:
    """No store, campaign or customer at all: a fresh database ``make run`` may seed."""
    return bool(
        await conn.fetchval(
            "SELECT NOT EXISTS (SELECT 1 FROM stores) AND NOT EXISTS (SELECT 1 FROM campaigns)"
            " AND NOT EXISTS (SELECT 1 FROM customers)"
        )
    )


async def _seed_chain(conn: DbConnection, report: SeedReport, now: dt.datetime) -> None:
    async with conn.transaction():
        for store in STORES:
            written = await put_store(
                conn, DEMO_ACTOR, store.id, store_in(store), if_match=None, now=now
            )
            report.stores += written.created
            fence = await put_geofence(
                conn, DEMO_ACTOR, store.id, geofence_id(store), geofence_of(store), if_match=None
            )
            report.geofences += fence.created
        for campaign_id, body in campaigns():
            written_campaign = await put_campaign(
                conn, DEMO_ACTOR, campaign_id, body, if_match=None, now=now
            )
            report.campaigns += written_campaign.created


def _profile(person: Person) -> CustomerUpsert:
    quiet = (
        QuietHours(start=person.quiet_hours[0], end=person.quiet_hours[1])
        if person.quiet_hours
        else None
    )
    return CustomerUpsert(
        locale=person.locale,
        first_name=person.first_name,
        consents=Consents(location=person.consent_location, marketing=person.consent_marketing),
        quiet_hours=quiet,
        segments=list(person.segments),
        flags={"demo": True, **person.flags},
    )


async def _seed_person(
    conn: DbConnection, person: Person, report: SeedReport, now: dt.datetime
) -> None:
    written = await upsert_customer(conn, DEMO_ACTOR, person.id, _profile(person), now=now)
    report.customers += written.created
    token = device_token(person.id)
    known = await conn.fetchval(
        "SELECT 1 FROM devices WHERE platform = 'webhook' AND token = $1 AND customer_id = $2"
        " AND active",
        token,
        person.id,
    )
    if known is None:
        device = await register_device(
            conn,
            Principal(sub=person.id, role="customer"),
            DeviceIn(platform="webhook", token=token, app_version=APP_VERSION),
        )
        report.devices += device.created
    for order in person.orders:
        purchase = await record_purchase(
            conn,
            DEMO_ACTOR,
            PurchaseIn(
                order_id=order.order_id,
                customer_id=person.id,
                channel="store" if order.store_id else "online",
                store_id=order.store_id,
                occurred_at=order.occurred_at,
                currency="GBP",
                total=order.total,
                items=[
                    PurchaseItem(
                        sku=sku, category=category, quantity=Decimal(quantity), unit_price=price
                    )
                    for sku, category, quantity, price in order.items
                ],
            ),
            now=now,
        )
        report.purchases += purchase.created
    for case in person.cases:
        written_case = await upsert_support_case(
            conn,
            DEMO_ACTOR,
            case.case_id,
            SupportCaseIn(
                customer_id=person.id,
                kind=case.kind,
                opened_at=case.opened_at,
                closed_at=case.closed_at,
                store_id=case.store_id,
                summary=case.summary,
            ),
            now=now,
        )
        report.cases += written_case.created
    for delivery in person.deliveries:
        written_delivery = await record_delivery(
            conn,
            DEMO_ACTOR,
            DeliveryIn(
                order_id=delivery.order_id,
                customer_id=person.id,
                promised_at=delivery.promised_at,
                delivered_at=delivery.delivered_at,
            ),
            now=now,
        )
        report.deliveries += written_delivery.created


async def seed_demo(
    pool: asyncpg.Pool,
    *,
    now: dt.datetime | None = None,
    people: tuple[Person, ...] | None = None,
) -> SeedReport:
    """Write the demo chain and its customers (idempotent); see the module docstring.

    Args:
        pool: Connections to write with (a few chunks are written at once).
        now: The instant the services validate against (default: the real clock).
        people: Who to write (default: all of :func:`~app.demo.people.demo_people`).
    """
    started = time.perf_counter()
    now = now or utcnow()
    people = demo_people() if people is None else people
    report = SeedReport(people=len(people))
    async with pool.acquire() as conn:
        await _seed_chain(conn, report, now)
    chunks = [people[i : i + _CHUNK] for i in range(0, len(people), _CHUNK)]
    queue: asyncio.Queue[tuple[Person, ...]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def writer() -> None:
        async with pool.acquire() as conn:
            while not queue.empty():
                chunk = queue.get_nowait()
                async with conn.transaction():
                    for person in chunk:
                        await _seed_person(conn, person, report, now)

    await asyncio.gather(*(writer() for _ in range(min(_CONNECTIONS, len(chunks)))))
    report.seconds = time.perf_counter() - started
    return report
