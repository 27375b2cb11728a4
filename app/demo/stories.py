"""The acceptance stories of the design, as customers with a history and a scripted day.

Each story is a customer whose profile and history the seed writes, whose day the
simulation plays, and what Kairos is expected to decide (:class:`Expect`). The simulation
test asserts every expectation; the report tells three of the stories in full.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from app.demo.city import DEMO_DAY, store_by_id
from app.demo.people import Case, Delivery, Order, Person, local
from app.simulate.itinerary import Item, Itinerary, Stop

__all__ = ["STORIES", "Expect", "Story", "story_itineraries", "story_people"]


@dataclass(frozen=True, slots=True)
class Expect:
    """A decision the story must contain.

    Attributes:
        code: A reason code; for a ``purchase`` expectation, the moment code.
        where: ``decisive``: the decision's own reason (``reasons[0]``) is ``code``;
            ``any``: one of its reasons is, or some candidate lost because of it.
        outcome: The decision's outcome, when it matters.
        campaign_id: The chosen campaign, when it matters.
        store_id: Where it happens.
        trigger: ``visit`` (an enter, dwell or check-in the policy decided on) or
            ``purchase``: the moment an order at the till makes. Kairos decides on visits;
            ``POST /v1/purchases`` records orders without running the policy (yet), so for
            these the test checks the moment the order makes in the customer's context.
    """

    code: str
    store_id: str
    where: Literal["decisive", "any"] = "decisive"
    outcome: str | None = None
    campaign_id: str | None = None
    trigger: Literal["visit", "purchase"] = "visit"


@dataclass(frozen=True, slots=True)
class Story:
    key: str
    title: str
    person: Person
    expects: tuple[Expect, ...]


def _item(sku: str, category: str, price: str, quantity: int = 1) -> Item:
    return (sku, category, quantity, Decimal(price))


COFFEE = _item("CAP-RIS-10", "coffee", "4.70", 2)
FLAT_WHITE = _item("CUP-FLAT", "coffee", "3.40")
CROISSANT = _item("BAK-CROI", "bakery", "2.60")


def _orders(person_id: str, store_id: str, days_ago: list[int], items: tuple[Item, ...],
            hhmm: str = "12:40") -> tuple[Order, ...]:  # fmt: skip
    return tuple(
        Order(
            order_id=f"{person_id}-o{n + 1:03d}",
            occurred_at=local(DEMO_DAY, hhmm, -d),
            store_id=store_id,
            items=items,
        )
        for n, d in enumerate(sorted(days_ago, reverse=True))
    )


def _at(store_id: str) -> tuple[float, float]:
    store = store_by_id(store_id)
    return store.lat, store.lng


# Where people live and work (a street address, roughly).
MARYLEBONE = (51.52090, -0.15300)
SOHO_OFFICE = (51.51330, -0.13700)
CLAPHAM_HOME = (51.46450, -0.13600)
BATTERSEA_HOME = (51.47400, -0.15900)
CAMDEN_HOME = (51.54100, -0.14500)
WEST_END_OFFICE = (51.51650, -0.14250)
ISLINGTON_HOME = (51.53700, -0.10400)
KINGS_CROSS_OFFICE = (51.53250, -0.12550)
COVENT_OFFICE = (51.51150, -0.12200)
SOUTHBANK_OFFICE = (51.50350, -0.11300)
BRIXTON_HOME = (51.46500, -0.11200)
CITY_OFFICE = (51.51450, -0.08950)
HACKNEY_HOME = (51.54600, -0.05700)
NOTTING_HOME = (51.51100, -0.20100)
SHOREDITCH_HOME = (51.52600, -0.08200)
GREENWICH_HOME = (51.47900, -0.01200)


def _person(
    person_id: str, first_name: str, *, home: tuple[float, float], home_district: str,
    work: tuple[float, float] | None = None, work_district: str | None = None,
    locale: str = "en-GB", favourites: tuple[str, ...] = (), orders: tuple[Order, ...] = (),
    segments: tuple[str, ...] = (), cases: tuple[Case, ...] = (),
    deliveries: tuple[Delivery, ...] = (), story: str,
) -> Person:  # fmt: skip
    return Person(
        id=person_id,
        first_name=first_name,
        locale=locale,
        persona="commuter" if work else "local",
        home_district=home_district,
        home=home,
        work_district=work_district,
        work=work,
        favourites=favourites,
        segments=segments,
        orders=orders,
        cases=cases,
        deliveries=deliveries,
        story=story,
    )


STORIES: tuple[Story, ...] = (
    Story(
        "nespresso",
        "Claire walks past the boutique at 07:45, before it opens; again at 12:30",
        _person(
            "demo-c-claire", "Claire", home=MARYLEBONE, home_district="marylebone",
            work=SOHO_OFFICE, work_district="soho", favourites=("demo-capsule-regent",),
            orders=_orders("demo-c-claire", "demo-capsule-regent", [22, 50, 81, 110, 140],
                           (COFFEE,), "17:50"),
            segments=("machine:older_than_3y",), story="nespresso",
        ),
        (
            Expect("store_closed", "demo-capsule-regent"),
            Expect("selected", "demo-capsule-regent", "any", "send", "demo-offer-blend"),
            Expect("outranked", "demo-capsule-regent", "any", "send", "demo-offer-blend"),
        ),
    ),
    Story(
        "satiation",
        "Tom bought a flat white ten minutes before he passes the boutique",
        _person(
            "demo-c-tom", "Tom", home=CLAPHAM_HOME, home_district="clapham",
            work=SOHO_OFFICE, work_district="soho", favourites=("demo-coffee-soho",),
            orders=_orders("demo-c-tom", "demo-coffee-soho", [4, 6, 11, 13, 18, 25],
                           (FLAT_WHITE,), "08:40"),
            story="satiation",
        ),
        (Expect("recently_purchased", "demo-capsule-regent"),),
    ),
    Story(
        "complaint",
        "Priya's garden table came without three screws; she visits the garden centre",
        _person(
            "demo-c-priya", "Priya", home=BATTERSEA_HOME, home_district="battersea",
            favourites=("demo-garden-battersea",),
            orders=(
                Order("demo-c-priya-o001", local(DEMO_DAY, "11:20", -70), "demo-garden-battersea",
                      (_item("PL-OLIVE", "plants", "45.00"),)),
                Order("demo-c-priya-o002", local(DEMO_DAY, "15:05", -10), "demo-garden-battersea",
                      (_item("GF-TABLE", "garden_furniture", "349.00"),
                       _item("GF-CHAIR", "garden_furniture", "89.00", 4))),
            ),
            cases=(Case("demo-case-priya-screws", "complaint", local(DEMO_DAY, "09:12", -7),
                        "Three screws missing from the garden table", "demo-garden-battersea"),),
            segments=("service:parts_waiting",), story="complaint",
        ),
        (
            Expect("open_complaint", "demo-garden-battersea", "any", "send",
                   "demo-service-garden-parts"),
        ),
    ),
    Story(
        "cancellation",
        "Marcus has asked to cancel his contract; he walks into the phone shop",
        _person(
            "demo-c-marcus", "Marcus", home=CAMDEN_HOME, home_district="camden",
            work=WEST_END_OFFICE, work_district="west-end", favourites=("demo-mobile-oxford",),
            orders=_orders("demo-c-marcus", "demo-mobile-oxford", [200, 420],
                           (_item("AC-CASE", "accessories", "29.99"),)),
            cases=(Case("demo-case-marcus-contract", "cancellation",
                        local(DEMO_DAY, "16:40", -4), "Asked to cancel his phone contract"),),
            story="cancellation",
        ),
        (Expect("cancellation_pending", "demo-mobile-oxford"),),
    ),
    Story(
        "first-visit",
        "Sofia, new to the app, checks in for her first coffee",
        _person(
            "demo-c-sofia", "Sofia", home=ISLINGTON_HOME, home_district="islington",
            work=KINGS_CROSS_OFFICE, work_district="kings-cross", story="first-visit",
        ),
        (Expect("selected", "demo-coffee-kingscross", "any", "send",
                "demo-moment-welcome"),),
    ),
    Story(
        "welcome-back",
        "Hugo comes back to the boutique after fourteen months",
        _person(
            "demo-c-hugo", "Hugo", locale="fr", home=SOUTHBANK_OFFICE,
            home_district="southbank", work=COVENT_OFFICE, work_district="covent-garden",
            favourites=("demo-capsule-covent",),
            orders=_orders("demo-c-hugo", "demo-capsule-covent", [438, 470, 530], (COFFEE,)),
            story="welcome-back",
        ),
        (Expect("selected", "demo-capsule-covent", "any", "send",
                "demo-moment-welcome-back"),),
    ),
    Story(
        "late-delivery",
        "Grace's cushions arrived three days late; her first visit since",
        _person(
            "demo-c-grace", "Grace", home=BRIXTON_HOME, home_district="brixton",
            work=SOUTHBANK_OFFICE, work_district="southbank",
            favourites=("demo-bakery-southbank",),
            orders=(
                *_orders("demo-c-grace", "demo-bakery-southbank", [40, 61], (CROISSANT,)),
                Order("demo-c-grace-web1", local(DEMO_DAY, "21:05", -9), None,
                      (_item("GA-CUSH", "garden_accessories", "25.00", 2),)),
            ),
            deliveries=(Delivery("demo-c-grace-web1", local(DEMO_DAY, "18:00", -4),
                                 local(DEMO_DAY, "10:30", -1)),),
            story="late-delivery",
        ),
        (Expect("selected", "demo-bakery-southbank", "any", "send",
                "demo-moment-sorry-delivery"),),
    ),
    Story(
        "milestone",
        "Oliver, a high-value customer, places his 23rd order of the year",
        _person(
            "demo-c-oliver", "Oliver", home=HACKNEY_HOME, home_district="hackney",
            work=CITY_OFFICE, work_district="city", favourites=("demo-capsule-bank",),
            orders=_orders("demo-c-oliver", "demo-capsule-bank",
                           [5, 18, 30, 41, 55, 66, 80, 92, 105, 118, 130, 143, 155, 168, 180,
                            193, 205, 218, 240, 262, 285, 301], (COFFEE,), "12:50"),
            segments=("high_value",), story="milestone",
        ),
        (Expect("milestone_order", "demo-capsule-bank", trigger="purchase"),),
    ),
    Story(
        "repeat",
        "Emma comes back for her second order",
        _person(
            "demo-c-emma", "Emma", home=NOTTING_HOME, home_district="notting-hill",
            favourites=("demo-bakery-notting",),
            orders=_orders("demo-c-emma", "demo-bakery-notting", [25], (CROISSANT,), "09:30"),
            story="repeat",
        ),
        (Expect("first_repeat_order", "demo-bakery-notting", trigger="purchase"),),
    ),
    Story(
        "new-category",
        "James, who only ever bought coffee, buys plants",
        _person(
            "demo-c-james", "James", home=SHOREDITCH_HOME, home_district="shoreditch",
            favourites=("demo-coffee-shoreditch",),
            orders=_orders("demo-c-james", "demo-coffee-shoreditch", [3, 9, 16, 30, 44],
                           (FLAT_WHITE,), "08:15"),
            story="new-category",
        ),
        (Expect("first_order_in_category", "demo-garden-columbia", trigger="purchase"),),
    ),
    Story(
        "holdout",
        "Rachel is in the blend's control group",
        _person(
            "demo-c-rachel", "Rachel", home=SOUTHBANK_OFFICE, home_district="southbank",
            work=COVENT_OFFICE, work_district="covent-garden",
            favourites=("demo-capsule-covent",),
            orders=_orders("demo-c-rachel", "demo-capsule-covent", [12, 45, 77], (COFFEE,)),
            story="holdout",
        ),
        (Expect("holdout", "demo-capsule-covent", "decisive", "holdout", "demo-offer-blend"),),
    ),
    Story(
        "night-out",
        "Dan's Tuesday night: a bar at 21:30, then the Friday-only club",
        _person(
            "demo-c-dan", "Dan", home=SHOREDITCH_HOME, home_district="shoreditch",
            work=CITY_OFFICE, work_district="city", favourites=("demo-bar-taproom",),
            orders=_orders("demo-c-dan", "demo-bar-taproom", [6, 20, 34],
                           (_item("DR-PINT", "drinks", "6.20", 2),), "19:40"),
            story="night-out",
        ),
        (Expect("quiet_hours", "demo-bar-taproom"), Expect("store_closed", "demo-bar-lantern")),
    ),
    Story(
        "defer",
        "Nadia waits outside the bakery ten minutes before it opens",
        _person(
            "demo-c-nadia", "Nadia", home=GREENWICH_HOME, home_district="greenwich",
            favourites=("demo-bakery-greenwich",),
            orders=_orders("demo-c-nadia", "demo-bakery-greenwich", [4, 11, 19], (CROISSANT,),
                           "08:30"),
            story="defer",
        ),
        (Expect("deferred_to_opening", "demo-bakery-greenwich", "decisive", "defer",
                "demo-offer-bakery-morning"),),
    ),
    Story(
        "closing",
        "Zoe passes the City boutique ten minutes before it closes",
        _person(
            "demo-c-zoe", "Zoe", home=HACKNEY_HOME, home_district="hackney",
            work=CITY_OFFICE, work_district="city", favourites=("demo-capsule-bank",),
            orders=_orders("demo-c-zoe", "demo-capsule-bank", [15, 48], (COFFEE,)),
            story="closing",
        ),
        (Expect("closing_soon", "demo-capsule-bank"),),
    ),
    Story(
        "spoof",
        "Max's phone reports a mocked location outside the boutique",
        _person(
            "demo-c-max", "Max", home=MARYLEBONE, home_district="marylebone",
            favourites=("demo-capsule-regent",),
            orders=_orders("demo-c-max", "demo-capsule-regent", [33], (COFFEE,)),
            story="spoof",
        ),
        (Expect("suspected_spoof", "demo-capsule-regent"),),
    ),
    Story(
        "caps",
        "Lucy's Saturday-style afternoon on a Tuesday: four stores, two invites",
        _person(
            "demo-c-lucy", "Lucy", home=CAMDEN_HOME, home_district="camden",
            favourites=("demo-mobile-oxford", "demo-capsule-regent", "demo-coffee-soho",
                        "demo-capsule-covent"),
            orders=(
                *_orders("demo-c-lucy", "demo-capsule-regent", [60], (COFFEE,)),
                Order("demo-c-lucy-o101", local(DEMO_DAY, "16:10", -90), "demo-mobile-oxford",
                      (_item("PH-A15", "phones", "699.00"),)),
            ),
            segments=("machine:older_than_3y",), story="caps",
        ),
        (Expect("frequency_cap", "demo-capsule-covent"),),
    ),
)  # fmt: skip


def story_people() -> tuple[Person, ...]:
    return tuple(story.person for story in STORIES)


def _stop(
    day: dt.date, arrive: str, leave: str, where: tuple[float, float] | str, **kw: object
) -> Stop:
    if isinstance(where, str):
        lat, lng = _at(where)
        kw.setdefault("store_id", where)
    else:
        lat, lng = where
    return Stop(arrive=local(day, arrive), leave=local(day, leave), lat=lat, lng=lng, **kw)  # type: ignore[arg-type]


def story_itineraries(day: dt.date) -> dict[str, Itinerary]:
    """Each story customer's scripted day (stops in London time on ``day``)."""
    s = _stop
    d = day
    days: dict[str, tuple[Stop, ...]] = {
        "demo-c-claire": (
            s(d, "06:30", "07:33", MARYLEBONE),
            s(d, "07:45", "07:47", "demo-capsule-regent"),
            s(d, "07:55", "12:20", SOHO_OFFICE),
            s(d, "12:30", "12:36", "demo-capsule-regent"),
            s(d, "12:45", "17:45", SOHO_OFFICE),
            s(d, "18:10", "23:59", MARYLEBONE),
        ),
        "demo-c-tom": (
            s(d, "06:30", "08:05", CLAPHAM_HOME),
            s(d, "08:40", "12:00", SOHO_OFFICE),
            s(d, "12:05", "12:12", "demo-coffee-soho", checkin=True, purchase=(FLAT_WHITE,)),
            s(d, "12:18", "12:21", "demo-capsule-regent"),
            s(d, "12:32", "18:00", SOHO_OFFICE),
            s(d, "18:40", "23:59", CLAPHAM_HOME),
        ),
        "demo-c-priya": (
            s(d, "06:30", "10:50", BATTERSEA_HOME),
            s(d, "11:05", "11:35", "demo-garden-battersea", checkin=True),
            s(d, "11:55", "23:59", BATTERSEA_HOME),
        ),
        "demo-c-marcus": (
            s(d, "06:30", "08:10", CAMDEN_HOME),
            s(d, "08:40", "13:00", WEST_END_OFFICE),
            s(d, "13:06", "13:25", "demo-mobile-oxford", checkin=True),
            s(d, "13:30", "18:00", WEST_END_OFFICE),
            s(d, "18:30", "23:59", CAMDEN_HOME),
        ),
        "demo-c-sofia": (
            s(d, "06:30", "08:00", ISLINGTON_HOME),
            s(d, "08:18", "08:30", "demo-coffee-kingscross", checkin=True, purchase=(FLAT_WHITE,)),
            s(d, "08:35", "17:30", KINGS_CROSS_OFFICE),
            s(d, "17:55", "23:59", ISLINGTON_HOME),
        ),
        "demo-c-hugo": (
            s(d, "06:30", "08:30", SOUTHBANK_OFFICE),
            s(d, "09:00", "14:50", COVENT_OFFICE),
            s(d, "15:00", "15:15", "demo-capsule-covent", checkin=True),
            s(d, "15:20", "18:00", COVENT_OFFICE),
            s(d, "18:30", "23:59", SOUTHBANK_OFFICE),
        ),
        "demo-c-grace": (
            s(d, "06:30", "08:15", BRIXTON_HOME),
            s(d, "08:45", "17:30", SOUTHBANK_OFFICE),
            s(d, "17:38", "17:50", "demo-bakery-southbank", checkin=True),
            s(d, "18:20", "23:59", BRIXTON_HOME),
        ),
        # Purchase-only stories: the phone reports nothing at the till, the POS does.
        "demo-c-oliver": (
            s(d, "06:30", "08:00", HACKNEY_HOME),
            s(d, "08:30", "17:35", CITY_OFFICE),
            s(d, "17:40", "17:48", "demo-capsule-bank", app_silent=True, purchase=(COFFEE,)),
            s(d, "18:20", "23:59", HACKNEY_HOME),
        ),
        "demo-c-emma": (
            s(d, "06:30", "10:25", NOTTING_HOME),
            s(
                d,
                "10:35",
                "10:45",
                "demo-bakery-notting",
                app_silent=True,
                purchase=(_item("BAK-SOUR", "bakery", "4.80"),),
            ),
            s(d, "10:55", "23:59", NOTTING_HOME),
        ),
        "demo-c-james": (
            s(d, "06:30", "14:05", SHOREDITCH_HOME),
            s(
                d,
                "14:15",
                "14:30",
                "demo-garden-columbia",
                app_silent=True,
                purchase=(_item("PL-BULB", "plants", "6.50", 2),),
            ),
            s(d, "14:40", "23:59", SHOREDITCH_HOME),
        ),
        "demo-c-rachel": (
            s(d, "06:30", "08:30", SOUTHBANK_OFFICE),
            s(d, "09:00", "15:55", COVENT_OFFICE),
            s(d, "16:00", "16:10", "demo-capsule-covent", checkin=True),
            s(d, "16:15", "18:00", COVENT_OFFICE),
            s(d, "18:30", "23:59", SOUTHBANK_OFFICE),
        ),
        "demo-c-dan": (
            s(d, "06:30", "08:20", SHOREDITCH_HOME),
            s(d, "08:50", "18:30", CITY_OFFICE),
            s(d, "19:00", "20:50", SHOREDITCH_HOME),
            s(d, "21:30", "22:10", "demo-bar-taproom", checkin=True),
            s(d, "22:30", "22:33", "demo-bar-lantern"),
            s(d, "23:20", "23:59", SHOREDITCH_HOME),
        ),
        "demo-c-nadia": (
            s(d, "06:30", "07:35", GREENWICH_HOME),
            s(d, "07:40", "08:15", "demo-bakery-greenwich"),
            s(d, "08:25", "23:59", GREENWICH_HOME),
        ),
        "demo-c-zoe": (
            s(d, "06:30", "08:10", HACKNEY_HOME),
            s(d, "08:40", "18:10", CITY_OFFICE),
            s(d, "18:18", "18:21", "demo-capsule-bank"),
            s(d, "18:50", "23:59", HACKNEY_HOME),
        ),
        "demo-c-max": (
            s(d, "06:30", "11:20", MARYLEBONE),
            s(d, "11:35", "11:40", "demo-capsule-regent", mocked=True),
            s(d, "11:55", "23:59", MARYLEBONE),
        ),
        "demo-c-lucy": (
            s(d, "06:30", "13:30", CAMDEN_HOME),
            s(d, "14:00", "14:20", "demo-mobile-oxford", checkin=True),
            s(d, "14:35", "14:50", "demo-capsule-regent", checkin=True),
            s(d, "15:05", "15:20", "demo-coffee-soho", checkin=True),
            s(d, "15:40", "15:55", "demo-capsule-covent", checkin=True),
            s(d, "16:40", "23:59", CAMDEN_HOME),
        ),
    }
    return {cid: Itinerary(cid, stops) for cid, stops in days.items()}
