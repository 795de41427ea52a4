-- A campaign's push and vars and a send's body kept as written: json keeps
-- the text it is given, where jsonb rewrote every number in its canonical
-- form (1E+2 became 100, 1e308 a 309-digit integer). The numbers of a push's
-- extras reached the app as other text than on SQLite and than what was
-- validated at creation, and a body validated under the service's 1 MiB
-- could be over it at its fire. tagcast never queries inside these columns,
-- so jsonb's indexable form bought nothing. Rows written before this
-- migration keep the text jsonb gave them.
--
-- Changing a column's type rewrites its table under an exclusive lock:
-- processes of the older version wait while it runs. On a large sends table
-- run `tagcast migrate up` at a quiet time, before starting the new version.

-- +goose Up
ALTER TABLE campaigns
    ALTER COLUMN push TYPE json USING push::json,
    ALTER COLUMN vars TYPE json USING vars::json,
    ALTER COLUMN vars SET DEFAULT '{}'::json;
ALTER TABLE sends ALTER COLUMN body TYPE json USING body::json;

-- +goose Down
ALTER TABLE sends ALTER COLUMN body TYPE jsonb USING body::jsonb;
ALTER TABLE campaigns
    ALTER COLUMN push TYPE jsonb USING push::jsonb,
    ALTER COLUMN vars TYPE jsonb USING vars::jsonb,
    ALTER COLUMN vars SET DEFAULT '{}'::jsonb;
