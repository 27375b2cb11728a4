"""Benchmark: geo.index.GeofenceIndex against a plain shapely STRtree.

Run as ``python tests/bench/bench_geo.py [--sizes 1000,10000,100000] [--fixes 1000000]
[--dense]`` (``kairos bench geo`` runs this file). Prints a markdown table.

Workload (seeded, reproducible): "realistic store geofences in one metro area".
80 % of the stores sit in Gaussian "high street" clusters (one per 200 stores, sigma
250-700 m) and 20 % are scattered uniformly. Sizes are log-normal (median 80 m,
sigma 0.5) clipped to 30-300 m: 70 % are circles of that radius, 30 % star-shaped
polygons of 8-64 vertices reaching that far. Fixes: 35 % within 1.5 radii of a
random store, 65 % uniform over the area; accuracy 5-20 m (60 %), 20-65 m (30 %),
65-100 m (10 %).

Metro area. The area grows with the store count so that density stays within what
real cities show. Up to 10k stores it is a 40 km x 40 km square around central
London (1,600 km², roughly Greater London, which holds on the order of 10k shops of
the kinds a loyalty programme geofences: 6.25 stores/km²). Beyond that the square
grows as sqrt(n / 10k), i.e. at the *same* density: 100k stores cover
126 km x 126 km (16,000 km², the size of the Greater Tokyo region, the largest
metro area there is). Since a cluster holds a fixed number of stores, the cluster
density (clusters per km², stores per cluster) is also that of the 10k case, and
10k and 100k see the same ~1.5 matches per fix and ~42 % of fixes matching (35 % of
the fixes are placed next to a store by construction).

``--dense`` reproduces the earlier workload instead: every size packed into the
40 km x 40 km square. At 100k the geofences' total area then exceeds the square's
(~4.5 matches per fix, ~84 % of fixes match something), which no real metro shows;
it is kept as a stress test, and so that old and new figures can be compared.

Rates are fixes answered per second on one core. Single-fix = one ``match()`` call
per fix in a Python loop, measured on a subset (``--single-fixes``, and a smaller
``--baseline-single-fixes`` for the slow STRtree loop); batch = one
``match_many()`` call over all fixes. Every result of both paths is compared with
the STRtree baseline; distances must agree within 0.1 % + 1 cm, and a geofence may
only be missing from one side when it sits within that tolerance of a threshold.
Per size the table also shows the area, the mean number of matches per fix and the
share of fixes with at least one match.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psutil
import shapely
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from geo.distance import METERS_PER_DEGREE
from geo.index import INSIDE_FRACTION, GeofenceIndex, Match
from geo.shapes import Geofence, circle

__all__ = ["Baseline", "Workload", "main", "make_workload"]

CENTER_LAT = 51.5074
CENTER_LNG = -0.1278
BASE_HALF_SIZE_M = 20_000.0
"""Half side of the metro square up to ``BASE_STORES`` stores (40 km x 40 km)."""
BASE_STORES = 10_000
_K = METERS_PER_DEGREE
_RAD = math.pi / 180.0

F64 = NDArray[np.float64]


class Workload:
    """Generated geofences and fixes."""

    def __init__(
        self,
        ids: list[str],
        geofences: list[Geofence],
        lats: F64,
        lngs: F64,
        accs: F64,
        half_size_m: float,
    ) -> None:
        self.half_size_m = half_size_m
        self.ids = ids
        self.geofences = geofences
        self.lats = lats
        self.lngs = lngs
        self.accs = accs


def _offset(lat: F64 | float, lng: F64 | float, dx_m: F64, dy_m: F64) -> tuple[F64, F64]:
    lat_a = np.asarray(lat, dtype=np.float64)
    lng_a = np.asarray(lng, dtype=np.float64)
    nlat = lat_a + dy_m / _K
    nlng = lng_a + dx_m / (_K * np.cos(lat_a * _RAD))
    return nlat, nlng


def _star_polygon(
    rng: np.random.Generator, lat: float, lng: float, radius: float
) -> shapely.Polygon:
    n = int(rng.integers(8, 65))
    # Jittered, strictly increasing angles with gaps below pi keep the star simple.
    ang = (np.arange(n) + rng.uniform(0.0, 0.8, n)) * (2 * math.pi / n)
    rad = radius * rng.uniform(0.55, 1.0, n)
    plat, plng = _offset(lat, lng, rad * np.cos(ang), rad * np.sin(ang))
    ring = np.column_stack([plng, plat])
    return shapely.Polygon(ring)


def half_size_m(n_geofences: int, dense: bool = False) -> float:
    """Half side of the metro square: constant store density beyond ``BASE_STORES``."""
    if dense:
        return BASE_HALF_SIZE_M
    return BASE_HALF_SIZE_M * math.sqrt(max(1.0, n_geofences / BASE_STORES))


def make_workload(n_geofences: int, n_fixes: int, seed: int = 4, dense: bool = False) -> Workload:
    """Generate ``n_geofences`` stores and ``n_fixes`` fixes around London."""
    half = half_size_m(n_geofences, dense)
    rng = np.random.default_rng(seed)
    n_cluster = max(1, n_geofences // 200)
    c_lat, c_lng = _offset(
        CENTER_LAT,
        CENTER_LNG,
        rng.uniform(-half * 0.9, half * 0.9, n_cluster),
        rng.uniform(-half * 0.9, half * 0.9, n_cluster),
    )
    c_sigma = rng.uniform(250.0, 700.0, n_cluster)
    clustered = rng.random(n_geofences) < 0.8
    which = rng.integers(0, n_cluster, n_geofences)
    dx = np.where(
        clustered,
        rng.normal(0.0, 1.0, n_geofences) * c_sigma[which],
        rng.uniform(-half, half, n_geofences),
    )
    dy = np.where(
        clustered,
        rng.normal(0.0, 1.0, n_geofences) * c_sigma[which],
        rng.uniform(-half, half, n_geofences),
    )
    base_lat = np.where(clustered, c_lat[which], CENTER_LAT)
    base_lng = np.where(clustered, c_lng[which], CENTER_LNG)
    s_lat, s_lng = _offset(base_lat, base_lng, dx, dy)
    radius = np.clip(80.0 * np.exp(rng.normal(0.0, 0.5, n_geofences)), 30.0, 300.0)
    is_circle = rng.random(n_geofences) < 0.7
    ids = [f"store-{i}" for i in range(n_geofences)]
    geofences: list[Geofence] = []
    for i in range(n_geofences):
        la, ln, r = float(s_lat[i]), float(s_lng[i]), float(radius[i])
        if is_circle[i]:
            geofences.append(Geofence(ids[i], circle(la, ln, r), center=(la, ln), radius_m=r))
        else:
            geofences.append(Geofence(ids[i], _star_polygon(rng, la, ln, r)))

    near = rng.random(n_fixes) < 0.35
    store = rng.integers(0, n_geofences, n_fixes)
    dist = rng.uniform(0.0, 1.5, n_fixes) * radius[store]
    ang = rng.uniform(0.0, 2 * math.pi, n_fixes)
    n_lat, n_lng = _offset(s_lat[store], s_lng[store], dist * np.cos(ang), dist * np.sin(ang))
    u_lat, u_lng = _offset(
        CENTER_LAT,
        CENTER_LNG,
        rng.uniform(-half, half, n_fixes),
        rng.uniform(-half, half, n_fixes),
    )
    lats = np.where(near, n_lat, u_lat)
    lngs = np.where(near, n_lng, u_lng)
    u = rng.random(n_fixes)
    accs = np.where(
        u < 0.6,
        rng.uniform(5.0, 20.0, n_fixes),
        np.where(u < 0.9, rng.uniform(20.0, 65.0, n_fixes), rng.uniform(65.0, 100.0, n_fixes)),
    )
    return Workload(ids, geofences, lats, lngs, accs, half)


class Baseline:
    """Plain shapely STRtree: box query with the accuracy buffer, then exact distance.

    Polygons are pre-projected into a local metric frame each (equirectangular at
    their bounding-box centre); circles use the exact circle distance, as the index
    does, so that both sides compute the same thing.
    """

    def __init__(self, ids: Sequence[str], geofences: Sequence[Geofence]) -> None:
        self.ids = list(ids)
        shapes = [g.shape for g in geofences]
        self.tree = shapely.STRtree(shapes)
        n = len(shapes)
        self.is_circle = np.array([g.is_circle for g in geofences])
        self.c_lat = np.array([g.center[0] if g.center else 0.0 for g in geofences])
        self.c_lng = np.array([g.center[1] if g.center else 0.0 for g in geofences])
        self.c_cos = np.cos(self.c_lat * _RAD)
        self.radius = np.array([g.radius_m or 0.0 for g in geofences])
        bounds = shapely.bounds(np.array(shapes, dtype=object))
        self.ref_lng = (bounds[:, 0] + bounds[:, 2]) / 2
        self.ref_lat = (bounds[:, 1] + bounds[:, 3]) / 2
        self.kx = np.cos(self.ref_lat * _RAD) * _K
        projected: list[shapely.Geometry | None] = [None] * n
        for i, s in enumerate(shapes):
            if not self.is_circle[i]:
                rl, rg, kx = self.ref_lat[i], self.ref_lng[i], self.kx[i]
                projected[i] = shapely.transform(
                    s,
                    lambda c, rl=rl, rg=rg, kx=kx: np.column_stack(
                        [(c[:, 0] - rg) * kx, (c[:, 1] - rl) * _K]
                    ),
                )
        self.proj = np.array(projected, dtype=object)
        poly_idx = np.flatnonzero(~self.is_circle)
        self.boundary = np.empty(n, dtype=object)
        self.boundary[poly_idx] = shapely.boundary(self.proj[poly_idx])
        shapely.prepare(self.proj[poly_idx])

    def _exact(self, fix: NDArray[np.int64], cand: NDArray[np.int64], lat: F64, lng: F64) -> F64:
        """Signed distances for (fix, candidate) pairs."""
        d = np.empty(cand.size)
        circ = self.is_circle[cand]
        ci = cand[circ]
        fl, fg = lat[fix[circ]], lng[fix[circ]]
        dx = (fg - self.c_lng[ci]) * (np.cos(fl * _RAD) + self.c_cos[ci]) * 0.5
        dy = fl - self.c_lat[ci]
        d[circ] = self.radius[ci] - np.hypot(dx, dy) * _K
        pm = ~circ
        pi = cand[pm]
        fl, fg = lat[fix[pm]], lng[fix[pm]]
        x = (fg - self.ref_lng[pi]) * self.kx[pi]
        y = (fl - self.ref_lat[pi]) * _K
        dist = shapely.distance(self.boundary[pi], shapely.points(x, y))
        inside = shapely.contains_xy(self.proj[pi], x, y)
        d[pm] = np.where(inside, dist, -dist)
        return d

    def _boxes(self, lat: F64, lng: F64, acc: F64) -> NDArray[np.object_]:
        dlat = acc / _K
        dlng = acc / (_K * np.cos(lat * _RAD))
        boxes: NDArray[np.object_] = shapely.box(lng - dlng, lat - dlat, lng + dlng, lat + dlat)
        return boxes

    def _collect(
        self, n: int, fix: NDArray[np.int64], cand: NDArray[np.int64], d: F64, acc: F64
    ) -> list[list[Match]]:
        keep = d >= -acc[fix]
        out: list[list[Match]] = [[] for _ in range(n)]
        ids = self.ids
        half = acc * INSIDE_FRACTION
        for f, c, dd in zip(fix[keep].tolist(), cand[keep].tolist(), d[keep].tolist(), strict=True):
            out[f].append(Match(ids[c], dd, "inside" if dd >= half[f] else "edge"))
        for lst in out:
            lst.sort(key=lambda m: (-m.distance_m, m.geofence_id))
        return out

    def match(self, lat: float, lng: float, acc: float) -> list[Match]:
        la = np.array([lat])
        ln = np.array([lng])
        ac = np.array([acc])
        cand = self.tree.query(self._boxes(la, ln, ac)[0])
        if cand.size == 0:
            return []
        fix = np.zeros(cand.size, dtype=np.int64)
        d = self._exact(fix, cand, la, ln)
        return self._collect(1, fix, cand, d, ac)[0]

    def match_many(self, lat: F64, lng: F64, acc: F64) -> list[list[Match]]:
        fix, cand = self.tree.query(self._boxes(lat, lng, acc))
        d = self._exact(fix, cand, lat, lng)
        return self._collect(lat.size, fix, cand, d, acc)


def _tol(d: float) -> float:
    return 1e-3 * abs(d) + 0.01


def compare(ours: Sequence[list[Match]], ref: Sequence[list[Match]], accs: F64) -> tuple[int, int]:
    """Assert both result sets agree; returns (matches compared, borderline skipped)."""
    compared = skipped = 0
    for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
        acc = float(accs[i])
        da = {m.geofence_id: m for m in a}
        db = {m.geofence_id: m for m in b}
        for gid in da.keys() | db.keys():
            ma, mb = da.get(gid), db.get(gid)
            if ma is None or mb is None:
                m = ma or mb
                assert m is not None
                near_threshold = abs(m.distance_m + acc) <= _tol(m.distance_m)
                assert near_threshold, f"fix {i}: {gid} only in one result: {ma} vs {mb}"
                skipped += 1
                continue
            assert abs(ma.distance_m - mb.distance_m) <= _tol(mb.distance_m), (i, ma, mb)
            if ma.confidence != mb.confidence:
                borderline = abs(mb.distance_m - acc * INSIDE_FRACTION) <= _tol(mb.distance_m)
                assert borderline, (i, ma, mb)
                skipped += 1
            compared += 1
    return compared, skipped


def _rss_mb() -> float:
    return float(psutil.Process(os.getpid()).memory_info().rss) / 2**20


def run_size(
    n_geo: int, n_fixes: int, n_single: int, n_base_single: int, dense: bool = False
) -> dict[str, str]:
    """Benchmark one index size; returns a table row."""
    t0 = time.perf_counter()
    wl = make_workload(n_geo, n_fixes, dense=dense)
    gen_s = time.perf_counter() - t0
    items = list(zip(wl.ids, wl.geofences, strict=True))

    gc.collect()
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    index = GeofenceIndex()
    index.bulk_load(items)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss1 = _rss_mb()

    t0 = time.perf_counter()
    base = Baseline(wl.ids, wl.geofences)
    base_build_s = time.perf_counter() - t0

    lat_l, lng_l, acc_l = wl.lats.tolist(), wl.lngs.tolist(), wl.accs.tolist()

    ns = min(n_single, n_fixes)
    match = index.match
    t0 = time.perf_counter()
    single = [match(lat_l[i], lng_l[i], acc_l[i]) for i in range(ns)]
    single_rate = ns / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    batch = index.match_many(wl.lats, wl.lngs, wl.accs)
    batch_rate = n_fixes / (time.perf_counter() - t0)

    nb = min(n_base_single, n_fixes)
    bmatch = base.match
    t0 = time.perf_counter()
    b_single = [bmatch(lat_l[i], lng_l[i], acc_l[i]) for i in range(nb)]
    b_single_rate = nb / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    b_batch = base.match_many(wl.lats, wl.lngs, wl.accs)
    b_batch_rate = n_fixes / (time.perf_counter() - t0)

    compare(single, b_batch[:ns], wl.accs)
    compare(b_single, b_batch[:nb], wl.accs)
    compared, skipped = compare(batch, b_batch, wl.accs)
    hits = sum(1 for r in batch if r)
    total = sum(len(r) for r in batch)
    print(
        f"  n={n_geo}: generated in {gen_s:.1f}s, baseline built in {base_build_s:.1f}s, "
        f"{hits / n_fixes:.1%} of fixes match, {total / n_fixes:.2f} matches/fix, "
        f"{compared} matches checked equal ({skipped} borderline)",
        file=sys.stderr,
        flush=True,
    )
    side_km = 2 * wl.half_size_m / 1000
    return {
        "geofences": f"{n_geo:,}",
        "area": f"{side_km:.0f} km x {side_km:.0f} km",
        "matches/fix": f"{total / n_fixes:.2f}",
        "fixes matching": f"{hits / n_fixes:.0%}",
        "single/s": f"{single_rate:,.0f}",
        "batch/s": f"{batch_rate:,.0f}",
        "STRtree single/s": f"{b_single_rate:,.0f}",
        "STRtree batch/s": f"{b_batch_rate:,.0f}",
        "single speed-up": f"{single_rate / b_single_rate:.1f}x",
        "build s": f"{build_s:.2f}",
        "index RSS MB": f"{rss1 - rss0:,.0f}",
        "process RSS MB": f"{rss1:,.0f}",
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--fixes", type=int, default=1_000_000)
    p.add_argument("--single-fixes", type=int, default=200_000)
    p.add_argument("--baseline-single-fixes", type=int, default=50_000)
    p.add_argument(
        "--dense",
        action="store_true",
        help="pack every size into 40 km x 40 km (the earlier, unrealistically dense workload)",
    )
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    for n in sizes:
        print(f"benchmarking {n:,} geofences x {args.fixes:,} fixes...", file=sys.stderr)
        rows.append(
            run_size(n, args.fixes, args.single_fixes, args.baseline_single_fixes, args.dense)
        )
    cols = list(rows[0])
    print(
        f"\nworkload: {'dense (--dense)' if args.dense else 'realistic'}; "
        f"fixes: {args.fixes:,} (single-fix rates on the first "
        f"{min(args.single_fixes, args.fixes):,} for the index and "
        f"{min(args.baseline_single_fixes, args.fixes):,} for STRtree); one core\n"
    )
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---:" for _ in cols) + "|")
    for r in rows:
        print("| " + " | ".join(r[c] for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
