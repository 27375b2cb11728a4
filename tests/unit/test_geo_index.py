"""GeofenceIndex against a brute-force shapely oracle, plus API behaviour."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from unittest import mock

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.distance import METERS_PER_DEGREE, haversine_m
from geo.index import INSIDE_FRACTION, MAX_ACCURACY_M, GeofenceIndex, Match, _build, _index
from geo.index._kernels import eval_entry, eval_poly
from geo.shapes import Geofence, Shape, circle

K = METERS_PER_DEGREE
RAD = math.pi / 180.0


# ----------------------------------------------------------------------- oracle


def offset(lat: float, lng: float, dx_m: float, dy_m: float) -> tuple[float, float]:
    """Point dx_m east and dy_m north of (lat, lng), equirectangular."""
    return lat + dy_m / K, lng + dx_m / (K * math.cos(lat * RAD))


def oracle_distance(g: Geofence, lat: float, lng: float) -> float:
    """Signed distance (positive inside) computed the slow, obvious way."""
    if g.center is not None and g.radius_m is not None:
        return g.radius_m - haversine_m(lat, lng, g.center[0], g.center[1])
    c = math.cos(lat * RAD) * K

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([(xy[:, 0] - lng) * c, (xy[:, 1] - lat) * K])

    projected = shapely.transform(g.shape, project)
    dist = float(shapely.distance(projected.boundary, Point(0.0, 0.0)))
    return dist if g.shape.contains(Point(lng, lat)) else -dist


def tolerance(g: Geofence, d: float) -> float:
    if g.radius_m is not None:
        # Equirectangular vs haversine over the distance to the centre.
        return 0.02 + 2e-4 * abs(g.radius_m - d)
    return 0.02 + 1e-3 * abs(d)


def check_fix(
    index: GeofenceIndex, fences: dict[str, Geofence], lat: float, lng: float, acc: float
) -> list[Match]:
    """Assert the index's answer agrees with the oracle for one fix."""
    got = index.match(lat, lng, acc)
    a = min(acc, MAX_ACCURACY_M)
    by_id = {m.geofence_id: m for m in got}
    assert len(by_id) == len(got), f"duplicate ids in {got}"
    assert got == sorted(got, key=lambda m: (-m.distance_m, m.geofence_id))
    for gid, g in fences.items():
        d = oracle_distance(g, lat, lng)
        tol = tolerance(g, d)
        m = by_id.get(gid)
        ctx = f"{gid} fix=({lat!r}, {lng!r}, {acc!r}) oracle={d:.4f} got={m}"
        if m is None:
            assert d < -a + tol, f"false negative: {ctx}"
            continue
        assert d >= -a - tol, f"false positive: {ctx}"
        assert abs(m.distance_m - d) <= tol, f"distance off: {ctx}"
        if d >= a * INSIDE_FRACTION + tol:
            assert m.confidence == "inside", ctx
        elif d < a * INSIDE_FRACTION - tol:
            assert m.confidence == "edge", ctx
    return got


# ------------------------------------------------------------------- strategies


def star(
    lat: float, lng: float, radius: float, n: int, radii: list[float], phase: float
) -> list[tuple[float, float]]:
    """A simple star-shaped ring (jittered angles keep every gap below pi/2)."""
    pts = []
    for i in range(n):
        ang = phase + (i + 0.3 * (radii[i] - 0.5)) * 2 * math.pi / n
        r = radius * (0.6 + 0.4 * radii[i])
        la, ln = offset(lat, lng, r * math.cos(ang), r * math.sin(ang))
        pts.append((ln, la))
    return pts


@st.composite
def polygons(draw: st.DrawFn, lat: float, lng: float, radius: float) -> Shape:
    n = draw(st.integers(8, 40))
    radii = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    phase = draw(st.floats(0.0, 2 * math.pi))
    shell = star(lat, lng, radius, n, radii, phase)
    kind = draw(st.sampled_from(["plain", "hole", "multi"]))
    if kind == "hole":
        # Shell chords stay beyond 0.6 * cos(pi/4) * radius > 0.4 * radius.
        m = draw(st.integers(3, 12))
        hradii = draw(st.lists(st.floats(0.0, 1.0), min_size=m, max_size=m))
        hole = star(lat, lng, radius * 0.4, m, hradii, phase)
        return Polygon(shell, [hole[::-1]])
    if kind == "multi":
        la2, ln2 = offset(lat, lng, 2.5 * radius, draw(st.floats(-radius, radius)))
        other = star(la2, ln2, radius, n, radii, phase)
        return MultiPolygon([Polygon(shell), Polygon(other)])
    return Polygon(shell)


