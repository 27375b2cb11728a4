"""The demo city: Meridian, a London high-street group with six banners.

Twenty-six stores across central and inner London with hours written the way OpenStreetMap
writes them: a coffee-capsule boutique that opens at 09:00 (the 07:45 story), coffee bars
from 06:30, a 24/7 shop, a club open only ``Fr-Sa 22:00-02:00``, a pharmacy and a garden
centre with ``PH off`` (closed on bank holidays: simulate 2026-12-28, the substitute Boxing
Day, to see them stay dark). Five geofences are polygons drawn around the shop front, the
rest circles. Campaigns of every kind in two locales (``en-GB`` and ``fr``), including the
pair the design is about: a £10 margin at 80 % against a £20 margin at 50 %.

Every id starts with :data:`DEMO_PREFIX`, which is how ``kairos demo reset`` finds them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

from app.campaigns.schemas import CampaignCaps, CampaignIn, Eligibility, MessageTemplate
from app.stores.schemas import Circle, GeofenceIn, GeoJSONGeometry, StoreIn

__all__ = [
    "COUNTRY",
    "DEMO_DAY",
    "DEMO_PREFIX",
    "DISTRICTS",
    "REGION",
    "STORES",
    "TIMEZONE",
    "DemoStore",
    "District",
    "campaigns",
    "geofence_id",
    "geofence_of",
    "store_by_id",
    "store_in",
]

DEMO_PREFIX = "demo-"
"""Every demo id (stores, geofences, campaigns, customers, orders, cases) starts with this."""

DEMO_DAY = dt.date(2026, 11, 24)
"""The day the histories are written for (a Tuesday): ``kairos simulate``'s default day."""

TIMEZONE = "Europe/London"
COUNTRY = "GB"
REGION = "ENG"


@dataclass(frozen=True, slots=True)
class District:
    """A part of town people live, work or shop in."""

    key: str
    name: str
    lat: float
    lng: float
    residential: bool = False
    business: bool = False
    nightlife: bool = False


DISTRICTS: dict[str, District] = {
    d.key: d
    for d in (
        District("west-end", "Oxford Circus & Regent Street", 51.5142, -0.1410, business=True),
        District("soho", "Soho", 51.5136, -0.1320, business=True, nightlife=True),
        District("covent-garden", "Covent Garden", 51.5121, -0.1238, business=True),
        District("marylebone", "Marylebone", 51.5203, -0.1518, residential=True, business=True),
        District("kings-cross", "King's Cross", 51.5313, -0.1240, business=True),
        District("city", "Bank & Cheapside", 51.5138, -0.0910, business=True),
        District("liverpool-st", "Liverpool Street", 51.5178, -0.0823, business=True),
        District("shoreditch", "Shoreditch", 51.5248, -0.0782, business=True, nightlife=True),
        District("canary-wharf", "Canary Wharf", 51.5049, -0.0196, business=True),
        District("southbank", "South Bank", 51.5058, -0.1158, business=True),
        District("borough", "Borough", 51.5052, -0.0905, nightlife=True),
        District("paddington", "Paddington", 51.5158, -0.1760, business=True),
        District("clapham", "Clapham", 51.4622, -0.1385, residential=True),
        District("brixton", "Brixton", 51.4622, -0.1147, residential=True),
        District("battersea", "Battersea", 51.4778, -0.1515, residential=True),
        District("islington", "Islington", 51.5384, -0.1027, residential=True),
        District("camden", "Camden Town", 51.5393, -0.1428, residential=True),
        District("notting-hill", "Notting Hill", 51.5092, -0.1966, residential=True),
        District("hackney", "Hackney", 51.5450, -0.0553, residential=True),
        District("columbia-road", "Columbia Road", 51.5294, -0.0712, residential=True),
        District("stratford", "Stratford", 51.5428, -0.0060, residential=True),
        District("greenwich", "Greenwich", 51.4816, -0.0093, residential=True),
    )
}

Banner = Literal["capsule", "coffee", "garden", "mobile", "bar", "express", "pharmacy", "bakery"]


