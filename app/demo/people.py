"""The demo's customers: who they are, where they live and work, what they bought.

:func:`demo_people` returns the same people every time (a seeded generator): the seed
writes their profiles and histories, and the simulation walks them through the city. The
first ones are the *story customers* of :mod:`app.demo.stories`, whose histories are written
so that each acceptance story of the design happens on :data:`~app.demo.city.DEMO_DAY`;
the rest are ordinary customers with believable histories: regulars, the occasional
lapsed or brand-new customer, a few high-value ones, open complaints, pending
cancellations and late deliveries at realistic rates, and a handful whose phones report
mocked locations.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from app.demo.city import (
    COUNTRY,
    DEMO_DAY,
    DISTRICTS,
    REGION,
    STORES,
    TIMEZONE,
    DemoStore,
    District,
)
from app.hours import compile_hours

__all__ = [
    "CATALOGUE",
    "Case",
    "Delivery",
    "Order",
    "Person",
    "Persona",
    "demo_people",
    "local",
]

ZONE = ZoneInfo(TIMEZONE)

Persona = Literal["commuter", "shopper", "night_owl", "local", "spoofer"]

# What the tills sell: category -> (sku, name, unit price in GBP).
CATALOGUE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "coffee": (("CAP-RIS-10", "Ristretto capsules x10", "4.70"),
               ("CAP-LUN-10", "Lungo capsules x10", "4.90"),
               ("CUP-FLAT", "Flat white", "3.40"), ("CUP-AMER", "Americano", "2.90")),
    "machines": (("MAC-ESS", "Essenza Mini", "99.00"), ("MAC-VPRO", "Vertuo Pro", "229.00")),
    "bakery": (("BAK-CROI", "Croissant", "2.60"), ("BAK-SOUR", "Sourdough loaf", "4.80")),
    "garden_furniture": (("GF-TABLE", "Teak garden table", "349.00"),
                         ("GF-CHAIR", "Folding chair", "89.00")),
    "garden_accessories": (("GA-PARA", "Parasol", "79.00"), ("GA-CUSH", "Seat cushion", "25.00")),
    "plants": (("PL-BULB", "Tulip bulbs x20", "6.50"), ("PL-OLIVE", "Olive tree", "45.00")),
    "phones": (("PH-A15", "Smartphone A15", "699.00"),),
    "accessories": (("AC-CASE", "Phone case", "29.99"), ("AC-CHRG", "Fast charger", "24.99")),
    "drinks": (("DR-PINT", "Pint of pale ale", "6.20"), ("DR-WINE", "Glass of wine", "7.50")),
    "food": (("FD-SAND", "Sandwich", "4.20"), ("FD-SALAD", "Salad bowl", "6.90")),
    "health": (("HE-VITD", "Vitamin D", "6.99"),),
    "beauty": (("BE-CREAM", "Hand cream", "12.50"),),
}  # fmt: skip


def local(day: dt.date, hhmm: str, days: int = 0) -> dt.datetime:
    """``hh:mm`` on ``day`` (plus ``days``) in London, as an aware instant."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(day + dt.timedelta(days=days), dt.time(hour, minute), ZONE)


@dataclass(frozen=True, slots=True)
class Order:
    """A purchase: in a store (``store_id``) or online (None)."""

    order_id: str
    occurred_at: dt.datetime
    store_id: str | None
    items: tuple[tuple[str, str, int, Decimal], ...]  # sku, category, quantity, unit price

    @property
    def total(self) -> Decimal:
        return sum((q * p for _, _, q, p in self.items), Decimal(0))


