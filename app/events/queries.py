"""The SQL of event ingestion (``$n`` parameters only).

A batch costs, besides BEGIN / COMMIT: :data:`LOCK_CUSTOMER`, :data:`BATCH_STATE` (read
after the lock, so it sees every batch committed before), one
:data:`app.decisions.queries.DECISION_INPUTS` per store the batch triggers decisions at, and
one :data:`WRITE_BATCH` (:data:`WRITE_BATCH_DECIDED` with decisions) with everything: events,
presence, tracking, decisions and invites.
"""

from app.decisions.queries import DECISION_WRITES

__all__ = [
    "BATCH_STATE",
    "INSERT_SWEPT_DWELL",
    "LOCK_CUSTOMER",
    "MARK_INVITED",
    "PRESENCE_INVITED",
    "WRITE_BATCH",
    "WRITE_BATCH_DECIDED",
]

LOCK_CUSTOMER = """
SELECT (SELECT id FROM customers WHERE id = $1 FOR NO KEY UPDATE) AS id,
       set_config('plan_cache_mode', 'force_generic_plan', true) AS plan_cache_mode
"""
"""Serialises everything that changes one customer's presence or decisions: batches of the
same customer, the worker's dwell sweep (which takes the same lock, SKIP LOCKED) and the
policy's loader (``load_decision_inputs(lock_customer=True)``). ``FOR NO KEY UPDATE`` leaves
facts referencing the customer (purchases, events) writable. The id is NULL when there is no
such customer.

It also asks for generic plans for the rest of the transaction: the batch's statements are
the same every time, and PostgreSQL would otherwise plan the state and write statements
afresh on every execution (their generic plans are as good; planning cost more than running
them, 0.8 of 1 ms for the state)."""

BATCH_STATE = """
WITH s AS (SELECT settings FROM policy_settings ORDER BY version DESC LIMIT 1)
SELECT (SELECT (settings ->> 'stale_after_seconds')::double precision FROM s)
           AS stale_after_seconds,
       (SELECT (settings ->> 'max_accuracy_m')::double precision FROM s) AS max_accuracy_m,
       t.lat, t.lng, t.fixed_at, t.presence_at,
       (SELECT array_agg((p.geofence_id::text, p.state, p.entered_at, p.last_seen_at,
                          p.exited_at, p.invited_at))
          FROM presence p
         WHERE p.customer_id = $1 AND (p.state <> 'outside' OR p.geofence_id = ANY($3::text[])))
           AS presence,
       (SELECT array_agg((e.event_id, e.result::text))
          FROM events e
         WHERE e.customer_id = $1 AND e.event_id = ANY($2::text[])) AS seen,
       (SELECT array_agg((z.id::text, z.timezone))
          FROM stores z
         WHERE z.id IN (SELECT unnest($4::text[])
                        UNION
                        SELECT g.store_id
                          FROM presence p JOIN geofences g ON g.id = p.geofence_id
                         WHERE p.customer_id = $1 AND p.state <> 'outside')) AS zones
  FROM (SELECT 1) AS one
  LEFT JOIN customer_tracking t ON t.customer_id = $1
"""
"""$1 customer, $2 the batch's event ids, $3 the geofences its fixes matched, $4 the stores
its triggers may be at (of the geofences matched or claimed, and the stores claimed). The
policy's current stale / accuracy limits, the jump-check fix and presence watermark, the
presence rows that matter (inside somewhere, or near a fix), the events already stored, and
the zone of every store a trigger may be at (those of $4 and those the customer is inside):
a decision's context needs it before it is loaded."""

