"""Store and geofence operations: validation, scoping, ETags, audit.

Scoping rule (invariant 7): a manager reaches a store only if its id is in the token's
``stores`` claim, and that store's geofences. Anything else answers 404, exactly as if it did
not exist. Admins reach everything.

Writes are idempotent: a ``PUT`` whose content equals what is stored changes nothing — no
new version, no audit entry — so replaying a request or re-importing a file is harmless.
"""

from __future__ import annotations

from app.stores.services._geofence import (
    delete_geofence,
    geofence_json,
    get_geofence,
    list_geofences,
    put_geofence,
)
from app.stores.services._store import (
    delete_store,
    get_store,
    list_stores,
    put_store,
    store_json,
)

__all__ = [
    "delete_geofence",
    "delete_store",
    "geofence_json",
    "get_geofence",
    "get_store",
    "list_geofences",
    "list_stores",
    "put_geofence",
    "put_store",
    "store_json",
]
