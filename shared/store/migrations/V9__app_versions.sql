-- Release health of a site's app per local day and app version, from the
-- app events that carry the status of the response they report (the Django
-- middleware's server-side events): requests, 4xx and 5xx answers, and the
-- response-time histogram (buckets as in daily_speed). Partitioned by day
-- like the other daily rollups, so retention drops it whole.
CREATE TABLE daily_app_versions (
    site_id       uuid NOT NULL,
    local_day     date NOT NULL,
    version       text NOT NULL,
    requests      bigint NOT NULL DEFAULT 0,
    client_errors bigint NOT NULL DEFAULT 0,
    server_errors bigint NOT NULL DEFAULT 0,
    timed         bigint NOT NULL DEFAULT 0,
    sum_ms        bigint NOT NULL DEFAULT 0,
    histogram     bigint[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (site_id, local_day, version)
) PARTITION BY RANGE (local_day);

-- Partitions of the days the other rollups already have, so a day in progress
-- can take app-version rows at once.
DO $$
DECLARE
  day date;
BEGIN
  FOR day IN
    SELECT to_date(substring(c.relname FROM '_(\d{8})$'), 'YYYYMMDD')
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = 'hourly_totals'
  LOOP
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF daily_app_versions FOR VALUES FROM (%L) TO (%L)',
                   'daily_app_versions_' || to_char(day, 'YYYYMMDD'), day, day + 1);
  END LOOP;
END $$;