@dataclass(frozen=True, slots=True)
class Case:
    case_id: str
    kind: Literal["complaint", "cancellation", "question"]
    opened_at: dt.datetime
    summary: str
    store_id: str | None = None
    closed_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    order_id: str
    promised_at: dt.datetime
    delivered_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Person:
    """A demo customer.

    Attributes:
        home / work: Where the day starts and where a commuter spends it (lat, lng).
        favourites: Stores they go to (histories are there; the day passes by them).
        story: The key of their story in :mod:`app.demo.stories`, if any.
    """

    id: str
    first_name: str
    locale: str
    persona: Persona
    home_district: str
    home: tuple[float, float]
    work_district: str | None
    work: tuple[float, float] | None
    favourites: tuple[str, ...]
    consent_location: bool = True
    consent_marketing: bool = True
    segments: tuple[str, ...] = ()
    quiet_hours: tuple[str, str] | None = None
    orders: tuple[Order, ...] = ()
    cases: tuple[Case, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    story: str | None = None
    flags: dict[str, bool | int | str] = field(default_factory=dict)


_EN_NAMES = (
    "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia", "Jack", "Ivy",
    "Leo", "Lily", "Arthur", "Freya", "Muhammad", "Florence", "Oscar", "Evie", "Charlie",
    "Poppy", "Henry", "Rosie", "Theo", "Willow", "Alfie", "Sophia", "Archie", "Ella",
    "Joshua", "Grace", "Samir", "Aisha", "Chidi", "Ngozi", "Wei", "Mei", "Arjun", "Anika",
    "Tomasz", "Zofia", "Kwame", "Ama", "Liam", "Niamh", "Callum", "Eilidh", "Rhys", "Cerys",
)  # fmt: skip
_FR_NAMES = (
    "Louise", "Gabriel", "Jade", "Raphaël", "Chloé", "Arthur", "Léa", "Louis", "Manon",
    "Jules", "Camille", "Hugo", "Inès", "Lucas", "Zoé", "Adam", "Alice", "Nathan", "Emma",
    "Théo",
)  # fmt: skip


def _jitter(rng: random.Random, district: District, metres: float) -> tuple[float, float]:
    """A point within about ``metres`` of the district's centre."""
    d_lat = rng.uniform(-metres, metres) / 111_320
    d_lng = rng.uniform(-metres, metres) / 69_300  # one degree of longitude in London
    return round(district.lat + d_lat, 6), round(district.lng + d_lng, 6)


def _near(district: str, stores: tuple[DemoStore, ...] = STORES) -> list[DemoStore]:
    """Stores of a district and of the districts within about 3 km."""
    centre = DISTRICTS[district]
    return [
        s
        for s in stores
        if abs(s.lat - centre.lat) * 111.3 < 3.0 and abs(s.lng - centre.lng) * 69.3 < 3.0
    ]


def _items(rng: random.Random, store: DemoStore) -> tuple[tuple[str, str, int, Decimal], ...]:
    category = rng.choice(store.sells)
    sku, _, price = rng.choice(CATALOGUE[category])
    lines = [(sku, category, rng.choice((1, 1, 1, 2)), Decimal(price))]
    if len(store.sells) > 1 and rng.random() < 0.3:
        other = rng.choice([c for c in store.sells if c != category])
        sku2, _, price2 = rng.choice(CATALOGUE[other])
        lines.append((sku2, other, 1, Decimal(price2)))
    return tuple(lines)


_TILL_TIMES = ("08:10", "10:20", "11:45", "12:35", "13:10", "15:40", "16:55", "18:20",
               "19:45", "21:10", "23:15")  # fmt: skip


def _open_moment(rng: random.Random, store: DemoStore, days_ago: int) -> dt.datetime:
    """A till time when the store is open, on that day or the closest day before it."""
    hours = compile_hours(store.opening_hours, TIMEZONE, COUNTRY, REGION)
    for back in range(8):
        times = list(_TILL_TIMES)
        rng.shuffle(times)
        for hhmm in times:
            at = local(DEMO_DAY, hhmm, -(days_ago + back))
            if hours.is_open(at):
                return at
    return local(DEMO_DAY, "12:35", -days_ago)  # pragma: no cover - every demo store opens weekly


def _history(
    rng: random.Random, person_id: str, favourites: list[DemoStore], count: int, *,
    newest_days_ago: int, oldest_days_ago: int,
) -> tuple[Order, ...]:  # fmt: skip
    """``count`` store orders spread between the two ages, at the favourite stores, in their
    opening hours (a coffee at 08:10, a garden table on a Saturday afternoon...)."""
    orders: list[Order] = []
    for n in range(count):
        days_ago = rng.randint(newest_days_ago, max(newest_days_ago, oldest_days_ago))
        store = rng.choice(favourites)
        orders.append(
            Order(
                order_id=f"{person_id}-o{n + 1:03d}",
                occurred_at=_open_moment(rng, store, days_ago),
                store_id=store.id,
                items=_items(rng, store),
            )
        )
    return tuple(sorted(orders, key=lambda o: o.occurred_at))


def _generic(rng: random.Random, number: int) -> Person:
    person_id = f"demo-c-{number:04d}"
    french = rng.random() < 0.15
    first_name = rng.choice(_FR_NAMES if french else _EN_NAMES)
    homes = [d for d in DISTRICTS.values() if d.residential]
    offices = [d for d in DISTRICTS.values() if d.business]
    home_district = rng.choice(homes)
    roll = rng.random()
    persona: Persona
    if roll < 0.55:
        persona = "commuter"
    elif roll < 0.70:
        persona = "shopper"
    elif roll < 0.82:
        persona = "night_owl"
    elif roll < 0.99:
        persona = "local"
    else:
        persona = "spoofer"
    work_district = rng.choice(offices) if persona in ("commuter", "night_owl", "spoofer") else None
    nearby = _near(home_district.key) + (_near(work_district.key) if work_district else [])
    if not nearby:
        nearby = list(STORES)
    favourites = rng.sample(nearby, k=min(len(nearby), rng.randint(2, 4)))
    # Histories: mostly regulars; some new, some lapsed.
    kind = rng.random()
    if kind < 0.05:
        orders: tuple[Order, ...] = ()
    elif kind < 0.09:
        orders = _history(
            rng, person_id, favourites, rng.randint(1, 4), newest_days_ago=380,
            oldest_days_ago=700,
        )  # fmt: skip
    else:
        orders = _history(
            rng, person_id, favourites, rng.randint(2, 14), newest_days_ago=2,
            oldest_days_ago=400,
        )  # fmt: skip
    segments: list[str] = []
    if rng.random() < 0.08:
        segments.append("high_value")
    if any(i[1] == "machines" for o in orders for i in o.items) or rng.random() < 0.3:
        segments.append("machine:older_than_3y")
    if rng.random() < 0.03:
        segments.append("collect:ready")
    cases: list[Case] = []
    if rng.random() < 0.02 and orders:
        cases.append(
            Case(
                case_id=f"{person_id}-case1",
                kind="complaint",
                opened_at=local(DEMO_DAY, "10:00", -rng.randint(1, 10)),
                summary="Item arrived damaged",
                store_id=orders[-1].store_id,
            )
        )
    elif rng.random() < 0.015:
        cases.append(
            Case(
                case_id=f"{person_id}-case1",
                kind="cancellation",
                opened_at=local(DEMO_DAY, "09:30", -rng.randint(1, 14)),
                summary="Wants to end the phone contract",
            )
        )
    deliveries: list[Delivery] = []
    if rng.random() < 0.03:
        online = Order(
            order_id=f"{person_id}-web1",
            occurred_at=local(DEMO_DAY, "20:15", -8),
            store_id=None,
            items=(("GA-CUSH", "garden_accessories", 2, Decimal("25.00")),),
        )
        orders = (*orders, online)
        deliveries.append(
            Delivery(
                order_id=online.order_id,
                promised_at=local(DEMO_DAY, "18:00", -4),
                delivered_at=local(DEMO_DAY, "11:00", -2),
            )
        )
    consent_roll = rng.random()
    quiet = ("22:00", "07:00") if rng.random() < 0.05 else None
    return Person(
        id=person_id,
        first_name=first_name,
        locale="fr" if french else "en-GB",
        persona=persona,
        home_district=home_district.key,
        home=_jitter(rng, home_district, 700),
        work_district=work_district.key if work_district else None,
        work=_jitter(rng, work_district, 400) if work_district else None,
        favourites=tuple(s.id for s in favourites),
        consent_location=consent_roll >= 0.03,
        consent_marketing=not 0.03 <= consent_roll < 0.07,
        segments=tuple(segments),
        quiet_hours=quiet,
        orders=tuple(sorted(orders, key=lambda o: o.occurred_at)),
        cases=tuple(cases),
        deliveries=tuple(deliveries),
    )


@lru_cache(maxsize=1)
def demo_people() -> tuple[Person, ...]:
    """The story customers first, then the ordinary ones: 500 people in all."""
    from app.demo.stories import story_people

    stories = story_people()
    rng = random.Random(20261124)
    generic = tuple(_generic(rng, n) for n in range(1, 501 - len(stories)))
    return (*stories, *generic)
