"""The index: `GeofenceIndex`, its copy-on-write cell table and its readers.

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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, TypeVar

import h3.api.basic_int as h3i
import numpy as np

from geo.distance import METERS_PER_DEGREE
from geo.index._build import Prepared
from geo.index._cover import ABS_SLACK_M, REL_SLACK, cell_rho, place, ring_k
from geo.index._kernels import eval_circle, eval_entry, eval_poly, sort_key
from geo.index._records import (
    DEFAULT_RESOLUTION,
    EDGE,
    FAST_ACCURACY_M,
    INSIDE,
    INSIDE_FRACTION,
    MAX_ACCURACY_M,
    NEAR_M,
    CellEntry,
    CircleRec,
    FloatArray,
    Match,
    PolyRec,
    ShapeLike,
)
from geo.index._snapshot import Snapshot

__all__ = ["GeofenceIndex"]

_K: Final = METERS_PER_DEGREE
_RAD: Final = math.pi / 180.0


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


_R = TypeVar("_R", CircleRec, PolyRec)


def _merge(old: tuple[_R, ...], new: tuple[_R, ...], drop: set[str]) -> tuple[_R, ...]:
    if drop and old:
        old = tuple(r for r in old if r.geofence_id not in drop)
    return old + new if new else old


# Batches of match_many at least this large use the column snapshot.
_VECTOR_MIN: Final = 256


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
        self._cells: dict[int, CellEntry] = {}
        self._covers: dict[str, array[int]] = {}
        self._lock = threading.Lock()
        # Column snapshot of the cell table for match_many, built lazily (under the
        # writer lock) and dropped by every writer.
        self._snap: Snapshot | None = None

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
    ) -> tuple[dict[int, CellEntry], dict[str, array[int]], Snapshot | None]:
        """Compute covers of new shapes, grouped by cell (and their column snapshot)."""
        return place(Prepared(items), self._res, FAST_ACCURACY_M)

    @staticmethod
    def _apply(
        table: dict[int, CellEntry],
        add: dict[int, CellEntry],
        drop: set[str],
        drop_cells: Iterable[int],
    ) -> None:
        """Copy-on-write update of ``table``: remove ``drop`` ids, add ``add`` entries."""
        touched = set(add)
        touched.update(drop_cells)
        empty: CellEntry = ((), (), (), ())
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
            Matches sorted by signed distance descending (see the `geo.index` docstring).

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
        return eval_entry(entry, lat, lng, accuracy_m)

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
        rho = cell_rho(c0)
        reach = (a - FAST_ACCURACY_M) * REL_SLACK + ABS_SLACK_M
        k = ring_k(reach + 2.2 * rho, rho)
        seen_c: dict[str, CircleRec] = {}
        seen_p: dict[str, PolyRec] = {}
        for c in h3i.grid_disk(c0, k):
            entry = cells.get(c)
            if entry is None:
                continue
            for rec in entry[0]:
                seen_c.setdefault(rec.geofence_id, rec)
            for rec in entry[1]:
                seen_c.setdefault(rec.geofence_id, rec)
            for prec in entry[2]:
                seen_p.setdefault(prec.geofence_id, prec)
            for prec in entry[3]:
                seen_p.setdefault(prec.geofence_id, prec)
        cos_lat = math.cos(lat * _RAD)
        out: list[Match] = []
        for gid, rec in seen_c.items():
            d = eval_circle(rec, lat, lng, cos_lat)
            if d >= -a:
                out.append(Match(gid, d, INSIDE if d >= half else EDGE))
        for gid, prec in seen_p.items():
            d = eval_poly(prec, lat, lng, cos_lat)
            if d >= -a:
                out.append(Match(gid, d, INSIDE if d >= half else EDGE))
        out.sort(key=sort_key)
        return out

    def match_many(
        self,
        lats: Sequence[float] | FloatArray,
        lngs: Sequence[float] | FloatArray,
        accuracies: Sequence[float] | FloatArray,
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
            append([] if entry is None else eval_entry(entry, lat, lng, a))
        assert len(out) == n
        return out

    def _snapshot(self, wait: bool = True) -> Snapshot | None:
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
                    snap = self._snap = Snapshot.from_cells(self._cells)
            finally:
                self._lock.release()
        return snap

    def _match_columns(
        self, snap: Snapshot, la: FloatArray, ln: FloatArray, ac: FloatArray
    ) -> list[list[Match]]:
        """Vectorised :meth:`match_many` (same results as :meth:`match`, bit for bit).

        Circles of every (fix, candidate) pair are evaluated with numpy, in the same
        floating-point operations as :func:`eval_entry` (``cos`` comes from ``math``);
        polygons go through :func:`eval_entry`; imprecise fixes through the slow path.
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
            ok = (d >= -pa) & ~(snap.far[cand] & (pa <= NEAR_M))
            sel = np.flatnonzero(ok)
            ins = d[sel] >= pa[sel] * INSIDE_FRACTION
            gids = snap.gid
            M = Match
            for f, g, dd, inside in zip(
                pf[sel].tolist(), r[sel].tolist(), d[sel].tolist(), ins.tolist(), strict=True
            ):
                out[f].append(M(gids[g], dd, INSIDE if inside else EDGE))
            polys = snap.polys
            for f, c in zip(fi.tolist(), ci.tolist(), strict=True):
                pt = polys[c]
                if pt is None:
                    continue
                a = accs[f]
                if pt[0] or a > NEAR_M:
                    extra = eval_entry(((), (), pt[0], pt[1]), lats[f], lngs[f], a)
                    if extra:
                        out[f] += extra
        for f in np.flatnonzero(~fast).tolist():
            out[f] = self._match_wide(lats[f], lngs[f], accs[f])
        for lst in out:
            if len(lst) > 1:
                lst.sort(key=sort_key)
        return out