SIZES = st.sampled_from(
    [3.0, 8.0, 25.0, 60.0, 150.0, 400.0, 1000.0, 2500.0]  # tiny (~10 m²) to huge (~20 km²)
)


@dataclass
class Scene:
    fences: dict[str, Geofence]
    fixes: list[tuple[float, float, float]]


ACCURACIES = st.sampled_from(
    [0.0, 1.0, 5.0, 15.0, 30.0, 50.0, 80.0, 100.0, 150.0, 400.0, 1000.0, 5000.0]
)


@st.composite
def scenes(draw: st.DrawFn) -> Scene:
    lat0 = draw(st.one_of(st.floats(-80.0, 80.0), st.sampled_from([-80.0, 80.0, 0.0, 51.5])))
    lng0 = draw(st.floats(-170.0, 170.0))
    fences: dict[str, Geofence] = {}
    for i in range(draw(st.integers(1, 4))):
        size = draw(SIZES)
        la, ln = offset(
            lat0, lng0, draw(st.floats(-1.5, 1.5)) * size, draw(st.floats(-1.5, 1.5)) * size
        )
        if draw(st.booleans()):
            r = max(10.0, min(size * draw(st.sampled_from([1.0, 4.0])), 10_000.0))
            fences[f"c{i}"] = Geofence(f"c{i}", circle(la, ln, r), (la, ln), r)
        else:
            fences[f"p{i}"] = Geofence(f"p{i}", draw(polygons(la, ln, size)))
    fixes: list[tuple[float, float, float]] = []
    for _ in range(draw(st.integers(4, 12))):
        g = fences[draw(st.sampled_from(sorted(fences)))]
        acc = draw(ACCURACIES)
        how = draw(st.sampled_from(["edge", "edge", "vertex", "band", "band", "around", "far"]))
        if how in ("edge", "vertex", "band"):
            parts = g.shape.geoms if isinstance(g.shape, MultiPolygon) else [g.shape]
            rings = [r for part in parts for r in (part.exterior, *part.interiors)]
            ring = rings[draw(st.integers(0, len(rings) - 1))]
            if how == "edge":
                p = shapely.line_interpolate_point(ring, draw(st.floats(0, 1)), normalized=True)
            else:
                coords = shapely.get_coordinates(ring)
                p = Point(coords[draw(st.integers(0, len(coords) - 1))])
            # Within 1 m of the edge, either side, or anywhere the accuracy reaches.
            reach = 1.0 if how != "band" else min(acc, MAX_ACCURACY_M) + 2.0
            dist = draw(st.floats(0.0, reach))
            ang = draw(st.floats(0.0, 2 * math.pi))
            lat, lng = offset(p.y, p.x, dist * math.cos(ang), dist * math.sin(ang))
        else:
            minx, miny, maxx, maxy = g.shape.bounds
            spread = 0.2 if how == "around" else 1.0
            reach = min(acc, MAX_ACCURACY_M) + (300.0 if how == "far" else 5.0)
            clat, clng = (miny + maxy) / 2, (minx + maxx) / 2
            half_w = (maxx - minx) / 2 * math.cos(clat * RAD) * K + reach
            half_h = (maxy - miny) / 2 * K + reach
            lat, lng = offset(
                clat,
                clng,
                draw(st.floats(-1, 1)) * half_w * (1 + spread),
                draw(st.floats(-1, 1)) * half_h * (1 + spread),
            )
        fixes.append((lat, lng, acc))
    return Scene(fences, fixes)


