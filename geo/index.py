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
fix only needs its own cell. Each (cell, geofence) pair is filed in one of two
tiers by a conservative lower bound of the distance from the cell to the shape;
fixes with an accuracy of at most ``_NEAR_M`` (30 m) skip the far tier. Records are
shared by all cells of a geofence: a polygon record holds its edges in one flat
``array('d')`` and its bounding box, and a fix farther than its accuracy from that box
(measured in the same frame as the exact distance) is rejected without scanning
edges. Otherwise the exact kernel finds the nearest edge. Polygons with at least
``_GRID_MIN_EDGES`` edges carry a ``_GRID`` x ``_GRID`` sub-grid over their bounding box
grown by ``_GRID_MARGIN_M``; each sub-cell stores a window (a circular range of the edge
list) holding every edge that can be nearest to *some* point of the sub-cell (a
Lipschitz bound, see :func:`_edge_windows`), and a fix in the sub-grid scans only its
sub-cell's window (~13 edges instead of ~37 on the benchmark); a fix outside it scans
every edge. Either way the nearest edge, hence ``distance_m``, is exact.
The cells' circumradius is that of a nearby cell (cached per coarse parent) times 1.1;
polygon conversion and cover distances are computed for a whole batch with shapely's array
functions.
Inside/outside is decided from the nearest edge (or vertex convexity), which is
exact for the planar lng/lat polygon because the projection is affine.

