-- A 429/1008 from the service blocks an app until its next window boundary
-- (or its Retry-After). The block lives in Redis for the guard's scripts and
-- here, so that a Redis that lost its state (flushed, restarted, the
-- embedded one of each `tagcast push send`) is blocked again when the guard
-- rebuilds its windows. One row per app: the latest block. Instants are Unix
-- microseconds, as everywhere in the SQLite schema.

-- +goose Up
CREATE TABLE quota_blocks (
    app           TEXT    PRIMARY KEY,
    blocked_until INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- +goose Down
DROP TABLE quota_blocks;
