"""The worker's SQL, written as SQL with ``$n`` parameters.

Claiming follows the usual PostgreSQL work-queue pattern: ``FOR UPDATE SKIP LOCKED`` picks
due rows no other worker is holding, and the same statement marks them ``sending`` with a
lease (owner + expiry). A worker that dies leaves its rows ``sending`` with a lease that runs
out; :data:`RECLAIM` puts those back to ``pending`` and another worker sends them, with the
same invite id as idempotency key. Every write of a result is guarded by the lease owner,
so a worker whose lease was taken over cannot overwrite the newer owner's outcome.

Instants (``now``) always come from the worker's injectable clock, never ``now()``.
"""

from __future__ import annotations

__all__ = [
    "CHANNEL",
    "CLAIM",
    "DEACTIVATE_DEVICES",
    "DWELL_DUE",
    "EXPIRE_DUE",
    "INVITE_FACTS",
    "JOB_SLOT",
    "NEXT_DUE",
    "POLICY_SETTINGS",
    "PURGE_LOCATIONS",
    "PURGE_TRACKING",
    "PURGE_WEBHOOK_IDS",
    "QUEUE_STATS",
    "RECLAIM",
    "RECORD_OUTCOMES",
]

CHANNEL = "kairos_invites"
"""NOTIFY channel of new pending invites (migration 0006's statement trigger)."""

RECLAIM = """
UPDATE invites
   SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1,
       last_error = 'lease expired: the worker stopped before recording a result'
 WHERE status = 'sending' AND lease_expires_at <= $1
RETURNING id
"""
"""$1 now. Invites whose worker died mid-send go back to the queue."""

CLAIM = """
WITH due AS (
    SELECT id
      FROM invites
     WHERE status = 'pending' AND due_at <= $1
     ORDER BY due_at
     LIMIT $2
       FOR UPDATE SKIP LOCKED
)
UPDATE invites i
   SET status = 'sending', lease_owner = $3, lease_expires_at = $1 + $4 * interval '1 second',
       attempts = i.attempts + 1, updated_at = $1
  FROM due
 WHERE i.id = due.id
RETURNING i.id, i.attempts, i.due_at, i.created_at, i.lease_expires_at
"""
"""$1 now, $2 batch size, $3 worker id, $4 lease seconds."""

INVITE_FACTS = """
SELECT i.id, i.customer_id, i.store_id, i.campaign_id, i.kind, i.locale, i.title, i.body,
       i.payload, i.send_by, i.attempts, i.created_at,
       d.decided_at,
       s.timezone AS store_timezone, s.country AS store_country, s.region AS store_region,
       s.opening_hours,
       c.consent_marketing, c.consent_location, c.quiet_hours,
       EXISTS (
           SELECT 1
             FROM presence p JOIN geofences g ON g.id = p.geofence_id
            WHERE p.customer_id = i.customer_id AND g.store_id = i.store_id
              AND p.exited_at > d.decided_at
              AND (p.entered_at IS NULL OR p.entered_at <= p.exited_at)
       ) AS left_since_decision,
       CASE i.kind
           WHEN 'offer' THEN EXISTS (
               SELECT 1 FROM purchases pu
                WHERE pu.customer_id = i.customer_id AND pu.occurred_at > d.decided_at)
           WHEN 'moment' THEN EXISTS (
               SELECT 1 FROM purchases pu
                WHERE pu.customer_id = i.customer_id AND pu.occurred_at > d.decided_at
                  AND pu.store_id = i.store_id)
           ELSE false
       END AS purchased_since_decision,
       dev.id AS device_id, dev.platform, dev.token
  FROM invites i
  JOIN decisions d ON d.id = i.decision_id
  JOIN customers c ON c.id = i.customer_id
  LEFT JOIN stores s ON s.id = i.store_id
  LEFT JOIN LATERAL (
      SELECT v.id, v.platform, v.token
        FROM devices v
       WHERE v.customer_id = i.customer_id AND v.active
       ORDER BY (v.id IS NOT DISTINCT FROM i.device_id) DESC, v.last_seen_at DESC, v.id
       LIMIT 1
  ) dev ON true
 WHERE i.id = ANY($1::uuid[])
"""
"""$1 invite ids. The device is the invite's own if still active, else the customer's most
recently seen other active device."""

RECORD_OUTCOMES = """
UPDATE invites i
   SET status = u.status,
       lease_owner = NULL,
       lease_expires_at = NULL,
       attempts = i.attempts + u.attempt_delta,
       next_attempt_at = u.next_attempt_at,
       provider = coalesce(u.provider, i.provider),
       provider_message_id = coalesce(u.provider_message_id, i.provider_message_id),
       last_error = coalesce(u.last_error, i.last_error),
       cancel_reason = u.cancel_reason,
       cancel_message = u.cancel_message,
       sent_device_id = coalesce(u.device_id, i.sent_device_id),
       sent_at = CASE WHEN u.status = 'sent' THEN u.at ELSE i.sent_at END,
       finished_at = CASE WHEN u.status = 'pending' THEN NULL ELSE u.at END,
       updated_at = u.at
  FROM unnest($2::uuid[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::text[],
              $8::text[], $9::text[], $10::text[], $11::uuid[], $12::timestamptz[])
       AS u(id, status, attempt_delta, next_attempt_at, provider, provider_message_id,
            last_error, cancel_reason, cancel_message, device_id, at)
 WHERE i.id = u.id AND i.status = 'sending' AND i.lease_owner = $1
RETURNING i.id
"""
"""$1 worker id; $2.. one array per column of the outcomes, in the same order."""

