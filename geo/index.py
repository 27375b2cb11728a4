"""Geofence index: H3 coarse filter + exact metric test, tuned for single-fix speed.

Matching semantics
------------------
For a fix ``(lat, lng, accuracy_m)`` and a geofence, let ``d`` be the *signed*
distance from the fix to the geofence edge in metres: **positive inside, negative
outside**. With ``a`` the (clamped) accuracy:

* ``inside`` when ``d >= INSIDE_FRACTION * a`` — the fix is inside and the accuracy
  disc is mostly inside (for a locally straight edge at least ~80 % of its area);
* ``edge`` when ``-a <= d < INSIDE_FRACTION * a`` — the boundary is within the
  accuracy of the fix, on either side;
* no match otherwise.

Results are sorted best first: by ``distance_m`` descending (deepest inside first;
since ``a`` is the same for all matches of one fix, every ``inside`` comes before
every ``edge``), then by id.

Accuracy is clamped to ``[0, MAX_ACCURACY_M]`` (1000 m): a fix that imprecise says
little about which store someone is in, and bounding it bounds the search. Fixes
with ``accuracy_m <= FAST_ACCURACY_M`` (100 m, the vast majority of phone fixes)
take the fast path; the rest search a k-ring of neighbouring cells.

Distances
---------
Distances are measured in an equirectangular projection centred on the fix
(x scaled by ``cos(lat)`` of the fix); for circles, the scale uses the mean of the
fix's and the centre's latitudes. Circle geofences (given as :class:`Geofence`
with a centre and radius) are matched against the exact circle rather than its
64-gon. Longitudes are not wrapped at ±180° (shapes there are rejected upstream).

How it never misses
-------------------
Each geofence is registered in every H3 cell (resolution ``resolution``, 10 by
default: ~76 m edges) that contains *any* point within ``FAST_ACCURACY_M`` of the
shape, not only cells whose centre is inside it. The cover is computed from the
cell centres of a k-ring around the shape with a per-cell circumradius and a safety
margin, so boundary cells and the accuracy buffer are always included. A fast-path
fix only needs its own cell. For polygons each (cell, polygon) entry keeps the
subset of edges that can be nearest to any point of the cell, and a lower bound on
the distance from the cell to the polygon so that far candidates are skipped.
Inside/outside is decided from the nearest edge (or vertex convexity), which is
exact for the planar lng/lat polygon because the projection is affine.

Concurrency
-----------
Readers take no lock. The cell table maps a cell to an immutable tuple; writers
(serialised by a lock) build replacement tuples and swap them in one assignment
(copy-on-write), and :meth:`GeofenceIndex.replace_all` swaps the whole table. A
fast-path query reads exactly one cell, so it sees each geofence entirely before or
entirely after a concurrent update.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Iterable, Sequence
from typing import Final, Literal, TypeAlias

import h3.api.basic_int as h3i
import msgspec
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from geo.distance import METERS_PER_DEGREE
from geo.shapes import Geofence, Shape

__all__ = [
    "DEFAULT_RESOLUTION",
    "FAST_ACCURACY_M",
    "INSIDE_FRACTION",
    "MAX_ACCURACY_M",
    "Confidence",
    "GeofenceIndex",
    "Match",
]

Confidence: TypeAlias = Literal["inside", "edge"]

DEFAULT_RESOLUTION: Final = 10
"""H3 resolution of the coarse filter (~76 m hexagon edges)."""

FAST_ACCURACY_M: Final = 100.0
"""Covers are buffered by this much, so fixes up to this accuracy read one cell."""

MAX_ACCURACY_M: Final = 1000.0
"""Accuracy is clamped to this value."""

INSIDE_FRACTION: Final = 0.5
"""``inside`` needs the fix at least this fraction of the accuracy inside the edge."""

_K: Final = METERS_PER_DEGREE
_RAD: Final = math.pi / 180.0
_INF: Final = math.inf
_INSIDE: Final[Confidence] = "inside"
_EDGE: Final[Confidence] = "edge"
# Relative and absolute slack on every conservative bound computed at build time;
# it absorbs the difference between the build-time projection (centred on the
# shape) and the query-time projection (centred on the fix), and H3's curved edges.
_REL_SLACK: Final = 1.03
_ABS_SLACK_M: Final = 2.0
# Vertex kinds, see _vertex_kinds.
_REFLEX: Final = 0
_CONVEX: Final = 1
_FLAT: Final = 2


class Match(msgspec.Struct, frozen=True, gc=False):
    """A geofence matched by a fix.

    Attributes:
        geofence_id: Id the geofence was registered with.
        distance_m: Signed distance from the fix to the geofence edge in metres:
            positive inside, negative outside.
        confidence: ``"inside"`` or ``"edge"`` (see the module docstring).
    """

    geofence_id: str
    distance_m: float
    confidence: Confidence


# Circle record: (id, centre lat, centre lng, cos(centre lat), radius m).
_CircleRec: TypeAlias = tuple[str, float, float, float, float]
# Polygon edge: (ax, ay, bx, by, kind of a, kind of b) with x = lng * cos(lat0) and
# y = lat, where lat0 is the polygon's reference latitude. Pre-scaling x once per
# polygon keeps the hot loop free of per-edge multiplications; the small anisotropy
# left is removed when the final distance is measured around the fix.
_Edge: TypeAlias = tuple[float, float, float, float, int, int]
# Polygon record: (id, cos(lat0), all edges).
_PolyRec: TypeAlias = tuple[str, float, tuple[_Edge, ...]]
# Per-cell polygon entry: (lower bound of the cell→polygon distance in m, record,
# the edges that can be nearest to a point of the cell).
_PolyEntry: TypeAlias = tuple[float, _PolyRec, tuple[_Edge, ...]]
# Per-cell entry: circles whose lower bound is <= _NEAR_M, the other circles, polygon
# entries sorted by lower bound.
_CellEntry: TypeAlias = tuple[
    tuple[_CircleRec, ...], tuple[_CircleRec, ...], tuple[_PolyEntry, ...]
]
_Slot: TypeAlias = tuple[list[_CircleRec], list[_CircleRec], list[_PolyEntry]]
_FloatArray: TypeAlias = NDArray[np.float64]
ShapeLike: TypeAlias = Shape | Geofence

_NEAR_M: Final = 30.0
"""Circles farther than this from a cell are only checked for less precise fixes."""


def _sort_key(m: Match) -> tuple[float, str]:
    return (-m.distance_m, m.geofence_id)


def _poly_entry_key(e: _PolyEntry) -> float:
    return e[0]


# ------------------------------------------------------------------ exact kernels


def _eval_circle(rec: _CircleRec, lat: float, lng: float, cos_lat: float) -> float:
    """Signed distance (m) from a fix to an exact circle."""
    _, clat, clng, ccos, r = rec
    dx = (lng - clng) * (cos_lat + ccos) * 0.5
    dy = lat - clat
    return r - math.sqrt(dx * dx + dy * dy) * _K


def _eval_poly(
    rec: _PolyRec, edges: tuple[_Edge, ...], lat: float, lng: float, cos_lat: float
) -> float:
    """Signed distance (m) from a fix to a polygon, over the given candidate edges.

    ``edges`` must contain the edge nearest to the fix.
    """
    c0 = rec[1]
    px = lng * c0
    best = _INF
    bdx = bdy = 0.0
    bwhere = 1
    be = edges[0]
    for e in edges:
        ax, ay, bx, by, _, _ = e
        wx = px - ax
        wy = lat - ay
        ex = bx - ax
        ey = by - ay
        t = wx * ex + wy * ey
        if t <= 0.0:
            dx = wx
            dy = wy
            where = 0
        else:
            l2 = ex * ex + ey * ey
            if t >= l2:
                dx = px - bx
                dy = lat - by
                where = 2
            else:
                t /= l2
                dx = wx - t * ex
                dy = wy - t * ey
                where = 1
        d2 = dx * dx + dy * dy
        if d2 < best:
            best = d2
            be = e
            bwhere = where
            bdx = dx
            bdy = dy
    # Re-measure the offset to the nearest point with the fix's own longitude scale.
    sx = bdx * (cos_lat / c0)
    dist = math.sqrt(sx * sx + bdy * bdy) * _K
    # Interior lies left of every edge (shell CCW, holes CW). When the nearest point
    # is a vertex, the fix is outside at a convex vertex and inside at a reflex one.
    kind = _FLAT if bwhere == 1 else be[4] if bwhere == 0 else be[5]
    if kind == _FLAT:
        ax, ay, bx, by, _, _ = be
        inside = (bx - ax) * (lat - ay) - (by - ay) * (px - ax) > 0.0
    else:
        inside = kind == _REFLEX
    return dist if inside else -dist


def _eval_entry(entry: _CellEntry, lat: float, lng: float, a: float) -> list[Match]:
    """Exact test of one cell's candidates for a fast-path fix (``a <= FAST_ACCURACY_M``)."""
    half = a * INSIDE_FRACTION
    cos_lat = math.cos(lat * _RAD)
    out: list[Match] = []
    near, far, polys = entry
    for gid, clat, clng, ccos, r in near:
        dx = (lng - clng) * (cos_lat + ccos) * 0.5
        dy = lat - clat
        d = r - math.sqrt(dx * dx + dy * dy) * _K
        if d >= -a:
            out.append(Match(gid, d, _INSIDE if d >= half else _EDGE))
    if a > _NEAR_M:
        for gid, clat, clng, ccos, r in far:
            dx = (lng - clng) * (cos_lat + ccos) * 0.5
            dy = lat - clat
            d = r - math.sqrt(dx * dx + dy * dy) * _K
            if d >= -a:
                out.append(Match(gid, d, _INSIDE if d >= half else _EDGE))
    for lower, prec, edges in polys:
        if lower > a:
            break  # entries are sorted by lower bound
        d = _eval_poly(prec, edges, lat, lng, cos_lat)
        if d >= -a:
            out.append(Match(prec[0], d, _INSIDE if d >= half else _EDGE))
    if len(out) > 1:
        out.sort(key=_sort_key)
    return out


