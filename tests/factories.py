"""Builders of valid request bodies, shared by the test modules (imported from here only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = [
    "LONDON",
    "campaign_body",
    "circle_fence",
    "event_body",
    "event_world",
    "iso",
    "moved",
    "now",
    "order",
    "square_fence",
    "store_body",
    "wait_for_geofences",
]

LONDON = {"lat": 51.5136, "lng": -0.1365}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def store_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Boutique Regent Street",
        **LONDON,
        "country": "GB",
        "opening_hours": "Mo-Sa 09:00-19:00; Su 11:00-17:00; PH off",
        "categories": ["coffee", "machines"],
    }
    body.update(overrides)
    return body


def circle_fence(radius: float = 80.0) -> dict[str, Any]:
    return {"circle": {**LONDON, "radius_m": radius}, "dwell_seconds": 120}


def square_fence(size: float = 0.001) -> dict[str, Any]:
    lat, lng = LONDON["lat"], LONDON["lng"]
    ring = [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
    return {"geometry": {"type": "Polygon", "coordinates": [ring]}}


def campaign_body(store_ids: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "New blend",
        "kind": "offer",
        "store_ids": store_ids,
        "templates": {
            "en": {"title": "Try our new blend", "body": "{store_name} closes at {closes_at}"},
            "fr": {"title": "Goûtez", "body": "{store_name} ferme à {closes_at}"},
        },
        "default_locale": "en",
        "margin": 10,
        "acceptance_probability": 0.8,
        "caps": {"per_day": 1, "per_week": 3, "cooldown_seconds": 3600},
        "holdout_pct": 10,
    }
    body.update(overrides)
    return body


def order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": "o-1",
        "customer_id": "c1",
        "channel": "store",
        "store_id": "s1",
        "occurred_at": iso(now() - dt.timedelta(hours=1)),
        "currency": "EUR",
        "total": "12.50",
        "items": [{"sku": "NES-1", "category": "coffee", "quantity": 2, "unit_price": "6.25"}],
    }
    body.update(changes)
    return body


def moved(lat: float, lng: float, *, north_m: float = 0.0, east_m: float = 0.0) -> dict[str, float]:
    """``{"lat", "lng"}`` of the point ``north_m`` / ``east_m`` metres from (lat, lng)."""
    import math

    from geo.distance import METERS_PER_DEGREE

    return {
        "lat": lat + north_m / METERS_PER_DEGREE,
        "lng": lng + east_m / (METERS_PER_DEGREE * math.cos(math.radians(lat))),
    }


def event_body(
    kind: str = "fix",
    *,
    at: dt.datetime,
    north_m: float = 0.0,
    east_m: float = 0.0,
    accuracy_m: float = 10.0,
    device_id: str = "dev-1",
    event_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One event for ``POST /v1/events``, at the London store's centre unless moved."""
    import uuid

    body: dict[str, Any] = {
        "type": kind,
        "event_id": event_id or str(uuid.uuid4()),
        "occurred_at": iso(at),
        **moved(LONDON["lat"], LONDON["lng"], north_m=north_m, east_m=east_m),
        "accuracy_m": accuracy_m,
        "device_id": device_id,
    }
    body.update(fields)
    return body


async def event_world(
    client: Any,
    auth: Any,
    app: Any,
    *,
    customer: str = "c1",
    stores: tuple[str, ...] = ("s1",),
    opening_hours: str = "Mo-Sa 09:00-19:00",
    dwell_seconds: int = 120,
    spacing_m: float = 5000.0,
    campaign: dict[str, Any] | None = None,
    device: tuple[str, str] | None = None,
) -> None:
    """What an app event needs to lead to an invite, made through the API: London stores
    (``s1`` at ``LONDON``, the others ``spacing_m`` apart eastwards) with an 80 m geofence
    ``g-<store>``, a 10.00 @ 80 % offer ``blend`` there (no holdout, no per-campaign cap),
    and a reachable customer with both consents and a device (``device``: its platform and
    token, an FCM one by default). Returns once the app's geo index has the geofences."""
    admin = auth("admin")
    for n, store_id in enumerate(stores):
        where = moved(LONDON["lat"], LONDON["lng"], east_m=spacing_m * n)
        response = await client.put(
            f"/v1/stores/{store_id}",
            json=store_body(name=f"Boutique {store_id}", opening_hours=opening_hours, **where),
            headers=admin,
        )
        assert response.status_code in (200, 201), response.text
        response = await client.put(
            f"/v1/stores/{store_id}/geofences/g-{store_id}",
            json={"circle": {**where, "radius_m": 80.0}, "dwell_seconds": dwell_seconds},
            headers=admin,
        )
        assert response.status_code in (200, 201), response.text
    offer = campaign or campaign_body(
        list(stores),
        name="New blend",
        holdout_pct=0,
        caps={"cooldown_seconds": 0},
        offer_categories=["coffee"],
    )
    response = await client.put("/v1/campaigns/blend", json=offer, headers=admin)
    assert response.status_code in (200, 201), response.text
    response = await client.put(
        f"/v1/customers/{customer}",
        json={
            "locale": "en",
            "first_name": "Ana",
            "consents": {"location": True, "marketing": True},
        },
        headers=auth("integration"),
    )
    assert response.status_code in (200, 201), response.text
    platform, token = device or ("fcm", f"fcm-token-{customer}-0123456789")
    response = await client.post(
        "/v1/me/devices",
        json={"platform": platform, "token": token},
        headers=auth("customer", sub=customer),
    )
    assert response.status_code in (200, 201), response.text
    await wait_for_geofences(app, [f"g-{store_id}" for store_id in stores])


async def wait_for_geofences(app: Any, geofence_ids: list[str]) -> None:
    """Wait until the app's geo index (fed by NOTIFY) holds every geofence in the list."""
    import asyncio

    for _ in range(1000):
        if all(g in app.state.geo.meta for g in geofence_ids):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the geo index never received {geofence_ids}")
