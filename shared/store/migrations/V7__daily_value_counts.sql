-- How many distinct values each dimension has on each local day of each
-- site, so the aggregator can bound them (max_values_per_day; past it, new
-- values count as "(other)") without counting rows on every transaction.
-- A few rows per site and day, deleted with the other small rollups past
-- retention.
CREATE TABLE daily_value_counts (
    site_id         uuid NOT NULL,
    local_day       date NOT NULL,
    dimension       text NOT NULL,
    distinct_values integer NOT NULL,
    PRIMARY KEY (site_id, local_day, dimension)
);

INSERT INTO daily_value_counts (site_id, local_day, dimension, distinct_values)
SELECT site_id, local_day, dimension, count(*)
FROM daily_dimension_counts
GROUP BY site_id, local_day, dimension;

-- Titles are kept per page; a page not seen for the retention period goes
-- (maintenance deletes by seen_at).
CREATE INDEX page_titles_seen_at ON page_titles (seen_at);