# -------------------------------------------------------------- property tests


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_index_agrees_with_brute_force(scene: Scene) -> None:
    index = GeofenceIndex()
    index.bulk_load(scene.fences.items())
    lats = [f[0] for f in scene.fixes]
    lngs = [f[1] for f in scene.fixes]
    accs = [f[2] for f in scene.fixes]
    singles = [check_fix(index, scene.fences, *f) for f in scene.fixes]
    assert index.match_many(lats, lngs, accs) == singles
    # Batches of at least _VECTOR_MIN fixes use the column snapshot: force it here.
    with mock.patch.object(_index, "_VECTOR_MIN", 0):
        assert index.match_many(lats, lngs, accs) == singles


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), st.integers(0, 2**32 - 1))
def test_vectorised_match_many_equals_match(scene: Scene, seed: int) -> None:
    """Batches of >= _VECTOR_MIN fixes (column snapshot) return exactly match()'s lists."""
    index = GeofenceIndex()
    index.bulk_load(scene.fences.items())
    rng = np.random.default_rng(seed)
    lats: list[float] = []
    lngs: list[float] = []
    per = max(1, 300 // len(scene.fences))
    for g in scene.fences.values():
        minx, miny, maxx, maxy = g.shape.bounds
        lat0, lng0 = offset(miny, minx, -150.0, -150.0)
        lat1, lng1 = offset(maxy, maxx, 150.0, 150.0)
        lats += rng.uniform(lat0, lat1, per).tolist()
        lngs += rng.uniform(lng0, lng1, per).tolist()
    accs = rng.choice([0.0, 5.0, 15.0, 30.0, 31.0, 50.0, 80.0, 100.0, 150.0, 400.0], len(lats))
    assert len(lats) >= _index._VECTOR_MIN
    expected = [index.match(a, b, c) for a, b, c in zip(lats, lngs, accs.tolist(), strict=True)]
    assert index._snap is not None  # built with the table
    assert index.match_many(lats, lngs, accs) == expected
    # After an incremental write the snapshot is rebuilt from the cell table.
    gid = next(iter(scene.fences))
    index.remove(gid)
    index.upsert(gid, scene.fences[gid])
    if len(scene.fences) > 1:  # (otherwise the upsert refilled an empty index)
        assert index._snap is None
    index._snapshot()
    assert index.match_many(lats, lngs, accs) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), st.data())
def test_incremental_updates_agree_with_rebuild(scene: Scene, data: st.DataObject) -> None:
    index = GeofenceIndex()
    model: dict[str, Geofence] = {}
    ids = sorted(scene.fences)
    for _ in range(data.draw(st.integers(1, 8))):
        gid = data.draw(st.sampled_from(ids))
        if data.draw(st.booleans()):
            # Upsert, possibly replacing gid with another scene shape.
            g = scene.fences[data.draw(st.sampled_from(ids))]
            index.upsert(gid, g)
            model[gid] = Geofence(gid, g.shape, g.center, g.radius_m)
        else:
            assert index.remove(gid) == (gid in model)
            model.pop(gid, None)
    assert len(index) == len(model)
    assert sorted(index.ids()) == sorted(model)
    for f in scene.fixes:
        check_fix(index, model, *f)


@st.composite
def box_scenes(draw: st.DrawFn) -> Scene:
    """Polygons with fixes around their bounding boxes, at the accuracy's distance.

    Exercises the bounding-box rejection in the fast path: fixes sit just inside or
    just outside the box grown by the accuracy, near its corners and sides.
    """
    lat0 = draw(st.one_of(st.floats(-75.0, 75.0), st.sampled_from([0.0, 51.5, 70.0])))
    lng0 = draw(st.floats(-170.0, 170.0))
    size = draw(st.sampled_from([8.0, 25.0, 60.0, 150.0]))
    g = Geofence("p", draw(polygons(lat0, lng0, size)))
    fences = {"p": g}
    minx, miny, maxx, maxy = g.shape.bounds
    fixes: list[tuple[float, float, float]] = []
    for _ in range(draw(st.integers(4, 12))):
        acc = draw(st.sampled_from([0.0, 5.0, 15.0, 30.0, 31.0, 60.0, 100.0]))
        fx = draw(st.floats(-0.2, 1.2))
        fy = draw(st.floats(-0.2, 1.2))
        lat = miny + fy * (maxy - miny)
        lng = minx + fx * (maxx - minx)
        # Push the fix out of the box by about the accuracy, give or take 1 m.
        push = acc + draw(st.floats(-1.0, 1.0))
        side = draw(st.sampled_from(["n", "s", "e", "w", "ne", "sw"]))
        dy = push if "n" in side else -push if "s" in side else 0.0
        dx = push if "e" in side else -push if "w" in side else 0.0
        if "n" in side:
            lat = maxy
        elif "s" in side:
            lat = miny
        if "e" in side:
            lng = maxx
        elif "w" in side:
            lng = minx
        lat, lng = offset(lat, lng, dx, dy)
        fixes.append((lat, lng, acc))
    return Scene(fences, fixes)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(box_scenes())
def test_bounding_box_rejection_never_misses(scene: Scene) -> None:
    index = GeofenceIndex()
    index.bulk_load(scene.fences.items())
    for f in scene.fixes:
        check_fix(index, scene.fences, *f)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(scenes(), min_size=2, max_size=4))