@dataclass(frozen=True, slots=True)
class DemoStore:
    """A store of the demo chain and its geofence.

    Attributes:
        fence_m: Circle radius in metres; with ``polygon`` the half-width of the shop front.
        polygon: Draw a rotated rectangle (``fence_m`` x ``depth_m``) instead of a circle.
        bearing: Street direction of the polygon, degrees clockwise from north.
        dwell_seconds: How long inside the geofence counts as a dwell.
        sells: Item categories the till records (purchases and histories use them).
    """

    id: str
    name: str
    banner: Banner
    district: str
    lat: float
    lng: float
    opening_hours: str
    sells: tuple[str, ...]
    fence_m: float = 45.0
    polygon: bool = False
    depth_m: float = 30.0
    bearing: float = 0.0
    dwell_seconds: int = 180


STORES: tuple[DemoStore, ...] = (
    # Capsule & Co: coffee-capsule boutiques. Regent Street opens at 09:00 (the 07:45 story).
    DemoStore("demo-capsule-regent", "Capsule & Co Regent Street", "capsule", "west-end",
              51.51160, -0.13945, "Mo-Sa 09:00-19:00; Su 12:00-18:00; PH off",
              ("coffee", "machines"), fence_m=35, polygon=True, depth_m=45, bearing=340),
    DemoStore("demo-capsule-covent", "Capsule & Co Covent Garden", "capsule", "covent-garden",
              51.51255, -0.12530, "Mo-Sa 09:00-20:00; Su 11:00-18:00",
              ("coffee", "machines")),
    DemoStore("demo-capsule-bank", "Capsule & Co Cheapside", "capsule", "city",
              51.51410, -0.09370, "Mo-Fr 09:00-18:30; PH off",
              ("coffee", "machines"), fence_m=30, polygon=True, depth_m=35, bearing=75),
    DemoStore("demo-capsule-stratford", "Capsule & Co Westfield Stratford", "capsule",
              "stratford", 51.54300, -0.00700, "Mo-Sa 10:00-21:00; Su 12:00-18:00",
              ("coffee", "machines"), fence_m=60),
    # Meridian Coffee: coffee bars for commuters.
    DemoStore("demo-coffee-kingscross", "Meridian Coffee King's Cross", "coffee", "kings-cross",
              51.53080, -0.12380, "Mo-Fr 06:30-19:00; Sa,Su 08:00-18:00",
              ("coffee", "bakery")),
    DemoStore("demo-coffee-shoreditch", "Meridian Coffee Shoreditch", "coffee", "shoreditch",
              51.52550, -0.07900, "Mo-Fr 07:00-18:00; Sa,Su 08:00-17:00",
              ("coffee", "bakery")),
    DemoStore("demo-coffee-canary", "Meridian Coffee Canary Wharf", "coffee", "canary-wharf",
              51.50500, -0.01900, "Mo-Fr 06:30-19:00", ("coffee", "bakery"), fence_m=40),
    DemoStore("demo-coffee-soho", "Meridian Coffee Soho", "coffee", "soho",
              51.51390, -0.13560, "Mo-Fr 07:00-19:00; Sa 08:00-19:00; Su 09:00-17:00",
              ("coffee", "bakery"), fence_m=35),
    DemoStore("demo-coffee-clapham", "Meridian Coffee Clapham", "coffee", "clapham",
              51.46200, -0.13800, "Mo-Fr 07:00-18:00; Sa,Su 08:00-17:00",
              ("coffee", "bakery")),
    DemoStore("demo-coffee-islington", "Meridian Coffee Upper Street", "coffee", "islington",
              51.53860, -0.10250, "Mo-Fr 07:00-18:30; Sa,Su 08:00-18:00",
              ("coffee", "bakery")),
    DemoStore("demo-coffee-paddington", "Meridian Coffee Paddington", "coffee", "paddington",
              51.51600, -0.17650, "Mo-Fr 06:30-19:30; Sa,Su 08:00-18:00",
              ("coffee", "bakery"), fence_m=50),
    # Meridian Home & Garden: the garden-table complaint happens here.
    DemoStore("demo-garden-battersea", "Meridian Home & Garden Battersea", "garden",
              "battersea", 51.47800, -0.15200, "Mo-Sa 09:00-18:00; Su 10:30-16:30; PH off",
              ("garden_furniture", "garden_accessories", "plants"),
              fence_m=70, polygon=True, depth_m=90, bearing=20, dwell_seconds=300),
    DemoStore("demo-garden-columbia", "Meridian Flowers Columbia Road", "garden",
              "columbia-road", 51.52970, -0.07100, "Tu-Sa 10:00-17:00; Su 08:00-15:00",
              ("plants", "garden_accessories")),
    # Meridian Mobile: the pending contract cancellation.
    DemoStore("demo-mobile-oxford", "Meridian Mobile Oxford Street", "mobile", "west-end",
              51.51500, -0.14400, "Mo-Sa 09:00-20:00; Su 12:00-18:00",
              ("phones", "accessories"), fence_m=30, polygon=True, depth_m=30, bearing=80),
    DemoStore("demo-mobile-canary", "Meridian Mobile Canary Wharf", "mobile", "canary-wharf",
              51.50450, -0.01800, "Mo-Fr 08:00-19:00; Sa 10:00-18:00; Su 12:00-18:00",
              ("phones", "accessories"), fence_m=35),
    DemoStore("demo-mobile-brixton", "Meridian Mobile Brixton", "mobile", "brixton",
              51.46190, -0.11500, "Mo-Sa 09:00-19:00; Su 11:00-17:00",
              ("phones", "accessories")),
    # Bars: a club open only on Friday and Saturday nights, and two everyday bars.
    DemoStore("demo-bar-lantern", "The Lantern, Dean Street", "bar", "soho",
              51.51380, -0.13250, "Fr-Sa 22:00-02:00", ("drinks",), fence_m=30),
    DemoStore("demo-bar-taproom", "Meridian Tap Room Shoreditch", "bar", "shoreditch",
              51.52330, -0.07700, "Mo-Th 16:00-23:00; Fr-Sa 12:00-02:00; Su 12:00-22:30",
              ("drinks", "food")),
    DemoStore("demo-bar-borough", "The Wharf Bar, Borough", "bar", "borough",
              51.50500, -0.09100, "Mo-Sa 11:00-23:00; Su 12:00-22:30", ("drinks", "food")),
    # Meridian Express: one never closes, one nearly never.
    DemoStore("demo-express-euston", "Meridian Express Euston Road", "express", "kings-cross",
              51.52900, -0.12700, "24/7", ("food", "drinks", "coffee")),
    DemoStore("demo-express-liverpoolst", "Meridian Express Liverpool Street", "express",
              "liverpool-st", 51.51800, -0.08150, "Mo-Su 06:00-23:00",
              ("food", "drinks", "coffee"), fence_m=40),
    # Pharmacy: closed on bank holidays.
    DemoStore("demo-pharmacy-marylebone", "Meridian Pharmacy Marylebone High Street",
              "pharmacy", "marylebone", 51.51980, -0.15150,
              "Mo-Fr 08:00-19:00; Sa 09:00-18:00; PH off", ("health", "beauty")),
    DemoStore("demo-pharmacy-hackney", "Meridian Pharmacy Mare Street", "pharmacy", "hackney",
              51.54480, -0.05540, "Mo-Sa 08:30-18:30; PH off", ("health", "beauty")),
    # Bakeries: the morning offer that waits for the opening (defer).
    DemoStore("demo-bakery-notting", "Meridian Bakery Notting Hill", "bakery", "notting-hill",
              51.50930, -0.19680, "Mo-Su 07:30-17:00", ("bakery", "coffee")),
    DemoStore("demo-bakery-southbank", "Meridian Bakery South Bank", "bakery", "southbank",
              51.50580, -0.11580, "Mo-Fr 07:30-19:00; Sa,Su 08:00-19:00", ("bakery", "coffee"),
              fence_m=40),
    DemoStore("demo-bakery-greenwich", "Meridian Bakery Greenwich Market", "bakery",
              "greenwich", 51.48150, -0.00900, "Mo-Su 08:00-17:30", ("bakery", "coffee")),
)  # fmt: skip

