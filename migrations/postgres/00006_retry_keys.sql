-- Operator retries under an Idempotency-Key (POST /v1/campaigns/{id}/retry,
-- POST /v1/runs/{id}/retry). retry_requests binds a key to the one request
-- it was first used for (request_hash, SHA-256 in hex, of what is retried);
-- retry_keys has a row for each run a retry re-opened under its key, written
-- in the transaction that re-opens the run. A retry sent again under the
-- same key (its answer was lost, or it stopped part way) re-opens no run a
-- row names, so a send it re-opened that ended unknown again is not pushed a
-- second time; the same key for another request is refused. A key is bound
-- by the transaction that first re-opens a run under it, so two different
-- requests sent at once under one key cannot both re-open runs.

-- +goose Up
CREATE TABLE retry_requests (
    idempotency_key text        PRIMARY KEY,
    request_hash    text        NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE TABLE retry_keys (
    idempotency_key text        NOT NULL REFERENCES retry_requests (idempotency_key) ON DELETE CASCADE,
    run_id          bigint      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    reset           integer     NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (idempotency_key, run_id)
);
-- For the cascade from runs (a pause deletes runs that have not fired).
CREATE INDEX retry_keys_run ON retry_keys (run_id);

-- +goose Down
DROP TABLE retry_keys;
DROP TABLE retry_requests;