def test_batch_build_equals_one_by_one(scenes_: list[Scene]) -> None:
    """Shapes are converted for a whole batch at once; that must not mix them up."""
    batch = GeofenceIndex()
    single = GeofenceIndex()
    items = [
        (f"{i}-{gid}", Geofence(f"{i}-{gid}", g.shape, g.center, g.radius_m))
        for i, sc in enumerate(scenes_)
        for gid, g in sc.fences.items()
    ]
    batch.bulk_load(items)
    for gid, g in items:
        single.upsert(gid, g)
    for sc in scenes_:
        for f in sc.fixes:
            assert batch.match(*f) == single.match(*f)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), st.data())
def test_inlined_polygon_kernel_equals_eval_poly(scene: Scene, data: st.DataObject) -> None:
    """The hot loop's inlined copy of eval_poly returns eval_poly's distance, bit for bit.

    Fixes are the scene's and others all over each polygon's sub-grid and just beyond
    it, so that both the windowed scan and the full scan run, with and without a grid.
    """
    polys = [(gid, g) for gid, g in scene.fences.items() if g.radius_m is None]
    m = _build._GRID_MARGIN_M + 5.0
    for rec in _build.Prepared(polys).polys:
        minx, miny, maxx, maxy = scene.fences[rec.geofence_id].shape.bounds
        lat0, lng0 = offset(miny, minx, -m, -m)
        lat1, lng1 = offset(maxy, maxx, m, m)
        fixes = [(lat, lng) for lat, lng, _ in scene.fixes]
        for _ in range(8):
            fy = data.draw(st.floats(-0.1, 1.1))
            fx = data.draw(st.floats(-0.1, 1.1))
            fixes.append((lat0 + fy * (lat1 - lat0), lng0 + fx * (lng1 - lng0)))
        for lat, lng in fixes:
            a = data.draw(st.sampled_from([0.0, 5.0, 30.0, 31.0, 80.0, 100.0]))
            d = eval_poly(rec, lat, lng, math.cos(lat * RAD))
            got = eval_entry(((), (), (rec,), ()), lat, lng, a)
            if d >= -a:
                confidence = "inside" if d >= a * INSIDE_FRACTION else "edge"
                assert got == [Match(rec.geofence_id, d, confidence)]
            else:
                assert got == []


# -------------------------------------------------------------- example tests


LONDON = (51.5074, -0.1278)


def ring_circle(gid: str, lat: float, lng: float, r: float) -> Geofence:
    return Geofence(gid, circle(lat, lng, r), (lat, lng), r)


def test_confidence_bands_and_sign() -> None:
    index = GeofenceIndex()
    index.upsert("c", ring_circle("c", *LONDON, 100.0))
    lat, lng = LONDON
    [m] = index.match(lat, lng, 20.0)
    assert m == Match("c", pytest.approx(100.0, abs=1e-6), "inside")  # type: ignore[arg-type]
    # 95 m from the centre: 5 m inside, accuracy 20 m -> edge.
    la, ln = offset(lat, lng, 0.0, 95.0)
    [m] = index.match(la, ln, 20.0)
    assert m.confidence == "edge"
    assert m.distance_m == pytest.approx(5.0, abs=0.05)
    # 110 m: 10 m outside, within a 20 m accuracy -> edge, negative distance.
    la, ln = offset(lat, lng, 110.0, 0.0)
    [m] = index.match(la, ln, 20.0)
    assert m.confidence == "edge"
    assert m.distance_m == pytest.approx(-10.0, abs=0.05)
    assert index.match(la, ln, 5.0) == []


def test_polygon_geofence_without_circle_metadata() -> None:
    index = GeofenceIndex()
    shape = circle(*LONDON, 50.0)
    index.upsert("poly", shape)
    [m] = index.match(*LONDON, 10.0)
    # The 64-gon's inscribed radius is within 0.13 % of 50 m.
    assert m.distance_m == pytest.approx(50.0, rel=0.002)


def test_results_sorted_best_first() -> None:
    index = GeofenceIndex()
    lat, lng = LONDON
    index.bulk_load(
        [
            ("big", ring_circle("big", lat, lng, 300.0)),
            ("small", ring_circle("small", lat, lng, 30.0)),
            ("near", ring_circle("near", *offset(lat, lng, 60.0, 0.0), 50.0)),
        ]
    )
    got = index.match(lat, lng, 30.0)
    assert [m.geofence_id for m in got] == ["big", "small", "near"]
    assert [m.confidence for m in got] == ["inside", "inside", "edge"]


