-- Coarser copies of the rollups, written by the aggregator in the same transaction
-- as the fine ones, so the dashboard reads few rows for long ranges.

-- Totals per site, local day and source: what the dashboard reads for every
-- range (overview, chart), a few rows a day instead of 24 per source. Not
-- partitioned, so a year-long range plans and scans one small table. The
-- aggregator writes it in the same transaction as hourly_totals.
CREATE TABLE daily_totals (
    site_id   uuid NOT NULL,
    local_day date NOT NULL,
    source    text NOT NULL,
    pageviews bigint NOT NULL DEFAULT 0,
    events    bigint NOT NULL DEFAULT 0,
    visitors  hll NOT NULL DEFAULT hll_empty(),
    PRIMARY KEY (site_id, local_day, source)
);

-- Days counted before this table existed.
INSERT INTO daily_totals (site_id, local_day, source, pageviews, events, visitors)
SELECT site_id, local_day, source, sum(pageviews), sum(events), hll_union_agg(visitors)
FROM hourly_totals
GROUP BY site_id, local_day, source;

-- Page speed of the whole site per local day, metric and source: the site's
-- figures without summing every page's histogram (daily_speed keeps those).
CREATE TABLE daily_site_speed (
    site_id    uuid NOT NULL,
    local_day  date NOT NULL,
    metric     text NOT NULL,
    source     text NOT NULL,
    count      bigint NOT NULL,
    sum_ms     bigint NOT NULL,
    histogram  bigint[] NOT NULL,
    PRIMARY KEY (site_id, local_day, metric, source)
);

INSERT INTO daily_site_speed (site_id, local_day, metric, source, count, sum_ms, histogram)
SELECT site_id, local_day, metric, source, sum(count), sum(sum_ms), analytics_histogram_sum(histogram)
FROM daily_speed
GROUP BY site_id, local_day, metric, source;

-- daily_dimensions summed per calendar month (`month` is its first day): a
-- range of whole months reads 12 rows a value for a year instead of 365, and
-- daily rows only for the days before and after them. Not partitioned; rows
-- of months past retention are deleted by maintenance.
CREATE TABLE monthly_dimensions (
    site_id    uuid NOT NULL,
    dimension  text NOT NULL,
    month      date NOT NULL,
    source     text NOT NULL,
    value      text NOT NULL,
    pageviews  bigint NOT NULL DEFAULT 0,
    events     bigint NOT NULL DEFAULT 0,
    visitors   hll NOT NULL DEFAULT hll_empty(),
    PRIMARY KEY (site_id, dimension, month, source, value)
);

INSERT INTO monthly_dimensions (site_id, dimension, month, source, value, pageviews, events, visitors)
SELECT site_id, dimension, date_trunc('month', local_day)::date, source, value,
       sum(pageviews), sum(events), hll_union_agg(visitors)
FROM daily_dimensions
GROUP BY site_id, dimension, date_trunc('month', local_day)::date, source, value;

-- Dimension sketches (up to ~1.3 KB each) are moved out of line, so ranking
-- values by their counts reads small rows, and only the top values' sketches
-- are read back to count their visitors. New daily partitions get the same
-- setting when the aggregator creates them.
ALTER TABLE monthly_dimensions SET (toast_tuple_target = 128);
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'daily_dimensions'::regclass LOOP
        EXECUTE format('ALTER TABLE %s SET (toast_tuple_target = 128)', part);
    END LOOP;
END $$;
