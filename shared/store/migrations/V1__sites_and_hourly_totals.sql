-- HyperLogLog sketches (postgresql-hll) hold visitor sets that can be unioned
-- over any range without double counting.
CREATE EXTENSION IF NOT EXISTS hll;

CREATE TABLE sites (
    id              uuid PRIMARY KEY,
    domain          text NOT NULL UNIQUE,
    -- IANA zone; every local day and hour of this site is computed in it.
    timezone        text NOT NULL,
    -- blake3 of the dashboard API token; the token itself is shown once.
    api_token_hash  bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per delivered EventBatch that has been applied. Inserted in the same
-- transaction as the batch's rollup deltas: a batch id found here was counted.
CREATE TABLE processed_batches (
    batch_id      uuid PRIMARY KEY,
    event_count   integer NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

-- Totals per site, local hour and source. "Today" reads these, so it is fresh
-- as soon as the aggregator commits.
CREATE TABLE hourly_totals (
    site_id    uuid NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    local_day  date NOT NULL,
    local_hour smallint NOT NULL CHECK (local_hour BETWEEN 0 AND 23),
    source     text NOT NULL,
    pageviews  bigint NOT NULL DEFAULT 0,
    events     bigint NOT NULL DEFAULT 0,
    visitors   hll NOT NULL DEFAULT hll_empty(),
    PRIMARY KEY (site_id, local_day, local_hour, source)
);