Concurrency
-----------
Readers take no lock. The cell table maps a cell to an immutable tuple; writers
(serialised by a lock) build replacement tuples and swap them in one assignment
(copy-on-write), and :meth:`GeofenceIndex.replace_all` swaps the whole table. A
fast-path query reads exactly one cell, so it sees each geofence entirely before or
entirely after a concurrent update. :meth:`GeofenceIndex.match_many` reads an
immutable column snapshot of the table; writers drop it (or publish a new one with a
new table) under their lock, and a reader only builds a missing one if it can take the
lock without waiting.
"""

from __future__ import annotations

import ctypes
import gc
import math
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, pairwise
from typing import Final, Literal, TypeAlias, TypeVar

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
# Polygon record: (id, cos(lat0), min lat, max lat, min lng, max lng, edges, kinds,
# grid x0, grid y0, grid x scale, grid y scale, grid size g, windows); g == 0: no grid.
# With a grid, ``edges`` and ``kinds`` hold the edge list twice (so that a circular
# window is one slice) and ``windows`` holds (start, length) per sub-cell, row-major.
# ``edges`` is a flat array of 5 floats per edge, ``ax, ay, ex, ey, 1 / |e|²``, with
# x = lng * cos(lat0) and y = lat (lat0: the polygon's reference latitude) and
# ``e = b - a``; pre-scaling x once per polygon keeps the hot loop free of per-edge
# multiplications, and the small anisotropy left is removed when the final distance
# is measured around the fix. ``kinds`` holds the vertex kinds of a and b of each edge.
_PolyRec: TypeAlias = tuple[
    str,
    float,
    float,
    float,
    float,
    float,
    "array[float]",
    bytes,
    float,
    float,
    float,
    float,
    int,
    "array[int]",
]
# Per-cell entry: circles whose lower bound is <= _NEAR_M, the other circles, and the
# same split for polygons. Records are shared between cells (8 bytes per reference).
_CellEntry: TypeAlias = tuple[
    tuple[_CircleRec, ...], tuple[_CircleRec, ...], tuple[_PolyRec, ...], tuple[_PolyRec, ...]
]
_FloatArray: TypeAlias = NDArray[np.float64]
ShapeLike: TypeAlias = Shape | Geofence

_NEAR_M: Final = 30.0
"""Geofences farther than this from a cell are only checked for less precise fixes."""
# A fix more than ``a`` away from a polygon's bounding box (in the fix's frame) is more
# than ``a`` outside it; this factor keeps the test conservative against rounding.
_BOX_SLACK: Final = 1.0 + 1e-9


def _sort_key(m: Match) -> tuple[float, str]:
    return (-m.distance_m, m.geofence_id)


# ------------------------------------------------------------------ exact kernels


def _eval_circle(rec: _CircleRec, lat: float, lng: float, cos_lat: float) -> float:
    """Signed distance (m) from a fix to an exact circle."""
    _, clat, clng, ccos, r = rec
    dx = (lng - clng) * (cos_lat + ccos) * 0.5
    dy = lat - clat
    return r - math.sqrt(dx * dx + dy * dy) * _K


def _eval_poly(rec: _PolyRec, lat: float, lng: float, cos_lat: float) -> float:
    """Signed distance (m) from a fix to a polygon (exact).

    Scans the edge window of the fix's sub-cell (every edge that can be nearest to a
    point of that sub-cell, see :func:`_edge_windows`), or every edge when the fix is
    outside the sub-grid.
    """
    c0 = rec[1]
    flat = rec[6]
    px = lng * c0
    g = rec[12]
    fx = (px - rec[8]) * rec[10]
    fy = (lat - rec[9]) * rec[11]
    if 0.0 <= fx < g and 0.0 <= fy < g:
        win = rec[13]
        k = 2 * (int(fy) * g + int(fx))
        i = win[k]
        it = iter(flat[5 * i : 5 * (i + win[k + 1])])
    else:
        i = 0
        # Grid polygons store their edges twice (see _edge_windows).
        it = iter(flat[: len(flat) >> 1]) if g else iter(flat)
    best = _INF
    bdx = bdy = bt = 0.0
    bi = i
    for ax, ay, ex, ey, il2 in zip(it, it, it, it, it, strict=False):
        wx = px - ax
        wy = lat - ay
        t = (wx * ex + wy * ey) * il2
        if t <= 0.0:
            dx = wx
            dy = wy
        elif t >= 1.0:
            dx = wx - ex
            dy = wy - ey
        else:
            dx = wx - t * ex
            dy = wy - t * ey
        d2 = dx * dx + dy * dy
        if d2 < best:
            best = d2
            bi = i
            bdx = dx
            bdy = dy
            bt = t
        i += 1
    # Re-measure the offset to the nearest point with the fix's own longitude scale.
    sx = bdx * (cos_lat / c0)
    dist = math.sqrt(sx * sx + bdy * bdy) * _K
    # Interior lies left of every edge (shell CCW, holes CW). When the nearest point
    # is a vertex, the fix is outside at a convex vertex and inside at a reflex one.
    kinds = rec[7]
    kind = _FLAT if 0.0 < bt < 1.0 else kinds[2 * bi] if bt <= 0.0 else kinds[2 * bi + 1]
    if kind == _FLAT:
        j = 5 * bi
        inside = flat[j + 2] * (lat - flat[j + 1]) - flat[j + 3] * (px - flat[j]) > 0.0
    else:
        inside = kind == _REFLEX
    return dist if inside else -dist


def _eval_entry(
    entry: _CellEntry,
    lat: float,
    lng: float,
    a: float,
    sqrt: Callable[[float], float] = math.sqrt,
    M: type[Match] = Match,
) -> list[Match]:
    """Exact test of one cell's candidates for a fast-path fix (``a <= FAST_ACCURACY_M``).

    The polygon kernel is :func:`_eval_poly`, inlined (this is the hot loop).
    """
    half = a * INSIDE_FRACTION
    cos_lat = math.cos(lat * _RAD)
    hc = cos_lat * 0.5
    out: list[Match] = []
    near, far, pnear, pfar = entry
    na = -a
    for gid, clat, clng, ccos, r in near:
        dx = (lng - clng) * (hc + ccos * 0.5)
        dy = lat - clat
        d = r - sqrt(dx * dx + dy * dy) * _K
        if d >= na:
            out.append(M(gid, d, _INSIDE if d >= half else _EDGE))
    wide = a > _NEAR_M
    if wide:
        for gid, clat, clng, ccos, r in far:
            dx = (lng - clng) * (hc + ccos * 0.5)
            dy = lat - clat
            d = r - sqrt(dx * dx + dy * dy) * _K
            if d >= na:
                out.append(M(gid, d, _INSIDE if d >= half else _EDGE))
    if pnear or (wide and pfar):
        # The absolute term keeps the rearranged comparisons below conservative.
        alat = a * _BOX_SLACK / _K + 1e-12
        alng = alat / cos_lat
        lat_up = lat + alat
        lat_dn = lat - alat
        lng_up = lng + alng
        lng_dn = lng - alng
        for prec in (pnear + pfar) if wide else pnear:
            # Bounding-box test: a fix farther than `a` from the box cannot match.
            if lat_up < prec[2] or lat_dn > prec[3] or lng_up < prec[4] or lng_dn > prec[5]:
                continue
            # -- inlined _eval_poly
            c0 = prec[1]
            flat = prec[6]
            px = lng * c0
            g = prec[12]
            fx = (px - prec[8]) * prec[10]
            fy = (lat - prec[9]) * prec[11]
            if 0.0 <= fx < g and 0.0 <= fy < g:
                win = prec[13]
                k = 2 * (int(fy) * g + int(fx))
                i = win[k]
                it = iter(flat[5 * i : 5 * (i + win[k + 1])])
            else:
                i = 0
                it = iter(flat[: len(flat) >> 1]) if g else iter(flat)
            best = _INF
            bdx = bdy = bt = 0.0
            bi = i
            for ax, ay, ex, ey, il2 in zip(it, it, it, it, it, strict=False):
                wx = px - ax
                wy = lat - ay
                t = (wx * ex + wy * ey) * il2
                if t <= 0.0:
                    dx = wx
                    dy = wy
                elif t >= 1.0:
                    dx = wx - ex
                    dy = wy - ey
                else:
                    dx = wx - t * ex
                    dy = wy - t * ey
                d2 = dx * dx + dy * dy
                if d2 < best:
                    best = d2
                    bi = i
                    bdx = dx
                    bdy = dy
                    bt = t
                i += 1
            sx = bdx * (cos_lat / c0)
            d = sqrt(sx * sx + bdy * bdy) * _K
            kinds = prec[7]
            kind = _FLAT if 0.0 < bt < 1.0 else kinds[2 * bi] if bt <= 0.0 else kinds[2 * bi + 1]
            if kind == _FLAT:
                j = 5 * bi
                inside = flat[j + 2] * (lat - flat[j + 1]) - flat[j + 3] * (px - flat[j]) > 0.0
            else:
                inside = kind == _REFLEX
            if not inside:
                if d > a:
                    continue
                d = -d
            out.append(M(prec[0], d, _INSIDE if d >= half else _EDGE))
    n = len(out)
    if n == 2:
        m0, m1 = out
        d0 = m0.distance_m
        d1 = m1.distance_m
        if d1 > d0 or (d1 == d0 and m1.geofence_id < m0.geofence_id):
            out.reverse()
    elif n > 2:
        out.sort(key=_sort_key)
    return out


# --------------------------------------------------------------- build helpers


def _ring_k(radius_m: float, rho_m: float) -> int:
    """A k such that grid_disk(c, k) holds every cell centred within radius_m of c's centre."""
    # Measured over the globe: a cell k rings away is at least 1.25 * k circumradii
    # away (1.5 for a perfect hexagon grid); 1.2 keeps a margin.
    return max(1, math.ceil(radius_m / (1.2 * rho_m)))


def _cell_rho(cell: int) -> float:
    """Circumradius (m) of one cell."""
    lat, lng = h3i.cell_to_latlng(cell)
    c = math.cos(lat * _RAD)
    rho = 0.0
    for vlat, vlng in h3i.cell_to_boundary(cell):
        dx = (vlng - lng) * c
        dy = vlat - lat
        rho = max(rho, math.sqrt(dx * dx + dy * dy))
    return rho * _K


