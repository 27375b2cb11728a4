"""The SQL of decisions, policy settings and the campaigns a decision weighs, in one place.

Always ``$n`` parameters; the few fragments shared between statements are constants joined
at import time, never caller input.
"""

from app.customers.queries import CONTEXT_SQL

__all__ = [
    "ACTIVE_CAMPAIGNS",
    "CURRENT_SETTINGS",
    "DECISION_COLUMNS",
    "DECISION_INPUTS",
    "DECISION_WRITES",
    "GET_DECISION",
    "INSERT_DECISIONS",
    "INSERT_SETTINGS",
    "LIST_DECISIONS",
    "LOCK_CUSTOMER",
    "LOCK_SETTINGS",
    "SETTINGS_VERSION",
    "STORE_ZONES",
]

# jsonb as text: inside an anonymous record asyncpg would hand the codec jsonb's binary form.
_CAMPAIGN_FIELDS = """c.id::text, c.name, c.kind, c.templates::text, c.default_locale,
           c.eligibility::text,
           c.margin, c.acceptance_probability, c.active_from, c.active_until, c.cap_per_day,
           c.cap_per_week, c.cooldown_seconds, c.holdout_pct, c.enabled, c.offer_categories,
           c.defer_window_seconds, c.freshness_seconds, c.version"""

# A campaign runs at store {store} at instant {at}.
_RUNNING = """c.enabled
       AND (c.active_from IS NULL OR c.active_from <= {at})
       AND (c.active_until IS NULL OR {at} < c.active_until)
       AND (c.all_stores OR EXISTS (SELECT 1 FROM campaign_stores cs
                                     WHERE cs.campaign_id = c.id AND cs.store_id = {store}))"""

ACTIVE_CAMPAIGNS = f"""
    SELECT {_CAMPAIGN_FIELDS}
      FROM campaigns c
     WHERE {_RUNNING.format(store="$1", at="$2")}
     ORDER BY c.id
"""
"""The campaigns running at store $1 at instant $2: every caller, no paging (the policy
weighs them all). Columns in :func:`app.decisions.services.campaign_from_record` order."""

# $1-$12 those of CONTEXT_SQL ($2 the stores; $4 and $11 per store, computed in the zone the
# caller believes the store is in: $14), $13 settings version (NULL: the current one), $15
# stores whose existence the caller asks about.
DECISION_INPUTS = f"""
SELECT s.id::text AS store_id, s.name AS store_name, s.timezone AS store_timezone,
       s.country AS store_country, s.region AS store_region,
       s.categories AS store_categories, s.opening_hours AS store_opening_hours,
       s.version AS store_version, s.timezone = asked.zone AS zone_matches,
       (SELECT array_agg(({_CAMPAIGN_FIELDS}, c.xmin::text) ORDER BY c.id)
          FROM campaigns c
         WHERE {_RUNNING.format(store="s.id", at="$3")}) AS campaigns,
       chosen.version AS settings_version, chosen.settings,
       ARRAY(SELECT k.id::text FROM stores k WHERE k.id = ANY($15::text[])) AS stores_found,
       ctx.*
  FROM unnest($2::text[], $14::text[]) AS asked(store_id, zone)
  JOIN stores s ON s.id = asked.store_id
  JOIN ({CONTEXT_SQL}) AS ctx ON ctx.context_store_id = asked.store_id
  LEFT JOIN LATERAL (
      SELECT version, settings FROM policy_settings
       WHERE $13::bigint IS NULL OR version = $13
       ORDER BY version DESC LIMIT 1
  ) AS chosen ON true
"""
"""Everything decisions at some stores need, in one statement, one row per store that
exists: the store, the campaigns running there (each with its row version, ``xmin``: decoded
campaigns are kept by it), the policy settings, and the customer's context there
(:data:`app.customers.queries.CONTEXT_SQL`). A context's calendar year and local day depend
on the store's zone, which the caller computes them in ($14): ``zone_matches`` is false when
the store is in another one, and the caller asks again."""

STORE_ZONES = "SELECT id::text, timezone FROM stores WHERE id = ANY($1::text[])"

LOCK_CUSTOMER = "SELECT id FROM customers WHERE id = $1 FOR NO KEY UPDATE"
"""The lock that serialises decisions for one customer so caps hold under concurrency, until
the end of the caller's transaction. ``FOR NO KEY UPDATE`` leaves the customer's facts
(purchases, events: ``FOR KEY SHARE`` through their foreign keys) free to be written. A
statement of its own: the context is read after it, so it sees every decision committed by
whoever held the lock before (and read-only transactions refuse the clause)."""

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

# Decisions and their invites (the outbox rows) from one JSON array of rows, ids made by the
# caller: {rows} is that array (jsonb: parsed once, half the work of json's record functions
# on these nested rows), {customer} the customer. The invite only where the row
# names one (send / defer); created_at is the decision's instant, never now(): caps count by
# it and a simulation clock must hold. Shared by INSERT_DECISIONS and the ingest path's one
# write per batch, so both write a decision the same way.
DECISION_WRITES = """
decision_rows AS (
    SELECT * FROM jsonb_to_recordset({rows}) AS x(
        id uuid, event_id uuid, store_id text, campaign_id text, decided_at timestamptz,
        outcome text, moment text, reasons jsonb, scores jsonb, explanation text,
        policy_version text, settings_version bigint, reason_codes text[],
        campaign_kind text, locale text, title text, body text, send_by timestamptz,
        not_before timestamptz, candidates jsonb, moments jsonb, inputs jsonb,
        invite_id uuid, payload jsonb)
),
decided AS (
    INSERT INTO decisions (
        id, customer_id, event_id, store_id, campaign_id, decided_at, outcome, moment,
        reasons, scores, explanation, policy_version, settings_version, reason_codes,
        campaign_kind, locale, title, body, send_by, not_before, candidates, moments, inputs,
        created_at)
    SELECT x.id, {customer}, x.event_id, x.store_id, x.campaign_id, x.decided_at, x.outcome,
           x.moment, x.reasons, x.scores, x.explanation, x.policy_version,
           x.settings_version, x.reason_codes, x.campaign_kind, x.locale, x.title, x.body,
           x.send_by, x.not_before, x.candidates, x.moments, x.inputs, x.decided_at
      FROM decision_rows x
    RETURNING 1
),
invited AS (
    INSERT INTO invites (id, decision_id, customer_id, store_id, campaign_id, kind, locale,
                         title, body, payload, status, not_before, send_by, created_at,
                         updated_at)
    SELECT x.invite_id, x.id, {customer}, x.store_id, x.campaign_id, x.campaign_kind,
           x.locale, x.title, x.body, x.payload, 'pending', x.not_before, x.send_by,
           x.decided_at, x.decided_at
      FROM decision_rows x
     WHERE x.invite_id IS NOT NULL
    RETURNING 1
)"""

INSERT_DECISIONS = f"""
WITH {DECISION_WRITES.format(rows="$2::jsonb", customer="$1")}
SELECT (SELECT count(*) FROM decided) AS decisions, (SELECT count(*) FROM invited) AS invites
"""
"""$1 customer, $2 the decisions (``app.decisions.services.pipeline.DecisionRow``). One
statement, so a decision and its invite exist together or not at all, even outside a
transaction."""

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
