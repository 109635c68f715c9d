-- HyperLogLog sketches (postgresql-hll) hold visitor sets that can be unioned
-- over any range and any dimension without double counting.
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

-- One row per applied EventBatch, inserted in the same transaction as the
-- batch's rollup deltas: a batch id found here was counted. Not partitioned:
-- a batch id must stay unique whenever its redelivery arrives. Rows older than
-- 7 days are pruned in small chunks by the aggregator.
CREATE TABLE processed_batches (
    batch_id      uuid PRIMARY KEY,
    event_count   integer NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processed_batches_processed_at ON processed_batches (processed_at);

-- The rollups below are range-partitioned by local day; the aggregator creates
-- daily partitions ahead of need and drops whole partitions past retention.

-- Totals per site, local hour and source (web, mobile_web, app). "Today"
-- reads these, so it is fresh as soon as the aggregator commits.
CREATE TABLE hourly_totals (
    site_id    uuid NOT NULL,
    local_day  date NOT NULL,
    local_hour smallint NOT NULL CHECK (local_hour BETWEEN 0 AND 23),
    source     text NOT NULL,
    pageviews  bigint NOT NULL DEFAULT 0,
    events     bigint NOT NULL DEFAULT 0,
    visitors   hll NOT NULL DEFAULT hll_empty(),
    PRIMARY KEY (site_id, local_day, local_hour, source)
) PARTITION BY RANGE (local_day);

-- Per site, local day, source and one dimension value: page, country, device,
-- browser, browser_version, os, referrer, referrer_source, utm_source,
-- utm_medium, utm_campaign, event (custom event name).
CREATE TABLE daily_dimensions (
    site_id    uuid NOT NULL,
    local_day  date NOT NULL,
    dimension  text NOT NULL,
    source     text NOT NULL,
    value      text NOT NULL,
    pageviews  bigint NOT NULL DEFAULT 0,
    events     bigint NOT NULL DEFAULT 0,
    visitors   hll NOT NULL DEFAULT hll_empty(),
    PRIMARY KEY (site_id, local_day, dimension, source, value)
) PARTITION BY RANGE (local_day);

-- Timing histograms per site, local day, source, page and metric (response_ms,
-- ttfb_ms, load_ms). Bucket i counts values v with floor(ln(v + 1) / ln(1.1))
-- = i: about 10% wide, so a percentile read from them is within one bucket.
-- Histograms merge by element-wise addition (analytics_histogram_add).
CREATE TABLE daily_speed (
    site_id    uuid NOT NULL,
    local_day  date NOT NULL,
    metric     text NOT NULL,
    source     text NOT NULL,
    path       text NOT NULL,
    count      bigint NOT NULL,
    sum_ms     bigint NOT NULL,
    histogram  bigint[] NOT NULL,
    PRIMARY KEY (site_id, local_day, metric, source, path)
) PARTITION BY RANGE (local_day);

-- The latest title seen for each page (by event time).
CREATE TABLE page_titles (
    site_id  uuid NOT NULL,
    path     text NOT NULL,
    title    text NOT NULL,
    seen_at  timestamptz NOT NULL,
    PRIMARY KEY (site_id, path)
);

CREATE FUNCTION analytics_histogram_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(coalesce(a[i], 0) + coalesce(b[i], 0) ORDER BY i), '{}')
    FROM generate_series(1, greatest(coalesce(array_length(a, 1), 0), coalesce(array_length(b, 1), 0))) AS i
$$;

-- Sums histograms over rows (any range, any pages).
CREATE AGGREGATE analytics_histogram_sum(bigint[]) (
    SFUNC = analytics_histogram_add,
    STYPE = bigint[],
    INITCOND = '{}'
);
