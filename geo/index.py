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
edges. Otherwise the exact kernel scans every edge, so ``distance_m`` is exact.
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
entirely after a concurrent update.
"""

from __future__ import annotations

import gc
import math
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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
# Polygon record: (id, cos(lat0), min lat, max lat, min lng, max lng, edges, kinds).
# ``edges`` is a flat array of 5 floats per edge, ``ax, ay, ex, ey, 1 / |e|²``, with
# x = lng * cos(lat0) and y = lat (lat0: the polygon's reference latitude) and
# ``e = b - a``; pre-scaling x once per polygon keeps the hot loop free of per-edge
# multiplications, and the small anisotropy left is removed when the final distance
# is measured around the fix. ``kinds`` holds the vertex kinds of a and b of each edge.
_PolyRec: TypeAlias = tuple[str, float, float, float, float, float, "array[float]", bytes]
# Per-cell entry: circles whose lower bound is <= _NEAR_M, the other circles, and the
# same split for polygons. Records are shared between cells (8 bytes per reference).
_CellEntry: TypeAlias = tuple[
    tuple[_CircleRec, ...], tuple[_CircleRec, ...], tuple[_PolyRec, ...], tuple[_PolyRec, ...]
]
_Slot: TypeAlias = tuple[list[_CircleRec], list[_CircleRec], list[_PolyRec], list[_PolyRec]]
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
    """Signed distance (m) from a fix to a polygon (exact: scans every edge)."""
    c0 = rec[1]
    flat = rec[6]
    px = lng * c0
    best = _INF
    bdx = bdy = bt = 0.0
    bi = i = 0
    it = iter(flat)
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
        i += 1  # noqa: SIM113 (enumerate is slower here)
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


def _eval_entry(entry: _CellEntry, lat: float, lng: float, a: float) -> list[Match]:
    """Exact test of one cell's candidates for a fast-path fix (``a <= FAST_ACCURACY_M``)."""
    half = a * INSIDE_FRACTION
    cos_lat = math.cos(lat * _RAD)
    out: list[Match] = []
    near, far, pnear, pfar = entry
    for gid, clat, clng, ccos, r in near:
        dx = (lng - clng) * (cos_lat + ccos) * 0.5
        dy = lat - clat
        d = r - math.sqrt(dx * dx + dy * dy) * _K
        if d >= -a:
            out.append(Match(gid, d, _INSIDE if d >= half else _EDGE))
    wide = a > _NEAR_M
    if wide:
        for gid, clat, clng, ccos, r in far:
            dx = (lng - clng) * (cos_lat + ccos) * 0.5
            dy = lat - clat
            d = r - math.sqrt(dx * dx + dy * dy) * _K
            if d >= -a:
                out.append(Match(gid, d, _INSIDE if d >= half else _EDGE))
    if pnear or (wide and pfar):
        alat = a * _BOX_SLACK / _K
        alng = alat / cos_lat
        for prec in (pnear + pfar) if wide else pnear:
            # Bounding-box test: a fix farther than `a` from the box cannot match.
            if (
                lat < prec[2] - alat
                or lat > prec[3] + alat
                or lng < prec[4] - alng
                or lng > prec[5] + alng
            ):
                continue
            d = _eval_poly(prec, lat, lng, cos_lat)
            if d >= -a:
                out.append(Match(prec[0], d, _INSIDE if d >= half else _EDGE))
    if len(out) > 1:
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
        cuts = np.searchsorted(e_owner, np.arange(len(gids) + 1)).tolist()
        b = bounds.tolist()
        c0l = c0.tolist()
        for i, gid in enumerate(gids):
            lo, hi = cuts[i], cuts[i + 1]
            edges = array("d")
            edges.frombytes(flat[lo:hi].tobytes())
            x0, y0, x1, y1 = b[i]
            self.polys.append((gid, c0l[i], y0, y1, x0, x1, edges, kinds[lo:hi].tobytes()))


