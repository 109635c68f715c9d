//! Import throughput: `analytics-ctl import django` (the release binary) over
//! an old Visit table of 90 days, next to a raw COPY of as many rows in the
//! same run. The table is in the same Postgres as the rollups, so reading the
//! source shares the machine with writing them, as on a single-server setup.

use std::time::Instant;

use analytics_e2e::{Namespace, binary};

use crate::sample::{PAGES, USER_AGENTS, user_agent};

const ROWS: i64 = 200_000;
const SESSIONS: i64 = 20_000;

pub async fn run() {
    let ceiling = Namespace::create_durable().await;
    let copy_rate = ROWS as f64 / crate::aggregator::raw_copy(&ceiling.db().await, ROWS as usize).await;

    println!("## Import: the old Django Visit table into the rollups\n");
    println!(
        "`analytics-ctl import django` (release build, default settings: visits on, 20,000 rows per transaction) \
         over a Visit table created with Django's DDL and holding {ROWS} rows in time order over the last 90 \
         days: {PAGES} pages, 5 countries, {USER_AGENTS} distinct user agents, 10% app rows, {SESSIONS} sessions, \
         site in Asia/Tehran. Source table and rollups in the same Postgres. The ceiling is a raw COPY of as \
         many rows into an unindexed table.\n"
    );
    println!("| run | rows/s | ratio to ceiling | seconds |");
    println!("|---|---:|---:|---:|");
    println!("| raw COPY of {ROWS} rows (6 columns) into an unindexed table (ceiling) | {copy_rate:.0} | 1.00 | |");
    for sessions in [true, false] {
        let (seconds, summary) = import(sessions).await;
        assert_eq!(summary["rows_read"], ROWS, "{summary}");
        let rate = ROWS as f64 / seconds;
        let name = if sessions { "import, visits on (default)" } else { "import, visits off" };
        println!("| {name}, no other traffic | {rate:.0} | {:.2} | {seconds:.1} |", rate / copy_rate);
    }
    println!();
}

/// One import into a fresh namespace: seconds and the importer's summary.
async fn import(sessions: bool) -> (f64, serde_json::Value) {
    let namespace = Namespace::create_durable().await;
    let db = namespace.db().await;
    analytics_store::sites::add_site(&db, "legacy.example.com", "Asia/Tehran").await.expect("site");
    db.batch_execute(analytics_e2e::legacy::DJANGO_VISIT_DDL).await.expect("the Visit table");
    fill(&db).await;
    db.batch_execute("VACUUM ANALYZE analytics_visit").await.expect("vacuum");
    let started = Instant::now();
    let output = std::process::Command::new(binary("analytics-ctl"))
        .args(["import", "django", "--database-url", namespace.postgres.url(), "--site", "legacy.example.com"])
        .env("ANALYTICS__POSTGRES__URL", namespace.postgres.url())
        .env("ANALYTICS__IMPORT__UA_REGEXES", analytics_e2e::ua_regexes())
        .env("ANALYTICS__IMPORT__SESSIONS", sessions.to_string())
        .env("ANALYTICS_CONFIG_DIR", "/nonexistent")
        .output()
        .expect("analytics-ctl runs");
    let seconds = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    (seconds, serde_json::from_slice(&output.stdout).expect("summary"))
}

/// The rows, in time order as the old drain inserted them.
async fn fill(db: &tokio_postgres::Client) {
    let agents: Vec<String> = (0..USER_AGENTS).map(|i| user_agent(i * 31)).collect();
    db.execute(
        &format!(
            "INSERT INTO analytics_visit (source, session_key, path, method, ip_address, country, device, browser,
                 os, user_agent, referrer, response_time, timestamp)
             SELECT CASE WHEN i % 10 = 0 THEN 'app' ELSE 'web' END, 'session' || (i * 7919 % {SESSIONS}),
                    '/products/item-' || (i * 13 % {PAGES}), 'GET', ('10.0.' || (i % 250) || '.1')::inet,
                    (ARRAY['IR', 'DE', 'US', 'FR', 'TR'])[1 + i % 5], 'desktop', 'Chrome', 'Windows',
                    CASE WHEN i % 10 = 0 THEN 'Dart/3.4 (dart:io)' ELSE ($1::text[])[1 + i % {USER_AGENTS}] END,
                    CASE WHEN i % 4 = 0 THEN 'https://www.google.com/' ELSE '' END, 5 + i % 200,
                    now() - interval '90 days' + i * (interval '90 days' / {ROWS})
             FROM generate_series(1, {ROWS}) AS i"
        ),
        &[&agents],
    )
    .await
    .expect("rows");
}
