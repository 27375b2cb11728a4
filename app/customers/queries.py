"""The SQL of the customer-context API, in one place.

Always ``$n`` parameters, never string formatting of values. The only composition is
:data:`SUBJECT_AUDIT_FILTER`, a constant shared by the export and the erasure so both agree on
which audit entries are "about" a customer.
"""

from __future__ import annotations

__all__ = [
    "AUDIT_ABOUT_SUBJECT",
    "CONTEXT_SQL",
    "CUSTOMER_ERASED",
    "CUSTOMER_INSERT",
    "CUSTOMER_INSERT_DEFAULTS",
    "CUSTOMER_LOCK",
    "CUSTOMER_SELECT",
    "CUSTOMER_UPDATE",
    "DELIVERIES_OF",
    "DELIVERY_INSERT",
    "DELIVERY_LOCK",
    "DELIVERY_UPDATE",
    "DEVICE_DELETE",
    "DEVICE_LIST",
    "DEVICE_PREVIOUS",
    "DEVICE_UPSERT",
    "ERASE_AUDIT_SCRUB",
    "ERASE_DELETES",
    "ERASE_DELIVERIES_DELINK",
    "ERASE_PURCHASES_DELINK",
    "EXPORT_ROWS",
    "PURCHASES_OF",
    "PURCHASE_CUSTOMER_OF",
    "PURCHASE_INSERT",
    "PURCHASE_SELECT",
    "SUBJECT_AUDIT_FILTER",
    "SUBJECT_CASE_IDS",
    "SUBJECT_DEVICE_IDS",
    "SUPPORT_CASES_OF",
    "SUPPORT_CASE_INSERT",
    "SUPPORT_CASE_LOCK",
    "SUPPORT_CASE_UPDATE",
    "TOMBSTONE_INSERT",
]

# Customers ------------------------------------------------------------------------------
_CUSTOMER_COLUMNS = """id, locale, first_name, consent_location, consent_marketing,
    consents_updated_at, quiet_hours, segments, flags, version, created_at, updated_at"""

CUSTOMER_SELECT = f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE id = $1"
CUSTOMER_LOCK = f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE id = $1 FOR UPDATE"

CUSTOMER_INSERT = f"""
INSERT INTO customers (id, locale, consent_location, consent_marketing, consents_updated_at,
                       quiet_hours, segments, flags, first_name)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING
RETURNING {_CUSTOMER_COLUMNS}
"""

# A customer first heard of through a fact (purchase, case, delivery) or a device: no consents.
CUSTOMER_INSERT_DEFAULTS = f"""
INSERT INTO customers (id) VALUES ($1)
ON CONFLICT (id) DO NOTHING
RETURNING {_CUSTOMER_COLUMNS}
"""

CUSTOMER_UPDATE = f"""
UPDATE customers
   SET locale = $2, consent_location = $3, consent_marketing = $4, consents_updated_at = $5,
       quiet_hours = $6, segments = $7, flags = $8, first_name = $9, version = version + 1,
       updated_at = now()
 WHERE id = $1
RETURNING {_CUSTOMER_COLUMNS}
"""

# Erasure tombstones: a digest of each erased id (never the id itself).
CUSTOMER_ERASED = "SELECT EXISTS (SELECT 1 FROM erased_customers WHERE id_digest = $1)"
TOMBSTONE_INSERT = """
INSERT INTO erased_customers (id_digest, erased_at) VALUES ($1, $2)
ON CONFLICT (id_digest) DO NOTHING
"""

# Devices --------------------------------------------------------------------------------
_DEVICE_COLUMNS = """id, customer_id, platform, token, app_version, active, created_at,
    updated_at, last_seen_at"""

DEVICE_PREVIOUS = """
SELECT id, customer_id, app_version, active FROM devices
 WHERE platform = $1 AND md5(token) = md5($2)
   FOR UPDATE
"""

# Tokens identify an install: a token registered to another customer moves to the caller.
DEVICE_UPSERT = f"""
INSERT INTO devices (customer_id, platform, token, app_version)
VALUES ($1, $2, $3, $4)
ON CONFLICT (platform, md5(token)) DO UPDATE
   SET customer_id = EXCLUDED.customer_id, token = EXCLUDED.token,
       app_version = EXCLUDED.app_version, active = true,
       updated_at = now(), last_seen_at = now()
RETURNING {_DEVICE_COLUMNS}
"""

