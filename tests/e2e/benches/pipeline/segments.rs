//! Segments, goals and funnels: answers from the kept events, over 30 days
//! of 100,000 events a day written straight into the events table (the
//! aggregator's own writes of them are measured in the aggregator section).

use analytics_e2e::Namespace;
use analytics_query::Clock;

use crate::query::{measure, ms, start_query};

const DAYS: i64 = 30;
const EVENTS_PER_DAY: i64 = 100_000;
const SAMPLES: usize = 20;

pub async fn run() {
    let namespace = Namespace::create_durable().await;
    let mut db = namespace.db().await;
    let (site, token) = analytics_store::sites::add_site(&db, "segments.example.com", "UTC").await.expect("site");
    let started = std::time::Instant::now();
    fill(&db, site.id).await;
    let fill_seconds = started.elapsed().as_secs_f64();
    let goal = analytics_store::goals::GoalKind::Event;
    analytics_store::goals::add(&mut db, site.id, goal, "signup").await.expect("a goal");
    let page = analytics_store::goals::GoalKind::Page;
    analytics_store::goals::add(&mut db, site.id, page, "/products/item-1*").await.expect("a goal");

    let (url, stop) = start_query(&namespace, false, Clock::System).await;
    let http = reqwest::Client::new();
    let s = site.id;
    let endpoints = [
        ("overview, one filter (country)", format!("overview/?site={s}&days=30&filter=country==AB")),
        (
            "overview, two filters (country, device)",
            format!("overview/?site={s}&days=30&filter=country==AB&filter=device==mobile"),
        ),
        ("top-pages, one filter (country)", format!("top-pages/?site={s}&days=30&filter=country==AB")),
        (
            "top-pages, two filters (source, referrer)",
            format!("top-pages/?site={s}&days=30&filter=source==web&filter=referrer==google.com"),
        ),
        (
            "chart daily, one filter (page contains)",
            format!("chart/?site={s}&period=daily&days=30&filter=page~=item-12"),
        ),
        ("breakdown prop:plan", format!("breakdown/?site={s}&days=30&dimension=prop:plan")),
        // Without a filter, goals come from the rollups (see the query section).
        (
            "goals (an event, a page prefix), one filter (device)",
            format!("goals/?site={s}&days=30&filter=device==mobile"),
        ),
        (
            "funnel, 3 steps",
            format!(
                "funnel/?site={s}&days=30&step=page==/products/item-13&step=page==/products/item-26&step=event==signup"
            ),
        ),
    ];
    println!("## Segments, goals and funnels: answers from the kept events\n");
    println!(
        "{DAYS} days of {EVENTS_PER_DAY} kept events a day ({} rows, written with one INSERT, their monthly value \
         counts with another, in {fill_seconds:.0} s, then VACUUM ANALYZE): 5,000 pages, 156 countries, 3 sources, 3 devices, 20,000 visitors a day, every \
         20th event a custom event with a property. Query service without cache; {SAMPLES} sequential requests \
         after 3 warm-up ones (fewer for slow ones), HTTP on loopback included. Goal: p95 at most 300 ms at 100,000 events a day.\n",
        DAYS * EVENTS_PER_DAY
    );
    println!("| request, last 30 days | p50 ms | p95 ms |");
    println!("|---|---:|---:|");
    for (name, path) in endpoints {
        let latency = measure(&http, &format!("{url}/api/analytics/{path}"), &token, SAMPLES).await;
        println!("| {name} | {} | {} |", ms(latency.p50), ms(latency.p95));
    }
    println!();
    stop.cancel();
}

/// The events, with a partition for each day.
async fn fill(db: &tokio_postgres::Client, site: uuid::Uuid) {
    db.batch_execute(&format!(
        "DO $$ BEGIN
           FOR n IN 0..{DAYS} LOOP
             EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                            'events_' || to_char(current_date - n, 'YYYYMMDD'), current_date - n, current_date - n + 1);
           END LOOP;
         END $$"
    ))
    .await
    .expect("partitions");
    db.execute(
        &format!(
            "INSERT INTO events (site_id, local_day, at, visitor_id, kind, source, page, country, device, browser,
                 browser_version, os, referrer, referrer_source, utm_source, utm_medium, utm_campaign, event,
                 app_version, props)
             SELECT $1, current_date - n, (current_date - n)::timestamptz + (i % 86400) * interval '1 second',
                    n * 100000 + (i * 7919) % 20000, CASE WHEN i % 20 = 0 THEN 1 ELSE 0 END,
                    (ARRAY['web', 'mobile_web', 'app'])[1 + i % 3], '/products/item-' || ((i * 13) % 5000),
                    chr(65 + i % 26) || chr(65 + (i / 26) % 6), (ARRAY['desktop', 'mobile', 'tablet'])[1 + i % 3],
                    (ARRAY['Chrome', 'Firefox', 'Safari', 'Edge'])[1 + i % 4], 'Chrome 126',
                    (ARRAY['Windows', 'Mac OS X', 'Android', 'iOS'])[1 + i % 4],
                    CASE WHEN i % 4 = 0 THEN 'google.com' ELSE '' END, CASE WHEN i % 4 = 0 THEN 'Google' ELSE '' END,
                    '', '', '', CASE WHEN i % 20 = 0 THEN 'signup' ELSE '' END, '',
                    CASE WHEN i % 20 = 0 THEN jsonb_build_object('plan', (ARRAY['free', 'pro'])[1 + i % 2]) END
             FROM generate_series(0, {} - 1) AS n, generate_series(1, {EVENTS_PER_DAY}) AS i",
            DAYS
        ),
        &[&site],
    )
    .await
    .expect("events");
    // The monthly value counts the aggregator writes beside them (`~=`
    // filters are narrowed to the values they list).
    let unpivot: Vec<String> =
        analytics_events::Dimension::ALL.iter().map(|d| format!("('{0}', {0})", d.as_str())).collect();
    let per_source = |kind: u8| {
        ["web", "mobile_web", "app"]
            .map(|s| format!("count(*) FILTER (WHERE kind = {kind} AND source = '{s}')"))
            .join(", ")
    };
    db.execute(
        &format!(
            "INSERT INTO monthly_dimension_counts (site_id, dimension, month, value, pageviews_web,
                 pageviews_mobile_web, pageviews_app, events_web, events_mobile_web, events_app)
             SELECT site_id, d.dimension, date_trunc('month', local_day)::date, d.value, {}, {}
             FROM events, LATERAL (VALUES {}) AS d(dimension, value)
             WHERE site_id = $1 AND kind < 2 AND d.value <> '' GROUP BY 1, 2, 3, 4",
            per_source(0),
            per_source(1),
            unpivot.join(", ")
        ),
        &[&site],
    )
    .await
    .expect("monthly value counts");
    db.batch_execute("VACUUM ANALYZE events, monthly_dimension_counts").await.expect("vacuum");
}
