"""Jumps: impossible speed over a real distance; mocked fixes are the OS's word."""

from __future__ import annotations

import datetime as dt

from app.events.services import LastFix, is_jump, newer_fix
from tests.factories import moved

T0 = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC)
HERE = {"lat": 51.5136, "lng": -0.1365}


def fix(seconds: float, **offset: float) -> LastFix:
    where = moved(HERE["lat"], HERE["lng"], **offset)
    return LastFix(where["lat"], where["lng"], T0 + dt.timedelta(seconds=seconds))


def jumped(previous: LastFix | None, current: LastFix) -> bool:
    return is_jump(
        previous, current.lat, current.lng, current.at, speed_kmh=300, min_distance_m=1000
    )


def test_no_previous_fix_no_jump() -> None:
    assert not jumped(None, fix(0))


def test_faster_than_300_kmh_over_more_than_a_kilometre_is_a_jump() -> None:
    assert jumped(fix(0), fix(30, north_m=5000))  # 600 km/h
    assert not jumped(fix(0), fix(120, north_m=5000))  # 150 km/h: a train
    assert jumped(fix(0), fix(0, north_m=1500))  # same instant, 1.5 km apart


def test_gps_noise_under_a_kilometre_is_never_a_jump() -> None:
    assert not jumped(fix(0), fix(1, north_m=900))  # 3240 km/h, but only 900 m


def test_order_does_not_matter() -> None:
    assert jumped(fix(30, north_m=5000), fix(0))


def test_the_newest_fix_is_remembered() -> None:
    old, new = fix(0), fix(10)
    assert newer_fix(old, new) is new
    assert newer_fix(new, old) is new
    assert newer_fix(None, old) is old