def _place(
    prep: _Prepared, res: int, buffer_m: float
) -> tuple[dict[int, _Slot], dict[str, list[int]]]:
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
        cells = disk(c0, _ring_k(rm + 2.2 * rho, rho))
        all_cells.extend(cells)
        counts.append(len(cells))
        rhos.append(rho)
    slots: dict[int, _Slot] = {}
    covers: dict[str, list[int]] = {gid: [] for gid in prep.gids}
    if not all_cells:
        return slots, covers
    cell_arr = np.array(all_cells, dtype=np.int64)
    uniq, inv = np.unique(cell_arr, return_inverse=True)
    centres = np.array([h3i.cell_to_latlng(c) for c in uniq.tolist()], dtype=np.float64)
    clat = centres[inv, 0]
    clng = centres[inv, 1]
    owner = np.repeat(np.arange(len(counts)), counts)
    rho_m = np.array(rhos)[owner]
    outside = np.empty(cell_arr.size)
    split = int(np.sum(counts[:nc]))
    if nc:
        o = owner[:split]
        rec_lat = np.array(ref_lat[:nc])[o]
        rec_lng = np.array(ref_lng[:nc])[o]
        rec_cos = np.array([r[3] for r in circles])[o]
        rec_r = np.array([r[4] for r in circles])[o]
        cl = clat[:split]
        dx = (clng[:split] - rec_lng) * (np.cos(cl * _RAD) + rec_cos) * 0.5
        dy = cl - rec_lat
        outside[:split] = np.hypot(dx, dy) * _K - rec_r
    if polys:
        o = owner[split:] - nc
        sc = prep.poly_c0
        # Metric-ish frame per polygon: x = lng * c0, y = lat (degrees), as the edges.
        _, vo = shapely.get_coordinates(prep.poly_geoms, return_index=True)
        scale = np.column_stack([sc[vo], np.ones(vo.size)])
        scaled = shapely.transform(prep.poly_geoms, lambda c: c * scale)
        pts = shapely.points(clng[split:] * sc[o], clat[split:])
        outside[split:] = shapely.distance(scaled[o], pts) * _K
    keep = _keep(outside, rho_m, buffer_m)
    near = _lower_bound(outside, rho_m) <= _NEAR_M
    # Tier: 0 near circle, 1 far circle, 2 near polygon, 3 far polygon.
    tier = np.where(near, 0, 1) + np.where(owner >= nc, 2, 0)
    idx = np.flatnonzero(keep)
    recs: list[_CircleRec | _PolyRec] = [*circles, *polys]
    gids = [r[0] for r in recs]
    for c, o_, t in zip(
        cell_arr[idx].tolist(), owner[idx].tolist(), tier[idx].tolist(), strict=True
    ):
        slot = slots.get(c)
        if slot is None:
            slot = slots[c] = ([], [], [], [])
        slot[t].append(recs[o_])
        covers[gids[o_]].append(c)
    return slots, covers


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


_R = TypeVar("_R", _CircleRec, _PolyRec)


def _merge(old: tuple[_R, ...], new: list[_R], drop: set[str]) -> tuple[_R, ...]:
    if drop and old:
        old = tuple(r for r in old if r[0] not in drop)
    return old + tuple(new) if new else old


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
        slots, cover_lists = _place(_Prepared(items), self._res, FAST_ACCURACY_M)
        covers = {gid: array("q", cells) for gid, cells in cover_lists.items()}
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
        empty: _Slot = ([], [], [], [])
        for c in touched:
            old = table.get(c)
            new = add.get(c, empty)
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
            add, covers = self._place(items)
            drop = {gid for gid in covers if gid in self._covers}
            drop_cells: set[int] = set()
            for gid in drop:
                drop_cells.update(self._covers[gid])
            self._apply(self._cells, add, drop, drop_cells)
            self._covers.update(covers)

    def replace_all(self, items: Iterable[tuple[str, ShapeLike]]) -> None:
        """Atomically replace the whole content of the index.

        Queries running meanwhile see either the old or the new content.
        """
        with self._lock, _gc_paused():
            add, covers = self._place(items)
            table: dict[int, _CellEntry] = {}
            self._apply(table, add, set(), ())
            self._covers = covers
            self._cells = table

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