DEVICE_LIST = f"""
SELECT {_DEVICE_COLUMNS} FROM devices WHERE customer_id = $1 ORDER BY created_at, id
"""

DEVICE_DELETE = f"""
DELETE FROM devices WHERE id = $1 AND customer_id = $2 RETURNING {_DEVICE_COLUMNS}
"""

# Purchases ------------------------------------------------------------------------------
_PURCHASE_COLUMNS = """order_id, customer_id, channel, store_id, occurred_at, currency, total,
    items, categories, payload_hash, received_at"""

PURCHASE_SELECT = f"SELECT {_PURCHASE_COLUMNS} FROM purchases WHERE order_id = $1"

PURCHASE_INSERT = f"""
INSERT INTO purchases (order_id, customer_id, channel, store_id, occurred_at, currency, total,
                       items, categories, payload_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (order_id) DO NOTHING
RETURNING {_PURCHASE_COLUMNS}
"""

PURCHASE_CUSTOMER_OF = "SELECT customer_id FROM purchases WHERE order_id = $1"

PURCHASES_OF = f"""
SELECT {_PURCHASE_COLUMNS} FROM purchases WHERE customer_id = $1 ORDER BY occurred_at, order_id
"""

# Support cases --------------------------------------------------------------------------
_CASE_COLUMNS = """id, customer_id, kind, store_id, opened_at, closed_at, summary, version,
    created_at, updated_at"""

SUPPORT_CASE_LOCK = f"SELECT {_CASE_COLUMNS} FROM support_cases WHERE id = $1 FOR UPDATE"

# Insert-first: two concurrent first PUTs of a case serialise on its key; the loser gets
# no row and goes on as for an existing case.
SUPPORT_CASE_INSERT = f"""
INSERT INTO support_cases (id, customer_id, kind, store_id, opened_at, closed_at, summary)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO NOTHING
RETURNING {_CASE_COLUMNS}
"""

SUPPORT_CASE_UPDATE = f"""
UPDATE support_cases
   SET customer_id = $2, kind = $3, store_id = $4, opened_at = $5, closed_at = $6,
       summary = $7, version = version + 1, updated_at = now()
 WHERE id = $1
RETURNING {_CASE_COLUMNS}
"""

# Deliveries -----------------------------------------------------------------------------
_DELIVERY_COLUMNS = "order_id, customer_id, promised_at, delivered_at, created_at, updated_at"

DELIVERY_LOCK = f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE order_id = $1 FOR UPDATE"

DELIVERY_INSERT = f"""
INSERT INTO deliveries (order_id, customer_id, promised_at, delivered_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (order_id) DO NOTHING
RETURNING {_DELIVERY_COLUMNS}
"""

DELIVERY_UPDATE = f"""
UPDATE deliveries
   SET customer_id = $2, promised_at = $3, delivered_at = $4, updated_at = now()
 WHERE order_id = $1
RETURNING {_DELIVERY_COLUMNS}
"""

# Data-subject requests ------------------------------------------------------------------
# Audit entries "about" customer $1: the profile itself, changes the customer made, and
# changes to their devices ($2) and support cases ($3) or whose before/after names them.
SUBJECT_AUDIT_FILTER = """
       (resource_type = 'customer' AND resource_id = $1)
    OR (actor_role = 'customer' AND actor_sub = $1)
    OR (resource_type = 'device' AND resource_id = ANY($2::text[]))
    OR (resource_type = 'support_case' AND resource_id = ANY($3::text[]))
    OR before @> jsonb_build_object('customer_id', $1::text)
    OR after @> jsonb_build_object('customer_id', $1::text)
"""

AUDIT_ABOUT_SUBJECT = f"""
SELECT to_jsonb(a) FROM audit_log a WHERE {SUBJECT_AUDIT_FILTER} ORDER BY id
"""

# Each table's rows for the export, as JSON objects (columns added later come along).
EXPORT_ROWS: dict[str, str] = {
    "events": """SELECT to_jsonb(t) FROM events t WHERE customer_id = $1
                 ORDER BY occurred_at, id""",
    "presence": """SELECT to_jsonb(t) FROM presence t WHERE customer_id = $1
                   ORDER BY geofence_id""",
    "decisions": """SELECT to_jsonb(t) FROM decisions t WHERE customer_id = $1
                    ORDER BY decided_at, id""",
    "invites": """SELECT to_jsonb(t) FROM invites t WHERE customer_id = $1
                  ORDER BY created_at, id""",
}

