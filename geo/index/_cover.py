"""Cell cover: the H3 cells of every shape of a batch, filed by cell and tier.

Each geofence is registered in every cell (of the index's resolution) that contains
*any* point within the buffer (``FAST_ACCURACY_M``) of the shape, not only cells whose
centre is inside it. The cover is computed from the cell centres of a k-ring around
the shape with a per-cell circumradius and a safety margin, so boundary cells and the
accuracy buffer are always included. Each (cell, geofence) pair is filed in one of two
tiers by a conservative lower bound of the distance from the cell to the shape: the
near tier (``NEAR_M``) and the far tier. The cells' circumradius is that of a nearby
cell (cached per coarse parent) times ``_RHO_GROWTH``; cover distances are computed
for a whole batch with shapely's array functions.
"""

from __future__ import annotations

import math
from array import array
from itertools import chain
from typing import Final

import h3.api.basic_int as h3i
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.distance import METERS_PER_DEGREE
from geo.index._build import Prepared
from geo.index._records import NEAR_M, CellEntry, CircleRec, FloatArray, PolyRec, PolyTiers
from geo.index._snapshot import Snapshot

__all__ = ["ABS_SLACK_M", "REL_SLACK", "cell_rho", "place", "ring_k"]

_K: Final = METERS_PER_DEGREE
_RAD: Final = math.pi / 180.0
# Relative and absolute slack on every conservative bound computed at build time;
# it absorbs the difference between the build-time projection (centred on the
# shape) and the query-time projection (centred on the fix), and H3's curved edges.
REL_SLACK: Final = 1.03
ABS_SLACK_M: Final = 2.0


def ring_k(radius_m: float, rho_m: float) -> int:
    """A k such that grid_disk(c, k) holds every cell centred within radius_m of c's centre."""
    # Measured over the globe: a cell k rings away is at least 1.25 * k circumradii
    # away (1.5 for a perfect hexagon grid); 1.2 keeps a margin.
    return max(1, math.ceil(radius_m / (1.2 * rho_m)))


def cell_rho(cell: int) -> float:
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


def _lower_bound(outside_m: FloatArray, rho: FloatArray) -> FloatArray:
    """Conservative lower bound of the distance from any point of a cell to a shape."""
    out: FloatArray = np.maximum(0.0, (outside_m - rho) / REL_SLACK - ABS_SLACK_M)
    return out


def _keep(outside_m: FloatArray, rho: FloatArray, buffer_m: float) -> NDArray[np.bool_]:
    """Cells that may hold a point within ``buffer_m`` of the shape."""
    out: NDArray[np.bool_] = outside_m <= (buffer_m + rho) * REL_SLACK + ABS_SLACK_M
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


def place(
    prep: Prepared, res: int, buffer_m: float
) -> tuple[dict[int, CellEntry], dict[str, array[int]], Snapshot | None]:
    """Cells of every shape's cover (all shapes at once), grouped by cell."""
    circles = prep.circles
    polys = prep.polys
    nc = len(circles)
    ref_lat = [r.lat for r in circles]
    ref_lng = [r.lng for r in circles]
    reach = [r.radius_m + buffer_m for r in circles]
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
            rho = rho_cache[key] = cell_rho(c0) * _RHO_GROWTH
        # The point is within one circumradius of its cell's centre; far cells may be
        # somewhat larger than c0, hence 1.2 rho on top of the reach.
        k = ring_k(rm + 2.2 * rho, rho)
        # Clustered shapes often share a cell and a k (~2x fewer grid_disk calls).
        dk = (c0, k)
        cells = disk_cache.get(dk)
        if cells is None:
            cells = disk_cache[dk] = disk(c0, k)
        all_cells.extend(cells)
        counts.append(len(cells))
        rhos.append(rho)
    slots: dict[int, CellEntry] = {}
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
        ccols = np.array([(r.lat, r.lng, r.cos_lat, r.radius_m) for r in circles], dtype=np.float64)
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
        box = np.array([(r.min_lat, r.max_lat, r.min_lng, r.max_lng) for r in polys])
        bx = np.maximum(0.0, np.maximum(box[o, 2] * sc[o] - px, px - box[o, 3] * sc[o]))
        by = np.maximum(0.0, np.maximum(box[o, 0] - py, py - box[o, 1]))
        out_p = np.hypot(bx, by) * _K
        near_box = np.flatnonzero(_keep(out_p, rho_m[split:], buffer_m))
        pts = shapely.points(px[near_box], py[near_box])
        out_p[near_box] = shapely.distance(scaled[o[near_box]], pts) * _K
        outside[split:] = out_p
    idx = np.flatnonzero(_keep(outside, rho_m, buffer_m))
    recs: list[CircleRec | PolyRec] = [*circles, *polys]
    # Pairs are in owner order: each shape's cover is one run.
    kc = cell_arr[idx]
    ko = owner[idx]
    cuts = np.searchsorted(ko, np.arange(len(recs) + 1)).tolist()
    raw = kc.tobytes()
    for i, r in enumerate(recs):
        cov: array[int] = array("q")
        cov.frombytes(raw[8 * cuts[i] : 8 * cuts[i + 1]])
        covers[r.geofence_id] = cov
    # Group by cell, then tier (stable: owner order within a tier), with one sort.
    # Tier: 0 near circle, 1 far circle, 2 near polygon, 3 far polygon.
    near = _lower_bound(outside[idx], rho_m[idx]) <= NEAR_M
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
    ptiers: list[PolyTiers | None] = []
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
    snap = Snapshot(
        kc[starts],
        off,
        ko[crow].astype(np.int32),
        kt[crow] == 1,
        circles,
        ptiers,
    )
    return slots, covers, snap
