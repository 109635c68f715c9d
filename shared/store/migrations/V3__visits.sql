-- Visits (sessions) without cookies: a visit is a run of one visitor id's
-- events with no gap longer than the site's visit gap. The aggregator keeps
-- each recent visitor's visits here and changes them in the same transaction
-- as the batch's rollups, so they are exact under redelivery and restarts.
ALTER TABLE sites
    ADD COLUMN visit_gap_minutes integer NOT NULL DEFAULT 30 CHECK (visit_gap_minutes BETWEEN 1 AND 1440);

-- The visits of one visitor id (ids rotate daily, so a few at most), as JSON:
-- [{start, last, views, entry, exit, source}] in ms since the epoch. Row locks
-- on these rows serialize concurrent aggregators per visitor. Rows silent for
-- longer than events may arrive late are deleted by maintenance.
-- Only the primary key is indexed and free space is left in every page, so
-- the rewrite of a row is a HOT update (no index writes).
CREATE TABLE visitor_visits (
    site_id    uuid NOT NULL,
    visitor_id bigint NOT NULL,
    visits     jsonb NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (site_id, visitor_id)
) WITH (fillfactor = 70);

-- Visitors per minute of event time, for "live visitors": a handful of rows
-- per site, pruned after an hour.
CREATE TABLE live_visitors (
    site_id  uuid NOT NULL,
    minute   timestamptz NOT NULL,
    visitors hll NOT NULL,
    PRIMARY KEY (site_id, minute)
);

-- Per local day of the visit's start and the source of its first event.
CREATE TABLE daily_visits (
    site_id     uuid NOT NULL,
    local_day   date NOT NULL,
    source      text NOT NULL,
    visits      bigint NOT NULL DEFAULT 0,
    -- Visits with at most one pageview.
    bounces     bigint NOT NULL DEFAULT 0,
    -- First to last event, summed over visits.
    duration_ms bigint NOT NULL DEFAULT 0,
    pageviews   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, local_day, source)
);

-- Entry and exit pages: visits that began (entry) or ended (exit) there.
CREATE TABLE daily_visit_pages (
    site_id    uuid NOT NULL,
    local_day  date NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('entry', 'exit')),
    source     text NOT NULL,
    page       text NOT NULL,
    visits     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, local_day, kind, source, page)
);
