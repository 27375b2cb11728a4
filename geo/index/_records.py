"""What the index stores and returns: public constants, `Match` and the geofence records.

A record is one geofence converted for the exact kernels; records are shared by every
cell of the geofence's cover. They are msgspec Structs with ``gc=False``. On CPython
3.11 their attribute reads specialise to slot loads, as fast as the tuple indexing they
replaced: on the ``kairos bench geo`` workload (1k and 10k geofences, CPU time, five
alternating runs each) ``match`` and ``match_many`` rates stayed within 3 % of the
tuple version's, either way; ``NamedTuple`` field reads and unpacking take about twice
as long as on plain tuples. The cyclic GC never tracks them (a record holds nothing
that could form a cycle).
"""

from array import array
from typing import Final, Literal, TypeAlias

import msgspec
import numpy as np
from numpy.typing import NDArray

from geo.shapes import Geofence, Shape

__all__ = [
    "CONVEX",
    "DEFAULT_RESOLUTION",
    "EDGE",
    "FAST_ACCURACY_M",
    "FLAT",
    "INSIDE",
    "INSIDE_FRACTION",
    "MAX_ACCURACY_M",
    "NEAR_M",
    "REFLEX",
    "CellEntry",
    "CircleRec",
    "Confidence",
    "FloatArray",
    "Match",
    "PolyRec",
    "PolyTiers",
    "ShapeLike",
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

NEAR_M: Final = 30.0
"""Geofences farther than this from a cell are only checked for less precise fixes."""

INSIDE: Final[Confidence] = "inside"
EDGE: Final[Confidence] = "edge"

# Kind of a polygon vertex, which decides inside/outside when it is the nearest point.
REFLEX: Final = 0
CONVEX: Final = 1
FLAT: Final = 2

FloatArray: TypeAlias = NDArray[np.float64]
ShapeLike: TypeAlias = Shape | Geofence


class Match(msgspec.Struct, frozen=True, gc=False):
    """A geofence matched by a fix.

    Attributes:
        geofence_id: Id the geofence was registered with.
        distance_m: Signed distance from the fix to the geofence edge in metres:
            positive inside, negative outside.
        confidence: ``"inside"`` or ``"edge"`` (see the package docstring).
    """

    geofence_id: str
    distance_m: float
    confidence: Confidence


class CircleRec(msgspec.Struct, frozen=True, gc=False):
    """An exact circle geofence.

    Attributes:
        geofence_id: Id the geofence was registered with.
        lat: Centre latitude in degrees.
        lng: Centre longitude in degrees.
        cos_lat: ``cos`` of the centre latitude.
        radius_m: Radius in metres.
    """

    geofence_id: str
    lat: float
    lng: float
    cos_lat: float
    radius_m: float


class PolyRec(msgspec.Struct, frozen=True, gc=False):
    """A polygon or multipolygon geofence, as flat edge arrays.

    Coordinates are ``x = lng * cos_ref`` and ``y = lat`` (``cos_ref``: cosine of the
    polygon's reference latitude, the middle of its bounding box); pre-scaling x once
    per polygon keeps the hot loop free of per-edge multiplications, and the small
    anisotropy left is removed when the final distance is measured around the fix.

    Polygons with enough edges carry a ``grid`` x ``grid`` sub-grid over their
    bounding box (see `geo.index._build`); then ``edges`` and ``kinds`` hold the edge
    list twice, so that a circular window of it is one slice, and ``windows`` holds
    ``(start, length)`` per sub-cell, row-major. ``grid == 0``: no sub-grid.

    Attributes:
        geofence_id: Id the geofence was registered with.
        cos_ref: Longitude scale of the polygon's frame.
        min_lat: Bounding box, south.
        max_lat: Bounding box, north.
        min_lng: Bounding box, west.
        max_lng: Bounding box, east.
        edges: 5 floats per edge, ``ax, ay, ex, ey, 1 / |e|²`` with ``e = b - a``.
        kinds: Vertex kinds (`REFLEX`, `CONVEX`, `FLAT`) of ``a`` and ``b`` per edge.
        grid_x0: Sub-grid origin, x.
        grid_y0: Sub-grid origin, y.
        grid_sx: Sub-cells per unit of x.
        grid_sy: Sub-cells per unit of y.
        grid: Sub-cells per side, or 0.
        windows: Edge window per sub-cell (empty without a grid).
    """

    geofence_id: str
    cos_ref: float
    min_lat: float
    max_lat: float
    min_lng: float
    max_lng: float
    edges: "array[float]"
    kinds: bytes
    grid_x0: float
    grid_y0: float
    grid_sx: float
    grid_sy: float
    grid: int
    windows: "array[int]"


# Per-cell entry: circles whose lower bound is <= NEAR_M, the other circles, and the
# same split for polygons. Records are shared between cells (8 bytes per reference).
CellEntry: TypeAlias = tuple[
    tuple[CircleRec, ...], tuple[CircleRec, ...], tuple[PolyRec, ...], tuple[PolyRec, ...]
]
# The polygon half of a CellEntry: near and far tiers.
PolyTiers: TypeAlias = tuple[tuple[PolyRec, ...], tuple[PolyRec, ...]]
