"""The SQL of decisions, policy settings and the campaigns a decision weighs, in one place.

Always ``$n`` parameters; the few fragments shared between statements are constants joined
at import time, never caller input.
"""

__all__ = [
    "ACTIVE_CAMPAIGNS",
    "CURRENT_SETTINGS",
    "DECISION_COLUMNS",
    "DECISION_SETUP",
    "DECISION_SETUP_LOCKED",
    "GET_DECISION",
    "INSERT_DECISION_AND_INVITE",
    "INSERT_SETTINGS",
    "LIST_DECISIONS",
    "LOCK_SETTINGS",
    "SETTINGS_VERSION",
]

# jsonb as text: inside an anonymous record asyncpg would hand the codec jsonb's binary form.
_CAMPAIGN_FIELDS = """c.id::text, c.name, c.kind, c.templates::text, c.default_locale,
           c.eligibility::text,
           c.margin, c.acceptance_probability, c.active_from, c.active_until, c.cap_per_day,
           c.cap_per_week, c.cooldown_seconds, c.holdout_pct, c.enabled, c.offer_categories,
           c.defer_window_seconds, c.freshness_seconds, c.version"""

ACTIVE_CAMPAIGNS = f"""
    SELECT {_CAMPAIGN_FIELDS}
      FROM campaigns c
     WHERE c.enabled
       AND (c.active_from IS NULL OR c.active_from <= $2)
       AND (c.active_until IS NULL OR $2 < c.active_until)
       AND (c.all_stores OR EXISTS (SELECT 1 FROM campaign_stores cs
                                     WHERE cs.campaign_id = c.id AND cs.store_id = $1))
     ORDER BY c.id
"""
"""The campaigns running at store $1 at instant $2: every caller, no paging (the policy
weighs them all). Columns in :data:`app.decisions.services.CAMPAIGN_COLUMNS` order."""

_SETUP = """
WITH {lock}
chosen_settings AS (
    SELECT version, settings FROM policy_settings
     WHERE $3::bigint IS NULL OR version = $3
     ORDER BY version DESC LIMIT 1
),
running AS (
    SELECT array_agg(({fields}) ORDER BY c.id) AS campaigns
      FROM ({campaigns}) AS c
)
SELECT s.id::text AS id, s.name, s.timezone, s.country, s.region, s.categories,
       s.opening_hours, s.version, running.campaigns,
       (SELECT version FROM chosen_settings) AS settings_version,
       (SELECT settings FROM chosen_settings) AS settings,
       {locked} AS locked
  FROM stores s, running
 WHERE s.id = $1
"""

# $1 store, $2 at, $3 settings version (NULL: the current one).
DECISION_SETUP = _SETUP.format(
    lock="", fields=_CAMPAIGN_FIELDS, campaigns=ACTIVE_CAMPAIGNS, locked="0"
)
"""The store, the campaigns running there and the policy settings, in one statement."""

# The same, $4 the customer to lock until the end of the caller's transaction. The lock
# serialises decisions for one customer so caps hold under concurrency; FOR NO KEY UPDATE
# leaves the customer's facts (purchases, events: FOR KEY SHARE through their foreign keys)
# free to be written. (A separate statement: read-only transactions refuse the clause.)
DECISION_SETUP_LOCKED = _SETUP.format(
    lock="locked AS (SELECT id FROM customers WHERE id = $4 FOR NO KEY UPDATE),",
    fields=_CAMPAIGN_FIELDS,
    campaigns=ACTIVE_CAMPAIGNS,
    locked="(SELECT count(*) FROM locked)",
)

CURRENT_SETTINGS = """
SELECT version, settings, created_at, created_by
  FROM policy_settings ORDER BY version DESC LIMIT 1
"""

SETTINGS_VERSION = """
SELECT version, settings, created_at, created_by FROM policy_settings WHERE version = $1
"""

# Writers of new versions take this lock first, so two PUTs never pick the same number.
LOCK_SETTINGS = "SELECT pg_advisory_xact_lock(hashtext('kairos:policy_settings'))"

INSERT_SETTINGS = """
INSERT INTO policy_settings (version, settings, created_at, created_by)
VALUES ($1, $2, $3, $4)
RETURNING version, settings, created_at, created_by
"""

# One statement, so the decision and its invite exist together or not at all, even outside
# a transaction. The invite (the outbox row) only for send / defer; created_at is the
# decision's instant, never now(): caps count by it and a simulation clock must hold.
INSERT_DECISION_AND_INVITE = """
WITH d AS (
    INSERT INTO decisions (
        customer_id, event_id, store_id, campaign_id, decided_at, outcome, moment, reasons,
        scores, explanation, policy_version, settings_version, reason_codes, campaign_kind,
        locale, title, body, send_by, not_before, candidates, moments, inputs, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19, $20, $21, $22, $5)
    RETURNING id
),
i AS (
    INSERT INTO invites (decision_id, customer_id, store_id, campaign_id, kind, locale, title,
                         body, payload, status, not_before, send_by, created_at, updated_at)
    SELECT d.id, $1, $3, $4, $14, $15, $16, $17, $23, 'pending', $19, $18, $5, $5
      FROM d
     WHERE $6 IN ('send', 'defer')
    RETURNING id
)
SELECT d.id AS decision_id, (SELECT id FROM i) AS invite_id FROM d
"""

DECISION_COLUMNS = """id, customer_id::text, event_id, store_id::text, campaign_id::text,
       decided_at, outcome, reasons, explanation, policy_version, settings_version,
       reason_codes, campaign_kind, locale, title, body, send_by, not_before, candidates,
       moments, inputs"""

GET_DECISION = f"SELECT {DECISION_COLUMNS} FROM decisions WHERE id = $1"

# $1 visible stores (NULL: all), $2 customer, $3 store, $4 campaign, $5 outcome, $6 reason,
# $7 since (inclusive), $8 until (exclusive), $9/$10 keyset (decided_at, id) of the last
# row of the previous page, $11 limit. Newest first.
LIST_DECISIONS = """
SELECT id, customer_id::text, store_id::text, campaign_id::text, decided_at, outcome,
       reason_codes, reasons, explanation, send_by
  FROM decisions
 WHERE ($1::text[] IS NULL OR store_id = ANY($1))
   AND ($2::text IS NULL OR customer_id = $2)
   AND ($3::text IS NULL OR store_id = $3)
   AND ($4::text IS NULL OR campaign_id = $4)
   AND ($5::text IS NULL OR outcome = $5)
   AND ($6::text IS NULL OR reason_codes @> ARRAY[$6::text])
   AND ($7::timestamptz IS NULL OR decided_at >= $7)
   AND ($8::timestamptz IS NULL OR decided_at < $8)
   AND ($9::timestamptz IS NULL OR (decided_at, id) < ($9, $10::uuid))
 ORDER BY decided_at DESC, id DESC
 LIMIT $11
"""
