-- Each app's App Key, as a SHA-256 hex digest, under the name its
-- processes know it by. The service counts the quota per App Key, but the
-- quota guard's windows, the quota ledger, its blocks and the campaigns
-- know an app by its name: an app renamed in the configuration (same App
-- Key) would start on empty windows and hand its key's quota out again. A
-- process refuses to start while a configured app's App Key is recorded
-- under another name; `tagcast migrate rename-app` renames an app in every
-- table at once.

-- +goose Up
CREATE TABLE app_keys (
    app      text PRIMARY KEY,
    key_hash text NOT NULL UNIQUE CHECK (key_hash <> '')
);

-- +goose Down
-- tagcast:expendable app_keys (recorded again from the configuration at the next start; the older tagcast a rollback is for never reads it)
DROP TABLE app_keys;
