-- Saved funnels (`analytics-ctl funnel add`): a name and 2 to 8 steps, each
-- `page==<path>` (a prefix when it ends in '*') or `event==<name>`, as the
-- funnel endpoint's `step` parameters. The panel shows them by name; the
-- figures are counted from the kept events when asked.
CREATE TABLE funnels (
    id         bigserial PRIMARY KEY,
    site_id    uuid NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (name <> ''),
    steps      text[] NOT NULL CHECK (cardinality(steps) BETWEEN 2 AND 8),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, name)
);