def test_accuracy_is_clamped() -> None:
    index = GeofenceIndex()
    lat, lng = LONDON
    index.upsert("c", ring_circle("c", lat, lng, 50.0))
    la, ln = offset(lat, lng, 900.0, 0.0)  # 850 m outside
    assert [m.geofence_id for m in index.match(la, ln, 5_000.0)] == ["c"]
    la, ln = offset(lat, lng, 1_100.0, 0.0)  # 1050 m outside: beyond the clamp
    assert index.match(la, ln, 5_000.0) == []


def test_len_contains_remove_replace_all() -> None:
    index = GeofenceIndex()
    assert len(index) == 0
    assert "a" not in index
    index.bulk_load([("a", ring_circle("a", *LONDON, 50.0)), ("b", circle(51.6, -0.1, 40.0))])
    assert len(index) == 2
    assert "a" in index
    assert "b" in index
    assert index.remove("a") is True
    assert index.remove("a") is False
    assert index.match(*LONDON, 10.0) == []
    index.replace_all([("z", ring_circle("z", *LONDON, 50.0))])
    assert index.ids() == ["z"]
    assert [m.geofence_id for m in index.match(*LONDON, 10.0)] == ["z"]
    assert index.match(51.6, -0.1, 10.0) == []
    assert index._cells
    assert all(index._cells.values())


def test_remove_leaves_no_cells_behind() -> None:
    index = GeofenceIndex()
    index.upsert("a", circle(*LONDON, 200.0))
    index.upsert("b", ring_circle("b", *LONDON, 80.0))
    index.remove("a")
    index.remove("b")
    assert index._cells == {}


def test_upsert_moves_a_geofence() -> None:
    index = GeofenceIndex()
    index.upsert("s", ring_circle("s", *LONDON, 50.0))
    moved = offset(*LONDON, 0.0, 5_000.0)
    index.upsert("s", ring_circle("s", *moved, 50.0))
    assert len(index) == 1
    assert index.match(*LONDON, 10.0) == []
    assert [m.geofence_id for m in index.match(*moved, 10.0)] == ["s"]


def test_invalid_inputs() -> None:
    index = GeofenceIndex()
    with pytest.raises(ValueError):
        index.match(91.0, 0.0, 10.0)
    with pytest.raises(ValueError):
        index.match(0.0, 0.0, -1.0)
    with pytest.raises(ValueError):
        index.match(0.0, 0.0, math.nan)
    with pytest.raises(ValueError):
        index.match_many([0.0, 95.0], [0.0, 0.0], [5.0, 5.0])
    with pytest.raises(ValueError):
        index.match_many([0.0], [0.0, 1.0], [5.0])
    with pytest.raises(TypeError):
        index.upsert("x", Point(0, 0))
    bowtie = Polygon([(0, 0), (0.001, 0.001), (0.001, 0), (0, 0.001)])
    with pytest.raises(ValueError, match="invalid shape"):
        index.upsert("x", bowtie)
    with pytest.raises(ValueError, match="duplicate"):
        index.bulk_load([("x", circle(0, 0, 50)), ("x", circle(0, 0, 60))])
    with pytest.raises(ValueError):
        GeofenceIndex(resolution=3)
    assert len(index) == 0


def test_match_many_matches_single_calls() -> None:
    index = GeofenceIndex()
    rng = np.random.default_rng(7)
    lat, lng = LONDON
    items = []
    for i in range(40):
        la, ln = offset(lat, lng, *rng.uniform(-800, 800, 2))
        r = float(rng.uniform(20, 150))
        items.append((f"g{i}", ring_circle(f"g{i}", la, ln, r) if i % 2 else circle(la, ln, r)))
    index.bulk_load(items)
    pts = [offset(lat, lng, *rng.uniform(-900, 900, 2)) for _ in range(500)]
    lats = np.array([p[0] for p in pts])
    lngs = np.array([p[1] for p in pts])
    accs = rng.choice([0.0, 10.0, 40.0, 100.0, 300.0], size=500)
    batch = index.match_many(lats, lngs, accs)
    assert batch == [index.match(a, b, c) for a, b, c in zip(lats, lngs, accs, strict=True)]
    assert sum(map(len, batch)) > 50  # the scene is dense enough to be meaningful


