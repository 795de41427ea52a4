-- Which worker process (host:pid) made a send's current or last claim, so an
-- operator can tell whose death left a send unknown.

-- +goose Up
ALTER TABLE sends ADD COLUMN claimed_by text NOT NULL DEFAULT '';

-- +goose Down
-- tagcast:expendable sends.claimed_by (without it a worker cannot find its own claim whose answer was lost and leaves it to its lease: that send ends unknown instead of pending, never sent twice; so down may drop it)
ALTER TABLE sends DROP COLUMN claimed_by;
