"""Bulk import of stores and their geofences from a GeoJSON FeatureCollection.

This is how store data leaves OSM and GIS tools. Each feature is one store:

* ``geometry``: the store's geofence, a Polygon / MultiPolygon, or a Point with a
  ``radius_m`` property for a circle.
* ``properties``: ``id`` and ``name`` (required), ``opening_hours`` (OSM expression or the
  structured weekly form), ``country``, ``categories`` (a list, or OSM's ``a;b`` string),
  ``timezone`` (derived from the location when absent), ``lat`` / ``lng`` (default: the
  circle's centre or a point inside the polygon), ``geofence_id`` (default ``<id>:main``),
  ``dwell_seconds``, ``enabled``. Every other property is kept in the store's
  ``attributes`` (``brand``, ``addr:street``, ...).

Every feature is validated first and all problems are reported together, by feature index.
A file with any problem imports nothing unless ``skip_invalid`` is set. Writes are upserts
that leave identical rows untouched (no new version, no audit entry), so re-importing the
same file changes nothing. All writes happen in one transaction, through the same upserts and
audit images as ``PUT /v1/stores/{id}`` and its geofences (:mod:`app.stores.queries`).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import shapely

from app.auth import Principal
from app.common import BRAND_ID_PATTERN
from app.db import DbConnection, transaction
from app.problems import FieldError, field_from_message
from app.stores.queries import GEOFENCE_OWNERS, GEOFENCE_UPSERT, STORE_UPSERT
from app.stores.schemas import GeofenceIn, StoreIn
from app.stores.services import geofence_json, store_json
from app.stores.validation import (
    GeofenceRecord,
    StoreRecord,
    validate_geofence,
    validate_store,
)
from geo.shapes import parse_geojson

__all__ = ["ImportReport", "ImportedStore", "import_stores", "parse_features"]

_STORE_KEYS = (
    "name",
    "lat",
    "lng",
    "timezone",
    "country",
    "region",
    "opening_hours",
    "categories",
)
_GEOFENCE_KEYS = ("geofence_id", "dwell_seconds", "enabled", "radius_m")
_RESERVED = {"id", *_STORE_KEYS, *_GEOFENCE_KEYS, "attributes"}


@dataclass(frozen=True, slots=True)
class ImportedStore:
    """One valid feature."""

    index: int
    store_id: str
    store: StoreRecord
    geofence_id: str
    geofence: GeofenceRecord


@dataclass(slots=True)
class ImportReport:
    """What an import found and did."""

    features: int = 0
    valid: int = 0
    errors: list[tuple[int, FieldError]] = field(default_factory=list)
    stores_created: int = 0
    stores_updated: int = 0
    geofences_created: int = 0
    geofences_updated: int = 0
    imported: bool = False
    seconds: float = 0.0

    @property
    def invalid_features(self) -> int:
        return len({i for i, _ in self.errors})


def _err(index: int, path: str, message: str) -> tuple[int, FieldError]:
    return index, FieldError(field=f"features[{index}].{path}", message=message)


def _split_path(message: str) -> tuple[str, str]:
    """msgspec's "Expected `int`, got `str` - at `$.lat`" → ("lat", "Expected ...")."""
    return field_from_message(message, None)


def _feature(index: int, raw: Any) -> tuple[ImportedStore | None, list[tuple[int, FieldError]]]:
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        return None, [_err(index, "type", "each item of features must be a GeoJSON Feature")]
    props = raw.get("properties")
    geometry = raw.get("geometry")
    if not isinstance(props, dict):
        return None, [
            _err(index, "properties", "a store feature needs properties with id and name")
        ]
    if not isinstance(geometry, dict):
        return None, [_err(index, "geometry", "a store feature needs a geometry (its geofence)")]
    errors: list[tuple[int, FieldError]] = []
    store_id = props.get("id")
    if not isinstance(store_id, str | int) or not re.match(BRAND_ID_PATTERN, str(store_id)):
        errors.append(_err(index, "properties.id", "required: 1-128 of A-Z a-z 0-9 . _ : -"))
        store_id = None
    else:
        store_id = str(store_id)

    # The geofence: a polygon, or a point plus radius_m.
    fence_in: dict[str, Any] | None = {}
    assert fence_in is not None
    if geometry.get("type") == "Point":
        coords = geometry.get("coordinates")
        if "radius_m" not in props:
            errors.append(
                _err(index, "properties.radius_m", "a Point geometry needs radius_m for its circle")
            )
            fence_in = None
        elif isinstance(coords, list) and len(coords) >= 2:
            fence_in["circle"] = {"lat": coords[1], "lng": coords[0], "radius_m": props["radius_m"]}
        else:
            errors.append(
                _err(index, "geometry.coordinates", "a Point needs [longitude, latitude]")
            )
            fence_in = None
    else:
        fence_in["geometry"] = geometry
    fence: GeofenceRecord | None = None
    if fence_in is not None:
        for key in ("dwell_seconds", "enabled"):
            if key in props:
                fence_in[key] = props[key]
        try:
            fence_body = msgspec.convert(fence_in, GeofenceIn)
            fence, fence_errors = validate_geofence(fence_body, prefix=f"features[{index}].")
            errors += [(index, e) for e in fence_errors]
        except msgspec.ValidationError as exc:
            path, message = _split_path(str(exc))
            if path.startswith("geometry") or path == "body":
                where = "geometry"
            else:
                where = f"properties.{path.removeprefix('circle.')}"
            errors.append(_err(index, where, message))

    # The store's location defaults to the geofence's centre.
    store_in: dict[str, Any] = {k: props[k] for k in _STORE_KEYS if k in props}
    if isinstance(store_in.get("categories"), str):
        store_in["categories"] = [c.strip() for c in store_in["categories"].split(";") if c.strip()]
    attributes = {k: v for k, v in props.items() if k not in _RESERVED}
    if isinstance(props.get("attributes"), dict):
        attributes.update(props["attributes"])
    store_in["attributes"] = attributes
    if "lat" not in store_in or "lng" not in store_in:
        if fence is None:
            # The geofence's own errors say what to fix; a missing location would only echo it.
            return None, errors
        if fence.center_lat is not None and fence.center_lng is not None:
            store_in.setdefault("lat", fence.center_lat)
            store_in.setdefault("lng", fence.center_lng)
        else:
            assert fence.geometry is not None
            point = shapely.point_on_surface(parse_geojson(fence.geometry))
            store_in.setdefault("lat", point.y)
            store_in.setdefault("lng", point.x)

    store: StoreRecord | None = None
    try:
        store_body = msgspec.convert(store_in, StoreIn)
        store, store_errors = validate_store(store_body, prefix=f"features[{index}].properties.")
        errors += [(index, e) for e in store_errors]
    except msgspec.ValidationError as exc:
        path, message = _split_path(str(exc))
        errors.append(_err(index, f"properties.{path}", message))

    geofence_id = str(props.get("geofence_id") or f"{store_id}:main")
    if store_id is not None and not re.match(BRAND_ID_PATTERN, geofence_id):
        errors.append(_err(index, "properties.geofence_id", "1-128 of A-Z a-z 0-9 . _ : -"))
    if errors or store is None or fence is None or store_id is None:
        return None, errors
    return ImportedStore(index, store_id, store, geofence_id, fence), []