DEACTIVATE_DEVICES = """
UPDATE devices SET active = false, updated_at = $2
 WHERE id = ANY($1::uuid[]) AND active
"""

NEXT_DUE = """
SELECT least(
    (SELECT min(due_at) FROM invites WHERE status = 'pending'),
    (SELECT min(lease_expires_at) FROM invites WHERE status = 'sending')
)
"""
"""When the queue next has something to do: the first due invite or lease to run out."""

QUEUE_STATS = """
SELECT count(*) FILTER (WHERE due_at <= $1) AS due,
       count(*) FILTER (WHERE due_at > $1) AS deferred,
       min(due_at) FILTER (WHERE due_at <= $1) AS oldest_due
  FROM invites WHERE status = 'pending'
"""

EXPIRE_DUE = """
WITH late AS (
    SELECT id FROM invites
     WHERE send_by <= $1
       AND (status = 'pending' OR (status = 'sending' AND lease_expires_at <= $1))
     ORDER BY send_by
     LIMIT $2
       FOR UPDATE SKIP LOCKED
)
UPDATE invites i
   SET status = 'expired', cancel_reason = 'send_by_passed',
       cancel_message = 'send_by passed before the invite could be sent.',
       lease_owner = NULL, lease_expires_at = NULL, finished_at = $1, updated_at = $1
  FROM late
 WHERE i.id = late.id
RETURNING i.id, i.provider
"""
"""$1 now, $2 batch size."""

DWELL_DUE = """
WITH due AS (
    SELECT p.customer_id, p.geofence_id, g.store_id, p.entered_at, g.dwell_seconds
      FROM presence p JOIN geofences g ON g.id = p.geofence_id
      JOIN customers c ON c.id = p.customer_id
     WHERE p.state = 'inside' AND g.enabled AND g.dwell_seconds > 0
       AND p.entered_at IS NOT NULL
       AND p.entered_at + g.dwell_seconds * interval '1 second' <= $1
       AND (p.exited_at IS NULL OR p.exited_at < p.entered_at)
     ORDER BY p.entered_at
     LIMIT $2
       FOR UPDATE OF p SKIP LOCKED
       FOR NO KEY UPDATE OF c SKIP LOCKED
)
UPDATE presence p
   SET state = 'dwelling', updated_at = $1
  FROM due
 WHERE p.customer_id = due.customer_id AND p.geofence_id = due.geofence_id
RETURNING due.customer_id, due.geofence_id, due.store_id, due.entered_at, due.dwell_seconds
"""
"""$1 now, $2 batch size. Marks each row dwelling in the same statement, so a customer's
dwell is handled once however many workers sweep. The customer is locked too (SKIP LOCKED,
like the row), in the order event ingestion locks them (customer, then presence), so the
dwell decision never deadlocks with a batch of the same customer: a customer whose batch is
being ingested waits for the next sweep."""

PURGE_LOCATIONS = """
WITH old AS (
    SELECT e.id, e.type,
           EXISTS (SELECT 1 FROM decisions d WHERE d.event_id = e.id) AS referenced
      FROM events e
     WHERE e.lat IS NOT NULL AND e.occurred_at < $1
     ORDER BY e.occurred_at
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM events e USING old
     WHERE e.id = old.id AND old.type = 'fix' AND NOT old.referenced
    RETURNING e.id
), scrubbed AS (
    UPDATE events e SET lat = NULL, lng = NULL, accuracy_m = NULL
      FROM old
     WHERE e.id = old.id AND NOT (old.type = 'fix' AND NOT old.referenced)
    RETURNING e.id
)
SELECT (SELECT count(*) FROM deleted) AS deleted, (SELECT count(*) FROM scrubbed) AS scrubbed
"""
"""$1 cut-off instant, $2 batch size. A bare location fix goes; an event a decision rests on
(or a check-in, enter, exit, dwell) stays, without its coordinates."""

PURGE_TRACKING = """
WITH old AS (
    SELECT customer_id FROM customer_tracking
     WHERE fixed_at < $1
     LIMIT $2
       FOR UPDATE SKIP LOCKED
)
UPDATE customer_tracking t SET lat = NULL, lng = NULL, fixed_at = NULL
  FROM old
 WHERE t.customer_id = old.customer_id
"""
"""$1 cut-off instant, $2 batch size. The latest trusted fix kept per customer for the jump
check is a location too: past retention it goes (``presence_at`` stays, it holds no place;
a jump cannot be judged across a gap that long anyway)."""

PURGE_WEBHOOK_IDS = """
DELETE FROM processed_webhooks
 WHERE webhook_id IN (
     SELECT webhook_id FROM processed_webhooks WHERE received_at < $1 LIMIT $2)
"""

JOB_SLOT = """
INSERT INTO worker_job_runs AS r (job, slot, started_at, worker)
VALUES ($1, $2, $3, $4)
ON CONFLICT (job) DO UPDATE
   SET slot = EXCLUDED.slot, started_at = EXCLUDED.started_at, worker = EXCLUDED.worker
 WHERE r.slot < EXCLUDED.slot
RETURNING slot
"""
"""$1 job, $2 period number, $3 now, $4 worker. Returns a row only for the first worker to
reach this period: the job runs once per period however many workers fire it."""

POLICY_SETTINGS = """
SELECT version, settings FROM policy_settings ORDER BY version DESC LIMIT 1
"""
