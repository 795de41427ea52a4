-- Campaigns, their runs (one per fire) and sends (one /push.json call each),
-- and the quota ledger. Statuses match campaign/status.go and
-- docs/state-machine.md one to one. Times are INTEGER Unix microseconds (UTC);
-- JSON is TEXT.

-- +goose Up
CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    app         text        NOT NULL,
    name        text        NOT NULL,
    push        TEXT        NOT NULL,
    schedule    TEXT        NOT NULL,
    vars        TEXT        NOT NULL DEFAULT '{}',
    status      text        NOT NULL CHECK (status IN ('active', 'paused', 'cancelled', 'done')),
    next_run_at INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- ClaimDue reads only the due rows of this index: O(due), not O(campaigns).
CREATE INDEX campaigns_due ON campaigns (next_run_at) WHERE status = 'active';
CREATE INDEX campaigns_app ON campaigns (app, id);
CREATE INDEX campaigns_status ON campaigns (status, id);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    campaign_id   bigint      NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    app           text        NOT NULL,
    scheduled_for INTEGER NOT NULL,
    status        text        NOT NULL CHECK (status IN ('pending', 'running', 'done', 'partially_failed', 'failed', 'expired', 'cancelled')),
    deliver_by    INTEGER,
    enqueued_at   INTEGER,
    retries       integer     NOT NULL DEFAULT 0,
    error         text        NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    -- a fire exists at most once, whatever the number of schedulers
    UNIQUE (campaign_id, scheduled_for)
);
CREATE INDEX runs_to_enqueue ON runs (id) WHERE status = 'pending' AND enqueued_at IS NULL;
CREATE INDEX runs_open ON runs (id) WHERE status IN ('pending', 'running');

CREATE TABLE sends (
    id              INTEGER PRIMARY KEY,
    run_id          bigint      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    campaign_id     bigint      NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    app             text        NOT NULL,
    idx             integer     NOT NULL,
    body            TEXT        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'in_flight', 'sent', 'retry_wait', 'failed', 'unknown', 'cancelled', 'expired')),
    attempts        integer     NOT NULL DEFAULT 0,
    claim           bigint      NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    claimed_at      INTEGER,
    lease_until     INTEGER,
    sent_at         INTEGER,
    push_id         text        NOT NULL DEFAULT '',
    message_uid     text        NOT NULL DEFAULT '',
    last_code       integer     NOT NULL DEFAULT 0,
    last_message    text        NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (run_id, idx)
);
CREATE INDEX sends_campaign ON sends (campaign_id);
CREATE INDEX sends_stale ON sends (lease_until) WHERE status = 'in_flight';

-- One row per attempt that reached or may have reached the service (sent or
-- unknown). Rows are never updated, so an operator retry keeps the history
-- the quota guard rebuilds its windows from.
-- The quota ledger also counts attempts still in flight: O(in flight).
CREATE INDEX sends_in_flight_app ON sends (app, sent_at) WHERE status = 'in_flight';

CREATE TABLE quota_ledger (
    id      INTEGER PRIMARY KEY,
    -- NULL for a direct push (tagcast push send), which has no send row
    send_id bigint      REFERENCES sends (id) ON DELETE CASCADE,
    claim   bigint,
    app     text        NOT NULL,
    sent_at INTEGER NOT NULL,
    outcome text        NOT NULL CHECK (outcome IN ('sent', 'unknown')),
    UNIQUE (send_id, claim)
);
-- SentBetween reads one app's window: O(window).
CREATE INDEX quota_ledger_app_sent_at ON quota_ledger (app, sent_at);

-- +goose Down
DROP TABLE quota_ledger;
DROP TABLE sends;
DROP TABLE runs;
DROP TABLE campaigns;
