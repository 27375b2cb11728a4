-- Outbox delivery (issue 14): what the worker needs to claim, lease, retry, cancel and
-- receipt invites. The invites table itself is 0001's; the policy writes its rows.

-- Statuses: pending → sending → sent → delivered → opened | dismissed, or
-- cancelled / expired / failed. The allowed transitions live in app.invites.services.
ALTER TABLE invites DROP CONSTRAINT invites_status_check;
ALTER TABLE invites ADD CONSTRAINT invites_status_check CHECK (
    status IN ('pending', 'sending', 'sent', 'delivered', 'opened', 'dismissed',
               'failed', 'expired', 'cancelled'));

-- A retry waits until next_attempt_at; not_before keeps the decision's own deferral.
-- due_at is the instant a pending invite may next be claimed, kept by PostgreSQL itself so
-- the claim query filters and orders on one indexed column.
ALTER TABLE invites
    ADD COLUMN next_attempt_at  timestamptz,
    ADD COLUMN due_at           timestamptz GENERATED ALWAYS AS (
        greatest(not_before, coalesce(next_attempt_at, not_before))) STORED,
    -- Stable reason code and human sentence of a cancellation or expiry (recheck.py).
    ADD COLUMN cancel_reason    text CHECK (cancel_reason ~ '^[a-z][a-z_]{0,63}$'),
    ADD COLUMN cancel_message   text CHECK (length(cancel_message) <= 500),
    -- The device the invite was (last) addressed to, after falling back from device_id.
    ADD COLUMN sent_device_id   uuid REFERENCES devices (id) ON DELETE SET NULL,
    ADD COLUMN finished_at      timestamptz,
    ADD COLUMN opened_at        timestamptz,
    ADD COLUMN dismissed_at     timestamptz;

-- Claim: pending and due, oldest first. Reclaim: a sending invite whose lease ran out.
DROP INDEX invites_due;
CREATE INDEX invites_claim ON invites (due_at) WHERE status = 'pending';
CREATE INDEX invites_lease ON invites (lease_expires_at) WHERE status = 'sending';
-- Expiry sweep over everything not yet handed to a gateway.
CREATE INDEX invites_open_send_by ON invites (send_by) WHERE status IN ('pending', 'sending');
CREATE INDEX invites_decision_store ON invites (store_id) WHERE status IN ('pending', 'sending');

-- Receipts: every status report about an invite, from a gateway (signed webhook) or the app.
CREATE TABLE invite_receipts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invite_id    uuid NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
    status       text NOT NULL CHECK (status IN ('delivered', 'opened', 'dismissed', 'failed')),
    source       text NOT NULL CHECK (source IN ('gateway', 'app')),
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    webhook_id   text CHECK (length(webhook_id) <= 256),
    detail       text CHECK (length(detail) <= 500),
    applied      boolean NOT NULL              -- false: recorded but refused by the state machine
);
CREATE INDEX invite_receipts_invite ON invite_receipts (invite_id, received_at);

-- Standard Webhooks receipt idempotency: a webhook-id seen once answers the same again.
-- Rows older than the signature tolerance can go: a replay that old is refused anyway.
CREATE TABLE processed_webhooks (
    webhook_id   text PRIMARY KEY CHECK (length(webhook_id) BETWEEN 1 AND 256),
    received_at  timestamptz NOT NULL DEFAULT now(),
    response     jsonb NOT NULL
);
CREATE INDEX processed_webhooks_time ON processed_webhooks (received_at);

-- Workers LISTEN on kairos_invites; the notification is sent on commit, so a worker never
-- wakes for an invite it cannot see yet. One notification per statement (a policy run or a
-- bulk load may insert many rows): how many pending rows, and when the first is due.
CREATE FUNCTION kairos_notify_invites() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    pending_count bigint;
    first_due timestamptz;
BEGIN
    SELECT count(*), min(due_at) INTO pending_count, first_due
      FROM inserted WHERE status = 'pending';
    IF pending_count > 0 THEN
        PERFORM pg_notify('kairos_invites',
            json_build_object('count', pending_count, 'due_at', first_due)::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER invites_notify
    AFTER INSERT ON invites
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION kairos_notify_invites();

-- Raw locations are purged after the retention period in bounded batches, oldest first.
CREATE INDEX events_located_time ON events (occurred_at) WHERE lat IS NOT NULL;

-- Periodic jobs (dwell sweep, expiry, retention) run once per period however many workers
-- schedule them: the first worker to advance a job's slot runs it (under an advisory lock).
CREATE TABLE worker_job_runs (
    job         text PRIMARY KEY CHECK (length(job) BETWEEN 1 AND 64),
    slot        bigint NOT NULL,
    started_at  timestamptz NOT NULL,
    worker      text NOT NULL
);
