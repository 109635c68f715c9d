-- Visits per site, local day, local hour and source, counted in the hour they
-- began: the visit figures of the hourly chart, as daily_visits are the daily
-- chart's. Days before this migration have no rows here (their hours show no
-- visits); their daily figures are unchanged.
CREATE TABLE hourly_visits (
    site_id     uuid NOT NULL,
    local_day   date NOT NULL,
    local_hour  smallint NOT NULL CHECK (local_hour BETWEEN 0 AND 23),
    source      text NOT NULL,
    visits      bigint NOT NULL DEFAULT 0,
    bounces     bigint NOT NULL DEFAULT 0,
    duration_ms bigint NOT NULL DEFAULT 0,
    pageviews   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, local_day, local_hour, source)
);