_WRITE_STATE = """
WITH event_rows AS (
    SELECT * FROM jsonb_to_recordset($3::jsonb) AS x(
        id uuid, event_id text, type text, occurred_at timestamptz, lat float8, lng float8,
        accuracy_m float8, store_id text, geofence_id text, status text, flags text[],
        result jsonb, device_id text, speed_mps float8, claimed_geofence_id text,
        claimed_store_id text, derived_from uuid)
),
ev AS (
    INSERT INTO events (id, customer_id, event_id, type, occurred_at, received_at, lat, lng,
                        accuracy_m, store_id, geofence_id, status, flags, result, device_id,
                        speed_mps, claimed_geofence_id, claimed_store_id, derived_from)
    SELECT x.id, $1, x.event_id, x.type, x.occurred_at, $2, x.lat, x.lng, x.accuracy_m,
           s.id, g.id, x.status, x.flags, x.result, x.device_id, x.speed_mps,
           x.claimed_geofence_id, x.claimed_store_id, x.derived_from
      FROM event_rows x
      LEFT JOIN geofences g ON g.id = x.geofence_id
      LEFT JOIN stores s ON s.id = x.store_id
    ON CONFLICT (customer_id, event_id) DO NOTHING
    RETURNING 1
),
pr AS (
    INSERT INTO presence AS p (customer_id, geofence_id, state, entered_at, last_seen_at,
                               exited_at, invited_at, updated_at)
    SELECT $1, y.geofence_id, y.state, y.entered_at, y.last_seen_at, y.exited_at,
           y.invited_at, $2
      FROM jsonb_to_recordset($4::jsonb) AS y(
               geofence_id text, state text, entered_at timestamptz,
               last_seen_at timestamptz, exited_at timestamptz, invited_at timestamptz)
      JOIN geofences g ON g.id = y.geofence_id
    ON CONFLICT (customer_id, geofence_id) DO UPDATE
       SET state = EXCLUDED.state, entered_at = EXCLUDED.entered_at,
           last_seen_at = EXCLUDED.last_seen_at, exited_at = EXCLUDED.exited_at,
           invited_at = EXCLUDED.invited_at, updated_at = EXCLUDED.updated_at
    RETURNING 1
),
tr AS (
    INSERT INTO customer_tracking AS t (customer_id, lat, lng, fixed_at, presence_at)
    SELECT $1, $5, $6, $7, $8 WHERE $9::boolean
    ON CONFLICT (customer_id) DO UPDATE
       SET lat = EXCLUDED.lat, lng = EXCLUDED.lng, fixed_at = EXCLUDED.fixed_at,
           presence_at = EXCLUDED.presence_at
    RETURNING 1
)"""

WRITE_BATCH = f"""{_WRITE_STATE}
SELECT (SELECT count(*) FROM ev) AS events, (SELECT count(*) FROM pr) AS presence,
       (SELECT count(*) FROM tr) AS tracking
"""
"""$1 customer, $2 now; $3 the event rows (``_EventRow``, as jsonb: the app's events with
their answers, and the rows derived from them); $4 presence rows to write; $5-$8 the
customer's tracking (trusted fix, presence watermark), written when $9. One statement: the
batch's writes happen together. A geofence or store deleted meanwhile is left out (events
keep the report, without the link)."""

WRITE_BATCH_DECIDED = f"""{_WRITE_STATE},
{DECISION_WRITES.format(rows="$10::jsonb", customer="$1")}
SELECT (SELECT count(*) FROM ev) AS events, (SELECT count(*) FROM pr) AS presence,
       (SELECT count(*) FROM tr) AS tracking, (SELECT count(*) FROM decided) AS decisions,
       (SELECT count(*) FROM invited) AS invites
"""
""":data:`WRITE_BATCH` and, $10, the batch's decisions and their invites
(``app.decisions.services.pipeline.DecisionRow``): the decisions' events and the invites'
decisions are checked at the end of the statement. A statement of its own because writing
to ``invites`` at all, even no row, runs its statement trigger (the worker's NOTIFY)."""

PRESENCE_INVITED = """
SELECT invited_at, entered_at FROM presence WHERE customer_id = $1 AND geofence_id = $2
"""

MARK_INVITED = """
UPDATE presence SET invited_at = $3 WHERE customer_id = $1 AND geofence_id = $2
"""

INSERT_SWEPT_DWELL = """
INSERT INTO events (customer_id, event_id, type, occurred_at, received_at, store_id,
                    geofence_id, status)
VALUES ($1, $2, 'dwell', $3, $4, $5, $6, 'swept')
ON CONFLICT (customer_id, event_id) DO NOTHING
RETURNING id
"""
"""The worker's dwell sweep: the dwell as an event (idempotent by its key), $1 customer,
$2 key, $3 when the dwell time was reached, $4 now, $5 store, $6 geofence."""