_BY_ID = {s.id: s for s in STORES}


def store_by_id(store_id: str) -> DemoStore:
    return _BY_ID[store_id]


def geofence_id(store: DemoStore) -> str:
    return f"{store.id}:front"


_METERS_PER_DEGREE = 111_320.0


def _offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    d_lat = north_m / _METERS_PER_DEGREE
    d_lng = east_m / (_METERS_PER_DEGREE * math.cos(math.radians(lat)))
    return lat + d_lat, lng + d_lng


def _shop_front(store: DemoStore) -> list[list[float]]:
    """A rectangle along the street (``bearing``) around the store, corners slightly cut:
    what a manager draws around a shop front and the pavement before it."""
    theta = math.radians(store.bearing)
    along = (math.cos(theta), math.sin(theta))  # (north, east) unit vector along the street
    across = (-along[1], along[0])
    w, d = store.fence_m, store.depth_m / 2
    cut = min(w, d) * 0.25
    corners = [
        (w - cut, d), (w, d - cut), (w, -d + cut), (w - cut, -d),
        (-w + cut, -d), (-w, -d + cut), (-w, d - cut), (-w + cut, d),
    ]  # fmt: skip
    ring: list[list[float]] = []
    for a, b in corners:
        north = a * along[0] + b * across[0]
        east = a * along[1] + b * across[1]
        lat, lng = _offset(store.lat, store.lng, north, east)
        ring.append([round(lng, 7), round(lat, 7)])
    # Counter-clockwise exterior ring (RFC 7946), closed.
    area2 = sum(
        ring[i][0] * ring[(i + 1) % len(ring)][1] - ring[(i + 1) % len(ring)][0] * ring[i][1]
        for i in range(len(ring))
    )
    if area2 < 0:
        ring.reverse()
    ring.append(ring[0])
    return ring