# Erasure order: children before parents (invites → decisions → events), so each count is
# the table's own rows rather than whatever a cascade took with it.
ERASE_DELETES: dict[str, str] = {
    "invites": "DELETE FROM invites WHERE customer_id = $1",
    "decisions": "DELETE FROM decisions WHERE customer_id = $1",
    "presence": "DELETE FROM presence WHERE customer_id = $1",
    "events": "DELETE FROM events WHERE customer_id = $1",
    "devices": "DELETE FROM devices WHERE customer_id = $1",
    "support_cases": "DELETE FROM support_cases WHERE customer_id = $1",
    "customers": "DELETE FROM customers WHERE id = $1",
}

# Orders and their deliveries stay for the brand's accounts, without the customer.
ERASE_PURCHASES_DELINK = "UPDATE purchases SET customer_id = NULL WHERE customer_id = $1"
ERASE_DELIVERIES_DELINK = "UPDATE deliveries SET customer_id = NULL WHERE customer_id = $1"

DELIVERIES_OF = f"""
SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE customer_id = $1 ORDER BY promised_at
"""
SUPPORT_CASES_OF = f"""
SELECT {_CASE_COLUMNS} FROM support_cases WHERE customer_id = $1 ORDER BY opened_at
"""
SUBJECT_DEVICE_IDS = "SELECT id::text AS id FROM devices WHERE customer_id = $1"
SUBJECT_CASE_IDS = "SELECT id FROM support_cases WHERE customer_id = $1"

# De-identify, don't delete: the trail of who changed what, when, stays; whose it was goes.
# $4 is the erasure's random reference. Staff and system actors keep their names.
ERASE_AUDIT_SCRUB = f"""
UPDATE audit_log
   SET actor_sub = CASE WHEN actor_role = 'customer' AND actor_sub = $1 THEN $4
                        ELSE actor_sub END,
       resource_id = CASE WHEN resource_type IN ('customer', 'device', 'support_case') THEN $4
                          ELSE resource_id END,
       before = NULL,
       after = NULL
 WHERE {SUBJECT_AUDIT_FILTER}
"""


