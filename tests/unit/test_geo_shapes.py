"""Validation and construction of geofence shapes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo.distance import haversine_m
from geo.shapes import (
    GeoError,
    Geofence,
    GeofenceValidationError,
    ShapeLimits,
    area_m2,
    circle,
    parse_geojson,
)

# A ~110 m x 110 m square near London, [lng, lat] order.
SQUARE = [[-0.1, 51.5], [-0.0984, 51.5], [-0.0984, 51.501], [-0.1, 51.501], [-0.1, 51.5]]
HOLE = [[-0.0995, 51.5003], [-0.0990, 51.5003], [-0.0990, 51.5006], [-0.0995, 51.5003]]


def poly(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [list(r) for r in rings]}


def errors_of(geometry: Any, limits: ShapeLimits | None = None) -> list[GeoError]:
    with pytest.raises(GeofenceValidationError) as exc:
        parse_geojson(geometry, limits or ShapeLimits())
    assert exc.value.errors, "a validation error must carry at least one GeoError"
    return exc.value.errors


def only(errors: list[GeoError]) -> GeoError:
    assert len(errors) == 1, errors
    return errors[0]


# ------------------------------------------------------------------ valid shapes


def test_valid_polygon_with_hole() -> None:
    shape = parse_geojson(poly(SQUARE, HOLE))
    assert isinstance(shape, Polygon)
    assert len(shape.interiors) == 1
    # x is longitude, y latitude (RFC 7946 order is kept).
    assert shape.bounds[0] == pytest.approx(-0.1)
    assert shape.bounds[1] == pytest.approx(51.5)
    assert 10_000 < area_m2(shape) < 13_000


def test_valid_multipolygon_and_altitude_ignored() -> None:
    far = [[lng + 0.01, lat] for lng, lat in SQUARE]
    with_alt = [[lng, lat, 12.5] for lng, lat in SQUARE]
    shape = parse_geojson({"type": "MultiPolygon", "coordinates": [[with_alt], [far]]})
    assert isinstance(shape, MultiPolygon)
    assert len(shape.geoms) == 2


def test_orientation_is_not_enforced() -> None:
    clockwise = list(reversed(SQUARE))
    assert parse_geojson(poly(clockwise)).equals(parse_geojson(poly(SQUARE)))


# ----------------------------------------------------------- structural errors


def test_not_an_object() -> None:
    err = only(errors_of([1, 2, 3]))
    assert err.field == ""
    assert "GeoJSON object" in err.message


@pytest.mark.parametrize("gtype", ["Point", "LineString", None, "polygon"])
def test_unsupported_type(gtype: Any) -> None:
    err = only(errors_of({"type": gtype, "coordinates": []}))
    assert err.field == "type"
    assert "unsupported geometry type" in err.message


def test_missing_coordinates() -> None:
    err = only(errors_of({"type": "Polygon"}))
    assert err.field == "coordinates"
    assert "no coordinates" in err.message


def test_coordinates_not_an_array() -> None:
    err = only(errors_of({"type": "Polygon", "coordinates": "nope"}))
    assert (err.field, err.message) == ("coordinates", "coordinates must be an array")


def test_polygon_without_rings() -> None:
    err = only(errors_of({"type": "Polygon", "coordinates": []}))
    assert err.field == "coordinates"
    assert "outer ring" in err.message


def test_empty_multipolygon() -> None:
    err = only(errors_of({"type": "MultiPolygon", "coordinates": []}))
    assert err.field == "coordinates"
    assert "non-empty array of polygons" in err.message


def test_ring_not_an_array() -> None:
    err = only(errors_of({"type": "Polygon", "coordinates": [5]}))
    assert err.field == "coordinates[0]"
    assert "array of [longitude, latitude]" in err.message


@pytest.mark.parametrize("bad", [[1.0], [1.0, "2"], "ab", [1.0, 2.0, 3.0, 4.0], [True, 51.0]])
def test_malformed_position(bad: Any) -> None:
    ring = [SQUARE[0], SQUARE[1], bad, SQUARE[3], SQUARE[0]]
    err = only(errors_of(poly(ring)))
    assert err.field == "coordinates[0][2]"
    assert "two numbers" in err.message


def test_non_finite_position() -> None:
    ring = [SQUARE[0], [math.nan, 51.5], SQUARE[2], SQUARE[3], SQUARE[0]]
    err = only(errors_of(poly(ring)))
    assert err.field == "coordinates[0][1]"
    assert "finite" in err.message


def test_longitude_out_of_range() -> None:
    ring = [SQUARE[0], [181.0, 51.5], SQUARE[2], SQUARE[3], SQUARE[0]]
    err = only(errors_of(poly(ring)))
    assert err.field == "coordinates[0][1]"
    assert "longitude 181 is outside -180..180" in err.message
    assert "swapped" not in err.message


def test_latitude_out_of_range_suggests_swapped_order() -> None:
    # [lat, lng] written by mistake: 51.5 is a fine longitude but 120 is no latitude.
    ring = [[51.5, 120.0], [51.6, 120.0], [51.6, 120.1], [51.5, 120.0]]
    errs = errors_of(poly(ring))
    assert [e.field for e in errs] == [f"coordinates[0][{i}]" for i in range(4)]
    assert "latitude 120 is outside -90..90" in errs[0].message
    assert "swapped" in errs[0].message


def test_too_few_points() -> None:
    err = only(errors_of(poly([SQUARE[0], SQUARE[1], SQUARE[0]])))
    assert err.field == "coordinates[0]"
    assert "has 3 position(s)" in err.message
    assert "at least 4" in err.message


def test_ring_not_closed() -> None:
    err = only(errors_of(poly(SQUARE[:-1])))
    assert err.field == "coordinates[0]"
    assert "not closed" in err.message
    assert "[-0.100000, 51.501000]" in err.message  # the last position is quoted


def test_all_structural_problems_are_reported_together() -> None:
    bad_shell = [SQUARE[0], [200.0, 51.5], SQUARE[2], SQUARE[3], SQUARE[0]]
    errs = errors_of(poly(bad_shell, HOLE[:-1]))
    assert [e.field for e in errs] == ["coordinates[0][1]", "coordinates[1]"]


def test_multipolygon_paths_include_the_polygon_index() -> None:
    errs = errors_of({"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE[:-1]]]})
    assert only(errs).field == "coordinates[1][0]"


# ----------------------------------------------------------------- antimeridian


def test_ring_crossing_antimeridian_is_rejected() -> None:
    ring = [
        [179.999, 10.0],
        [-179.999, 10.0],
        [-179.999, 10.001],
        [179.999, 10.001],
        [179.999, 10.0],
    ]
    err = only(errors_of(poly(ring)))
    assert err.field == "coordinates[0]"
    assert "crosses the antimeridian" in err.message
    assert "between positions 0 and 1" in err.message


def test_multipolygon_split_at_antimeridian_is_rejected() -> None:
    east = [[179.999, 10.0], [180.0, 10.0], [180.0, 10.001], [179.999, 10.001], [179.999, 10.0]]
    west = [[-180.0, 10.0], [-179.999, 10.0], [-179.999, 10.001], [-180.0, 10.001], [-180.0, 10.0]]
    errs = errors_of({"type": "MultiPolygon", "coordinates": [[east], [west]]})
    assert [e.field for e in errs] == ["coordinates[0][0][1]", "coordinates[1][0][0]"]
    assert all("touches the antimeridian" in e.message for e in errs)


def test_circle_across_antimeridian_is_rejected() -> None:
    with pytest.raises(GeofenceValidationError) as exc:
        circle(0.0, 179.9995, 100.0)
    err = only(exc.value.errors)
    assert err.field == "lng"
    assert "antimeridian" in err.message


# ------------------------------------------------------------ geometric errors


def test_self_intersection_names_the_ring_and_location() -> None:
    bowtie = [[0.0, 0.0], [0.001, 0.001], [0.001, 0.0], [0.0, 0.001], [0.0, 0.0]]
    err = only(errors_of(poly(bowtie)))
    assert err.field == "coordinates[0]"
    assert "edges cross each other" in err.message
    assert "near [0.000500, 0.000500]" in err.message
    assert "Self-intersection[0.0005 0.0005]" in err.message  # GEOS' own explanation


def test_self_intersecting_hole_is_pointed_at() -> None:
    bowtie_hole = [
        [-0.0995, 51.5003],
        [-0.0990, 51.5006],
        [-0.0990, 51.5003],
        [-0.0995, 51.5006],
        [-0.0995, 51.5003],
    ]
    err = only(errors_of(poly(SQUARE, bowtie_hole)))
    assert err.field == "coordinates[1]"
    assert "edges cross each other" in err.message


def test_hole_outside_shell() -> None:
    outside = [[lng + 0.01, lat] for lng, lat in HOLE]
    err = only(errors_of(poly(SQUARE, outside)))
    assert err.field == "coordinates"
    assert "a hole lies outside the outer ring" in err.message


def test_overlapping_multipolygon_parts() -> None:
    shifted = [[lng + 0.0005, lat] for lng, lat in SQUARE]
    err = only(errors_of({"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted]]}))
    assert err.field == "coordinates"
    assert "near [" in err.message


def test_too_many_vertices() -> None:
    err = only(errors_of(poly(SQUARE), ShapeLimits(max_vertices=3)))
    assert err.field == "coordinates"
    assert "4 vertices; the limit is 3" in err.message


def test_area_too_small() -> None:
    tiny = [[0.0, 0.0], [0.00001, 0.0], [0.00001, 0.00001], [0.0, 0.00001], [0.0, 0.0]]
    err = only(errors_of(poly(tiny)))
    assert err.field == "coordinates"
    assert "the minimum is 10.0 m²" in err.message
    assert "area is 1.2 m²" in err.message


def test_area_too_large() -> None:
    err = only(errors_of(poly(SQUARE), ShapeLimits(max_area_m2=5_000.0)))
    assert err.field == "coordinates"
    assert "the maximum is 5,000.0 m²" in err.message


def test_area_too_large_default_is_50_km2() -> None:
    big = [[0.0, 0.0], [0.1, 0.0], [0.1, 0.1], [0.0, 0.1], [0.0, 0.0]]  # ~124 km²
    err = only(errors_of(poly(big)))
    assert "the maximum is 50.00 km²" in err.message


def test_error_string_lists_fields() -> None:
    exc = GeofenceValidationError([GeoError("radius_m", "too small"), GeoError("lat", "bad")])
    assert str(exc) == "radius_m: too small; lat: bad"
    assert isinstance(exc, ValueError)


# ---------------------------------------------------------------------- circles


@pytest.mark.parametrize("lat", [0.0, 45.0, 80.0, -80.0])
@pytest.mark.parametrize("radius", [10.0, 300.0, 10_000.0])
def test_circle_error_under_one_percent(lat: float, radius: float) -> None:
    shape = circle(lat, 10.0, radius)
    assert shape.is_valid
    assert shapely.is_ccw(shape.exterior)
    dense = shapely.get_coordinates(shapely.segmentize(shape.exterior, 1e-6 * radius))
    d = np.array([haversine_m(lat, 10.0, y, x) for x, y in dense])
    assert d.max() <= radius * 1.01
    assert d.min() >= radius * 0.99
    assert area_m2(shape) == pytest.approx(math.pi * radius**2, rel=0.01)


@pytest.mark.parametrize(
    ("args", "field", "text"),
    [
        ((51.5, 0.0, 5.0), "radius_m", "between 10 m and 10,000 m"),
        ((51.5, 0.0, 10_001.0), "radius_m", "the radius is 10001 m"),
        ((51.5, 0.0, math.inf), "radius_m", "finite number of metres"),
        ((86.0, 0.0, 100.0), "lat", "between -85 and 85"),
        ((math.nan, 0.0, 100.0), "lat", "finite"),
        ((51.5, -181.0, 100.0), "lng", "outside -180..180"),
        ((51.5, True, 100.0), "lng", "finite"),
    ],
)
def test_circle_validation(args: tuple[Any, Any, Any], field: str, text: str) -> None:
    with pytest.raises(GeofenceValidationError) as exc:
        circle(*args)
    err = only(exc.value.errors)
    assert err.field == field
    assert text in err.message


def test_circle_reports_all_bad_arguments() -> None:
    with pytest.raises(GeofenceValidationError) as exc:
        circle(95.0, 200.0, 1.0)
    assert [e.field for e in exc.value.errors] == ["lat", "lng", "radius_m"]


def test_circle_limits_are_configurable() -> None:
    limits = ShapeLimits(min_radius_m=1.0, max_radius_m=20.0)
    assert circle(0.0, 0.0, 2.0, limits).is_valid
    with pytest.raises(GeofenceValidationError):
        circle(0.0, 0.0, 30.0, limits)


def test_geofence_constructors() -> None:
    g = Geofence.from_circle("c", 51.5, -0.1, 50.0)
    assert g.is_circle
    assert g.center == (51.5, -0.1)
    assert g.radius_m == 50.0
    p = Geofence.from_geojson("p", poly(SQUARE))
    assert not p.is_circle
    assert p.center is None
    with pytest.raises(GeofenceValidationError):
        Geofence.from_geojson("bad", poly(SQUARE[:-1]))
