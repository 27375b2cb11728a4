"""The SQL of the customer-context API, in one place.

Always ``$n`` parameters, never string formatting of values. The only composition is
:data:`SUBJECT_AUDIT_FILTER`, a constant shared by the export and the erasure so both agree on
which audit entries are "about" a customer.
"""

from __future__ import annotations

__all__ = [
    "AUDIT_ABOUT_SUBJECT",
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