# The customer context loader (app.context.load_context): one statement of CTEs, one row per
# store asked about (what does not depend on the store is computed once for all of them).
# $1 customer, $2 stores, $3 at, $4 start of the calendar year (per store, in its zone),
# $5 start of the 7-day cap window, $6 order to leave out, $7 event to leave out, $8 cap
# statuses, $9 start of the invite look-back, $10 start of the 24-hour window, $11 local
# midnight (per store, in its zone), $12 decision to leave out. The visit types are spelled
# out (VISIT_EVENT_TYPES) so the partial index events_customer_visits (0003) matches; holdouts
# use decisions_holdouts (0005).
CONTEXT_SQL = """
WITH
st AS (
    SELECT * FROM unnest($2::text[], $4::timestamptz[], $11::timestamptz[])
                  AS st(store_id, year_start, day_start)
),
profile AS (
    SELECT locale, first_name, consent_location, consent_marketing, quiet_hours, segments, flags
      FROM customers WHERE id = $1
),
p AS MATERIALIZED (
    SELECT order_id, occurred_at, channel, store_id, currency, total, categories
      FROM purchases
     WHERE customer_id = $1 AND occurred_at <= $3 AND order_id IS DISTINCT FROM $6
),
p_stats AS (
    SELECT count(*) AS orders_total,
           min(occurred_at) AS first_order_at,
           max(occurred_at) AS last_order_at,
           min(occurred_at) FILTER (WHERE channel = 'store') AS first_store_order_at,
           max(occurred_at) FILTER (WHERE channel = 'store') AS last_store_order_at
      FROM p
),
ltv AS (
    SELECT array_agg((currency, amount) ORDER BY currency) AS by_currency
      FROM (SELECT currency, sum(total) AS amount FROM p GROUP BY currency) t
),
last_p AS (
    SELECT (order_id::text, occurred_at, channel, store_id::text, currency, total, categories)
           AS fact
      FROM p ORDER BY occurred_at DESC, order_id DESC LIMIT 1
),
by_category AS (
    SELECT array_agg((category, last_at) ORDER BY category) AS last_at
      FROM (SELECT c AS category, max(p.occurred_at) AS last_at
              FROM p, unnest(p.categories) AS c GROUP BY c) t
),
v AS MATERIALIZED (
    SELECT occurred_at, store_id
      FROM events
     WHERE customer_id = $1 AND occurred_at <= $3
       AND type IN ('checkin', 'enter', 'dwell') AND store_id IS NOT NULL
       AND id IS DISTINCT FROM $7
),
v_stats AS (
    SELECT min(occurred_at) AS first_at, max(occurred_at) AS last_at FROM v
),
cases AS (
    SELECT array_agg((id::text, kind, opened_at, store_id::text) ORDER BY opened_at, id)
               AS open_cases
      FROM support_cases
     WHERE customer_id = $1 AND opened_at <= $3 AND (closed_at IS NULL OR closed_at > $3)
),
d AS (
    SELECT order_id, promised_at,
           CASE WHEN delivered_at <= $3 THEN delivered_at END AS delivered_at
      FROM deliveries
     WHERE customer_id = $1 AND (promised_at <= $3 OR delivered_at <= $3)
     ORDER BY promised_at DESC, order_id DESC LIMIT 1
),
dev AS (
    SELECT array_agg((id, platform, app_version) ORDER BY created_at, id) AS active
      FROM devices WHERE customer_id = $1 AND active
),
inv AS MATERIALIZED (
    SELECT campaign_id, store_id, created_at AS at
      FROM invites
     WHERE customer_id = $1 AND status = ANY($8::text[])
       AND created_at > $9 AND created_at <= $3 AND decision_id IS DISTINCT FROM $12
    UNION ALL
    SELECT campaign_id, store_id, decided_at
      FROM decisions
     WHERE customer_id = $1 AND outcome = 'holdout'
       AND decided_at > $9 AND decided_at <= $3 AND id IS DISTINCT FROM $12
),
inv_stats AS (
    SELECT count(*) FILTER (WHERE at > $5)::int AS total_7d,
           count(*) FILTER (WHERE at > $10)::int AS total_24h
      FROM inv
),
inv_campaigns AS (
    SELECT array_agg((campaign_id::text, n_7d, n_24h, last_at) ORDER BY campaign_id)
               AS by_campaign
      FROM (SELECT campaign_id,
                   count(*) FILTER (WHERE at > $5)::int AS n_7d,
                   count(*) FILTER (WHERE at > $10)::int AS n_24h,
                   max(at) AS last_at
              FROM inv WHERE campaign_id IS NOT NULL GROUP BY campaign_id) t
)
SELECT st.store_id AS context_store_id,
       profile.*,
       (SELECT count(*) FROM profile) > 0 AS known,
       p_stats.*,
       (SELECT count(*) FROM p WHERE p.occurred_at >= st.year_start) AS orders_this_year,
       (SELECT count(*) FROM p WHERE p.store_id = st.store_id) AS orders_at_store,
       (SELECT max(p.occurred_at) FROM p WHERE p.channel = 'store' AND p.store_id = st.store_id)
           AS last_order_at_store,
       ltv.by_currency,
       (SELECT fact FROM last_p) AS last_purchase,
       (SELECT (order_id::text, occurred_at, channel, store_id::text, currency, total,
                categories)
          FROM p WHERE p.store_id = st.store_id
         ORDER BY occurred_at DESC, order_id DESC LIMIT 1) AS last_purchase_at_store,
       by_category.last_at AS by_category,
       v_stats.first_at AS first_visit_event_at, v_stats.last_at AS last_visit_event_at,
       (SELECT max(v.occurred_at) FROM v WHERE v.store_id = st.store_id)
           AS last_visit_event_at_store,
       cases.open_cases,
       d.order_id::text AS delivery_order_id, d.promised_at AS delivery_promised_at,
       d.delivered_at AS delivery_delivered_at,
       (EXISTS (SELECT 1 FROM v WHERE v.occurred_at > d.promised_at)
        OR EXISTS (SELECT 1 FROM p WHERE p.occurred_at > d.promised_at))
           AS delivery_followed,
       dev.active AS devices,
       inv_stats.total_7d AS invites_7d, inv_stats.total_24h AS invites_24h,
       (SELECT count(*)::int FROM inv WHERE inv.at >= st.day_start) AS invites_today,
       (SELECT max(inv.at) FROM inv WHERE inv.store_id = st.store_id) AS last_invite_at_store,
       inv_campaigns.by_campaign AS invites_by_campaign
  FROM st, p_stats, ltv, by_category, v_stats, cases, dev, inv_stats, inv_campaigns
  LEFT JOIN profile ON true
  LEFT JOIN d ON true
"""
