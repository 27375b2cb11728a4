"""Column snapshot: the cell table as read-only numpy columns, for large `match_many` batches.

A snapshot is built with the table by a bulk build (`geo.index._cover.place`), or
lazily from the cell table itself (`Snapshot.from_cells`) after incremental writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from geo.index._records import CellEntry, CircleRec, PolyTiers

__all__ = ["Snapshot"]


class Snapshot:
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
        circles: Sequence[CircleRec],
        polys: list[PolyTiers | None],
    ) -> None:
        self.keys = keys
        self.off = off
        self.rec = rec
        self.far = far
        self.gid = [r.geofence_id for r in circles]
        cols = np.array(
            [(r.lat, r.lng, r.cos_lat, r.radius_m) for r in circles], dtype=np.float64
        ).reshape(-1, 4)
        self.clat = np.ascontiguousarray(cols[:, 0])
        self.clng = np.ascontiguousarray(cols[:, 1])
        self.ccos = np.ascontiguousarray(cols[:, 2])
        self.rad = np.ascontiguousarray(cols[:, 3])
        self.polys = polys

    @classmethod
    def from_cells(cls, cells: dict[int, CellEntry]) -> Snapshot:
        """Snapshot of a cell table (one row per circle reference)."""
        items = sorted(cells.items())
        recs: list[CircleRec] = []
        far: list[bool] = []
        off = [0]
        polys: list[PolyTiers | None] = []
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
