-- Narrow copies of the dimension counts, for ranking values (top pages,
-- countries, breakdowns) without reading their visitor sketches.
--
-- A dimension row's sketch is up to ~1.3 KB, and Postgres keeps values that
-- small inside the row (it moves them out of line only for rows over ~2 KB,
-- whatever toast_tuple_target says), so ranking 5,000 pages over a year read
-- ~300 MB of sketches to sum two integers per row. These tables hold only the
-- counts, one row per value with a column per source (web, mobile_web, app):
-- a third of the rows, each ~100 bytes. The aggregator writes them in the same
-- transaction as the rows they copy; the sketches stay in daily_dimensions and
-- monthly_dimensions, where only the top values' are read.

CREATE TABLE daily_dimension_counts (
    site_id               uuid NOT NULL,
    local_day             date NOT NULL,
    dimension             text NOT NULL,
    value                 text NOT NULL,
    pageviews_web         bigint NOT NULL DEFAULT 0,
    pageviews_mobile_web  bigint NOT NULL DEFAULT 0,
    pageviews_app         bigint NOT NULL DEFAULT 0,
    events_web            bigint NOT NULL DEFAULT 0,
    events_mobile_web     bigint NOT NULL DEFAULT 0,
    events_app            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, local_day, dimension, value)
) PARTITION BY RANGE (local_day);

CREATE TABLE monthly_dimension_counts (
    site_id               uuid NOT NULL,
    dimension             text NOT NULL,
    month                 date NOT NULL,
    value                 text NOT NULL,
    pageviews_web         bigint NOT NULL DEFAULT 0,
    pageviews_mobile_web  bigint NOT NULL DEFAULT 0,
    pageviews_app         bigint NOT NULL DEFAULT 0,
    events_web            bigint NOT NULL DEFAULT 0,
    events_mobile_web     bigint NOT NULL DEFAULT 0,
    events_app            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, dimension, month, value)
);

-- Per-page timing histograms summed per calendar month, as monthly_dimensions
-- is for daily_dimensions: the speed endpoint reads whole months here.
CREATE TABLE monthly_speed (
    site_id    uuid NOT NULL,
    month      date NOT NULL,
    metric     text NOT NULL,
    source     text NOT NULL,
    path       text NOT NULL,
    count      bigint NOT NULL,
    sum_ms     bigint NOT NULL,
    histogram  bigint[] NOT NULL,
    PRIMARY KEY (site_id, month, metric, source, path)
);

-- The current month's rows are updated all month long; vacuum them often
-- (they are small) so a scan does not wade through dead versions.
ALTER TABLE monthly_dimensions SET (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE monthly_dimension_counts SET (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE monthly_speed SET (autovacuum_vacuum_scale_factor = 0.02);

-- Fill them from what is already counted: one counts partition per existing
-- daily_dimensions partition (same bounds, same name pattern), then the rows.
DO $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'daily_dimensions'::regclass
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF daily_dimension_counts %s',
                       replace(part.relname, 'daily_dimensions_', 'daily_dimension_counts_'), part.bound);
    END LOOP;
END $$;

INSERT INTO daily_dimension_counts
SELECT site_id, local_day, dimension, value,
       coalesce(sum(pageviews) FILTER (WHERE source = 'web'), 0),
       coalesce(sum(pageviews) FILTER (WHERE source = 'mobile_web'), 0),
       coalesce(sum(pageviews) FILTER (WHERE source = 'app'), 0),
       coalesce(sum(events) FILTER (WHERE source = 'web'), 0),
       coalesce(sum(events) FILTER (WHERE source = 'mobile_web'), 0),
       coalesce(sum(events) FILTER (WHERE source = 'app'), 0)
FROM daily_dimensions
GROUP BY site_id, local_day, dimension, value;

INSERT INTO monthly_dimension_counts
SELECT site_id, dimension, month, value,
       coalesce(sum(pageviews) FILTER (WHERE source = 'web'), 0),
       coalesce(sum(pageviews) FILTER (WHERE source = 'mobile_web'), 0),
       coalesce(sum(pageviews) FILTER (WHERE source = 'app'), 0),
       coalesce(sum(events) FILTER (WHERE source = 'web'), 0),
       coalesce(sum(events) FILTER (WHERE source = 'mobile_web'), 0),
       coalesce(sum(events) FILTER (WHERE source = 'app'), 0)
FROM monthly_dimensions
GROUP BY site_id, dimension, month, value;

INSERT INTO monthly_speed (site_id, month, metric, source, path, count, sum_ms, histogram)
SELECT site_id, date_trunc('month', local_day)::date, metric, source, path,
       sum(count), sum(sum_ms), analytics_histogram_sum(histogram)
FROM daily_speed
GROUP BY site_id, date_trunc('month', local_day)::date, metric, source, path;
