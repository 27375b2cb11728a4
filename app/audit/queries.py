"""SQL of the audit log. ``$n`` parameters only."""

from __future__ import annotations

__all__ = ["AUDIT_INSERT", "AUDIT_LIST"]

AUDIT_INSERT = """
INSERT INTO audit_log (actor_sub, actor_role, action, resource_type, resource_id,
                       store_ids, before, after, request_id, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now()))
"""

# $1 before id (keyset), $2 the manager's stores (NULL for admins), $3 store, $4 resource type,
# $5 resource id, $6 limit + 1. Managers see entries that touch only their own stores.
AUDIT_LIST = """
SELECT id, occurred_at, actor_sub, actor_role, action, resource_type, resource_id,
       store_ids, before, after
  FROM audit_log
 WHERE ($1::bigint IS NULL OR id < $1)
   AND ($2::text[] IS NULL OR (cardinality(store_ids) > 0 AND store_ids <@ $2))
   AND ($3::text IS NULL OR store_ids @> ARRAY[$3])
   AND ($4::text IS NULL OR resource_type = $4)
   AND ($5::text IS NULL OR resource_id = $5)
 ORDER BY id DESC
 LIMIT $6
"""
