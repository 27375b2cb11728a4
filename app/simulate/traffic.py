"""What the app and the tills send, minute by minute, for a set of itineraries.

An itinerary becomes the events a loyalty app posts (``POST /v1/events``) and the orders a
till posts (``POST /v1/purchases``), with the imperfections of real phones:

* background ``fix`` reports every few minutes on the move and about hourly when still,
  uploaded in batches every eight minutes (or with the next geofence event), so none is
  stale (ten minutes) when it arrives;
* the phone's own geofencing: ``enter`` on arrival at a store, ``dwell`` after the
  geofence's dwell time, ``exit`` on leaving; a ``checkin`` when the customer scans the app;
* noisy accuracy (mostly 5-40 m, sometimes 60-140 m, now and then a 200-600 m indoor fix,
  which Kairos stores but does not act on);
* a GPS glitch now and then: a fix 20 km away (flagged ``jumped``), mocked locations from
  a spoofing app (flagged ``mocked``);
* batches resent after a timeout (answered ``duplicate``), and a phone in the Tube that
  uploads its fixes late (stored ``stale``).

Everything is drawn from a generator seeded by the day and the customer: the same day
replays the same traffic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.demo.city import geofence_id, store_by_id
from app.simulate.itinerary import Itinerary, Stop
from app.simulate.paths import distance_m

__all__ = ["AppEvent", "CustomerTraffic", "TillOrder", "traffic_for"]

MOVING_FIX_MINUTES = 5
STILL_FIX_MINUTES = 60
LATE_UPLOAD_MINUTES = 12
UPLOAD_MINUTES = 8
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class AppEvent:
    """One event as the app posts it.

    Attributes:
        at: ``occurred_at``.
        send_at: When the app uploads it (``at``, or later for a phone that was offline).
        body: The JSON object for ``events[]``.
        resend: A second upload of an event already sent (a retried batch).
        offline: Held back by a phone without signal (the Tube), uploaded late.
    """

    at: dt.datetime
    send_at: dt.datetime
    body: dict[str, Any]
    resend: bool = False
    offline: bool = False


@dataclass(frozen=True, slots=True)
class TillOrder:
    """An order as the POS posts it (``POST /v1/purchases``)."""

    at: dt.datetime
    body: dict[str, Any]


@dataclass(slots=True)
class CustomerTraffic:
    customer_id: str
    events: list[AppEvent] = field(default_factory=list)
    orders: list[TillOrder] = field(default_factory=list)


def _accuracy(rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.72:
        return round(rng.uniform(5, 25), 1)
    if roll < 0.92:
        return round(rng.uniform(25, 45), 1)
    if roll < 0.98:
        return round(rng.uniform(60, 140), 1)
    return round(rng.uniform(200, 600), 1)


def _noisy(rng: random.Random, lat: float, lng: float, sigma_m: float) -> tuple[float, float]:
    d_north = rng.gauss(0, sigma_m)
    d_east = rng.gauss(0, sigma_m)
    return (
        round(lat + d_north / 111_320, 7),
        round(lng + d_east / (111_320 * math.cos(math.radians(lat))), 7),
    )


class _Phone:
    """One customer's app: builds events with the device's id and quirks."""

    def __init__(self, rng: random.Random, customer_id: str) -> None:
        self.rng = rng
        self.customer_id = customer_id
        self.device_id = f"{customer_id}:phone"
        self.out: list[AppEvent] = []

    def event(
        self, kind: str, at: dt.datetime, lat: float, lng: float, *,
        accuracy: float | None = None, mocked: bool = False, speed: float | None = None,
        claim: dict[str, str] | None = None, send_at: dt.datetime | None = None,
    ) -> None:  # fmt: skip
        rng = self.rng
        acc = accuracy if accuracy is not None else _accuracy(rng)
        # Where the phone thinks it is: within its accuracy, but claims made inside a
        # geofence stay close to where the customer really is.
        sigma = min(acc / 3, 4.0) if claim else acc / 3
        fix_lat, fix_lng = _noisy(rng, lat, lng, sigma)
        body: dict[str, Any] = {
            "type": kind,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": at.isoformat(),
            "lat": fix_lat,
            "lng": fix_lng,
            "accuracy_m": acc,
            "device_id": self.device_id,
        }
        if mocked:
            body["is_mocked"] = True
        if speed is not None:
            body["speed_mps"] = round(speed, 2)
        if claim:
            body.update(claim)
        sent = send_at or at
        self.out.append(AppEvent(at=at, send_at=sent, body=body, offline=send_at is not None))
        if rng.random() < 0.02:  # the upload timed out and the app tried again
            self.out.append(
                AppEvent(at=at, send_at=sent + dt.timedelta(seconds=50), body=body, resend=True)
            )


def _stop_events(phone: _Phone, stop: Stop) -> None:
    rng = phone.rng
    mocked = stop.mocked
    if stop.app_silent:
        return
    phone.event("fix", stop.arrive, stop.lat, stop.lng, accuracy=stop.accuracy_m, mocked=mocked)
    if stop.store_id is None:
        t = stop.arrive + dt.timedelta(minutes=STILL_FIX_MINUTES)
        while t < stop.leave:
            phone.event("fix", t, stop.lat, stop.lng, mocked=mocked)
            t += dt.timedelta(minutes=STILL_FIX_MINUTES + rng.uniform(-10, 10))
        return
    store = store_by_id(stop.store_id)
    fence = {"geofence_id": geofence_id(store)}
    accuracy = stop.accuracy_m if stop.accuracy_m is not None else round(rng.uniform(5, 30), 1)
    enter_at = stop.arrive + dt.timedelta(seconds=5)
    phone.event("enter", enter_at, stop.lat, stop.lng, accuracy=accuracy, mocked=mocked,
                claim=fence)  # fmt: skip
    if stop.checkin:
        phone.event(
            "checkin", stop.arrive + dt.timedelta(seconds=60), stop.lat, stop.lng,
            accuracy=accuracy, mocked=mocked, claim={"store_id": store.id},
        )  # fmt: skip
    dwell_at = stop.arrive + dt.timedelta(seconds=store.dwell_seconds)
    if dwell_at + dt.timedelta(seconds=30) < stop.leave:
        phone.event("dwell", dwell_at, stop.lat, stop.lng, accuracy=accuracy, mocked=mocked,
                    claim=fence)  # fmt: skip
    # The OS reports the exit once the phone is out: a few tens of metres past the edge.
    away = max(store.fence_m, store.depth_m if store.polygon else 0.0) + rng.uniform(40, 70)
    bearing = rng.uniform(0, 2 * math.pi)
    out_lat = store.lat + away * math.cos(bearing) / 111_320
    out_lng = store.lng + away * math.sin(bearing) / (111_320 * math.cos(math.radians(store.lat)))
    phone.event("exit", stop.leave, out_lat, out_lng, accuracy=accuracy, mocked=mocked,
                claim=fence)  # fmt: skip


def _leg_events(phone: _Phone, start: Stop, end: Stop, spoofer: bool) -> None:
    """Background fixes between two stops, on a straight line."""
    rng = phone.rng
    seconds = (end.arrive - start.leave).total_seconds()
    if seconds <= MOVING_FIX_MINUTES * 60:
        return
    metres = distance_m((start.lat, start.lng), (end.lat, end.lng))
    speed = metres / seconds
    in_the_tube = metres > 1_500 and rng.random() < 0.04
    late = end.arrive + dt.timedelta(minutes=1) if in_the_tube else None
    step = dt.timedelta(minutes=MOVING_FIX_MINUTES)
    t = start.leave + step
    while t < end.arrive - dt.timedelta(minutes=1):
        share = (t - start.leave).total_seconds() / seconds
        lat = start.lat + (end.lat - start.lat) * share
        lng = start.lng + (end.lng - start.lng) * share
        if rng.random() < 0.004:  # a GPS glitch: 20 km off for one fix
            lat += 0.18
        phone.event("fix", t, lat, lng, speed=speed, mocked=spoofer, send_at=late)
        t += step


def _order(customer_id: str, day: dt.date, n: int, stop: Stop) -> TillOrder:
    at = min(stop.arrive + dt.timedelta(minutes=3), stop.leave)
    total = sum((q * p for _, _, q, p in stop.purchase), Decimal(0))
    return TillOrder(
        at=at,
        body={
            "order_id": f"demo-sim-{day:%Y%m%d}-{customer_id.removeprefix('demo-')}-{n}",
            "customer_id": customer_id,
            "channel": "store",
            "store_id": stop.store_id,
            "occurred_at": at.isoformat(),
            "currency": "GBP",
            "total": str(total),
            "items": [
                {"sku": sku, "category": category, "quantity": q, "unit_price": str(price)}
                for sku, category, q, price in stop.purchase
            ],
        },
    )


def traffic_for(itinerary: Itinerary, day: dt.date, *, spoofer: bool = False) -> CustomerTraffic:
    """The app's events and the tills' orders for one customer's day."""
    rng = random.Random(f"kairos-traffic:{day.isoformat()}:{itinerary.customer_id}")
    phone = _Phone(rng, itinerary.customer_id)
    traffic = CustomerTraffic(itinerary.customer_id)
    previous: Stop | None = None
    for stop in itinerary.stops:
        if previous is not None:
            _leg_events(phone, previous, stop, spoofer)
        _stop_events(phone, stop)
        if stop.purchase and stop.store_id is not None:
            traffic.orders.append(_order(itinerary.customer_id, day, len(traffic.orders) + 1,
                                         stop))  # fmt: skip
        previous = stop
    traffic.events = _batched(phone.out, rng.uniform(0, UPLOAD_MINUTES * 60))
    return traffic


def _batched(events: list[AppEvent], offset_seconds: float) -> list[AppEvent]:
    """When the app uploads: geofence events and check-ins at once, background fixes with
    the next of them or at the next upload slot (every few minutes, a per-phone offset),
    whichever comes first, as mobile platforms batch background location."""
    events = sorted(events, key=lambda e: (e.at, e.send_at))
    urgent = [e.at for e in events if e.body["type"] != "fix"]
    out: list[AppEvent] = []
    slot = dt.timedelta(minutes=UPLOAD_MINUTES)
    nxt = 0
    for event in events:
        if event.body["type"] != "fix" or event.offline:  # urgent, or late anyway
            out.append(event)
            continue
        while nxt < len(urgent) and urgent[nxt] < event.at:
            nxt += 1
        since = (event.at - _EPOCH).total_seconds() - offset_seconds
        upload = event.at + dt.timedelta(seconds=-since % slot.total_seconds())
        if nxt < len(urgent):
            upload = min(upload, urgent[nxt])
        out.append(dataclasses.replace(event, send_at=upload))
    out.sort(key=lambda e: (e.send_at, e.at))
    return out
