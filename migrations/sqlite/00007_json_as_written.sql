-- PostgreSQL's 00007 keeps a campaign's push and vars and a send's body as
-- written (json instead of jsonb). SQLite always kept them as written (TEXT):
-- nothing to change; the step keeps the two dialects' versions in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
