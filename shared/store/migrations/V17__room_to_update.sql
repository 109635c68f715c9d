-- Room on the pages of the rollups that every batch updates, so that an
-- update can keep the row's new version on its page (a HOT update) instead
-- of adding an entry to the primary key for each version. The daily
-- partitions of the days that take live batches are created so by the
-- aggregator (`partitions::LIVE_FILLFACTOR`); these are the unpartitioned
-- ones, and the existing partitions of those days. Only pages filled from
-- now on keep the room; nothing is rewritten.
ALTER TABLE monthly_dimensions SET (fillfactor = 70);
ALTER TABLE monthly_dimension_counts SET (fillfactor = 70);
ALTER TABLE monthly_speed SET (fillfactor = 70);
ALTER TABLE daily_visit_pages SET (fillfactor = 70);

DO $$
DECLARE
    partition regclass;
BEGIN
    FOR partition IN
        SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname IN ('hourly_totals', 'daily_dimensions', 'daily_dimension_counts', 'daily_speed',
                            'daily_app_versions')
          AND substring(i.inhrelid::regclass::text FROM '_(\d{8})$')::date >= current_date - 2
    LOOP
        EXECUTE format('ALTER TABLE %s SET (fillfactor = 70)', partition);
    END LOOP;
END $$;