# --------------------------------------------------------------- build helpers


def _vertex_kinds(x: _FloatArray, y: _FloatArray) -> list[int]:
    """Convex/reflex/flat kind of each vertex of one open ring (interior on the left)."""
    px = np.concatenate([x[-1:], x[:-1]])
    py = np.concatenate([y[-1:], y[:-1]])
    nx = np.concatenate([x[1:], x[:1]])
    ny = np.concatenate([y[1:], y[:1]])
    e1x, e1y = x - px, y - py
    e2x, e2y = nx - x, ny - y
    cross = e1x * e2y - e1y * e2x
    eps = 1e-12 * np.hypot(e1x, e1y) * np.hypot(e2x, e2y)
    kinds = np.where(cross > eps, _CONVEX, np.where(cross < -eps, _REFLEX, _FLAT))
    out: list[int] = kinds.tolist()
    return out


def _seg_dist(
    px: _FloatArray,
    py: _FloatArray,
    ax: _FloatArray,
    ay: _FloatArray,
    bx: _FloatArray,
    by: _FloatArray,
) -> _FloatArray:
    """Distances between points (m,) and segments (n,) as an (m, n) matrix."""
    ex = (bx - ax)[None, :]
    ey = (by - ay)[None, :]
    wx = px[:, None] - ax[None, :]
    wy = py[:, None] - ay[None, :]
    l2 = ex * ex + ey * ey
    t = np.clip((wx * ex + wy * ey) / np.where(l2 > 0, l2, 1.0), 0.0, 1.0)
    dx = wx - t * ex
    dy = wy - t * ey
    out: _FloatArray = np.sqrt(dx * dx + dy * dy)
    return out


