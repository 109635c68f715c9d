-- History brought in from another system (`analytics-ctl import`): how far
-- each import of a source table has got. The row moves in the same
-- transaction as the rollups of the rows it covers, so a second run adds
-- nothing and an interrupted run resumes after the last key it applied.
CREATE TABLE imports (
    site_id      uuid NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    -- What was read: 'django' (a Visit table) or 'umami' (a website's events).
    source       text NOT NULL,
    -- Which part of the source: the Django table, or the Umami website id.
    source_table text NOT NULL,
    -- Where the rows applied so far end, in the source's own order: the
    -- largest primary key (Django), or the last row's time in microseconds
    -- and its id (Umami, ordered by time and then id).
    last_key     bigint NOT NULL,
    last_id      text NOT NULL DEFAULT '',
    -- Rows read and applied, counted or not (excluded, bots, too old).
    rows_read    bigint NOT NULL DEFAULT 0,
    -- Local days the imported pageviews fall on, for the dashboards' note.
    first_day    date,
    last_day     date,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, source, source_table)
);
