"""Distance, speed and time zone helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import geo.tz
from geo.distance import METERS_PER_DEGREE, haversine_m, speed_mps
from geo.tz import timezone_at


def test_haversine_known_distances() -> None:
    # London (Charing Cross) to Paris (Notre-Dame): ~343.9 km on a sphere.
    assert haversine_m(51.5074, -0.1278, 48.8530, 2.3499) == pytest.approx(343_900, rel=0.003)
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(METERS_PER_DEGREE)
    # At 60° a degree of longitude is half as long as at the equator.
    assert haversine_m(60.0, 0.0, 60.0, 0.001) == pytest.approx(
        METERS_PER_DEGREE * 0.0005, rel=1e-4
    )


def test_haversine_symmetric_zero_and_antipodal() -> None:
    assert haversine_m(51.5, -0.1, 51.5, -0.1) == 0.0
    a = haversine_m(10.0, 20.0, -30.0, 100.0)
    assert a == haversine_m(-30.0, 100.0, 10.0, 20.0)
    assert haversine_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(METERS_PER_DEGREE * 180)


def test_speed_between_fixes() -> None:
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    t1 = t0 + timedelta(seconds=10)
    d = haversine_m(51.5, -0.1, 51.5009, -0.1)
    assert speed_mps(51.5, -0.1, t0, 51.5009, -0.1, t1) == pytest.approx(d / 10)
    # Out-of-order fixes give the same speed.
    assert speed_mps(51.5009, -0.1, t1, 51.5, -0.1, t0) == pytest.approx(d / 10)


def test_speed_undefined_for_same_timestamp() -> None:
    t = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert speed_mps(51.5, -0.1, t, 51.6, -0.1, t) is None


def test_timezone_lookup_offline_and_cached() -> None:
    assert timezone_at(51.5074, -0.1278) == "Europe/London"
    finder = geo.tz._finder
    assert finder is not None
    assert timezone_at(40.7128, -74.0060) == "America/New_York"
    assert timezone_at(35.6762, 139.6503) == "Asia/Tokyo"
    assert geo.tz._finder is finder  # built once


@pytest.mark.parametrize(("lat", "lng"), [(91.0, 0.0), (0.0, 181.0), (float("nan"), 0.0)])
def test_timezone_rejects_bad_coordinates(lat: float, lng: float) -> None:
    with pytest.raises(ValueError):
        timezone_at(lat, lng)