class _Prepared:
    """A shape converted to the index's internal records (not yet placed in cells)."""

    __slots__ = (
        "ax",
        "ay",
        "bx",
        "by",
        "circle",
        "extent_m",
        "geom",
        "gid",
        "poly",
        "ref_lat",
        "ref_lng",
    )

    def __init__(self, gid: str, shape: ShapeLike) -> None:
        if not isinstance(gid, str):
            raise TypeError(f"geofence id must be a str, got {type(gid).__name__}")
        self.gid = gid
        self.circle: _CircleRec | None = None
        self.poly: _PolyRec | None = None
        if isinstance(shape, Geofence) and shape.center is not None and shape.radius_m is not None:
            lat, lng = shape.center
            r = float(shape.radius_m)
            if not (math.isfinite(lat) and math.isfinite(lng) and r > 0 and abs(lat) < 90):
                raise ValueError(f"geofence {gid!r}: invalid circle {shape.center}, {r}")
            self.circle = (gid, float(lat), float(lng), math.cos(lat * _RAD), r)
            self.ref_lat, self.ref_lng, self.extent_m = float(lat), float(lng), r
            return
        geom = shape.shape if isinstance(shape, Geofence) else shape
        if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
            raise TypeError(
                f"geofence {gid!r}: expected a non-empty Polygon, MultiPolygon or Geofence, "
                f"got {type(geom).__name__}"
            )
        if not shapely.is_valid(geom):
            raise ValueError(
                f"geofence {gid!r}: invalid shape ({shapely.is_valid_reason(geom)}); "
                "validate it with geo.shapes.parse_geojson first"
            )
        geom = shapely.orient_polygons(shapely.remove_repeated_points(geom, 0.0))
        self.geom = geom
        minx, miny, maxx, maxy = geom.bounds
        self.ref_lng = (minx + maxx) * 0.5
        self.ref_lat = (miny + maxy) * 0.5
        c0 = math.cos(self.ref_lat * _RAD)
        polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
        edges: list[_Edge] = []
        for p in polys:
            for ring in (p.exterior, *p.interiors):
                c = shapely.get_coordinates(ring)[:-1]
                x = c[:, 0] * c0
                y = c[:, 1]
                kinds = _vertex_kinds(c[:, 0], y)
                xl: list[float] = x.tolist()
                yl: list[float] = y.tolist()
                n = len(xl)
                for i in range(n):
                    j = i + 1 if i + 1 < n else 0
                    edges.append((xl[i], yl[i], xl[j], yl[j], kinds[i], kinds[j]))
        arr = np.array([e[:4] for e in edges], dtype=np.float64)
        self.ax, self.ay, self.bx, self.by = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
        pts_x = np.concatenate([self.ax, self.bx]) - self.ref_lng * c0
        pts_y = np.concatenate([self.ay, self.by]) - self.ref_lat
        self.extent_m = float(np.max(np.hypot(pts_x, pts_y))) * _K
        self.poly = (gid, c0, tuple(edges))


