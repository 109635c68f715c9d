-- History brought in from another system (`analytics-ctl import`): how far
-- each import of a source table has got. The row moves in the same
-- transaction as the rollups of the rows it covers, so a second run adds
-- nothing and an interrupted run resumes after the last key it applied.
CREATE TABLE imports (
    site_id      uuid NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    -- What was read: 'django' (a Visit table), later 'plausible', 'umami'.
    source       text NOT NULL,
    -- The table (or file) within the source, as given on the command line.
    source_table text NOT NULL,
    -- The largest primary key applied so far.
    last_key     bigint NOT NULL,
    -- Rows read and applied, counted or not (excluded, bots, too old).
    rows_read    bigint NOT NULL DEFAULT 0,
    -- Local days the imported pageviews fall on, for the dashboards' note.
    first_day    date,
    last_day     date,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, source, source_table)
);
