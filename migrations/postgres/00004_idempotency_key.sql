-- The Idempotency-Key a campaign was created under (POST /v1/campaigns), and
-- the SHA-256 (hex) of what it was created from: the raw request body and
-- its media type. A create retried with the same key (its answer was lost)
-- gets the campaign back instead of creating a second one that fires too;
-- with another body it is refused. A key stays with its campaign for good:
-- cancelling the campaign does not free it. NULL for campaigns created
-- without a key (and before this migration).

-- +goose Up
ALTER TABLE campaigns ADD COLUMN idempotency_key text;
ALTER TABLE campaigns ADD COLUMN request_hash text;
-- One campaign per key; the store's insert names this index's column and
-- predicate in its ON CONFLICT.
CREATE UNIQUE INDEX campaigns_idempotency_key ON campaigns (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP INDEX campaigns_idempotency_key;
ALTER TABLE campaigns DROP COLUMN request_hash;
ALTER TABLE campaigns DROP COLUMN idempotency_key;