class _CellGeometry:
    """Cache of H3 cell centres and circumradii (metres), used only by writers."""

    def __init__(self, resolution: int) -> None:
        self.resolution = resolution
        self._row: dict[int, int] = {}
        self._data = np.empty((0, 3), dtype=np.float64)

    def _add(self, cells: Iterable[int]) -> None:
        new: list[tuple[float, float, float]] = []
        row = self._row
        base = len(row)
        for cell in cells:
            if cell in row:
                continue
            lat, lng = h3i.cell_to_latlng(cell)
            c = math.cos(lat * _RAD)
            rho = 0.0
            for vlat, vlng in h3i.cell_to_boundary(cell):
                dx = (vlng - lng) * c
                dy = vlat - lat
                rho = max(rho, dx * dx + dy * dy)
            row[cell] = base + len(new)
            new.append((lat, lng, math.sqrt(rho) * _K))
        if new:
            self._data = np.concatenate([self._data, np.array(new, dtype=np.float64)])

    def get(self, cell: int) -> tuple[float, float, float]:
        """Centre lat, lng and circumradius (m) of one cell."""
        if cell not in self._row:
            self._add((cell,))
        lat, lng, rho = self._data[self._row[cell]].tolist()
        return lat, lng, rho

    def many(self, cells: list[int]) -> tuple[_FloatArray, _FloatArray, _FloatArray]:
        """Centre lats, lngs and circumradii of many cells."""
        row = self._row
        self._add(set(cells).difference(row))
        idx = np.fromiter(map(row.__getitem__, cells), dtype=np.int64, count=len(cells))
        d = self._data[idx]
        return d[:, 0], d[:, 1], d[:, 2]

    def clear(self) -> None:
        self._row.clear()
        self._data = np.empty((0, 3), dtype=np.float64)


