//! Segments, goals and funnels: answers from the kept events, over 30 days
//! of 100,000 events a day written straight into the events table (the
//! aggregator's own writes of them are measured in the aggregator section).

use analytics_e2e::Namespace;
use analytics_query::Clock;

use crate::query::{measure, ms, start_query_with};

const DAYS: i64 = 30;
const SAMPLES: usize = 20;

/// Kept events a day of each measured site: the two scales.
const SCALES: [i64; 2] = [100_000, 1_000_000];

pub async fn run() {
    let mut measured = Vec::new();
    for events_per_day in SCALES {
        measured.push(measure_at(events_per_day).await);
    }
    println!("## Segments, goals and funnels: answers from the kept events\n");
    println!(
        "{DAYS} days of kept events, at {} a day (one site each; written with one INSERT, their monthly value \
         counts with another, then VACUUM ANALYZE): 5,000 pages, 156 countries, 3 sources, 3 devices, a fifth as \
         many visitors a day as events, every 20th event a custom event with a property. Query service without \
         cache, statement timeout raised to 60 s; {SAMPLES} sequential requests after 3 \
         warm-up ones (fewer for slow ones), HTTP on loopback included. Goal: p95 at most 300 ms at 100,000 \
         events a day, at most 2 s at 1,000,000.\n",
        SCALES.map(|n| n.to_string()).join(" and ")
    );
    for (events_per_day, (fill_seconds, _)) in SCALES.iter().zip(&measured) {
        println!("- {events_per_day} a day: {} rows written in {fill_seconds:.0} s.", DAYS * events_per_day);
    }
    println!();
    let scales: Vec<String> = SCALES.iter().map(|n| format!("{n}/day p50 ms | {n}/day p95 ms")).collect();
    println!("| request, last 30 days | {} |", scales.join(" | "));
    println!("|---|{}", "---:|---:|".repeat(SCALES.len()));
    // The same requests at every scale, in the same order.
    for (i, (name, _)) in measured[0].1.iter().enumerate() {
        let cells: Vec<String> = measured
            .iter()
            .map(|(_, latencies)| format!("{} | {}", ms(latencies[i].1.p50), ms(latencies[i].1.p95)))
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!();
}

/// The requests measured, for `site`.
fn endpoints(s: uuid::Uuid) -> Vec<(&'static str, String)> {
    vec![
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
    ]
}

/// A site with `events_per_day` kept events a day: seconds to fill it, and
/// the latency of each of [`endpoints`], by name.
async fn measure_at(events_per_day: i64) -> (f64, Vec<(&'static str, crate::query::Latency)>) {
    let namespace = Namespace::create_durable().await;
    let mut db = namespace.db().await;
    let (site, token) = analytics_store::sites::add_site(&db, "segments.example.com", "UTC").await.expect("site");
    let started = std::time::Instant::now();
    fill(&db, site.id, events_per_day).await;
    let fill_seconds = started.elapsed().as_secs_f64();
    let goal = analytics_store::goals::GoalKind::Event;
    analytics_store::goals::add(&mut db, site.id, goal, "signup").await.expect("a goal");
    let page = analytics_store::goals::GoalKind::Page;
    analytics_store::goals::add(&mut db, site.id, page, "/products/item-1*").await.expect("a goal");

    let (url, stop) = start_query_with(&namespace, false, Clock::System, |settings| {
        settings.postgres.statement_timeout_ms = 60_000;
    })
    .await;
    let http = reqwest::Client::new();
    let mut latencies = Vec::new();
    for (name, path) in endpoints(site.id) {
        latencies.push((name, measure(&http, &format!("{url}/api/analytics/{path}"), &token, SAMPLES).await));
    }
    stop.cancel();
    (fill_seconds, latencies)
}

/// The events, with a partition for each day.
async fn fill(db: &tokio_postgres::Client, site: uuid::Uuid, events_per_day: i64) {
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
                    n * {events_per_day} + (i::int8 * 7919) % ({events_per_day} / 5), CASE WHEN i % 20 = 0 THEN 1 ELSE 0 END,
                    (ARRAY['web', 'mobile_web', 'app'])[1 + i % 3], '/products/item-' || ((i * 13) % 5000),
                    chr(65 + i % 26) || chr(65 + (i / 26) % 6), (ARRAY['desktop', 'mobile', 'tablet'])[1 + i % 3],
                    (ARRAY['Chrome', 'Firefox', 'Safari', 'Edge'])[1 + i % 4], 'Chrome 126',
                    (ARRAY['Windows', 'Mac OS X', 'Android', 'iOS'])[1 + i % 4],
                    CASE WHEN i % 4 = 0 THEN 'google.com' ELSE '' END, CASE WHEN i % 4 = 0 THEN 'Google' ELSE '' END,
                    '', '', '', CASE WHEN i % 20 = 0 THEN 'signup' ELSE '' END, '',
                    CASE WHEN i % 20 = 0 THEN jsonb_build_object('plan', (ARRAY['free', 'pro'])[1 + i % 2]) END
             FROM generate_series(0, {} - 1) AS n, generate_series(1, {events_per_day}) AS i",
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
