-- Kairos core schema (DESIGN.md "Core records").
-- Ids the brand already has (stores, geofences, campaigns, customers, orders, cases) are kept
-- as text matching the documented safe pattern; facts Kairos creates get uuids.
-- All instants are timestamptz. Applied migrations are never edited: add a new file instead.

CREATE DOMAIN brand_id AS text
    CHECK (VALUE ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$');

CREATE DOMAIN latitude AS double precision CHECK (VALUE BETWEEN -90 AND 90);
CREATE DOMAIN longitude AS double precision CHECK (VALUE BETWEEN -180 AND 180);

-- Stores ---------------------------------------------------------------------------------
CREATE TABLE stores (
    id             brand_id PRIMARY KEY,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    lat            latitude NOT NULL,
    lng            longitude NOT NULL,
    timezone       text NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    country        text CHECK (country ~ '^[A-Z]{2}$'),
    opening_hours  text CHECK (length(opening_hours) <= 4000),   -- OSM expression; NULL = unknown
    categories     text[] NOT NULL DEFAULT '{}',
    attributes     jsonb NOT NULL DEFAULT '{}'::jsonb,
    version        bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A geofence is either a GeoJSON Polygon/MultiPolygon or a circle, never both.
CREATE TABLE geofences (
    id             brand_id PRIMARY KEY,
    store_id       brand_id NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    geometry       jsonb,
    center_lat     latitude,
    center_lng     longitude,
    radius_m       double precision CHECK (radius_m BETWEEN 10 AND 10000),
    dwell_seconds  integer NOT NULL DEFAULT 0 CHECK (dwell_seconds BETWEEN 0 AND 86400),
    enabled        boolean NOT NULL DEFAULT true,
    version        bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT geofence_shape_xor CHECK (
        (geometry IS NOT NULL AND center_lat IS NULL AND center_lng IS NULL AND radius_m IS NULL)
        OR (geometry IS NULL AND center_lat IS NOT NULL AND center_lng IS NOT NULL
            AND radius_m IS NOT NULL)
    ),
    CONSTRAINT geofence_geometry_type CHECK (
        geometry IS NULL OR geometry ->> 'type' IN ('Polygon', 'MultiPolygon')
    )
);
CREATE INDEX geofences_store ON geofences (store_id);

-- Campaigns ------------------------------------------------------------------------------
CREATE TABLE campaigns (
    id                      brand_id PRIMARY KEY,
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                    text NOT NULL CHECK (kind IN ('moment', 'offer', 'service')),
    templates               jsonb NOT NULL,          -- {locale: {title, body}}
    default_locale          text NOT NULL,
    eligibility             jsonb NOT NULL DEFAULT '{}'::jsonb,
    margin                  numeric(14, 2) CHECK (margin >= 0),
    acceptance_probability  double precision CHECK (acceptance_probability BETWEEN 0 AND 1),
    active_from             timestamptz,
    active_until            timestamptz,
    cap_per_day             integer CHECK (cap_per_day >= 0),
    cap_per_week            integer CHECK (cap_per_week >= 0),
    cooldown_seconds        integer NOT NULL DEFAULT 0 CHECK (cooldown_seconds >= 0),
    holdout_pct             double precision NOT NULL DEFAULT 0 CHECK (holdout_pct BETWEEN 0 AND 100),
    enabled                 boolean NOT NULL DEFAULT true,
    version                 bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_window CHECK (
        active_from IS NULL OR active_until IS NULL OR active_until > active_from
    ),
    CONSTRAINT campaign_default_template CHECK (templates ? default_locale)
);

-- The stores a campaign runs in; a campaign with no rows here runs in every store
-- (only admins may create those).
CREATE TABLE campaign_stores (
    campaign_id  brand_id NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    store_id     brand_id NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    PRIMARY KEY (campaign_id, store_id)
);
CREATE INDEX campaign_stores_store ON campaign_stores (store_id);

-- Customers and their devices -------------------------------------------------------------
CREATE TABLE customers (
    id                  brand_id PRIMARY KEY,
    locale              text NOT NULL DEFAULT 'en' CHECK (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
    consent_location    boolean NOT NULL DEFAULT false,
    consent_marketing   boolean NOT NULL DEFAULT false,
    consents_updated_at timestamptz,
    quiet_hours         jsonb,                   -- {"start": "22:00", "end": "08:00", "timezone": ...}
    segments            text[] NOT NULL DEFAULT '{}',
    flags               jsonb NOT NULL DEFAULT '{}'::jsonb,
    version             bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   brand_id NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    platform      text NOT NULL CHECK (platform IN ('fcm', 'apns', 'webpush', 'webhook')),
    token         text NOT NULL CHECK (length(token) BETWEEN 1 AND 8192),
    app_version   text CHECK (length(app_version) <= 64),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
-- Push tokens can be long (Web Push subscriptions): uniqueness on a digest.
CREATE UNIQUE INDEX devices_platform_token ON devices (platform, md5(token));
CREATE INDEX devices_customer ON devices (customer_id) WHERE active;

-- Facts from the brand's systems ----------------------------------------------------------
-- Purchases outlive an erased customer for the brand's accounts: customer_id is set NULL.
CREATE TABLE purchases (
    order_id      brand_id PRIMARY KEY,
    customer_id   brand_id REFERENCES customers (id) ON DELETE SET NULL,
    store_id      brand_id REFERENCES stores (id) ON DELETE SET NULL,
    channel       text NOT NULL CHECK (channel IN ('store', 'online')),
    occurred_at   timestamptz NOT NULL,
    currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total         numeric(14, 2) NOT NULL CHECK (total >= 0),
    items         jsonb NOT NULL DEFAULT '[]'::jsonb,
    categories    text[] NOT NULL DEFAULT '{}',
    payload_hash  text NOT NULL,                 -- same order_id, other content => conflict
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purchases_customer_time ON purchases (customer_id, occurred_at DESC);

CREATE TABLE deliveries (
    order_id      brand_id PRIMARY KEY,
    customer_id   brand_id REFERENCES customers (id) ON DELETE CASCADE,
    promised_at   timestamptz NOT NULL,
    delivered_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_customer_time ON deliveries (customer_id, promised_at DESC);

CREATE TABLE support_cases (
    id           brand_id PRIMARY KEY,
    customer_id  brand_id NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('complaint', 'cancellation', 'question')),
    store_id     brand_id REFERENCES stores (id) ON DELETE SET NULL,
    opened_at    timestamptz NOT NULL,
    closed_at    timestamptz,
    summary      text CHECK (length(summary) <= 2000),
    version      bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT case_closed_after_opened CHECK (closed_at IS NULL OR closed_at >= opened_at)
);
CREATE INDEX support_cases_open ON support_cases (customer_id) WHERE closed_at IS NULL;

-- What the app reports ---------------------------------------------------------------------
-- event_id is the client's idempotency key, unique per customer.
CREATE TABLE events (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   brand_id NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    event_id      text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 128),
    type          text NOT NULL CHECK (type IN ('checkin', 'enter', 'exit', 'dwell', 'fix')),
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    lat           latitude,
    lng           longitude,
    accuracy_m    double precision CHECK (accuracy_m >= 0),
    store_id      brand_id REFERENCES stores (id) ON DELETE SET NULL,
    geofence_id   brand_id REFERENCES geofences (id) ON DELETE SET NULL,
    status        text NOT NULL,
    flags         text[] NOT NULL DEFAULT '{}',
    result        jsonb,                         -- the answer given, replayed on a duplicate
    CONSTRAINT events_idempotency UNIQUE (customer_id, event_id),
    CONSTRAINT events_fix_pair CHECK ((lat IS NULL) = (lng IS NULL))
);
CREATE INDEX events_customer_time ON events (customer_id, occurred_at DESC);

CREATE TABLE presence (
    customer_id    brand_id NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    geofence_id    brand_id NOT NULL REFERENCES geofences (id) ON DELETE CASCADE,
    state          text NOT NULL CHECK (state IN ('outside', 'inside', 'dwelling')),
    entered_at     timestamptz,
    last_seen_at   timestamptz NOT NULL,
    exited_at      timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, geofence_id)
);

-- Why every invite was or wasn't sent ------------------------------------------------------
CREATE TABLE decisions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id     brand_id NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    event_id        uuid REFERENCES events (id) ON DELETE CASCADE,
    store_id        brand_id REFERENCES stores (id) ON DELETE SET NULL,
    campaign_id     brand_id REFERENCES campaigns (id) ON DELETE SET NULL,
    decided_at      timestamptz NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('invite', 'suppress', 'holdout')),
    moment          text,
    reasons         jsonb NOT NULL DEFAULT '[]'::jsonb,   -- [{code, message, data}]
    scores          jsonb NOT NULL DEFAULT '{}'::jsonb,
    explanation     text NOT NULL,
    policy_version  text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_store_time ON decisions (store_id, decided_at DESC);
CREATE INDEX decisions_customer_time ON decisions (customer_id, decided_at DESC);

-- The outbox: workers claim due rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE invites (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    decision_id          uuid NOT NULL UNIQUE REFERENCES decisions (id) ON DELETE CASCADE,
    customer_id          brand_id NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    device_id            uuid REFERENCES devices (id) ON DELETE SET NULL,
    store_id             brand_id REFERENCES stores (id) ON DELETE SET NULL,
    campaign_id          brand_id REFERENCES campaigns (id) ON DELETE SET NULL,
    kind                 text NOT NULL CHECK (kind IN ('moment', 'offer', 'service')),
    locale               text NOT NULL,
    title                text NOT NULL,
    body                 text NOT NULL,
    payload              jsonb NOT NULL DEFAULT '{}'::jsonb,
    status               text NOT NULL DEFAULT 'pending' CHECK (
        status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'expired', 'cancelled')),
    attempts             integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    not_before           timestamptz NOT NULL DEFAULT now(),
    send_by              timestamptz NOT NULL,
    lease_owner          text,
    lease_expires_at     timestamptz,
    provider             text,
    provider_message_id  text,
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    sent_at              timestamptz,
    delivered_at         timestamptz,
    CONSTRAINT invite_send_window CHECK (send_by > not_before)
);
CREATE INDEX invites_due ON invites (not_before) WHERE status IN ('pending', 'sending');
CREATE INDEX invites_customer_time ON invites (customer_id, created_at DESC);

-- Audit ------------------------------------------------------------------------------------
CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    actor_sub      text NOT NULL,
    actor_role     text NOT NULL CHECK (actor_role IN ('customer', 'manager', 'integration', 'admin', 'system')),
    action         text NOT NULL CHECK (action IN ('create', 'update', 'delete', 'import', 'export', 'erase')),
    resource_type  text NOT NULL,
    resource_id    text NOT NULL,
    store_ids      text[] NOT NULL DEFAULT '{}',
    before         jsonb,
    after          jsonb,
    request_id     text
);
CREATE INDEX audit_log_time ON audit_log (occurred_at DESC);
CREATE INDEX audit_log_stores ON audit_log USING gin (store_ids);
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id);
