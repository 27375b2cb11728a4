"""SQL of the invites area (``$n`` parameters)."""

from __future__ import annotations

__all__ = [
    "APPLY_STATUS",
    "CLAIM_WEBHOOK",
    "INSERT_RECEIPT",
    "INVITE_OWNER",
    "LOCK_INVITE",
    "MY_INVITES",
    "PROCESSED_WEBHOOK",
    "REMEMBER_WEBHOOK",
]

LOCK_INVITE = """
SELECT id, status, attempts FROM invites WHERE id = $1 FOR UPDATE
"""

APPLY_STATUS = """
UPDATE invites
   SET status = $2,
       lease_owner = NULL,
       lease_expires_at = NULL,
       sent_at = coalesce(sent_at, $3),
       delivered_at = CASE WHEN $2 = 'delivered' THEN $3 ELSE delivered_at END,
       opened_at = CASE WHEN $2 = 'opened' THEN $3 ELSE opened_at END,
       dismissed_at = CASE WHEN $2 = 'dismissed' THEN $3 ELSE dismissed_at END,
       last_error = CASE WHEN $2 = 'failed'
                         THEN coalesce($5, 'the gateway reported a failed delivery')
                         ELSE last_error END,
       finished_at = coalesce(finished_at, $4),
       updated_at = $4
 WHERE id = $1
"""
"""$1 id, $2 new status, $3 when it happened, $4 now, $5 detail."""

INSERT_RECEIPT = """
INSERT INTO invite_receipts (invite_id, status, source, occurred_at, received_at, webhook_id,
                             detail, applied)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""

PROCESSED_WEBHOOK = """
SELECT response FROM processed_webhooks WHERE webhook_id = $1
"""

CLAIM_WEBHOOK = """
INSERT INTO processed_webhooks (webhook_id, received_at, response) VALUES ($1, $2, '{}')
ON CONFLICT (webhook_id) DO NOTHING
RETURNING webhook_id
"""
"""Taken first in the receipt's transaction: a concurrent duplicate waits for it, then reads
the stored answer."""

REMEMBER_WEBHOOK = """
UPDATE processed_webhooks SET response = $2 WHERE webhook_id = $1
"""

MY_INVITES = """
SELECT id, status, store_id::text, campaign_id::text, kind, locale, title, body, created_at,
       not_before, send_by, sent_at, delivered_at, opened_at, dismissed_at
  FROM invites
 WHERE customer_id = $1
   AND ($2::text IS NULL OR status = $2)
   AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT $5
"""
"""$1 customer, $2 status (NULL: any), $3/$4 keyset (created_at, id) of the last row of the
previous page, $5 limit. Newest first (invites_customer_time)."""

INVITE_OWNER = """
SELECT customer_id::text FROM invites WHERE id = $1
"""
