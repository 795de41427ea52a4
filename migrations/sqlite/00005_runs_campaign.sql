-- The runs of one campaign in id order: GET /v1/campaigns/{id} pages them
-- newest first (runs_before, runs_limit), and `campaign retry` walks them
-- oldest first, without reading every other campaign's runs.

-- +goose Up
CREATE INDEX runs_campaign ON runs (campaign_id, id);

-- +goose Down
DROP INDEX runs_campaign;
