-- Goal rows: a page goal with a prefix ("/blog/*") gets rows of its own in
-- the dimension tables (dimension 'goal', value the goal's target), the sum
-- of its pages' rows. Its visitors over a range are then the union of one
-- sketch per period instead of one per page and period: a year of a prefix
-- of 1,111 pages read ~24,000 sketches, now ~25.
--
-- Who writes them, and why they stay the sum of the pages' rows:
-- - the aggregator adds each batch's page rows to the goal rows of the
--   prefixes they start with, in the batch's transaction;
-- - adding a goal derives its rows from the page rows already there
--   (analytics_goal_rows_derive), in the transaction that adds it;
-- - deleting a goal deletes its rows (analytics_goal_rows_drop).
-- Both sides first take an advisory lock on the site's goals (goals.rs):
-- shared by the aggregator's writers (which then read the goals in a
-- statement of their own), exclusive by adding and deleting. A batch is so
-- either wholly before a goal's derivation (which then sums its page rows)
-- or wholly after it (and then knows the goal), never between.
-- Event goals and single pages need none: their value is already one row.

-- The period tables: (prefix of their names, their column of the period's first day).
CREATE FUNCTION analytics_goal_periods() RETURNS TABLE (prefix text, period text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('daily', 'local_day'), ('weekly', 'week'), ('monthly', 'month')
$$;

-- A goal's rows of one period's two tables.
CREATE FUNCTION analytics_goal_rows_drop_in(site uuid, goal text, prefix text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[prefix || '_dimensions', prefix || '_dimension_counts'] LOOP
        EXECUTE format('DELETE FROM %I WHERE site_id = $1 AND dimension = ''goal'' AND value = $2', t)
            USING site, goal;
    END LOOP;
END $$;

CREATE FUNCTION analytics_goal_rows_drop(site uuid, goal text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_goal_rows_drop_in(site, goal, prefix) FROM analytics_goal_periods();
END $$;

-- `goal` ends in '*'; its pages are those starting with what comes before.
-- Each period's goal rows are summed from the same period's page rows, so
-- week rows exist only for the weeks that have them (the sealed ones). The
-- periods go in order, each deleted just before it is summed: the monthly
-- tables, which every batch writes, are then locked (row exclusive, until
-- the commit) only for their own few rows, not while the days are summed
-- (a rebuild's table lock queued behind that would hold up every batch).
CREATE FUNCTION analytics_goal_rows_derive(site uuid, goal text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT t.prefix, t.period FROM analytics_goal_periods() WITH ORDINALITY AS t(prefix, period, n) ORDER BY n LOOP
        PERFORM analytics_goal_rows_drop_in(site, goal, p.prefix);
        EXECUTE format(
            'INSERT INTO %1$I (site_id, %2$I, dimension, source, value, pageviews, events, visitors)
             SELECT $1, %2$I, ''goal'', source, $2, sum(pageviews), sum(events), hll_union_agg(visitors)
             FROM %1$I WHERE site_id = $1 AND dimension = ''page'' AND starts_with(value, $3)
             GROUP BY %2$I, source',
            p.prefix || '_dimensions', p.period) USING site, goal, left(goal, -1);
        EXECUTE format(
            'INSERT INTO %1$I (site_id, %2$I, dimension, value, pageviews_web, pageviews_mobile_web,
                               pageviews_app, events_web, events_mobile_web, events_app)
             SELECT $1, %2$I, ''goal'', $2, sum(pageviews_web), sum(pageviews_mobile_web), sum(pageviews_app),
                    sum(events_web), sum(events_mobile_web), sum(events_app)
             FROM %1$I WHERE site_id = $1 AND dimension = ''page'' AND starts_with(value, $3)
             GROUP BY %2$I',
            p.prefix || '_dimension_counts', p.period) USING site, goal, left(goal, -1);
    END LOOP;
END $$;

-- The prefix goals defined before this migration.
SELECT analytics_goal_rows_derive(site_id, target) FROM goals WHERE kind = 'page' AND right(target, 1) = '*';
