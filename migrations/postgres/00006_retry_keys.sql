-- The runs an operator retry re-opened under an Idempotency-Key
-- (POST /v1/campaigns/{id}/retry, POST /v1/runs/{id}/retry): one row a run,
-- written in the transaction that re-opens it. A retry sent again under the
-- same key (its answer was lost, or it stopped part way) re-opens no run a
-- row names, so sends it re-opened that ended unknown again are not pushed a
-- second time, and it answers with what the key re-opened in all.
-- request_hash (SHA-256, hex) identifies the request the key was first used
-- for: the same key for another request is refused. Only runs that were
-- sent before have rows, and runs are deleted only before they fire, so the
-- cascade is for completeness.

-- +goose Up
CREATE TABLE retry_keys (
    idempotency_key text        NOT NULL,
    run_id          bigint      NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    request_hash    text        NOT NULL,
    reset           integer     NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (idempotency_key, run_id)
);

-- +goose Down
DROP TABLE retry_keys;
