-- The timing brain (issue 12): decisions with their full explanation, the invite outbox
-- fields they fill, versioned policy settings, and what campaigns and customers add to it.

-- Policy settings, versioned: the current settings are the highest version. Version 1 holds
-- the defaults of app.decisions.settings.PolicySettings (a test keeps the two equal).
CREATE TABLE policy_settings (
    version     bigint PRIMARY KEY CHECK (version >= 1),
    settings    jsonb NOT NULL CHECK (jsonb_typeof(settings) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 256)
);
INSERT INTO policy_settings (version, settings, created_by) VALUES (1, '{
    "closing_margin_minutes": 20,
    "quiet_hours_start": "21:00",
    "quiet_hours_end": "08:00",
    "stale_after_seconds": 600,
    "max_accuracy_m": 150.0,
    "spoof_flags": ["jumped", "mocked"],
    "refractory_seconds": {"coffee": 14400},
    "default_refractory_seconds": 86400,
    "substitutes": {},
    "complements": {},
    "store_purchase_window_seconds": 21600,
    "frequency_cap_per_24h": 2,
    "frequency_cap_per_7d": 5,
    "frequency_cap_per_local_day": null,
    "store_cooldown_seconds": 86400,
    "default_freshness_seconds": 1800,
    "goodwill_weight": 5.0,
    "default_acceptance_probability": 0.1,
    "require_customer_locale": false,
    "moments": {
        "absence_days": 365,
        "milestones": [10, 23, 50, 100],
        "high_value_lifetime_value": "1000",
        "high_value_segment": "high_value",
        "delayed_delivery_max_age_days": 90
    }
}'::jsonb, 'migration:0005');

-- Decisions -------------------------------------------------------------------------------
-- The outcomes of the policy. The table is empty in production today: nothing to map.
ALTER TABLE decisions DROP CONSTRAINT decisions_outcome_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_outcome_check
    CHECK (outcome IN ('send', 'suppress', 'defer', 'holdout'));

ALTER TABLE decisions
    -- The settings the policy ran with (replay uses the same version).
    ADD COLUMN settings_version bigint REFERENCES policy_settings (version),
    -- Codes of every reason, the decisive one first: what GET /v1/decisions?reason= matches.
    ADD COLUMN reason_codes    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN campaign_kind   text CHECK (campaign_kind IN ('moment', 'offer', 'service')),
    ADD COLUMN locale          text,
    ADD COLUMN title           text,
    ADD COLUMN body            text,
    ADD COLUMN send_by         timestamptz,
    ADD COLUMN not_before      timestamptz,
    -- Every candidate with its score and why it lost; the moments found.
    ADD COLUMN candidates      jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN moments         jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- The event facts as decided on (and the store / campaign versions), so a replay does
    -- not depend on the events table.
    ADD COLUMN inputs          jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD CONSTRAINT decision_send_window CHECK (
        send_by IS NULL OR not_before IS NULL OR send_by > not_before);

-- GET /v1/decisions filters; newest first with (decided_at, id) as the keyset.
CREATE INDEX decisions_time ON decisions (decided_at DESC, id DESC);
CREATE INDEX decisions_campaign_time ON decisions (campaign_id, decided_at DESC);
CREATE INDEX decisions_outcome_time ON decisions (outcome, decided_at DESC);
CREATE INDEX decisions_reason_codes ON decisions USING gin (reason_codes);
-- ON DELETE CASCADE from events (erasure) wants an index on the referencing column.
CREATE INDEX decisions_event ON decisions (event_id);
-- The context loader counts holdouts like invites for the caps.
CREATE INDEX decisions_holdouts ON decisions (customer_id, decided_at DESC)
    WHERE outcome = 'holdout';

-- Customers: a first name for greetings ({first_name}), optional ---------------------------
ALTER TABLE customers ADD COLUMN first_name text
    CHECK (length(first_name) BETWEEN 1 AND 100);

-- Campaigns: what an offer is about, opt-in defer, freshness -------------------------------
ALTER TABLE campaigns
    -- Item categories the offer is about: satiation (recent purchases) and complements.
    ADD COLUMN offer_categories     text[] NOT NULL DEFAULT '{}',
    -- When set, a closed store that opens within this window defers the invite to the
    -- opening instead of suppressing it.
    ADD COLUMN defer_window_seconds integer CHECK (defer_window_seconds BETWEEN 60 AND 86400),
    -- How long an invite of this campaign stays worth sending (default: the settings').
    ADD COLUMN freshness_seconds    integer CHECK (freshness_seconds BETWEEN 60 AND 604800);
