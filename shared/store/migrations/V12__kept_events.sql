-- Every counted pageview and custom event (and every page's later timings),
-- for the questions one-dimension rollups cannot answer: segments, custom
-- properties, goals, funnels. The aggregator writes each event here in the transaction that
-- counts it, so exactly once. Partitioned by the site's local day like the
-- rollups, and dropped whole after `raw_retention_days` (default 90). No
-- address, as everywhere; values are the rollups' own (cleaned and capped by
-- ingest), props the event's custom properties (at most 30).
CREATE TABLE events (
    site_id         uuid NOT NULL,
    local_day       date NOT NULL,
    at              timestamptz NOT NULL,
    visitor_id      bigint NOT NULL,
    -- 0: a pageview (or an app's screen view), 1: a custom event, 2: the
    -- timings of a page counted by an earlier pageview (Umami's
    -- data-performance report), which counts as neither.
    kind            smallint NOT NULL CHECK (kind BETWEEN 0 AND 2),
    -- web, mobile_web or app.
    source          text NOT NULL,
    -- One column per breakdown dimension, named as the dimension; '' when
    -- the event has no value in it (`event`, a custom event's name, is ''
    -- for pageviews).
    page            text NOT NULL,
    country         text NOT NULL,
    device          text NOT NULL,
    browser         text NOT NULL,
    browser_version text NOT NULL,
    os              text NOT NULL,
    -- The referring host and its source name; '' when none.
    referrer        text NOT NULL,
    referrer_source text NOT NULL,
    utm_source      text NOT NULL,
    utm_medium      text NOT NULL,
    utm_campaign    text NOT NULL,
    event           text NOT NULL,
    app_version     text NOT NULL,
    -- {key: value}; NULL when the event has none.
    props           jsonb,
    -- Its speed measurements, in ms (CLS in thousandths), when it had any.
    response_ms     integer,
    ttfb_ms         integer,
    load_ms         integer,
    lcp_ms          integer,
    fcp_ms          integer,
    inp_ms          integer,
    cls_thousandths integer
) PARTITION BY RANGE (local_day);
CREATE INDEX events_site_day ON events (site_id, local_day);

-- Goals: an event name, or a page (a path, or a prefix when it ends in '*').
CREATE TABLE goals (
    id         bigserial PRIMARY KEY,
    site_id    uuid NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('event', 'page')),
    target     text NOT NULL CHECK (target <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, kind, target)
);
