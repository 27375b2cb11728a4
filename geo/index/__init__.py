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
fixes with an accuracy of at most ``NEAR_M`` (30 m) skip the far tier. Records are
shared by all cells of a geofence: a polygon record holds its edges in one flat
``array('d')`` and its bounding box, and a fix farther than its accuracy from that box
(measured in the same frame as the exact distance) is rejected without scanning
edges. Otherwise the exact kernel finds the nearest edge. Polygons with at least
``_GRID_MIN_EDGES`` edges carry a ``_GRID`` x ``_GRID`` sub-grid over their bounding box
grown by ``_GRID_MARGIN_M``; each sub-cell stores a window (a circular range of the edge
list) holding every edge that can be nearest to *some* point of the sub-cell (a
Lipschitz bound, see `geo.index._build.edge_windows`), and a fix in the sub-grid scans
only its sub-cell's window (~13 edges instead of ~37 on the benchmark); a fix outside
it scans every edge. Either way the nearest edge, hence ``distance_m``, is exact.
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

Layout
------
Private modules, one per layer, each depending only on the ones above it:

* ``_records``: public constants, :class:`Match`, and the ``CircleRec`` / ``PolyRec``
  records (named fields) that cells share;
* ``_kernels``: the exact signed-distance kernels and the per-cell hot loop, which
  holds a deliberate inlined copy of the polygon kernel (property tests keep the two
  equal);
* ``_build``: shapes of a batch converted to records, with the polygons' edge windows;
* ``_snapshot``: the column snapshot of the cell table read by large ``match_many`` batches;
* ``_cover``: each shape's H3 cover, filed by cell and tier (and the batch's snapshot);
* ``_index``: :class:`GeofenceIndex`, its copy-on-write cell table, writers and readers.
"""

from geo.index._index import GeofenceIndex
from geo.index._records import (
    DEFAULT_RESOLUTION,
    FAST_ACCURACY_M,
    INSIDE_FRACTION,
    MAX_ACCURACY_M,
    Confidence,
    Match,
    ShapeLike,
)

__all__ = [
    "DEFAULT_RESOLUTION",
    "FAST_ACCURACY_M",
    "INSIDE_FRACTION",
    "MAX_ACCURACY_M",
    "Confidence",
    "GeofenceIndex",
    "Match",
    "ShapeLike",
]
