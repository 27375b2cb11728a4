"""Exact kernels: the signed distance from a fix to a circle or polygon record.

`eval_entry` is the hot loop of :meth:`GeofenceIndex.match`: it tests every candidate
of one cell and holds a deliberate inlined copy of `eval_poly` (it saves a Python call
per candidate polygon). The property tests in ``tests/unit/test_geo_index.py`` keep the
copy equal to `eval_poly`, bit for bit; change both together.
"""

import math
from collections.abc import Callable
from typing import Final

from geo.distance import METERS_PER_DEGREE
from geo.index._records import (
    EDGE,
    FLAT,
    INSIDE,
    INSIDE_FRACTION,
    NEAR_M,
    REFLEX,
    CellEntry,
    CircleRec,
    Match,
    PolyRec,
)

__all__ = ["eval_circle", "eval_entry", "eval_poly", "sort_key"]

_K: Final = METERS_PER_DEGREE
_RAD: Final = math.pi / 180.0
_INF: Final = math.inf
# A fix more than ``a`` away from a polygon's bounding box (in the fix's frame) is more
# than ``a`` outside it; this factor keeps the test conservative against rounding.
_BOX_SLACK: Final = 1.0 + 1e-9


def sort_key(m: Match) -> tuple[float, str]:
    """Best first: deepest inside first, then by id."""
    return (-m.distance_m, m.geofence_id)


def eval_circle(rec: CircleRec, lat: float, lng: float, cos_lat: float) -> float:
    """Signed distance (m) from a fix to an exact circle."""
    dx = (lng - rec.lng) * (cos_lat + rec.cos_lat) * 0.5
    dy = lat - rec.lat
    return rec.radius_m - math.sqrt(dx * dx + dy * dy) * _K


def eval_poly(rec: PolyRec, lat: float, lng: float, cos_lat: float) -> float:
    """Signed distance (m) from a fix to a polygon (exact).

    Scans the edge window of the fix's sub-cell (every edge that can be nearest to a
    point of that sub-cell, see `geo.index._build.edge_windows`), or every edge when
    the fix is outside the sub-grid.
    """
    c0 = rec.cos_ref
    flat = rec.edges
    px = lng * c0
    g = rec.grid
    fx = (px - rec.grid_x0) * rec.grid_sx
    fy = (lat - rec.grid_y0) * rec.grid_sy
    if 0.0 <= fx < g and 0.0 <= fy < g:
        win = rec.windows
        k = 2 * (int(fy) * g + int(fx))
        i = win[k]
        it = iter(flat[5 * i : 5 * (i + win[k + 1])])
    else:
        i = 0
        # Grid polygons store their edges twice (see PolyRec).
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
    kinds = rec.kinds
    kind = FLAT if 0.0 < bt < 1.0 else kinds[2 * bi] if bt <= 0.0 else kinds[2 * bi + 1]
    if kind == FLAT:
        j = 5 * bi
        inside = flat[j + 2] * (lat - flat[j + 1]) - flat[j + 3] * (px - flat[j]) > 0.0
    else:
        inside = kind == REFLEX
    return dist if inside else -dist


def eval_entry(
    entry: CellEntry,
    lat: float,
    lng: float,
    a: float,
    sqrt: Callable[[float], float] = math.sqrt,
    M: type[Match] = Match,
) -> list[Match]:
    """Exact test of one cell's candidates for a fast-path fix (``a <= FAST_ACCURACY_M``).

    The polygon kernel is `eval_poly`, inlined (this is the hot loop).
    """
    half = a * INSIDE_FRACTION
    cos_lat = math.cos(lat * _RAD)
    hc = cos_lat * 0.5
    out: list[Match] = []
    near, far, pnear, pfar = entry
    na = -a
    for crec in near:
        dx = (lng - crec.lng) * (hc + crec.cos_lat * 0.5)
        dy = lat - crec.lat
        d = crec.radius_m - sqrt(dx * dx + dy * dy) * _K
        if d >= na:
            out.append(M(crec.geofence_id, d, INSIDE if d >= half else EDGE))
    wide = a > NEAR_M
    if wide:
        for crec in far:
            dx = (lng - crec.lng) * (hc + crec.cos_lat * 0.5)
            dy = lat - crec.lat
            d = crec.radius_m - sqrt(dx * dx + dy * dy) * _K
            if d >= na:
                out.append(M(crec.geofence_id, d, INSIDE if d >= half else EDGE))
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
            if (
                lat_up < prec.min_lat
                or lat_dn > prec.max_lat
                or lng_up < prec.min_lng
                or lng_dn > prec.max_lng
            ):
                continue
            # -- inlined eval_poly
            c0 = prec.cos_ref
            flat = prec.edges
            px = lng * c0
            g = prec.grid
            fx = (px - prec.grid_x0) * prec.grid_sx
            fy = (lat - prec.grid_y0) * prec.grid_sy
            if 0.0 <= fx < g and 0.0 <= fy < g:
                win = prec.windows
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
            kinds = prec.kinds
            kind = FLAT if 0.0 < bt < 1.0 else kinds[2 * bi] if bt <= 0.0 else kinds[2 * bi + 1]
            if kind == FLAT:
                j = 5 * bi
                inside = flat[j + 2] * (lat - flat[j + 1]) - flat[j + 3] * (px - flat[j]) > 0.0
            else:
                inside = kind == REFLEX
            if not inside:
                if d > a:
                    continue
                d = -d
            out.append(M(prec.geofence_id, d, INSIDE if d >= half else EDGE))
    n = len(out)
    if n == 2:
        m0, m1 = out
        d0 = m0.distance_m
        d1 = m1.distance_m
        if d1 > d0 or (d1 == d0 and m1.geofence_id < m0.geofence_id):
            out.reverse()
    elif n > 2:
        out.sort(key=sort_key)
    return out