# Cells of one shape's disk are at most a few km from its reference cell, where H3
# cell sizes vary by well under 1 %; their circumradius is taken as this multiple of
# the reference cell's.
_RHO_GROWTH: Final = 1.1


def _lower_bound(outside_m: _FloatArray, rho: _FloatArray) -> _FloatArray:
    """Conservative lower bound of the distance from any point of a cell to a shape."""
    out: _FloatArray = np.maximum(0.0, (outside_m - rho) / _REL_SLACK - _ABS_SLACK_M)
    return out


def _keep(outside_m: _FloatArray, rho: _FloatArray, buffer_m: float) -> NDArray[np.bool_]:
    """Cells that may hold a point within ``buffer_m`` of the shape."""
    out: NDArray[np.bool_] = outside_m <= (buffer_m + rho) * _REL_SLACK + _ABS_SLACK_M
    return out


# Below this many elements, segment reductions and sorts run in Python: numpy releases
# the GIL for them whatever their size, and a writer that releases the GIL waits a
# whole switch interval per busy reader thread to get it back.
_SMALL: Final = 1 << 15


def _stable_order(key: NDArray[np.int64]) -> NDArray[np.intp]:
    """Stable argsort of ``key``.

    Large arrays of small non-negative keys are sorted as ``key << b | position``
    (one plain ``np.sort`` of 64-bit integers, about twice as fast as an argsort).
    """
    n = key.size
    if n >= _SMALL:
        lo = int(key.min())
        span = int(key.max()) - lo
        b = n.bit_length()
        if span.bit_length() + b <= 63:
            packed = ((key - lo) << b) | np.arange(n, dtype=np.int64)
            packed.sort()
            packed &= (1 << b) - 1
            return packed.astype(np.intp, copy=False)
        out: NDArray[np.intp] = np.argsort(key, kind="stable")
        return out
    return np.array(sorted(range(n), key=key.tolist().__getitem__), dtype=np.intp)


