"""Plausible days for the demo's ordinary customers: home → high street → work and back.

Each persona has its own rhythm (London time):

* ``commuter``: leaves home between 07:00 and 08:45, sometimes stops for a coffee on the
  way, works, walks out at lunch past a shop or two, goes home between 17:00 and 19:00,
  now and then by way of a shop.
* ``night_owl``: a commuter who goes out after work: two or three bars, or walks past the
  Friday-only club, until about 23:30.
* ``shopper``: a late morning and afternoon on Oxford Street, Regent Street and in Covent
  Garden, in and out of three or four stores.
* ``local``: one to three stores near home between 09:30 and 16:00.
* ``spoofer``: a commuter whose phone reports mocked locations (a spoofing app).

Stops at stores are inside the store's geofence: a pass-by of a minute or three, or a visit
with a check-in and, often, a purchase. The story customers follow their scripts
(:func:`app.demo.stories.story_itineraries`).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal

from app.demo.city import STORES, DemoStore, store_by_id
from app.demo.people import CATALOGUE, Person, local
from app.demo.stories import story_itineraries
from app.simulate.itinerary import Item, Itinerary, Stop

__all__ = ["distance_m", "itineraries", "plan_day"]

_WEST_END = ("west-end", "soho", "covent-garden", "marylebone")


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance in metres: plenty for a city."""
    lat = math.radians((a[0] + b[0]) / 2)
    dx = math.radians(b[1] - a[1]) * math.cos(lat)
    dy = math.radians(b[0] - a[0])
    return 6_371_000 * math.hypot(dx, dy)


def _minute(day: dt.date, minutes: float) -> dt.datetime:
    start = local(day, "00:00")
    return start + dt.timedelta(minutes=round(minutes))


def _inside(rng: random.Random, store: DemoStore) -> tuple[float, float]:
    """A point comfortably inside the store's geofence (a third of its size at most)."""
    reach = min(store.fence_m, store.depth_m if store.polygon else store.fence_m) / 3
    angle = rng.uniform(0, 2 * math.pi)
    r = rng.uniform(0, reach)
    lat = store.lat + r * math.cos(angle) / 111_320
    lng = store.lng + r * math.sin(angle) / (111_320 * math.cos(math.radians(store.lat)))
    return round(lat, 7), round(lng, 7)


def _travel_minutes(a: tuple[float, float], b: tuple[float, float]) -> float:
    metres = distance_m(a, b)
    if metres < 1_500:
        return metres / 80 + 1  # walking, 80 m a minute
    return 12 + metres / 450  # to the station, then the Tube: about 27 km/h door to door


def _items(rng: random.Random, store: DemoStore) -> tuple[Item, ...]:
    category = rng.choice(store.sells)
    sku, _, price = rng.choice(CATALOGUE[category])
    return ((sku, category, 1, Decimal(price)),)


class _Day:
    """Builds one customer's stops, keeping time moving forward."""

    def __init__(self, rng: random.Random, day: dt.date, person: Person) -> None:
        self.rng = rng
        self.day = day
        self.person = person
        self.stops: list[Stop] = []
        self.here = person.home
        self.clock = 0.0  # minutes since local midnight

    def stay(self, where: tuple[float, float], until: float) -> None:
        arrive = self.clock
        self.stops.append(
            Stop(
                arrive=_minute(self.day, arrive),
                leave=_minute(self.day, max(until, arrive + 1)),
                lat=where[0],
                lng=where[1],
            )
        )
        self.here = where
        self.clock = max(until, arrive + 1)

    def go(self, where: tuple[float, float]) -> None:
        self.clock += _travel_minutes(self.here, where)
        self.here = where

    def store(self, store: DemoStore, *, visit: bool) -> None:
        rng = self.rng
        point = _inside(rng, store)
        self.go(point)
        stay = rng.uniform(6, 25) if visit else rng.uniform(1, 3)
        checkin = visit and rng.random() < 0.55
        purchase = _items(rng, store) if visit and rng.random() < 0.5 else ()
        mocked = self.person.persona == "spoofer"
        self.stops.append(
            Stop(
                arrive=_minute(self.day, self.clock),
                leave=_minute(self.day, self.clock + stay),
                lat=point[0],
                lng=point[1],
                store_id=store.id,
                checkin=checkin,
                purchase=purchase,
                mocked=mocked,
            )
        )
        self.clock += stay