def parse_features(
    document: bytes,
) -> tuple[list[ImportedStore], list[tuple[int, FieldError]], int]:
    """Validate every feature. Returns (valid features, errors, number of features)."""
    try:
        data = msgspec.json.decode(document)
    except msgspec.DecodeError as exc:
        return [], [(-1, FieldError(field="$", message=f"not JSON: {exc}"))], 0
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        return (
            [],
            [(-1, FieldError(field="type", message="expected a GeoJSON FeatureCollection"))],
            0,
        )
    features = data.get("features")
    if not isinstance(features, list):
        return [], [(-1, FieldError(field="features", message="must be a list of Features"))], 0
    valid: list[ImportedStore] = []
    errors: list[tuple[int, FieldError]] = []
    seen_stores: dict[str, int] = {}
    seen_fences: dict[str, int] = {}
    for index, raw in enumerate(features):
        item, problems = _feature(index, raw)
        errors += problems
        if item is None:
            continue
        if item.store_id in seen_stores:
            errors.append(
                _err(index, "properties.id", f"duplicate of features[{seen_stores[item.store_id]}]")
            )
            continue
        if item.geofence_id in seen_fences:
            errors.append(
                _err(
                    index,
                    "properties.geofence_id",
                    f"duplicate of features[{seen_fences[item.geofence_id]}]",
                )
            )
            continue
        seen_stores[item.store_id] = index
        seen_fences[item.geofence_id] = index
        valid.append(item)
    return valid, errors, len(features)


async def import_stores(
    conn: DbConnection,
    document: bytes,
    *,
    actor: Principal,
    skip_invalid: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Validate and (unless there are errors, or ``dry_run``) write a FeatureCollection."""
    started = time.perf_counter()
    valid, errors, count = parse_features(document)
    report = ImportReport(features=count, valid=len(valid), errors=errors)
    async with transaction(conn):
        # A geofence id may already belong to another store: that feature is invalid too.
        owners = {
            r["id"]: r["store_id"]
            for r in await conn.fetch(GEOFENCE_OWNERS, [v.geofence_id for v in valid])
        }
        clashes = {v.index for v in valid if owners.get(v.geofence_id, v.store_id) != v.store_id}
        for item in valid:
            if item.index in clashes:
                report.errors.append(
                    _err(item.index, "properties.geofence_id", "already used by another store")
                )
        valid = [v for v in valid if v.index not in clashes]
        report.valid = len(valid)
        report.errors.sort(key=lambda e: e[0])
        if (report.errors and not skip_invalid) or dry_run or not valid:
            report.seconds = time.perf_counter() - started
            return report
        stores = await conn.fetch(
            STORE_UPSERT,
            store_json([(v.store_id, v.store) for v in valid]),
            actor.sub,
            actor.role,
            "import",
            None,
        )
        fences = await conn.fetch(
            GEOFENCE_UPSERT,
            geofence_json([(v.geofence_id, v.store_id, v.geofence) for v in valid]),
            actor.sub,
            actor.role,
            "import",
            None,
        )
        report.stores_created = sum(1 for r in stores if r["inserted"])
        report.stores_updated = len(stores) - report.stores_created
        report.geofences_created = sum(1 for r in fences if r["inserted"])
        report.geofences_updated = len(fences) - report.geofences_created
        report.imported = True
    report.seconds = time.perf_counter() - started
    return report


def record_dict(item: ImportedStore) -> dict[str, Any]:
    """For debugging and tests: the records a feature turns into."""
    return {"store": asdict(item.store), "geofence": asdict(item.geofence)}