def _unique_inverse(
    cells: NDArray[np.int64], res: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``np.unique(cells, return_inverse=True)`` for H3 cells of resolution ``res``."""
    if cells.size < _SMALL:
        uniq, inv = np.unique(cells, return_inverse=True)
        return uniq, inv.astype(np.int64, copy=False)
    # The unused digits of a resolution-`res` cell are constant: drop them so that
    # the key leaves room for the position in _stable_order.
    order = _stable_order(cells >> (3 * (15 - res)))
    sc = cells[order]
    first = np.empty(sc.size, dtype=np.bool_)
    first[0] = True
    np.not_equal(sc[1:], sc[:-1], out=first[1:])
    run = np.cumsum(first) - 1
    inv = np.empty(sc.size, dtype=np.int64)
    inv[order] = run
    return sc[first], inv


# Sub-grid of a polygon's bounding box (grown by _GRID_MARGIN_M) on which edge windows
# are precomputed; polygons with fewer than _GRID_MIN_EDGES edges get none.
_GRID: Final = 10
_GRID_MIN_EDGES: Final = 12
_GRID_MARGIN_M: Final = 60.0
# (sub-cell, edge) pairs evaluated per numpy chunk while building windows.
_GRID_CHUNK: Final = 1 << 19


def _edge_windows(
    flat: _FloatArray, cuts: NDArray[np.int64], grid_box: _FloatArray, gridded: NDArray[np.intp]
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Edge windows of every sub-cell of the gridded polygons.

    For a sub-cell S with centre c and half-diagonal r, every point p of S has
    ``D(p) <= D(c) + r`` (D: distance to the nearest edge, 1-Lipschitz) and
    ``dist(p, e) >= dist(c, e) - r``; so an edge with ``dist(c, e) > D(c) + 2 r`` is
    never nearest for a point of S. The window of S is the shortest circular range of
    the polygon's edge list holding all other edges (a superset: scanning extra edges
    keeps the distance exact). Distances are in the edges' own frame, as in the kernel.

    Polygons are processed in groups with the same number of edges, as dense
    (polygon, sub-cell, edge) arrays (broadcasting, no per-pair gathers).

    Returns:
        ``(start, length)`` per sub-cell, polygon-major then row-major; ``start`` is
        relative to the polygon's first edge and ``start + length <= 2 * n_edges``.
    """
    g2 = _GRID * _GRID
    n_e = (cuts[gridded + 1] - cuts[gridded]).astype(np.int64)
    starts_out = np.empty((gridded.size, g2), dtype=np.int32)
    lens_out = np.empty((gridded.size, g2), dtype=np.int32)
    kx = np.tile(np.arange(_GRID), _GRID) + 0.5
    ky = np.repeat(np.arange(_GRID), _GRID) + 0.5
    cols = [np.ascontiguousarray(flat[:, j]) for j in range(5)]
    by_n = np.argsort(n_e, kind="stable")
    sorted_n = n_e[by_n]
    group_cuts = np.flatnonzero(np.diff(sorted_n)) + 1
    for grp in np.split(by_n, group_cuts) if gridded.size else ():
        n = int(n_e[grp[0]])
        step = max(1, _GRID_CHUNK // (g2 * n))
        ar = np.arange(n)
        for lo in range(0, grp.size, step):
            sel = grp[lo : lo + step]
            box = grid_box[sel]
            wx = (box[:, 2] - box[:, 0]) / _GRID
            wy = (box[:, 3] - box[:, 1]) / _GRID
            r = 0.5 * np.hypot(wx, wy)
            cx = box[:, 0, None] + kx[None, :] * wx[:, None]  # (P, g2)
            cy = box[:, 1, None] + ky[None, :] * wy[:, None]
            rows = cuts[gridded[sel]][:, None] + ar[None, :]  # (P, n)
            ax, ay, ex, ey, il2 = (cols[j][rows][:, None, :] for j in range(5))
            qx = cx[:, :, None] - ax  # (P, g2, n)
            qy = cy[:, :, None] - ay
            t = (qx * ex + qy * ey) * il2
            np.clip(t, 0.0, 1.0, out=t)
            qx -= t * ex
            qy -= t * ey
            qx *= qx
            qy *= qy
            qx += qy
            d = np.sqrt(qx, out=qx)
            limit = d.min(axis=2) + 2.0 * r[:, None]
            limit *= 1.0 + 1e-9
            cand = d <= limit[:, :, None]
            # Next candidate after each position (cyclic, unwrapped past n).
            big = 3 * n
            m = np.where(cand, ar, big)
            suffix = np.minimum.accumulate(m[:, :, ::-1], axis=2)[:, :, ::-1]
            nxt = np.empty_like(m)
            nxt[:, :, :-1] = suffix[:, :, 1:]
            nxt[:, :, -1] = big
            first = suffix[:, :, :1]
            nxt = np.where(nxt == big, first + n, nxt)
            gap = np.where(cand, nxt - ar, -1)
            # The window starts right after the first largest gap.
            j = np.argmax(gap, axis=2)[:, :, None]
            maxgap = np.take_along_axis(gap, j, axis=2)[:, :, 0]
            starts_out[sel] = np.take_along_axis(nxt, j, axis=2)[:, :, 0] % n
            lens_out[sel] = n - maxgap + 1
    return starts_out.reshape(-1), lens_out.reshape(-1)


# Batches with fewer gridded polygons compute windows in Python (_edge_windows_py):
# numpy's array operations release the GIL, and a writer waits a switch interval per
# busy reader thread to get it back, so a single upsert would take up to seconds.
_WINDOWS_NUMPY_MIN: Final = 48


def _edge_windows_py(
    flat: _FloatArray, cuts: NDArray[np.int64], grid_box: _FloatArray, gridded: NDArray[np.intp]
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Same as :func:`_edge_windows`, in plain Python (for small batches)."""
    starts: list[int] = []
    lens: list[int] = []
    hypot = math.hypot
    sqrt = math.sqrt
    cut = cuts.tolist()
    for p, (x0, y0, x1, y1) in zip(gridded.tolist(), grid_box.tolist(), strict=True):
        rows = flat[cut[p] : cut[p + 1]].tolist()
        n = len(rows)
        wx = (x1 - x0) / _GRID
        wy = (y1 - y0) / _GRID
        r2 = 2.0 * (0.5 * hypot(wx, wy))
        for ky in range(_GRID):
            cy = y0 + (ky + 0.5) * wy
            for kx in range(_GRID):
                cx = x0 + (kx + 0.5) * wx
                ds = []
                for ax, ay, ex, ey, il2 in rows:
                    qx = cx - ax
                    qy = cy - ay
                    t = min(max((qx * ex + qy * ey) * il2, 0.0), 1.0)
                    dx = qx - t * ex
                    dy = qy - t * ey
                    ds.append(sqrt(dx * dx + dy * dy))
                limit = (min(ds) + r2) * (1.0 + 1e-9)
                cand = [i for i, d in enumerate(ds) if d <= limit]
                # Largest circular gap between consecutive candidates; the window
                # starts right after it.
                gaps = [j - i for i, j in pairwise(cand)]
                gaps.append(cand[0] + n - cand[-1])
                k = gaps.index(max(gaps))
                starts.append(cand[(k + 1) % len(cand)])
                lens.append(n - gaps[k] + 1)
    return np.array(starts, dtype=np.int32), np.array(lens, dtype=np.int32)


class _Prepared:
    """Shapes of one batch converted to the index's records (not yet placed in cells).

    Polygons are converted with shapely's array functions over the whole batch.
    """

    def __init__(self, items: Iterable[tuple[str, ShapeLike]]) -> None:
        self.gids: list[str] = []
        self.circles: list[_CircleRec] = []
        self.polys: list[_PolyRec] = []
        seen: set[str] = set()
        poly_gids: list[str] = []
        geoms: list[Polygon | MultiPolygon] = []
        for gid, shape in items:
            if not isinstance(gid, str):
                raise TypeError(f"geofence id must be a str, got {type(gid).__name__}")
            if gid in seen:
                raise ValueError(f"duplicate geofence id {gid!r} in one batch")
            seen.add(gid)
            self.gids.append(gid)
            if (
                isinstance(shape, Geofence)
                and shape.center is not None
                and shape.radius_m is not None
            ):
                lat, lng = shape.center
                r = float(shape.radius_m)
                if not (math.isfinite(lat) and math.isfinite(lng) and r > 0 and abs(lat) < 90):
                    raise ValueError(f"geofence {gid!r}: invalid circle {shape.center}, {r}")
                self.circles.append((gid, float(lat), float(lng), math.cos(lat * _RAD), r))
                continue
            geom = shape.shape if isinstance(shape, Geofence) else shape
            if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
                raise TypeError(
                    f"geofence {gid!r}: expected a non-empty Polygon, MultiPolygon or "
                    f"Geofence, got {type(geom).__name__}"
                )
            poly_gids.append(gid)
            geoms.append(geom)
        self.poly_geoms = np.array(geoms, dtype=object)
        self.poly_extent = np.empty(0)
        if geoms:
            self._convert(poly_gids)

    def _convert(self, gids: list[str]) -> None:
        arr = self.poly_geoms
        valid = shapely.is_valid(arr)
        if not valid.all():
            i = int(np.flatnonzero(~valid)[0])
            raise ValueError(
                f"geofence {gids[i]!r}: invalid shape ({shapely.is_valid_reason(arr[i])}); "
                "validate it with geo.shapes.parse_geojson first"
            )
        arr = shapely.orient_polygons(shapely.remove_repeated_points(arr, 0.0))
        self.poly_geoms = arr
        bounds = shapely.bounds(arr)
        ref_lng = (bounds[:, 0] + bounds[:, 2]) * 0.5
        ref_lat = (bounds[:, 1] + bounds[:, 3]) * 0.5
        c0 = np.cos(ref_lat * _RAD)
        parts, part_owner = shapely.get_parts(arr, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, vring = shapely.get_coordinates(rings, return_index=True)
        owner_of_ring = part_owner[ring_part]
        # Closed rings: vertex i and i + 1 form an edge when both are on the same ring.
        is_edge = vring[:-1] == vring[1:]
        ia = np.flatnonzero(is_edge)
        e_ring = vring[ia]
        e_owner = owner_of_ring[e_ring]
        sc = c0[e_owner]
        ax = coords[ia, 0] * sc
        ay = coords[ia, 1]
        bx = coords[ia + 1, 0] * sc
        by = coords[ia + 1, 1]
        ex = bx - ax
        ey = by - ay
        l2 = ex * ex + ey * ey
        il2 = np.where(l2 > 0.0, 1.0 / np.where(l2 > 0.0, l2, 1.0), 0.0)
        # Previous edge on the same ring (cyclic): vertex a of edge k is between
        # edge prev(k) and edge k.
        n_e = ia.size
        k = np.arange(n_e)
        first = np.ones(n_e, dtype=np.bool_)
        first[1:] = e_ring[1:] != e_ring[:-1]
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], n_e) - 1
        ring_no = np.cumsum(first) - 1
        prev = np.where(first, ends[ring_no], k - 1)
        nxt = np.empty(n_e, dtype=np.int64)
        nxt[:-1] = k[1:]
        last = np.append(first[1:], True)
        nxt[last] = starts[ring_no[last]]
        px_, py_ = ex[prev], ey[prev]
        cross = px_ * ey - py_ * ex
        eps = 1e-12 * np.sqrt(px_ * px_ + py_ * py_) * np.sqrt(l2)
        kind_a = np.where(cross > eps, _CONVEX, np.where(cross < -eps, _REFLEX, _FLAT))
        kinds = np.column_stack([kind_a, kind_a[nxt]]).astype(np.uint8)
        flat = np.column_stack([ax, ay, ex, ey, il2])
        # Extent: farthest vertex from the bounding-box centre, in metres.
        dxm = (coords[:, 0] - ref_lng[owner_of_ring[vring]]) * c0[owner_of_ring[vring]]
        dym = coords[:, 1] - ref_lat[owner_of_ring[vring]]
        ext = np.zeros(len(gids))
        np.maximum.at(ext, owner_of_ring[vring], np.hypot(dxm, dym) * _K)
        self.poly_extent = ext
        self.poly_ref = (ref_lat, ref_lng)
        self.poly_c0 = c0
        cuts_a = np.searchsorted(e_owner, np.arange(len(gids) + 1))
        n_edges = np.diff(cuts_a)
        gridded = np.flatnonzero(n_edges >= _GRID_MIN_EDGES)
        m = _GRID_MARGIN_M / _K
        gc0 = c0[gridded]
        grid_box = np.column_stack(
            [
                bounds[gridded, 0] * gc0 - m,
                bounds[gridded, 1] - m,
                bounds[gridded, 2] * gc0 + m,
                bounds[gridded, 3] + m,
            ]
        )
        if gridded.size >= _WINDOWS_NUMPY_MIN:
            w_start, w_len = _edge_windows(flat, cuts_a, grid_box, gridded)
        else:
            w_start, w_len = _edge_windows_py(flat, cuts_a, grid_box, gridded)
        windows = np.column_stack([w_start, w_len]).reshape(gridded.size, 2 * _GRID * _GRID)
        slot = np.full(len(gids), -1)
        slot[gridded] = np.arange(gridded.size)
        scale = np.column_stack(
            [_GRID / (grid_box[:, 2] - grid_box[:, 0]), _GRID / (grid_box[:, 3] - grid_box[:, 1])]
        ).tolist()
        gbox = grid_box.tolist()
        cuts = cuts_a.tolist()
        slots = slot.tolist()
        b = bounds.tolist()
        c0l = c0.tolist()
        no_win: array[int] = array("i")
        for i, gid in enumerate(gids):
            lo, hi = cuts[i], cuts[i + 1]
            edges = array("d")
            x0, y0, x1, y1 = b[i]
            j = slots[i]
            if j < 0:
                edges.frombytes(flat[lo:hi].tobytes())
                rec: _PolyRec = (
                    gid,
                    c0l[i],
                    y0,
                    y1,
                    x0,
                    x1,
                    edges,
                    kinds[lo:hi].tobytes(),
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    0,
                    no_win,
                )
            else:
                # Edges twice, so that a circular window is one slice.
                raw = flat[lo:hi].tobytes()
                edges.frombytes(raw + raw)
                kb = kinds[lo:hi].tobytes()
                # start + length <= 2 * n_edges: 16 bits are enough for most shapes.
                if hi - lo < 16_000:
                    win = array("h")
                    win.frombytes(windows[j].astype(np.int16).tobytes())
                else:
                    win = array("i")
                    win.frombytes(windows[j].tobytes())
                gx0, gy0 = gbox[j][0], gbox[j][1]
                sx, sy = scale[j]
                rec = (gid, c0l[i], y0, y1, x0, x1, edges, kb + kb, gx0, gy0, sx, sy, _GRID, win)
            self.polys.append(rec)


def _place(
    prep: _Prepared, res: int, buffer_m: float
) -> tuple[dict[int, _CellEntry], dict[str, array[int]], _Snapshot | None]:
    """Cells of every shape's cover (all shapes at once), grouped by cell."""
    circles = prep.circles
    polys = prep.polys
    nc = len(circles)
    ref_lat = [r[1] for r in circles]
    ref_lng = [r[2] for r in circles]
    reach = [r[4] + buffer_m for r in circles]
    if polys:
        ref_lat += prep.poly_ref[0].tolist()
        ref_lng += prep.poly_ref[1].tolist()
        reach += (prep.poly_extent + buffer_m).tolist()
    all_cells: list[int] = []
    counts: list[int] = []
    rhos: list[float] = []
    rho_cache: dict[int, float] = {}
    disk_cache: dict[tuple[int, int], list[int]] = {}
    to_cell = h3i.latlng_to_cell
    disk = h3i.grid_disk
    # Cells near one another have nearly the same size: cache the circumradius per
    # coarse (resolution - 4) parent.
    for lat, lng, rm in zip(ref_lat, ref_lng, reach, strict=True):
        c0 = to_cell(lat, lng, res)
        key = h3i.cell_to_parent(c0, max(0, res - 4))
        rho = rho_cache.get(key)
        if rho is None:
            rho = rho_cache[key] = _cell_rho(c0) * _RHO_GROWTH
        # The point is within one circumradius of its cell's centre; far cells may be
        # somewhat larger than c0, hence 1.2 rho on top of the reach.
        k = _ring_k(rm + 2.2 * rho, rho)
        # Clustered shapes often share a cell and a k (~2x fewer grid_disk calls).
        dk = (c0, k)
        cells = disk_cache.get(dk)
        if cells is None:
            cells = disk_cache[dk] = disk(c0, k)
        all_cells.extend(cells)
        counts.append(len(cells))
        rhos.append(rho)
    slots: dict[int, _CellEntry] = {}
    covers: dict[str, array[int]] = {}
    if not all_cells:
        return slots, {gid: array("q") for gid in prep.gids}, None
    cell_arr = np.array(all_cells, dtype=np.int64)
    uniq, inv = _unique_inverse(cell_arr, res)
    centres = np.fromiter(
        chain.from_iterable(map(h3i.cell_to_latlng, uniq.tolist())),
        dtype=np.float64,
        count=2 * uniq.size,
    ).reshape(-1, 2)
    clat = centres[inv, 0]
    clng = centres[inv, 1]
    owner = np.repeat(np.arange(len(counts)), counts)
    rho_m = np.repeat(np.array(rhos), counts)
    outside = np.empty(cell_arr.size)
    split = int(np.sum(counts[:nc]))
    if nc:
        cc = counts[:nc]
        ccols = np.array([r[1:] for r in circles], dtype=np.float64)
        rec_lat = np.repeat(ccols[:, 0], cc)
        rec_lng = np.repeat(ccols[:, 1], cc)
        rec_cos = np.repeat(ccols[:, 2], cc)
        rec_r = np.repeat(ccols[:, 3], cc)
        cell_cos = np.cos(centres[:, 0] * _RAD)[inv[:split]]
        dx = (clng[:split] - rec_lng) * (cell_cos + rec_cos) * 0.5
        dy = clat[:split] - rec_lat
        outside[:split] = np.sqrt(dx * dx + dy * dy) * _K - rec_r
    if polys:
        o = owner[split:] - nc
        sc = prep.poly_c0
        # Metric-ish frame per polygon: x = lng * c0, y = lat (degrees), as the edges.
        _, vo = shapely.get_coordinates(prep.poly_geoms, return_index=True)
        scale = np.column_stack([sc[vo], np.ones(vo.size)])
        scaled = shapely.transform(prep.poly_geoms, lambda c: c * scale)
        px = clng[split:] * sc[o]
        py = clat[split:]
        # The distance to the bounding box (same frame) is a lower bound of the
        # distance to the polygon: cells it already rules out skip shapely.
        box = np.array([r[2:6] for r in polys])
        bx = np.maximum(0.0, np.maximum(box[o, 2] * sc[o] - px, px - box[o, 3] * sc[o]))
        by = np.maximum(0.0, np.maximum(box[o, 0] - py, py - box[o, 1]))
        out_p = np.hypot(bx, by) * _K
        near_box = np.flatnonzero(_keep(out_p, rho_m[split:], buffer_m))
        pts = shapely.points(px[near_box], py[near_box])
        out_p[near_box] = shapely.distance(scaled[o[near_box]], pts) * _K
        outside[split:] = out_p
    idx = np.flatnonzero(_keep(outside, rho_m, buffer_m))
    recs: list[_CircleRec | _PolyRec] = [*circles, *polys]
    # Pairs are in owner order: each shape's cover is one run.
    kc = cell_arr[idx]
    ko = owner[idx]
    cuts = np.searchsorted(ko, np.arange(len(recs) + 1)).tolist()
    raw = kc.tobytes()
    for i, r in enumerate(recs):
        cov: array[int] = array("q")
        cov.frombytes(raw[8 * cuts[i] : 8 * cuts[i + 1]])
        covers[r[0]] = cov
    # Group by cell, then tier (stable: owner order within a tier), with one sort.
    # Tier: 0 near circle, 1 far circle, 2 near polygon, 3 far polygon.
    near = _lower_bound(outside[idx], rho_m[idx]) <= _NEAR_M
    kt = np.where(near, 0, 1) + np.where(ko >= nc, 2, 0)
    # Cell ranks (below the number of pairs) make a short key for the sort.
    order = _stable_order(inv[idx] * 4 + kt)
    kc = kc[order]
    ko = ko[order]
    kt = kt[order]
    first = np.ones(kc.size, dtype=np.bool_)
    first[1:] = kc[1:] != kc[:-1]
    starts = np.flatnonzero(first)
    # Bounds of the tiers of each cell: start + number of pairs with a lower tier.
    ends = np.append(starts[1:], kc.size)
    bounds = [starts]
    for t in (1, 2, 3):
        below = np.zeros(kc.size + 1, dtype=np.int64)
        np.cumsum(kt < t, out=below[1:])
        bounds.append(starts + below[ends] - below[starts])
    bounds.append(ends)
    rs = [recs[o] for o in ko.tolist()]
    empty = ()
    ptiers: list[tuple[tuple[_PolyRec, ...], tuple[_PolyRec, ...]] | None] = []
    add_p = ptiers.append
    for c, s0, s1, s2, s3, s4 in zip(
        kc[starts].tolist(), *(b.tolist() for b in bounds), strict=True
    ):
        e = slots[c] = (
            tuple(rs[s0:s1]) if s1 > s0 else empty,
            tuple(rs[s1:s2]) if s2 > s1 else empty,
            tuple(rs[s2:s3]) if s3 > s2 else empty,
            tuple(rs[s3:s4]) if s4 > s3 else empty,
        )
        add_p((e[2], e[3]) if s4 > s2 else None)
    # Column snapshot for match_many, from the arrays at hand: circle rows are the
    # pairs of tiers 0 and 1, which lead each cell's run.
    crow = np.flatnonzero(kt < 2)
    off = np.append(np.searchsorted(crow, starts), crow.size)
    snap = _Snapshot(
        kc[starts],
        off,
        ko[crow].astype(np.int32),
        kt[crow] == 1,
        circles,
        ptiers,
    )
    return slots, covers, snap


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC during a build.

    A bulk load allocates millions of small tuples and lists, none of them in a
    reference cycle; pausing the cyclic GC keeps it from rescanning the growing heap
    over and over (which made 100k-geofence builds superlinear).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# Batches at least this large return freed build memory to the OS afterwards.
_TRIM_MIN_ITEMS: Final = 1024


def _release_free_memory() -> None:
    """Return memory freed after a large build to the OS (glibc only; else a no-op).

    A build allocates several times the index's final size in temporary arrays and
    objects; glibc keeps most of that freed memory mapped (its mmap threshold grows
    after large frees), which tripled the process's RSS. ``malloc_trim`` hands it back
    (~35 ms after a 100k-geofence build).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


_R = TypeVar("_R", _CircleRec, _PolyRec)


def _merge(old: tuple[_R, ...], new: tuple[_R, ...], drop: set[str]) -> tuple[_R, ...]:
    if drop and old:
        old = tuple(r for r in old if r[0] not in drop)
    return old + new if new else old


# ------------------------------------------------------------------------ index


# Batches of match_many at least this large use the column snapshot.
_VECTOR_MIN: Final = 256


class _Snapshot:
    """Read-only columns of the cell table for :meth:`GeofenceIndex.match_many`.

    ``keys`` holds the cells, sorted; the circles of cell ``keys[i]`` are rows
    ``off[i]:off[i + 1]`` (near tier first; ``far`` flags the far tier), row ``j``
    being circle record ``rec[j]`` of the per-record columns ``gid``, ``clat``,
    ``clng``, ``ccos`` and ``rad``; ``polys[i]`` holds the cell's polygon tiers
    (``None`` if it has none). Never mutated once built: writers replace or drop it.
    """

    __slots__ = ("ccos", "clat", "clng", "far", "gid", "keys", "off", "polys", "rad", "rec")

    def __init__(
        self,
        keys: NDArray[np.int64],
        off: NDArray[np.int64],
        rec: NDArray[np.int32],
        far: NDArray[np.bool_],
        circles: Sequence[_CircleRec],
        polys: list[tuple[tuple[_PolyRec, ...], tuple[_PolyRec, ...]] | None],
    ) -> None:
        self.keys = keys
        self.off = off
        self.rec = rec
        self.far = far
        self.gid = [r[0] for r in circles]
        cols = np.array([r[1:] for r in circles], dtype=np.float64).reshape(-1, 4)
        self.clat = np.ascontiguousarray(cols[:, 0])
        self.clng = np.ascontiguousarray(cols[:, 1])
        self.ccos = np.ascontiguousarray(cols[:, 2])
        self.rad = np.ascontiguousarray(cols[:, 3])
        self.polys = polys

    @classmethod
    def from_cells(cls, cells: dict[int, _CellEntry]) -> _Snapshot:
        """Snapshot of a cell table (one row per circle reference)."""
        items = sorted(cells.items())
        recs: list[_CircleRec] = []
        far: list[bool] = []
        off = [0]
        polys: list[tuple[tuple[_PolyRec, ...], tuple[_PolyRec, ...]] | None] = []
        for _, (near, fr, pnear, pfar) in items:
            recs += near
            recs += fr
            far += [False] * len(near)
            far += [True] * len(fr)
            off.append(len(recs))
            polys.append((pnear, pfar) if pnear or pfar else None)
        return cls(
            np.array([c for c, _ in items], dtype=np.int64),
            np.array(off, dtype=np.int64),
            np.arange(len(recs), dtype=np.int32),
            np.array(far, dtype=np.bool_),
            recs,
            polys,
        )


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
        # Column snapshot of the cell table for match_many, built lazily (under the
        # writer lock) and dropped by every writer.
        self._snap: _Snapshot | None = None

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
    ) -> tuple[dict[int, _CellEntry], dict[str, array[int]], _Snapshot | None]:
        """Compute covers of new shapes, grouped by cell (and their column snapshot)."""
        return _place(_Prepared(items), self._res, FAST_ACCURACY_M)

    @staticmethod
    def _apply(
        table: dict[int, _CellEntry],
        add: dict[int, _CellEntry],
        drop: set[str],
        drop_cells: Iterable[int],
    ) -> None:
        """Copy-on-write update of ``table``: remove ``drop`` ids, add ``add`` entries."""
        touched = set(add)
        touched.update(drop_cells)
        empty: _CellEntry = ((), (), (), ())
        for c in touched:
            old = table.get(c)
            new = add.get(c, empty)
            if old is None:
                if new is not empty:
                    table[c] = new
                continue
            near = _merge(old[0] if old else (), new[0], drop)
            far = _merge(old[1] if old else (), new[1], drop)
            pnear = _merge(old[2] if old else (), new[2], drop)
            pfar = _merge(old[3] if old else (), new[3], drop)
            if near or far or pnear or pfar:
                # One assignment publishes the new cell content to readers.
                table[c] = (near, far, pnear, pfar)
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
        with self._lock, _gc_paused():
            add, covers, snap = self._place(items)
            if not self._covers:
                # Empty index: publish the new table in one assignment.
                self._cells = add
                self._snap = snap
                self._covers = covers
            else:
                drop = {gid for gid in covers if gid in self._covers}
                drop_cells: set[int] = set()
                for gid in drop:
                    drop_cells.update(self._covers[gid])
                self._apply(self._cells, add, drop, drop_cells)
                self._snap = None
                self._covers.update(covers)
            del add, snap
        if len(covers) >= _TRIM_MIN_ITEMS:
            _release_free_memory()

    def replace_all(self, items: Iterable[tuple[str, ShapeLike]]) -> None:
        """Atomically replace the whole content of the index.

        Queries running meanwhile see either the old or the new content.
        """
        with self._lock, _gc_paused():
            table, covers, snap = self._place(items)
            self._covers = covers
            self._cells = table
            self._snap = snap
            del table
        if len(covers) >= _TRIM_MIN_ITEMS:
            _release_free_memory()

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
            self._snap = None
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
            for prec in entry[2]:
                seen_p.setdefault(prec[0], prec)
            for prec in entry[3]:
                seen_p.setdefault(prec[0], prec)
        cos_lat = math.cos(lat * _RAD)
        out: list[Match] = []
        for gid, rec in seen_c.items():
            d = _eval_circle(rec, lat, lng, cos_lat)
            if d >= -a:
                out.append(Match(gid, d, _INSIDE if d >= half else _EDGE))
        for gid, prec in seen_p.items():
            d = _eval_poly(prec, lat, lng, cos_lat)
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

        Input conversion and validation are vectorised with numpy. Batches of at
        least ``_VECTOR_MIN`` fixes read a column snapshot of the cell table (built
        with the table by :meth:`bulk_load`/:meth:`replace_all`, dropped by every
        writer, rebuilt lazily for large enough batches): candidates are found with
        ``searchsorted`` and circles evaluated with numpy, in the same floating-point
        operations as :meth:`match`; polygons still run the exact pure-Python kernel.
        Smaller batches run the same cell lookup and kernel as :meth:`match` per fix,
        minus the per-call overhead. Either way the result equals :meth:`match`'s.

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
        # After incremental writes the snapshot is rebuilt (~3 us per cell), which
        # only pays off for batches about as large as the cell table.
        # A reader never waits for a writer: without a snapshot at hand, it loops.
        if n >= _VECTOR_MIN and (self._snap is not None or 2 * n >= len(self._cells)):
            snap = self._snapshot(wait=False)
            if snap is not None:
                return self._match_columns(snap, la, ln, ac)
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

    def _snapshot(self, wait: bool = True) -> _Snapshot | None:
        """The current column snapshot, built under the writer lock if missing.

        With ``wait=False``, returns ``None`` instead of waiting for a running writer.
        """
        snap = self._snap
        if snap is None:
            if not self._lock.acquire(blocking=wait):
                return None
            try:
                snap = self._snap
                if snap is None:
                    snap = self._snap = _Snapshot.from_cells(self._cells)
            finally:
                self._lock.release()
        return snap

    def _match_columns(
        self, snap: _Snapshot, la: _FloatArray, ln: _FloatArray, ac: _FloatArray
    ) -> list[list[Match]]:
        """Vectorised :meth:`match_many` (same results as :meth:`match`, bit for bit).

        Circles of every (fix, candidate) pair are evaluated with numpy, in the same
        floating-point operations as :func:`_eval_entry` (``cos`` comes from ``math``);
        polygons go through :func:`_eval_entry`; imprecise fixes through the slow path.
        """
        lats = la.tolist()
        lngs = ln.tolist()
        accs = ac.tolist()
        res = self._res
        to_cell = h3i.latlng_to_cell
        n = len(lats)
        out: list[list[Match]] = [[] for _ in range(n)]
        fast = ac <= FAST_ACCURACY_M
        keys = snap.keys
        if keys.size:
            cells = np.array(
                [to_cell(x, y, res) for x, y in zip(lats, lngs, strict=True)], dtype=np.int64
            )
            pos = np.minimum(np.searchsorted(keys, cells), keys.size - 1)
            fi = np.flatnonzero((keys[pos] == cells) & fast)
            ci = pos[fi]
            lo = snap.off[ci]
            cnt = snap.off[ci + 1] - lo
            pf = np.repeat(fi, cnt)
            cand = np.arange(pf.size) + np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
            cos_lat = np.array([math.cos(x * _RAD) for x in lats], dtype=np.float64)
            pa = ac[pf]
            r = snap.rec[cand]
            dx = (ln[pf] - snap.clng[r]) * (cos_lat[pf] * 0.5 + snap.ccos[r] * 0.5)
            dy = la[pf] - snap.clat[r]
            d = snap.rad[r] - np.sqrt(dx * dx + dy * dy) * _K
            ok = (d >= -pa) & ~(snap.far[cand] & (pa <= _NEAR_M))
            sel = np.flatnonzero(ok)
            ins = d[sel] >= pa[sel] * INSIDE_FRACTION
            gids = snap.gid
            M = Match
            for f, g, dd, inside in zip(
                pf[sel].tolist(), r[sel].tolist(), d[sel].tolist(), ins.tolist(), strict=True
            ):
                out[f].append(M(gids[g], dd, _INSIDE if inside else _EDGE))
            polys = snap.polys
            for f, c in zip(fi.tolist(), ci.tolist(), strict=True):
                pt = polys[c]
                if pt is None:
                    continue
                a = accs[f]
                if pt[0] or a > _NEAR_M:
                    extra = _eval_entry(((), (), pt[0], pt[1]), lats[f], lngs[f], a)
                    if extra:
                        out[f] += extra
        for f in np.flatnonzero(~fast).tolist():
            out[f] = self._match_wide(lats[f], lngs[f], accs[f])
        for lst in out:
            if len(lst) > 1:
                lst.sort(key=_sort_key)
        return out
