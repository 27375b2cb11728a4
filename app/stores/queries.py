"""SQL of stores and geofences. ``$n`` parameters only.

The PUT services and the bulk importer write through the same two upserts
(:data:`STORE_UPSERT`, :data:`GEOFENCE_UPSERT`): rows go in as one JSON array, identical rows
are left untouched (no new version, no audit entry), and each changed row gets its audit entry
in the same statement with the same before/after image (:data:`STORE_IMAGE`,
:data:`GEOFENCE_IMAGE`: the row without its bookkeeping columns). A column added later is
added here once.
"""

from __future__ import annotations

__all__ = [
    "CAMPAIGNS_OF_STORE_FOR_UPDATE",
    "GEOFENCES_OF_STORE_FOR_UPDATE",
    "GEOFENCE_DELETE",
    "GEOFENCE_IMAGE",
    "GEOFENCE_LIST",
    "GEOFENCE_LOCK",
    "GEOFENCE_OWNERS",
    "GEOFENCE_SELECT",
    "GEOFENCE_UPSERT",
    "STORE_DELETE",
    "STORE_EXISTS",
    "STORE_IMAGE",
    "STORE_LIST",
    "STORE_LOCK",
    "STORE_SELECT",
    "STORE_SHARE",
    "STORE_UPSERT",
]

STORE_COLUMNS = """id, name, lat, lng, timezone, country, region, opening_hours, categories,
    attributes, version, created_at, updated_at"""

GEOFENCE_COLUMNS = """id, store_id, geometry, center_lat, center_lng, radius_m, dwell_seconds,
    enabled, version, created_at, updated_at"""

STORE_IMAGE = "to_jsonb(s) - 'id' - 'version' - 'created_at' - 'updated_at'"
"""The audit image of a store row ``s``: what the brand sets."""

GEOFENCE_IMAGE = "to_jsonb(g) - 'id' - 'store_id' - 'version' - 'created_at' - 'updated_at'"
"""The audit image of a geofence row ``g``."""


def _audited(resource_type: str, store_id: str) -> str:
    """The audit CTE both upserts end with: one entry per written row, in the same statement,
    ``$2``/``$3`` the actor, ``$4`` an action override, ``$5`` the request id."""
    return f"""audited AS (
    INSERT INTO audit_log (actor_sub, actor_role, action, resource_type, resource_id,
                           store_ids, before, after, request_id)
    SELECT $2, $3, coalesce($4, CASE WHEN up.inserted THEN 'create' ELSE 'update' END),
           '{resource_type}', up.id, ARRAY[{store_id}::text],
           CASE WHEN up.inserted THEN NULL ELSE old.image END, up.image, $5
      FROM up LEFT JOIN old ON old.id = up.id
)"""


STORE_SELECT = f"SELECT {STORE_COLUMNS} FROM stores WHERE id = $1"
STORE_LOCK = (
    f"SELECT {STORE_COLUMNS}, {STORE_IMAGE} AS image FROM stores s WHERE id = $1 FOR UPDATE"
)
STORE_SHARE = "SELECT 1 FROM stores WHERE id = $1 FOR SHARE"
STORE_EXISTS = "SELECT EXISTS (SELECT 1 FROM stores WHERE id = $1)"
STORE_DELETE = "DELETE FROM stores WHERE id = $1"

# $1 after id, $2 the manager's stores (NULL for admins), $3 country, $4 category, $5 limit+1
STORE_LIST = f"""
SELECT {STORE_COLUMNS} FROM stores
 WHERE ($1::text IS NULL OR id > $1)
   AND ($2::text[] IS NULL OR id = ANY($2))
   AND ($3::text IS NULL OR country = $3)
   AND ($4::text IS NULL OR categories @> ARRAY[$4])
 ORDER BY id
 LIMIT $5
"""