def _ring_k(radius_m: float, rho_m: float) -> int:
    """A k such that grid_disk(c, k) holds every cell centred within radius_m of c's centre."""
    # Measured over the globe: a cell k rings away is at least 1.25 * k circumradii
    # away (1.5 for a perfect hexagon grid); 1.2 keeps a margin.
    return max(1, math.ceil(radius_m / (1.2 * rho_m)))


def _disk(geo: _CellGeometry, lat: float, lng: float, reach_m: float) -> list[int]:
    """Cells whose centres may lie within ``reach_m`` (+ cell size) of a point."""
    c0 = h3i.latlng_to_cell(lat, lng, geo.resolution)
    rho = geo.get(c0)[2]
    # The point is within one circumradius of its cell's centre; far cells may be
    # somewhat larger than c0, hence 1.2 rho on top of the reach.
    cells: list[int] = h3i.grid_disk(c0, _ring_k(reach_m + 2.2 * rho, rho))
    return cells


def _lower_bound(outside_m: _FloatArray, rho: _FloatArray) -> _FloatArray:
    """Conservative lower bound of the distance from any point of a cell to a shape."""
    out: _FloatArray = np.maximum(0.0, (outside_m - rho) / _REL_SLACK - _ABS_SLACK_M)
    return out


def _keep(outside_m: _FloatArray, rho: _FloatArray, buffer_m: float) -> NDArray[np.bool_]:
    """Cells that may hold a point within ``buffer_m`` of the shape."""
    out: NDArray[np.bool_] = outside_m <= (buffer_m + rho) * _REL_SLACK + _ABS_SLACK_M
    return out


def _cover_circles(
    geo: _CellGeometry, circles: Sequence[_CircleRec], buffer_m: float, slots: dict[int, _Slot]
) -> dict[str, list[int]]:
    """Register circles in the cells of their covers; returns each circle's cells."""
    all_cells: list[int] = []
    counts: list[int] = []
    for rec in circles:
        cells = _disk(geo, rec[1], rec[2], rec[4] + buffer_m)
        all_cells.extend(cells)
        counts.append(len(cells))
    covers: dict[str, list[int]] = {rec[0]: [] for rec in circles}
    if not all_cells:
        return covers
    clat, clng, rho = geo.many(all_cells)
    owner = np.repeat(np.arange(len(circles)), counts)
    rec_lat = np.array([r[1] for r in circles])[owner]
    rec_lng = np.array([r[2] for r in circles])[owner]
    rec_cos = np.array([r[3] for r in circles])[owner]
    rec_r = np.array([r[4] for r in circles])[owner]
    dx = (clng - rec_lng) * (np.cos(clat * _RAD) + rec_cos) * 0.5
    dy = clat - rec_lat
    outside = np.hypot(dx, dy) * _K - rec_r
    keep = _keep(outside, rho, buffer_m)
    near = _lower_bound(outside, rho) <= _NEAR_M
    idx = np.flatnonzero(keep)
    for j, o, nr in zip(idx.tolist(), owner[idx].tolist(), near[idx].tolist(), strict=True):
        c = all_cells[j]
        rec = circles[o]
        slot = slots.get(c)
        if slot is None:
            slot = slots[c] = ([], [], [])
        slot[0 if nr else 1].append(rec)
        covers[rec[0]].append(c)
    return covers


_MATRIX_BUDGET: Final = 2_000_000


