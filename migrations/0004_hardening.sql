-- Hostile input and poisoned rows (issue 10).
--
-- 1. Instants the API accepts are years 1970-2200 (app.limits); the columns say so too, so
--    nothing is ever stored as ±infinity or as a year that reads back as a naive datetime.
--    Campaign windows from before this rule that fall outside it meant "open-ended": they
--    become NULL (which means exactly that). Facts keep their rows: their constraints are
--    NOT VALID (enforced for every new or changed row, old rows untouched).
-- 2. Erasure sticks: a tombstone keeps a digest of each erased customer id (never the id), so
--    a replayed delivery, case or purchase cannot bring the customer back.
-- 3. A support case or delivery for an erased customer is kept de-linked, as purchases are.

UPDATE campaigns SET active_from = NULL
 WHERE active_from IS NOT NULL
   AND NOT (active_from >= '1970-01-01 00:00:00+00' AND active_from < '2201-01-01 00:00:00+00');
UPDATE campaigns SET active_until = NULL
 WHERE active_until IS NOT NULL
   AND NOT (active_until >= '1970-01-01 00:00:00+00' AND active_until < '2201-01-01 00:00:00+00');

ALTER TABLE campaigns
    ADD CONSTRAINT campaigns_active_from_range CHECK (
        active_from >= '1970-01-01 00:00:00+00' AND active_from < '2201-01-01 00:00:00+00'),
    ADD CONSTRAINT campaigns_active_until_range CHECK (
        active_until >= '1970-01-01 00:00:00+00' AND active_until < '2201-01-01 00:00:00+00');

ALTER TABLE purchases
    ADD CONSTRAINT purchases_occurred_at_range CHECK (
        occurred_at >= '1970-01-01 00:00:00+00' AND occurred_at < '2201-01-01 00:00:00+00')
        NOT VALID;
ALTER TABLE support_cases
    ADD CONSTRAINT support_cases_opened_at_range CHECK (
        opened_at >= '1970-01-01 00:00:00+00' AND opened_at < '2201-01-01 00:00:00+00')
        NOT VALID,
    ADD CONSTRAINT support_cases_closed_at_range CHECK (
        closed_at >= '1970-01-01 00:00:00+00' AND closed_at < '2201-01-01 00:00:00+00')
        NOT VALID;
ALTER TABLE deliveries
    ADD CONSTRAINT deliveries_promised_at_range CHECK (
        promised_at >= '1970-01-01 00:00:00+00' AND promised_at < '2201-01-01 00:00:00+00')
        NOT VALID,
    ADD CONSTRAINT deliveries_delivered_at_range CHECK (
        delivered_at >= '1970-01-01 00:00:00+00' AND delivered_at < '2201-01-01 00:00:00+00')
        NOT VALID;
ALTER TABLE events
    ADD CONSTRAINT events_occurred_at_range CHECK (
        occurred_at >= '1970-01-01 00:00:00+00' AND occurred_at < '2201-01-01 00:00:00+00')
        NOT VALID;

-- Erasure tombstones: sha256 of the erased id (app.customers.services._privacy).
CREATE TABLE erased_customers (
    id_digest  text PRIMARY KEY CHECK (id_digest ~ '^[0-9a-f]{64}$'),
    erased_at  timestamptz NOT NULL
);

ALTER TABLE support_cases ALTER COLUMN customer_id DROP NOT NULL;

-- Public holidays can differ within a country (GB nations, US states, DE Länder, AU states,
-- CA provinces): the subdivision whose calendar a store follows.
ALTER TABLE stores ADD COLUMN region text CHECK (region ~ '^[A-Z0-9]{1,3}$');