# $1 rows (JSON array of {id, name, lat, lng, timezone, country, region, opening_hours,
# categories, attributes}), $2 actor sub, $3 actor role, $4 audit action ('import'; NULL:
# create or update by what happened), $5 request id.
# Returns the rows written (inserted or changed), each with ``inserted``; unchanged rows
# are not returned. Concurrent first writes of one id serialise on the primary key: one
# inserts, the other updates (or finds nothing to change).
STORE_UPSERT = f"""
WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(
        id text, name text, lat float8, lng float8, timezone text, country text, region text,
        opening_hours text, categories text[], attributes jsonb)
), old AS (
    SELECT s.id, {STORE_IMAGE} AS image FROM stores s JOIN input USING (id)
), up AS (
    INSERT INTO stores AS s (id, name, lat, lng, timezone, country, region, opening_hours,
                             categories, attributes)
    SELECT id, name, lat, lng, timezone, country, region, opening_hours,
           coalesce(categories, '{{}}'), coalesce(attributes, '{{}}'::jsonb)
      FROM input
    ON CONFLICT (id) DO UPDATE SET
        name = EXCLUDED.name, lat = EXCLUDED.lat, lng = EXCLUDED.lng,
        timezone = EXCLUDED.timezone, country = EXCLUDED.country, region = EXCLUDED.region,
        opening_hours = EXCLUDED.opening_hours, categories = EXCLUDED.categories,
        attributes = EXCLUDED.attributes, version = s.version + 1, updated_at = now()
    WHERE (s.name, s.lat, s.lng, s.timezone, s.country, s.region, s.opening_hours,
           s.categories, s.attributes)
          IS DISTINCT FROM
          (EXCLUDED.name, EXCLUDED.lat, EXCLUDED.lng, EXCLUDED.timezone, EXCLUDED.country,
           EXCLUDED.region, EXCLUDED.opening_hours, EXCLUDED.categories, EXCLUDED.attributes)
    RETURNING {STORE_COLUMNS}, {STORE_IMAGE} AS image, (xmax = 0) AS inserted
), {_audited("store", "up.id")}
SELECT * FROM up
"""

GEOFENCE_SELECT = f"SELECT {GEOFENCE_COLUMNS} FROM geofences WHERE id = $1 AND store_id = $2"
GEOFENCE_LOCK = f"""
SELECT {GEOFENCE_COLUMNS}, {GEOFENCE_IMAGE} AS image FROM geofences g
 WHERE id = $1 FOR UPDATE
"""
GEOFENCE_DELETE = "DELETE FROM geofences WHERE id = $1"
GEOFENCE_OWNERS = "SELECT id, store_id FROM geofences WHERE id = ANY($1::text[])"

# $1 store, $2 after id, $3 enabled filter, $4 limit + 1
GEOFENCE_LIST = f"""
SELECT {GEOFENCE_COLUMNS} FROM geofences
 WHERE store_id = $1 AND ($2::text IS NULL OR id > $2)
   AND ($3::boolean IS NULL OR enabled = $3)
 ORDER BY id
 LIMIT $4
"""

# As STORE_UPSERT. A geofence id belongs to one store for good: a row of another store with
# the same id is left alone and not returned (the caller reports the clash).
GEOFENCE_UPSERT = f"""
WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(
        id text, store_id text, geometry jsonb, center_lat float8, center_lng float8,
        radius_m float8, dwell_seconds int, enabled bool)
), old AS (
    SELECT g.id, {GEOFENCE_IMAGE} AS image FROM geofences g JOIN input USING (id)
), up AS (
    INSERT INTO geofences AS g (id, store_id, geometry, center_lat, center_lng, radius_m,
                                dwell_seconds, enabled)
    SELECT id, store_id, geometry, center_lat, center_lng, radius_m, dwell_seconds, enabled
      FROM input
    ON CONFLICT (id) DO UPDATE SET
        geometry = EXCLUDED.geometry, center_lat = EXCLUDED.center_lat,
        center_lng = EXCLUDED.center_lng, radius_m = EXCLUDED.radius_m,
        dwell_seconds = EXCLUDED.dwell_seconds, enabled = EXCLUDED.enabled,
        version = g.version + 1, updated_at = now()
    WHERE g.store_id = EXCLUDED.store_id
      AND (g.geometry, g.center_lat, g.center_lng, g.radius_m, g.dwell_seconds, g.enabled)
          IS DISTINCT FROM
          (EXCLUDED.geometry, EXCLUDED.center_lat, EXCLUDED.center_lng, EXCLUDED.radius_m,
           EXCLUDED.dwell_seconds, EXCLUDED.enabled)
    RETURNING {GEOFENCE_COLUMNS}, {GEOFENCE_IMAGE} AS image, (xmax = 0) AS inserted
), {_audited("geofence", "up.store_id")}
SELECT * FROM up
"""

# A store delete cascades: these read what goes with it, for the audit log.
GEOFENCES_OF_STORE_FOR_UPDATE = f"""
SELECT g.id, {GEOFENCE_IMAGE} AS image FROM geofences g WHERE store_id = $1 ORDER BY id
   FOR UPDATE
"""
CAMPAIGNS_OF_STORE_FOR_UPDATE = """
SELECT c.id,
       (SELECT array_agg(cs2.store_id::text ORDER BY cs2.store_id)
          FROM campaign_stores cs2 WHERE cs2.campaign_id = c.id) AS store_ids
  FROM campaigns c
 WHERE c.id IN (SELECT campaign_id FROM campaign_stores WHERE store_id = $1)
 ORDER BY c.id
   FOR UPDATE OF c
"""
