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

CREATE FUNCTION analytics_goal_rows_drop(site uuid, goal text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM daily_dimensions WHERE site_id = site AND dimension = 'goal' AND value = goal;
    DELETE FROM daily_dimension_counts WHERE site_id = site AND dimension = 'goal' AND value = goal;
    DELETE FROM weekly_dimensions WHERE site_id = site AND dimension = 'goal' AND value = goal;
    DELETE FROM weekly_dimension_counts WHERE site_id = site AND dimension = 'goal' AND value = goal;
    DELETE FROM monthly_dimensions WHERE site_id = site AND dimension = 'goal' AND value = goal;
    DELETE FROM monthly_dimension_counts WHERE site_id = site AND dimension = 'goal' AND value = goal;
END $$;

-- `goal` ends in '*'; its pages are those starting with what comes before.
-- Each period's goal rows are summed from the same period's page rows, so
-- week rows exist only for the weeks that have them (the sealed ones).
CREATE FUNCTION analytics_goal_rows_derive(site uuid, goal text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    prefix text := left(goal, -1);
BEGIN
    PERFORM analytics_goal_rows_drop(site, goal);
    INSERT INTO daily_dimensions (site_id, local_day, dimension, source, value, pageviews, events, visitors)
    SELECT site, local_day, 'goal', source, goal, sum(pageviews), sum(events), hll_union_agg(visitors)
    FROM daily_dimensions WHERE site_id = site AND dimension = 'page' AND starts_with(value, prefix)
    GROUP BY local_day, source;
    INSERT INTO weekly_dimensions (site_id, dimension, week, source, value, pageviews, events, visitors)
    SELECT site, 'goal', week, source, goal, sum(pageviews), sum(events), hll_union_agg(visitors)
    FROM weekly_dimensions WHERE site_id = site AND dimension = 'page' AND starts_with(value, prefix)
    GROUP BY week, source;
    INSERT INTO monthly_dimensions (site_id, dimension, month, source, value, pageviews, events, visitors)
    SELECT site, 'goal', month, source, goal, sum(pageviews), sum(events), hll_union_agg(visitors)
    FROM monthly_dimensions WHERE site_id = site AND dimension = 'page' AND starts_with(value, prefix)
    GROUP BY month, source;
    INSERT INTO daily_dimension_counts (site_id, local_day, dimension, value,
        pageviews_web, pageviews_mobile_web, pageviews_app, events_web, events_mobile_web, events_app)
    SELECT site, local_day, 'goal', goal, sum(pageviews_web), sum(pageviews_mobile_web), sum(pageviews_app),
           sum(events_web), sum(events_mobile_web), sum(events_app)
    FROM daily_dimension_counts WHERE site_id = site AND dimension = 'page' AND starts_with(value, prefix)
    GROUP BY local_day;
    INSERT INTO weekly_dimension_counts (site_id, dimension, week, value,
        pageviews_web, pageviews_mobile_web, pageviews_app, events_web, events_mobile_web, events_app)
    SELECT site, 'goal', week, goal, sum(pageviews_web), sum(pageviews_mobile_web), sum(pageviews_app),
           sum(events_web), sum(events_mobile_web), sum(events_app)
    FROM weekly_dimension_counts WHERE site_id = site AND dimension = 'page' AND starts_with(value, prefix)
    GROUP BY week;
    INSERT INTO monthly_dimension_counts (site_id, dimension, month, value,
        pageviews_web, pageviews_mobile_web, pageviews_app, events_web, events_mobile_web, events_app)
    SELECT site, 'goal', month, goal, sum(pageviews_web), sum(pageviews_mobile_web), sum(pageviews_app),
           sum(events_web), sum(events_mobile_web), sum(events_app)
    FROM monthly_dimension_counts WHERE site_id = site AND dimension = 'page' AND starts_with(value, prefix)
    GROUP BY month;
END $$;

-- The prefix goals defined before this migration.
SELECT analytics_goal_rows_derive(site_id, target) FROM goals WHERE kind = 'page' AND right(target, 1) = '*';
