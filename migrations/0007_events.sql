-- Event ingestion from the app (issue 13): what POST /v1/events stores beside 0001's events
-- and presence, jump detection, and the development simulation clock.

-- Events --------------------------------------------------------------------------------
-- event_id stays text: the app's ids are UUIDs (stored in canonical lower-case form, so the
-- same UUID spelled in upper case is the same key), while rows Kairos derives itself carry
-- readable keys ("derived:<client event id>:<change>:<n>", the worker's "sweep:dwell:...").
-- geofence_id / store_id are the server's view; what the device claimed is kept apart.
ALTER TABLE events
    ADD COLUMN device_id            text CHECK (length(device_id) BETWEEN 1 AND 128),
    ADD COLUMN speed_mps            double precision CHECK (speed_mps >= 0),
    ADD COLUMN claimed_geofence_id  text CHECK (length(claimed_geofence_id) BETWEEN 1 AND 128),
    ADD COLUMN claimed_store_id     text CHECK (length(claimed_store_id) BETWEEN 1 AND 128),
    -- A derived enter / exit / dwell: the events.id of the app's report it was derived from.
    ADD COLUMN derived_from         uuid;

-- Presence ------------------------------------------------------------------------------
-- invited_at: when a decision during the current visit sent, deferred or held out an invite
-- (cleared on the next enter): a later trigger in the same visit is "already_inside".
ALTER TABLE presence ADD COLUMN invited_at timestamptz;

-- The dwell sweep scans the rows still inside, oldest entry first.
CREATE INDEX presence_inside ON presence (entered_at) WHERE state = 'inside';

-- Per customer: the latest trusted fix (not mocked, accurate, not stale), for the
-- implied-speed ("jumped") check, and presence_at, the instant of the latest report applied
-- to presence: a report older than that arriving late never moves presence backwards.
CREATE TABLE customer_tracking (
    customer_id  brand_id PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    lat          latitude,
    lng          longitude,
    fixed_at     timestamptz,
    presence_at  timestamptz,
    CONSTRAINT customer_tracking_fix CHECK ((lat IS NULL) = (lng IS NULL)
                                           AND (lat IS NULL) = (fixed_at IS NULL))
);

-- Simulation clock (KAIROS_CLOCK=simulated, development only): one row. Every process
-- computes now = instant + (wall clock - set_at) x speed, so the API and any number of
-- workers share one simulated time.
CREATE TABLE simulation_clock (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    instant  timestamptz NOT NULL
        CHECK (instant >= '1970-01-01 00:00:00+00' AND instant < '2201-01-01 00:00:00+00'),
    speed    double precision NOT NULL CHECK (speed >= 0 AND speed <= 100000),
    set_at   timestamptz NOT NULL
);