def store_in(store: DemoStore) -> StoreIn:
    return StoreIn(
        name=store.name,
        lat=store.lat,
        lng=store.lng,
        timezone=TIMEZONE,
        country=COUNTRY,
        region=REGION,
        opening_hours=store.opening_hours,
        categories=list(store.sells),
        attributes={"banner": store.banner, "district": DISTRICTS[store.district].name},
    )


def geofence_of(store: DemoStore) -> GeofenceIn:
    if store.polygon:
        return GeofenceIn(
            geometry=GeoJSONGeometry(type="Polygon", coordinates=[_shop_front(store)]),
            dwell_seconds=store.dwell_seconds,
        )
    return GeofenceIn(
        circle=Circle(lat=store.lat, lng=store.lng, radius_m=store.fence_m),
        dwell_seconds=store.dwell_seconds,
    )


def _stores(banner: Banner) -> list[str]:
    return [s.id for s in STORES if s.banner == banner]


def _t(title: str, body: str) -> MessageTemplate:
    return MessageTemplate(title=title, body=body)


_ACTIVE_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def campaigns() -> list[tuple[str, CampaignIn]]:
    """Every demo campaign: moments (thank-yous), service messages and offers, in English
    and French. Offers hold out 10 % of customers so the lift can be measured."""
    everywhere = [s.id for s in STORES]
    moment_caps = CampaignCaps(per_day=1, per_week=2)
    return [
        # Relationship moments: a thank-you, never a sale.
        ("demo-moment-welcome", CampaignIn(
            name="Welcome, first visit", kind="moment", store_ids=everywhere,
            templates={
                "en-GB": _t("Welcome to {store_name}",
                            "Hi {first_name}, lovely to see you. Your first drink is on us today."),
                "fr": _t("Bienvenue chez {store_name}",
                         "Bonjour {first_name}, ravis de vous voir. Le premier café est offert."),
            },
            default_locale="en-GB", eligibility=Eligibility(moments=["first_visit_ever"]),
            caps=moment_caps, holdout_pct=5, active_from=_ACTIVE_FROM)),
        ("demo-moment-welcome-back", CampaignIn(
            name="Welcome back after a long time", kind="moment", store_ids=everywhere,
            templates={
                "en-GB": _t("It's been a while, {first_name}",
                            "Welcome back to {store_name}. We kept your loyalty points warm."),
                "fr": _t("Ça faisait longtemps, {first_name}",
                         "Bon retour chez {store_name}. Vos points fidélité vous attendaient."),
            },
            default_locale="en-GB", eligibility=Eligibility(moments=["return_after_absence"]),
            caps=moment_caps, active_from=_ACTIVE_FROM)),
        ("demo-moment-sorry-delivery", CampaignIn(
            name="Sorry about your late delivery", kind="moment", store_ids=everywhere,
            templates={
                "en-GB": _t("We owe you one, {first_name}",
                            "Your last delivery was late, and we are sorry. Ask at {store_name} "
                            "for a coffee on us."),
                "fr": _t("Nous vous devons une excuse",
                         "Votre dernière livraison est arrivée en retard. Un café vous attend "
                         "chez {store_name}."),
            },
            default_locale="en-GB",
            eligibility=Eligibility(moments=["first_visit_after_delayed_delivery"]),
            caps=moment_caps, active_from=_ACTIVE_FROM)),
        ("demo-moment-thanks", CampaignIn(
            name="Thank you for coming back", kind="moment", store_ids=everywhere,
            templates={
                "en-GB": _t("Thank you, {first_name}",
                            "That was your {moment}. Thank you for choosing {store_name}."),
                "fr": _t("Merci, {first_name}",
                         "C'était votre {moment}. Merci d'avoir choisi {store_name}."),
            },
            default_locale="en-GB",
            eligibility=Eligibility(
                moments=["milestone_order", "first_repeat_order", "first_order_in_category"]),
            caps=moment_caps, active_from=_ACTIVE_FROM)),
        # Service before sales: these may still go while a case is open.
        ("demo-service-garden-parts", CampaignIn(
            name="Your missing parts are here", kind="service",
            store_ids=_stores("garden"),
            templates={
                "en-GB": _t("Your parts are at the service desk",
                            "Hi {first_name}, the missing screws for your garden table are "
                            "waiting for you at {store_name}. Sorry for the trouble."),
                "fr": _t("Vos pièces vous attendent",
                         "Les vis manquantes de votre table de jardin sont à l'accueil de "
                         "{store_name}. Toutes nos excuses."),
            },
            default_locale="en-GB", eligibility=Eligibility(segments=["service:parts_waiting"]),
            caps=CampaignCaps(per_day=1), freshness_seconds=3600, active_from=_ACTIVE_FROM)),
        ("demo-service-collect", CampaignIn(
            name="Your order is ready to collect", kind="service", store_ids=everywhere,
            templates={
                "en-GB": _t("Ready when you are",
                            "Your order is ready to collect at {store_name}, until {closes_at}."),
                "fr": _t("Votre commande est prête",
                         "Votre commande vous attend chez {store_name} jusqu'à {closes_at}."),
            },
            default_locale="en-GB", eligibility=Eligibility(segments=["collect:ready"]),
            caps=CampaignCaps(per_day=1), active_from=_ACTIVE_FROM)),
        # Offers. The boutique pair: £10 at 80 % scores 11.00, £20 at 50 % scores 10.00.
        ("demo-offer-blend", CampaignIn(
            name="Try the new Ristretto Intenso blend", kind="offer",
            store_ids=_stores("capsule"),
            templates={
                "en-GB": _t("A new blend to try, {first_name}",
                            "Ristretto Intenso has just arrived at {store_name}: come and taste "
                            "it, we are open until {closes_at}."),
                "fr": _t("Un nouveau café à goûter",
                         "Le Ristretto Intenso vient d'arriver chez {store_name} : venez le "
                         "déguster, ouvert jusqu'à {closes_at}."),
            },
            default_locale="en-GB", offer_categories=["coffee"],
            margin=10, acceptance_probability=0.8,
            caps=CampaignCaps(per_day=1, per_week=3, cooldown_seconds=86_400),
            holdout_pct=10, active_from=_ACTIVE_FROM)),
        ("demo-offer-machine", CampaignIn(
            name="Upgrade to the Vertuo Pro machine", kind="offer",
            store_ids=_stores("capsule"),
            templates={
                "en-GB": _t("Time for a new machine?",
                            "Trade in your old machine at {store_name} and save on the Vertuo "
                            "Pro."),
                "fr": _t("Une nouvelle machine ?",
                         "Reprise de votre ancienne machine chez {store_name} sur la Vertuo "
                         "Pro."),
            },
            default_locale="en-GB", offer_categories=["machines"],
            # Customers whose machine is more than three years old (the CRM knows).
            eligibility=Eligibility(segments=["machine:older_than_3y"]),
            margin=20, acceptance_probability=0.5,
            caps=CampaignCaps(per_day=1, per_week=2), holdout_pct=10,
            active_from=_ACTIVE_FROM)),
        ("demo-offer-pastry", CampaignIn(
            name="A pastry with your flat white", kind="offer", store_ids=_stores("coffee"),
            templates={
                "en-GB": _t("Flat white + croissant for £4",
                            "Only at {store_name}, until {closes_at}."),
                "fr": _t("Flat white + croissant pour 4 £",
                         "Seulement chez {store_name}, jusqu'à {closes_at}."),
            },
            default_locale="en-GB", offer_categories=["coffee", "bakery"],
            margin=2.5, acceptance_probability=0.55,
            caps=CampaignCaps(per_day=1, per_week=3), holdout_pct=10,
            active_from=_ACTIVE_FROM)),
        ("demo-offer-bakery-morning", CampaignIn(
            name="Fresh from the oven", kind="offer", store_ids=_stores("bakery"),
            templates={
                "en-GB": _t("Fresh from the oven at {opens_at}",
                            "The first sourdough loaves of the day at {store_name}."),
                "fr": _t("Tout juste sorti du four",
                         "Les premières miches de la journée chez {store_name}."),
            },
            default_locale="en-GB", offer_categories=["bakery"],
            margin=3, acceptance_probability=0.6,
            caps=CampaignCaps(per_day=1), holdout_pct=10, defer_window_seconds=2700,
            freshness_seconds=2400, active_from=_ACTIVE_FROM)),
        ("demo-offer-umbrella", CampaignIn(
            name="The parasol for your garden table", kind="offer",
            store_ids=_stores("garden"),
            templates={
                "en-GB": _t("A parasol to go with your table",
                            "Matching parasols are in at {store_name}: 20 % off this week."),
                "fr": _t("Un parasol assorti",
                         "Les parasols assortis sont arrivés chez {store_name} : -20 % cette "
                         "semaine."),
            },
            default_locale="en-GB",
            eligibility=Eligibility(categories=["garden_furniture"]),
            offer_categories=["garden_accessories"], margin=15, acceptance_probability=0.35,
            caps=CampaignCaps(per_day=1, per_week=2), holdout_pct=10,
            active_from=_ACTIVE_FROM)),
        ("demo-offer-bulbs", CampaignIn(
            name="Spring bulbs, plant them now", kind="offer", store_ids=_stores("garden"),
            templates={
                "en-GB": _t("Plant now, bloom in April",
                            "Tulip and daffodil bulbs at {store_name}, three bags for two."),
                "fr": _t("Plantez maintenant",
                         "Bulbes de tulipes et jonquilles chez {store_name} : 3 pour 2."),
            },
            default_locale="en-GB", offer_categories=["plants"],
            margin=4, acceptance_probability=0.4, caps=CampaignCaps(per_day=1),
            holdout_pct=10, active_from=_ACTIVE_FROM)),
        ("demo-offer-phone-upgrade", CampaignIn(
            name="Upgrade your phone early", kind="offer", store_ids=_stores("mobile"),
            templates={
                "en-GB": _t("Your upgrade is ready, {first_name}",
                            "Pop into {store_name} and upgrade early, no fee."),
                "fr": _t("Votre renouvellement est prêt",
                         "Passez chez {store_name} pour changer de téléphone, sans frais."),
            },
            default_locale="en-GB", offer_categories=["phones"],
            margin=40, acceptance_probability=0.25,
            caps=CampaignCaps(per_day=1, per_week=1), holdout_pct=10,
            active_from=_ACTIVE_FROM)),
        ("demo-offer-happy-hour", CampaignIn(
            name="Happy hour", kind="offer", store_ids=_stores("bar"),
            templates={
                "en-GB": _t("Happy hour at {store_name}",
                            "Two for one on draught until 19:00. Open until {closes_at}."),
                "fr": _t("Happy hour chez {store_name}",
                         "Deux pressions pour le prix d'une jusqu'à 19 h."),
            },
            default_locale="en-GB", offer_categories=["drinks"],
            margin=6, acceptance_probability=0.5, caps=CampaignCaps(per_day=1),
            holdout_pct=10, active_from=_ACTIVE_FROM)),
        ("demo-offer-meal-deal", CampaignIn(
            name="Meal deal", kind="offer", store_ids=_stores("express"),
            templates={
                "en-GB": _t("Meal deal, £4.50", "Sandwich, snack and drink at {store_name}."),
                "fr": _t("Formule déjeuner à 4,50 £",
                         "Sandwich, en-cas et boisson chez {store_name}."),
            },
            default_locale="en-GB", offer_categories=["food"],
            margin=1.5, acceptance_probability=0.6, caps=CampaignCaps(per_day=1),
            holdout_pct=10, active_from=_ACTIVE_FROM)),
        ("demo-offer-winter-care", CampaignIn(
            name="Winter skin care", kind="offer", store_ids=_stores("pharmacy"),
            templates={
                "en-GB": _t("Cold outside?",
                            "Winter skin care, 3 for 2 at {store_name} until {closes_at}."),
                "fr": _t("Il fait froid ?",
                         "Soins d'hiver, 3 pour 2 chez {store_name} jusqu'à {closes_at}."),
            },
            default_locale="en-GB", offer_categories=["beauty"],
            margin=5, acceptance_probability=0.3, caps=CampaignCaps(per_day=1),
            holdout_pct=10, active_from=_ACTIVE_FROM)),
    ]  # fmt: skip
