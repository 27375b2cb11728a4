"""The SQL of event ingestion (``$n`` parameters only).

A batch costs, besides BEGIN / COMMIT: :data:`LOCK_CUSTOMER`, :data:`BATCH_STATE` (read
after the lock, so it sees every batch committed before), and :data:`WRITE_BATCH`, once
when no event triggers a decision, else twice (the events before the decisions, presence and
answers after), plus the policy's own round trips per decision.
"""

__all__ = [
    "BATCH_STATE",
    "INSERT_SWEPT_DWELL",
    "LOCK_CUSTOMER",
    "MARK_INVITED",
    "PRESENCE_INVITED",
    "WRITE_BATCH",
]

LOCK_CUSTOMER = """
SELECT id FROM customers WHERE id = $1 FOR NO KEY UPDATE
"""
"""Serialises everything that changes one customer's presence or decisions: batches of the
same customer, the worker's dwell sweep (which takes the same lock, SKIP LOCKED) and the
policy (``load_decision_inputs(lock_customer=True)`` takes it again, a no-op by then).
``FOR NO KEY UPDATE`` leaves facts referencing the customer (purchases, events) writable."""

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
         WHERE e.customer_id = $1 AND e.event_id = ANY($2::text[])) AS seen
  FROM (SELECT 1) AS one
  LEFT JOIN customer_tracking t ON t.customer_id = $1
"""
"""$1 customer, $2 the batch's event ids, $3 the geofences its fixes matched. The policy's
current stale / accuracy limits, the jump-check fix and presence watermark, the presence
rows that matter (inside somewhere, or near a fix) and the events already stored."""

WRITE_BATCH = """
WITH ev AS (
    INSERT INTO events (id, customer_id, event_id, type, occurred_at, received_at, lat, lng,
                        accuracy_m, store_id, geofence_id, status, flags, result, device_id,
                        speed_mps, claimed_geofence_id, claimed_store_id, derived_from)
    SELECT x.id, $1, x.event_id, x.type, x.occurred_at, $2, x.lat, x.lng, x.accuracy_m,
           s.id, g.id, x.status,
           coalesce(string_to_array(nullif(x.flags, ''), ','), '{}'::text[]),
           x.result::jsonb, x.device_id, x.speed_mps, x.claimed_geofence_id,
           x.claimed_store_id, x.derived_from
      FROM unnest($3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::float8[],
                  $8::float8[], $9::float8[], $10::text[], $11::text[], $12::text[],
                  $13::text[], $14::text[], $15::text[], $16::float8[], $17::text[],
                  $18::text[], $19::uuid[])
           AS x(id, event_id, type, occurred_at, lat, lng, accuracy_m, store_id, geofence_id,
                status, flags, result, device_id, speed_mps, claimed_geofence_id,
                claimed_store_id, derived_from)
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
      FROM unnest($20::text[], $21::text[], $22::timestamptz[], $23::timestamptz[],
                  $24::timestamptz[], $25::timestamptz[])
           AS y(geofence_id, state, entered_at, last_seen_at, exited_at, invited_at)
      JOIN geofences g ON g.id = y.geofence_id
    ON CONFLICT (customer_id, geofence_id) DO UPDATE
       SET state = EXCLUDED.state, entered_at = EXCLUDED.entered_at,
           last_seen_at = EXCLUDED.last_seen_at, exited_at = EXCLUDED.exited_at,
           invited_at = EXCLUDED.invited_at, updated_at = EXCLUDED.updated_at
    RETURNING 1
),
tr AS (
    INSERT INTO customer_tracking AS t (customer_id, lat, lng, fixed_at, presence_at)
    SELECT $1, $26, $27, $28, $29 WHERE $30::boolean
    ON CONFLICT (customer_id) DO UPDATE
       SET lat = EXCLUDED.lat, lng = EXCLUDED.lng, fixed_at = EXCLUDED.fixed_at,
           presence_at = EXCLUDED.presence_at
    RETURNING 1
),
answers AS (
    UPDATE events e SET result = z.result::jsonb
      FROM unnest($31::uuid[], $32::text[]) AS z(id, result)
     WHERE e.id = z.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM ev) AS events, (SELECT count(*) FROM pr) AS presence,
       (SELECT count(*) FROM tr) AS tracking, (SELECT count(*) FROM answers) AS answers
"""
"""$1 customer, $2 now; $3-$19 the event rows (columns in order; flags comma-joined, the
answer as JSON text); $20-$25 presence rows to write; $26-$29 the customer's tracking
(trusted fix, presence watermark), written when $30; $31-$32 answers of events stored by an
earlier call of this statement in the same batch (their decisions came after). A geofence or
store deleted meanwhile is left out (events keep the report, without the link)."""

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