def _cover_polygon(
    geo: _CellGeometry, prep: _Prepared, buffer_m: float, slots: dict[int, _Slot]
) -> list[int]:
    """Register one polygon in the cells of its cover; returns the cells."""
    rec = prep.poly
    assert rec is not None
    edges = rec[2]
    c0 = rec[1]
    cells = _disk(geo, prep.ref_lat, prep.ref_lng, prep.extent_m + buffer_m)
    clat, clng, rho = geo.many(cells)
    # Metric frame centred on the polygon: x = lng * c0 (as the edges), y = lat.
    ox = prep.ref_lng * c0
    oy = prep.ref_lat
    ax, ay = (prep.ax - ox) * _K, (prep.ay - oy) * _K
    bx, by = (prep.bx - ox) * _K, (prep.by - oy) * _K
    px = (clng * c0 - ox) * _K
    py = (clat - oy) * _K
    inside = shapely.contains_xy(prep.geom, clng, clat)
    interned: dict[bytes, tuple[_Edge, ...]] = {}
    full = np.ones(len(edges), dtype=np.bool_).tobytes()
    interned[full] = edges
    out: list[int] = []
    chunk = max(1, _MATRIX_BUDGET // len(edges))
    for lo in range(0, len(cells), chunk):
        dm = _seg_dist(px[lo : lo + chunk], py[lo : lo + chunk], ax, ay, bx, by)
        to_edge = dm.min(axis=1)
        r = rho[lo : lo + chunk]
        outside = np.where(inside[lo : lo + chunk], 0.0, to_edge)
        keep = np.flatnonzero(_keep(outside, r, buffer_m))
        lower = _lower_bound(outside, r)
        # Every point within rho of the centre has its nearest edge within
        # to_edge + 2 rho of the centre.
        limit = (to_edge + 2.0 * r) * _REL_SLACK + _ABS_SLACK_M
        masks = dm[keep] <= limit[keep, None]
        for j, mask in zip(keep.tolist(), masks, strict=True):
            key = mask.tobytes()
            sub = interned.get(key)
            if sub is None:
                sub = interned[key] = tuple(edges[i] for i in np.flatnonzero(mask).tolist())
            c = cells[lo + j]
            slot = slots.get(c)
            if slot is None:
                slot = slots[c] = ([], [], [])
            slot[2].append((float(lower[j]), rec, sub))
            out.append(c)
    return out


# ------------------------------------------------------------------------ index


class GeofenceIndex:
    """Spatial index of geofences answering "which geofences match this fix?".

    Thread safety: any number of threads may call :meth:`match` / :meth:`match_many`
    while one or more threads call the mutating methods (writers are serialised).
    """

    def __init__(self, resolution: int = DEFAULT_RESOLUTION) -> None:
        """Create an empty index.

        Args:
            resolution: H3 resolution of the coarse filter, 7..12. Finer cells cost
                memory and build time; coarser cells cost query time.
        """
        if not 7 <= resolution <= 12:
            raise ValueError(f"resolution must be between 7 and 12, got {resolution}")
        self._res = resolution
        self._cells: dict[int, _CellEntry] = {}
        self._covers: dict[str, array[int]] = {}
        self._lock = threading.Lock()
        self._geo = _CellGeometry(resolution)

    # -- introspection --------------------------------------------------------

    @property
    def resolution(self) -> int:
        """The H3 resolution of the coarse filter."""
        return self._res

    def __len__(self) -> int:
        return len(self._covers)

    def __contains__(self, geofence_id: object) -> bool:
        return geofence_id in self._covers

    def ids(self) -> list[str]:
        """Ids of all indexed geofences."""
        return list(self._covers)

    # -- writers --------------------------------------------------------------

    def _place(
        self, items: Iterable[tuple[str, ShapeLike]]
    ) -> tuple[dict[int, _Slot], dict[str, array[int]]]:
        """Compute covers of new shapes, grouped by cell."""
        preps: dict[str, _Prepared] = {}
        for gid, shape in items:
            if gid in preps:
                raise ValueError(f"duplicate geofence id {gid!r} in one batch")
            preps[gid] = _Prepared(gid, shape)
        slots: dict[int, _Slot] = {}
        geo = self._geo
        circles = [p.circle for p in preps.values() if p.circle is not None]
        cover_lists = _cover_circles(geo, circles, FAST_ACCURACY_M, slots)
        for prep in preps.values():
            if prep.poly is not None:
                cover_lists[prep.gid] = _cover_polygon(geo, prep, FAST_ACCURACY_M, slots)
        covers = {gid: array("q", cover_lists[gid]) for gid in preps}
        return slots, covers

    @staticmethod
    def _apply(
        table: dict[int, _CellEntry],
        add: dict[int, _Slot],
        drop: set[str],
        drop_cells: Iterable[int],
    ) -> None:
        """Copy-on-write update of ``table``: remove ``drop`` ids, add ``add`` entries."""
        touched = set(add)
        touched.update(drop_cells)
        for c in touched:
            old = table.get(c)
            near: list[_CircleRec] = []
            far: list[_CircleRec] = []
            polys: list[_PolyEntry] = []
            if old is not None:
                near = [r for r in old[0] if r[0] not in drop]
                far = [r for r in old[1] if r[0] not in drop]
                polys = [e for e in old[2] if e[1][0] not in drop]
            new = add.get(c)
            if new is not None:
                near.extend(new[0])
                far.extend(new[1])
                polys.extend(new[2])
            if near or far or polys:
                polys.sort(key=_poly_entry_key)
                # One assignment publishes the new cell content to readers.
                table[c] = (tuple(near), tuple(far), tuple(polys))
            elif old is not None:
                del table[c]

    def upsert(self, geofence_id: str, shape: ShapeLike) -> None:
        """Add a geofence or replace the one with the same id.

        Args:
            geofence_id: The geofence's id.
            shape: A validated ``Polygon``/``MultiPolygon`` (see
                :func:`geo.shapes.parse_geojson`) or a :class:`Geofence`; a circle
                ``Geofence`` is matched against the exact circle.
        """
        self.bulk_load([(geofence_id, shape)])

    def bulk_load(self, items: Iterable[tuple[str, ShapeLike]]) -> None:
        """Add or replace many geofences at once (faster than repeated upserts).

        Args:
            items: ``(geofence_id, shape)`` pairs; ids must be unique in the batch.
        """
        with self._lock:
            add, covers = self._place(items)
            drop = {gid for gid in covers if gid in self._covers}
            drop_cells: set[int] = set()
            for gid in drop:
                drop_cells.update(self._covers[gid])
            self._apply(self._cells, add, drop, drop_cells)
            self._covers.update(covers)
            if len(covers) > 1000:
                # Bulk loads touch many cells once; don't keep their geometry around.
                self._geo.clear()

    def replace_all(self, items: Iterable[tuple[str, ShapeLike]]) -> None:
        """Atomically replace the whole content of the index.

        Queries running meanwhile see either the old or the new content.
        """
        with self._lock:
            add, covers = self._place(items)
            table: dict[int, _CellEntry] = {}
            self._apply(table, add, set(), ())
            self._covers = covers
            self._cells = table
            self._geo.clear()

    def remove(self, geofence_id: str) -> bool:
        """Remove a geofence.

        Returns:
            ``True`` if it was indexed.
        """
        with self._lock:
            cover = self._covers.pop(geofence_id, None)
            if cover is None:
                return False
            self._apply(self._cells, {}, {geofence_id}, cover)
            return True

    # -- readers --------------------------------------------------------------

    def match(self, lat: float, lng: float, accuracy_m: float) -> list[Match]:
        """Geofences matching one fix, best first.

        Args:
            lat: Latitude in degrees.
            lng: Longitude in degrees.
            accuracy_m: Horizontal accuracy (radius) in metres; clamped to
                ``MAX_ACCURACY_M``.

        Returns:
            Matches sorted by signed distance descending (see module docstring).

        Raises:
            ValueError: If the coordinate is out of range or the accuracy is negative
                or NaN.
        """
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
            raise ValueError(f"fix out of range: lat={lat!r}, lng={lng!r}")
        if not 0.0 <= accuracy_m <= FAST_ACCURACY_M:
            return self._match_wide(lat, lng, accuracy_m)
        entry = self._cells.get(h3i.latlng_to_cell(lat, lng, self._res))
        if entry is None:
            return []
        return _eval_entry(entry, lat, lng, accuracy_m)

    def _match_wide(self, lat: float, lng: float, accuracy_m: float) -> list[Match]:
        """Slow path for imprecise fixes: scan the k-ring the accuracy can reach."""
        if not accuracy_m >= 0.0:
            raise ValueError(f"accuracy_m must be >= 0, got {accuracy_m!r}")
        a = min(float(accuracy_m), MAX_ACCURACY_M)
        half = a * INSIDE_FRACTION
        cells = self._cells
        c0 = h3i.latlng_to_cell(lat, lng, self._res)
        # Any geofence within `a` has a point within FAST_ACCURACY_M of its cover no
        # farther than a - FAST_ACCURACY_M from the fix; the fix is within one
        # circumradius of its cell centre.
        rho = _cell_rho(c0)
        reach = (a - FAST_ACCURACY_M) * _REL_SLACK + _ABS_SLACK_M
        k = _ring_k(reach + 2.2 * rho, rho)
        seen_c: dict[str, _CircleRec] = {}
        seen_p: dict[str, _PolyRec] = {}
        for c in h3i.grid_disk(c0, k):
            entry = cells.get(c)
            if entry is None:
                continue
            for rec in entry[0]:
                seen_c.setdefault(rec[0], rec)
            for rec in entry[1]:
                seen_c.setdefault(rec[0], rec)
            for _, prec, _ in entry[2]:
                seen_p.setdefault(prec[0], prec)
        cos_lat = math.cos(lat * _RAD)
        out: list[Match] = []
        for gid, rec in seen_c.items():
            d = _eval_circle(rec, lat, lng, cos_lat)
            if d >= -a:
                out.append(Match(gid, d, _INSIDE if d >= half else _EDGE))
        for gid, prec in seen_p.items():
            d = _eval_poly(prec, prec[2], lat, lng, cos_lat)
            if d >= -a:
                out.append(Match(gid, d, _INSIDE if d >= half else _EDGE))
        out.sort(key=_sort_key)
        return out

    def match_many(
        self,
        lats: Sequence[float] | _FloatArray,
        lngs: Sequence[float] | _FloatArray,
        accuracies: Sequence[float] | _FloatArray,
    ) -> list[list[Match]]:
        """Match many fixes at once.

        Input conversion and validation are vectorised with numpy; each fix then runs
        the same cell lookup and exact kernel as :meth:`match`, minus the per-call
        overhead (h3-py offers no vectorised ``latlng_to_cell`` and the kernel is a
        tight pure-Python loop, which beats numpy at a handful of candidates).

        Args:
            lats: Latitudes in degrees.
            lngs: Longitudes in degrees.
            accuracies: Accuracies in metres.

        Returns:
            One list of matches per fix, in input order.

        Raises:
            ValueError: If the inputs have different lengths or any fix is invalid.
        """
        la = np.asarray(lats, dtype=np.float64)
        ln = np.asarray(lngs, dtype=np.float64)
        ac = np.asarray(accuracies, dtype=np.float64)
        if not (la.shape == ln.shape == ac.shape) or la.ndim != 1:
            raise ValueError("lats, lngs and accuracies must be 1-D and of equal length")
        bad = ~((la >= -90.0) & (la <= 90.0) & (ln >= -180.0) & (ln <= 180.0) & (ac >= 0.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"invalid fix at index {i}: lat={la[i]}, lng={ln[i]}, acc={ac[i]}")
        n = la.shape[0]
        cells = self._cells
        res = self._res
        to_cell = h3i.latlng_to_cell
        get = cells.get
        wide = self._match_wide
        out: list[list[Match]] = []
        append = out.append
        for lat, lng, a in zip(la.tolist(), ln.tolist(), ac.tolist(), strict=True):
            if a > FAST_ACCURACY_M:
                append(wide(lat, lng, a))
                continue
            entry = get(to_cell(lat, lng, res))
            append([] if entry is None else _eval_entry(entry, lat, lng, a))
        assert len(out) == n
        return out


def _cell_rho(cell: int) -> float:
    lat, lng = h3i.cell_to_latlng(cell)
    c = math.cos(lat * _RAD)
    rho = 0.0
    for vlat, vlng in h3i.cell_to_boundary(cell):
        dx = (vlng - lng) * c
        dy = vlat - lat
        rho = max(rho, math.sqrt(dx * dx + dy * dy))
    return rho * _K
