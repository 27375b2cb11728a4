"""SQL of the campaigns API. ``$n`` parameters only."""

from __future__ import annotations

__all__ = [
    "CAMPAIGN_DELETE",
    "CAMPAIGN_INSERT_NEW",
    "CAMPAIGN_LIST",
    "CAMPAIGN_LOCK",
    "CAMPAIGN_SELECT",
    "CAMPAIGN_STORES_REPLACE",
    "CAMPAIGN_UPDATE",
    "STORES_FOR_SHARE",
]

_CAMPAIGN_ROW = """
    SELECT c.*, COALESCE(
        (SELECT array_agg(cs.store_id::text ORDER BY cs.store_id)
           FROM campaign_stores cs WHERE cs.campaign_id = c.id), '{}'::text[]) AS store_ids
      FROM campaigns c
"""

CAMPAIGN_SELECT = _CAMPAIGN_ROW + " WHERE c.id = $1"

# FOR UPDATE cannot apply to the aggregate: lock the campaign row on its own first.
CAMPAIGN_LOCK = "SELECT version FROM campaigns WHERE id = $1 FOR UPDATE"

# $1 after id, $2 the manager's stores (NULL for admins), $3 store, $4 kind, $5 active?,
# $6 now, $7 limit + 1. Managers see a campaign only when every store it runs in is theirs.
CAMPAIGN_LIST = f"""
SELECT * FROM ({_CAMPAIGN_ROW}) AS c
 WHERE ($1::text IS NULL OR c.id > $1)
   AND ($2::text[] IS NULL OR (cardinality(c.store_ids) > 0 AND c.store_ids <@ $2))
   AND ($3::text IS NULL OR $3 = ANY(c.store_ids) OR c.all_stores)
   AND ($4::text IS NULL OR c.kind = $4)
   AND ($5::boolean IS NULL OR $5 = (c.enabled
        AND (c.active_from IS NULL OR c.active_from <= $6)
        AND (c.active_until IS NULL OR $6 < c.active_until)))
 ORDER BY c.id
 LIMIT $7
"""

_CAMPAIGN_VALUES = """$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
    $18, $19"""

# Insert-first: concurrent first PUTs of one id serialise on the unique index; the loser gets
# no row back and treats the campaign as existing. xmax = 0 only for the inserted row.
CAMPAIGN_INSERT_NEW = f"""
INSERT INTO campaigns (id, name, kind, templates, default_locale, eligibility, margin,
    acceptance_probability, active_from, active_until, cap_per_day, cap_per_week,
    cooldown_seconds, holdout_pct, enabled, all_stores, offer_categories,
    defer_window_seconds, freshness_seconds)
VALUES ($1, {_CAMPAIGN_VALUES})
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

CAMPAIGN_UPDATE = """
UPDATE campaigns
   SET name = $2, kind = $3, templates = $4, default_locale = $5, eligibility = $6,
       margin = $7, acceptance_probability = $8, active_from = $9, active_until = $10,
       cap_per_day = $11, cap_per_week = $12, cooldown_seconds = $13, holdout_pct = $14,
       enabled = $15, all_stores = $16, offer_categories = $17, defer_window_seconds = $18,
       freshness_seconds = $19, version = version + 1, updated_at = now()
 WHERE id = $1
"""

CAMPAIGN_STORES_REPLACE = """
WITH gone AS (
    DELETE FROM campaign_stores WHERE campaign_id = $1 AND NOT (store_id = ANY($2::text[]))
)
INSERT INTO campaign_stores (campaign_id, store_id)
SELECT $1, s FROM unnest($2::text[]) AS s
ON CONFLICT DO NOTHING
"""

# FOR SHARE: a store cannot vanish between this check and the insert of campaign_stores.
STORES_FOR_SHARE = "SELECT id FROM stores WHERE id = ANY($1::text[]) FOR SHARE"

CAMPAIGN_DELETE = "DELETE FROM campaigns WHERE id = $1"
