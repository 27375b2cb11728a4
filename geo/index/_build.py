"""Build: shapes of one batch converted to index records (not yet placed in cells).

Polygons are converted with shapely's array functions over the whole batch: oriented
(shell CCW, holes CW), split into flat edge arrays in each polygon's own frame, with
the kind of every vertex. Polygons with at least ``_GRID_MIN_EDGES`` edges get a
``_GRID`` x ``_GRID`` sub-grid over their bounding box grown by ``_GRID_MARGIN_M``;
each sub-cell stores a window (a circular range of the edge list) holding every edge
that can be nearest to *some* point of the sub-cell (a Lipschitz bound, see
`edge_windows`), so that a fix in the sub-grid scans only its sub-cell's window.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from itertools import pairwise
from typing import Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from geo.distance import METERS_PER_DEGREE
from geo.index._records import (
    CONVEX,
    FLAT,
    REFLEX,
    CircleRec,
    FloatArray,
    PolyRec,
    ShapeLike,
)
from geo.shapes import Geofence

__all__ = ["Prepared", "edge_windows", "edge_windows_py"]

_K: Final = METERS_PER_DEGREE
_RAD: Final = math.pi / 180.0


# Sub-grid of a polygon's bounding box (grown by _GRID_MARGIN_M) on which edge windows
# are precomputed; polygons with fewer than _GRID_MIN_EDGES edges get none.
_GRID: Final = 10
_GRID_MIN_EDGES: Final = 12
_GRID_MARGIN_M: Final = 60.0
# (sub-cell, edge) pairs evaluated per numpy chunk while building windows.
_GRID_CHUNK: Final = 1 << 19


def edge_windows(
    flat: FloatArray, cuts: NDArray[np.int64], grid_box: FloatArray, gridded: NDArray[np.intp]
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


# Batches with fewer gridded polygons compute windows in Python (edge_windows_py):
# numpy's array operations release the GIL, and a writer waits a switch interval per
# busy reader thread to get it back, so a single upsert would take up to seconds.
_WINDOWS_NUMPY_MIN: Final = 48


def edge_windows_py(
    flat: FloatArray, cuts: NDArray[np.int64], grid_box: FloatArray, gridded: NDArray[np.intp]
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Same as :func:`edge_windows`, in plain Python (for small batches)."""
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


class Prepared:
    """Shapes of one batch converted to the index's records (not yet placed in cells).

    Polygons are converted with shapely's array functions over the whole batch.
    """

    def __init__(self, items: Iterable[tuple[str, ShapeLike]]) -> None:
        self.gids: list[str] = []
        self.circles: list[CircleRec] = []
        self.polys: list[PolyRec] = []
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
                self.circles.append(
                    CircleRec(
                        geofence_id=gid,
                        lat=float(lat),
                        lng=float(lng),
                        cos_lat=math.cos(lat * _RAD),
                        radius_m=r,
                    )
                )
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
        kind_a = np.where(cross > eps, CONVEX, np.where(cross < -eps, REFLEX, FLAT))
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
            w_start, w_len = edge_windows(flat, cuts_a, grid_box, gridded)
        else:
            w_start, w_len = edge_windows_py(flat, cuts_a, grid_box, gridded)
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
                kb = kinds[lo:hi].tobytes()
                grid = 0
                gx0 = gy0 = sx = sy = 0.0
                win = no_win
            else:
                # Edges twice, so that a circular window is one slice.
                raw = flat[lo:hi].tobytes()
                edges.frombytes(raw + raw)
                kb = kinds[lo:hi].tobytes()
                kb += kb
                grid = _GRID
                # start + length <= 2 * n_edges: 16 bits are enough for most shapes.
                if hi - lo < 16_000:
                    win = array("h")
                    win.frombytes(windows[j].astype(np.int16).tobytes())
                else:
                    win = array("i")
                    win.frombytes(windows[j].tobytes())
                gx0, gy0 = gbox[j][0], gbox[j][1]
                sx, sy = scale[j]
            self.polys.append(
                PolyRec(
                    geofence_id=gid,
                    cos_ref=c0l[i],
                    min_lat=y0,
                    max_lat=y1,
                    min_lng=x0,
                    max_lng=x1,
                    edges=edges,
                    kinds=kb,
                    grid_x0=gx0,
                    grid_y0=gy0,
                    grid_sx=sx,
                    grid_sy=sy,
                    grid=grid,
                    windows=win,
                )
            )
