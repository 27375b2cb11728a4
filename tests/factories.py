"""Builders of valid request bodies, shared by the test modules (imported from here only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = [
    "LONDON",
    "campaign_body",
    "circle_fence",
    "iso",
    "now",
    "order",
    "square_fence",
    "store_body",
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
