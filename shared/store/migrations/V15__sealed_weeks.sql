-- Week rows (ISO weeks, keyed by their Monday) beside the day and month rows
-- of the dimensions, so that any range reads at most a few days, whole weeks
-- and whole months per value, wherever its first and last day fall.
--
-- A week's rows are written once the week is over ("sealed", by the
-- aggregator's maintenance, from the week's daily rows), not by every batch:
-- live batches write today, which is in no sealed week, and so pay nothing
-- for them. A late batch for a day of a sealed week adds to the week's rows
-- as well as to the day's. The two never miss each other because both take
-- an advisory lock on (site, week) first: shared by batches, exclusive by the
-- sealer (and by a rebuild, which sums the week again from its days).
-- `sealed_weeks` lists the weeks whose rows are complete; the query service
-- reads week rows only for those.
CREATE TABLE sealed_weeks (
    site_id   uuid NOT NULL,
    week      date NOT NULL CHECK (extract(isodow FROM week) = 1),
    sealed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, week)
);

-- The monthly tables' columns and keys, a week's Monday where they have the month.
CREATE TABLE weekly_dimensions (LIKE monthly_dimensions INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
ALTER TABLE weekly_dimensions RENAME COLUMN month TO week;
CREATE TABLE weekly_dimension_counts (LIKE monthly_dimension_counts INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
ALTER TABLE weekly_dimension_counts RENAME COLUMN month TO week;

-- As the monthly rows: sketches out of line, so that ranking reads narrow rows.
ALTER TABLE weekly_dimensions SET (toast_tuple_target = 128);