@pytest.mark.slow
def test_concurrent_replace_never_hides_a_geofence() -> None:
    """Readers always see the geofence while a writer keeps replacing it."""
    index = GeofenceIndex()
    lat, lng = LONDON
    shapes = [ring_circle("g", lat, lng, 120.0), Geofence("g", circle(lat, lng, 150.0))]
    other = [("o", ring_circle("o", *offset(lat, lng, 5_000.0, 0.0), 50.0))]
    index.upsert("g", shapes[0])
    stop = threading.Event()
    failures: list[object] = []

    def reader() -> None:
        while not stop.is_set():
            got = index.match(lat, lng, 10.0)
            if [m.geofence_id for m in got] != ["g"] or got[0].confidence != "inside":
                failures.append(got)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(200):
            index.upsert("g", shapes[i % 2])
            index.upsert("o", other[0][1])
            index.remove("o")
            index.bulk_load([("g", shapes[(i + 1) % 2]), *other])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert len(index) == 2


@pytest.mark.slow
def test_concurrent_writes_never_hide_a_geofence_from_match_many() -> None:
    """Vectorised batches (column snapshot) stay consistent while writers run."""
    index = GeofenceIndex()
    lat, lng = LONDON
    shapes = [ring_circle("g", lat, lng, 120.0), Geofence("g", circle(lat, lng, 150.0))]
    other = ring_circle("o", *offset(lat, lng, 5_000.0, 0.0), 50.0)
    index.upsert("g", shapes[0])
    n = _index._VECTOR_MIN
    lats, lngs, accs = [lat] * n, [lng] * n, [10.0] * n
    stop = threading.Event()
    failures: list[object] = []

    def reader() -> None:
        while not stop.is_set():
            for got in index.match_many(lats, lngs, accs):
                if [m.geofence_id for m in got] != ["g"] or got[0].confidence != "inside":
                    failures.append(got)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(100):
            index.upsert("g", shapes[i % 2])
            index.upsert("o", other)
            index.remove("o")
            index.replace_all([("g", shapes[(i + 1) % 2]), ("o", other)])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []


# ------------------------------------------------------------- edge windows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_numpy_edge_windows_agree_with_brute_force(scene: Scene) -> None:
    """Small batches compute edge windows in Python; force the numpy path here."""
    with mock.patch.object(_build, "_WINDOWS_NUMPY_MIN", 0):
        index = GeofenceIndex()
        index.bulk_load(scene.fences.items())
    for f in scene.fixes:
        check_fix(index, scene.fences, *f)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes(), st.data())
def test_fixes_all_over_the_sub_grid(scene: Scene, data: st.DataObject) -> None:
    """Fixes anywhere on a polygon's sub-grid (and just beyond it) are exact."""
    index = GeofenceIndex()
    index.bulk_load(scene.fences.items())
    for g in scene.fences.values():
        minx, miny, maxx, maxy = g.shape.bounds
        m = _build._GRID_MARGIN_M + 5.0
        for _ in range(4):
            fy = data.draw(st.floats(-0.1, 1.1))
            fx = data.draw(st.floats(-0.1, 1.1))
            lat, lng = offset(miny, minx, -m, -m)
            lat2, lng2 = offset(maxy, maxx, m, m)
            acc = data.draw(st.sampled_from([0.0, 5.0, 30.0, 31.0, 80.0, 100.0]))
            check_fix(index, scene.fences, lat + fy * (lat2 - lat), lng + fx * (lng2 - lng), acc)


def test_numpy_and_python_edge_windows_are_identical() -> None:
    rng = np.random.default_rng(3)
    items = []
    for i in range(60):
        n = int(rng.integers(8, 70))
        radii = rng.uniform(0.0, 1.0, n).tolist()
        lat, lng = offset(*LONDON, *rng.uniform(-5_000, 5_000, 2))
        ring = star(lat, lng, float(rng.uniform(20, 400)), n, radii, float(rng.uniform(0, 6)))
        items.append((f"p{i}", Geofence(f"p{i}", Polygon(ring))))
    with mock.patch.object(_build, "_WINDOWS_NUMPY_MIN", 0):
        fast = _build.Prepared(items).polys
    with mock.patch.object(_build, "_WINDOWS_NUMPY_MIN", 10**9):
        slow = _build.Prepared(items).polys
    assert sum(1 for r in fast if r.grid) > 40  # most polygons are gridded
    for a, b in zip(fast, slow, strict=True):
        assert a.windows == b.windows
        assert a.edges == b.edges
