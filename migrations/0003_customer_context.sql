-- Customer context (issue 7): indexes the context loader, exports and erasures need.
-- No column changes: 0001 already has every table and column the customer context uses.

-- The context loader asks which cases were open at an instant (replayable), not only which
-- are open now; the partial index support_cases_open cannot answer that.
CREATE INDEX support_cases_customer_time ON support_cases (customer_id, opened_at DESC);

-- Visits (app.context.VISIT_EVENT_TYPES at a store) without wading through location fixes:
-- an active app reports many more fixes than visits.
CREATE INDEX events_customer_visits ON events (customer_id, occurred_at DESC)
    WHERE type IN ('checkin', 'enter', 'dwell') AND store_id IS NOT NULL;

-- Exports and erasures touch inactive devices too; devices_customer only covers active ones
-- (and ON DELETE CASCADE from customers wants a full index on the referencing column).
CREATE INDEX devices_customer_all ON devices (customer_id);

-- Audit entries written by a customer (their own consent and device changes), found on export
-- and scrubbed on erasure.
CREATE INDEX audit_log_actor ON audit_log (actor_sub) WHERE actor_role = 'customer';
