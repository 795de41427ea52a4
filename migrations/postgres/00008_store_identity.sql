-- One row: the store's identity, a random id drawn the first time this step
-- runs. A process on a shared Redis writes it there (key tagcast:store) and
-- refuses to start when the key names another store: two stores on one
-- Redis database would share its quota windows (keyed by app name), its
-- asynq queue and its task ids (run:<id>), and push over quota or drop each
-- other's runs.
--
-- Down keeps the table, on purpose: rolled back and applied again, the step
-- keeps the identity it drew, so the store still matches the mark in its
-- Redis (a new identity would make every process refuse that Redis). Code
-- before this step never reads the table.

-- +goose Up
CREATE TABLE IF NOT EXISTS store_identity (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), -- a single row
    id  text NOT NULL CHECK (id <> '')
);
INSERT INTO store_identity (id)
SELECT replace(gen_random_uuid()::text, '-', '')
WHERE NOT EXISTS (SELECT 1 FROM store_identity);

-- +goose Down
SELECT 1;