def _stores_near(point: tuple[float, float], metres: float, *, banners: tuple[str, ...] = ()) -> (
    list[DemoStore]
):  # fmt: skip
    return [
        s
        for s in STORES
        if distance_m(point, (s.lat, s.lng)) <= metres and (not banners or s.banner in banners)
    ]


def plan_day(person: Person, day: dt.date, rng: random.Random) -> Itinerary:
    """One ordinary customer's day (see the module docstring)."""
    d = _Day(rng, day, person)
    favourites = [store_by_id(s) for s in person.favourites]
    persona = person.persona
    if persona in ("commuter", "night_owl", "spoofer") and person.work is not None:
        d.stay(person.home, rng.uniform(7 * 60, 8 * 60 + 45))
        if rng.random() < 0.4:
            morning = _stores_near(person.home, 1_200, banners=("coffee", "bakery", "express"))
            morning += _stores_near(person.work, 800, banners=("coffee", "bakery", "express"))
            if morning:
                d.store(rng.choice(morning), visit=rng.random() < 0.6)
        d.go(person.work)
        d.stay(person.work, rng.uniform(12 * 60, 13 * 60 + 30))
        if rng.random() < 0.65:
            lunch = _stores_near(person.work, 900) or favourites
            for store in rng.sample(lunch, k=min(len(lunch), rng.choice((1, 1, 2)))):
                d.store(store, visit=rng.random() < 0.5)
            d.go(person.work)
        d.stay(person.work, max(d.clock + 30, rng.uniform(17 * 60, 19 * 60)))
        if persona == "night_owl":
            bars = [s for s in STORES if s.banner == "bar" or s.banner == "express"]
            d.clock = max(d.clock, rng.uniform(19 * 60, 20 * 60 + 30))
            for store in rng.sample(bars, k=rng.choice((2, 3))):
                d.store(store, visit=store.banner == "bar" and rng.random() < 0.7)
                d.clock += rng.uniform(20, 70)  # a while in the street, a while elsewhere
        elif rng.random() < 0.35:
            evening = _stores_near(person.work, 1_000) + favourites
            d.store(rng.choice(evening), visit=rng.random() < 0.6)
        d.go(person.home)
        d.stay(person.home, 23 * 60 + 59)
    elif persona == "shopper":
        d.stay(person.home, rng.uniform(10 * 60, 13 * 60))
        high_street = [s for s in STORES if s.district in _WEST_END]
        route = rng.sample(high_street, k=rng.choice((3, 4, 5)))
        route.sort(key=lambda s: (s.lng, s.lat))
        for store in route:
            d.store(store, visit=rng.random() < 0.6)
        d.go(person.home)
        d.stay(person.home, 23 * 60 + 59)
    else:
        d.stay(person.home, rng.uniform(9 * 60 + 30, 14 * 60))
        near = _stores_near(person.home, 2_500) or favourites
        for store in rng.sample(near, k=min(len(near), rng.choice((1, 2, 3)))):
            d.store(store, visit=rng.random() < 0.6)
        d.go(person.home)
        d.stay(person.home, 23 * 60 + 59)
    # A day ends at midnight: drop what would spill into the next one.
    end = local(day, "23:59")
    stops = tuple(s for s in d.stops if s.arrive <= end)
    return Itinerary(person.id, stops)


def itineraries(people: tuple[Person, ...], day: dt.date) -> list[Itinerary]:
    """Everyone's day: the story customers' scripts, the others' plausible paths."""
    scripted = story_itineraries(day)
    out: list[Itinerary] = []
    for person in people:
        if person.id in scripted:
            out.append(scripted[person.id])
        else:
            # One generator per person and day: the same person walks the same way whoever
            # else is simulated.
            rng = random.Random(f"kairos-demo:{day.isoformat()}:{person.id}")
            out.append(plan_day(person, day, rng))
    return out
