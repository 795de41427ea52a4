-- Which worker process (host:pid) made a send's current or last claim, so an
-- operator can tell whose death left a send unknown.

-- +goose Up
ALTER TABLE sends ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';

-- +goose Down
-- tagcast:expendable sends.claimed_by (a diagnostic only: no claim depends on it, so down may drop it)
ALTER TABLE sends DROP COLUMN claimed_by;
