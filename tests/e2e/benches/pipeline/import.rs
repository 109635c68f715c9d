//! Import throughput: `analytics-ctl import django` (the release binary) over
//! an old Visit table of 90 days, next to a raw COPY of as many rows in the
//! same run, alone and beside live traffic through an aggregator (whose
//! latency is measured before and during the import); and `import
//! plausible` over an export of 90 days. The source table is in the same
//! Postgres as the rollups, so reading it shares the machine with writing
//! them, as on a single-server setup.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use analytics_e2e::{Namespace, binary, eventually};
use uuid::Uuid;

use crate::query::{latency, ms};
use crate::sample::{PAGES, USER_AGENTS, encoded_events, user_agent};

const ROWS: i64 = 200_000;
const SESSIONS: i64 = 20_000;
/// Live traffic beside an import: batches of this many events...
const LIVE_BATCH: usize = 20;
/// ...this often: 1,000 events/s.
const LIVE_EVERY: Duration = Duration::from_millis(20);
/// Days of the Plausible export.
const EXPORT_DAYS: i64 = 90;

pub async fn run() {
    let ceiling = Namespace::create_durable().await;
    let copy_rate = ROWS as f64 / crate::aggregator::raw_copy(&ceiling.db().await, ROWS as usize).await;
    ceiling.drop_database().await;

    println!("## Import: history from the old Django Visit table and from Plausible\n");
    println!(
        "`analytics-ctl import django` (release build, default settings: visits on, 20,000 rows per transaction) \
         over a Visit table created with Django's DDL and holding {ROWS} rows in time order over the last 90 \
         days: {PAGES} pages, 5 countries, {USER_AGENTS} distinct user agents, 10% app rows, {SESSIONS} sessions, \
         site in Asia/Tehran. Source table and rollups in the same Postgres. The ceiling is a raw COPY of as \
         many rows into an unindexed table. \"Beside live traffic\": one aggregator (default settings, visits \
         on) applies {} events/s of the benchmark sample, published in batches of {LIVE_BATCH}, to the same \
         site while the import runs.\n",
        LIVE_BATCH as u128 * 1000 / LIVE_EVERY.as_millis()
    );
    println!("| run | rows/s | ratio to ceiling | seconds |");
    println!("|---|---:|---:|---:|");
    println!("| raw COPY of {ROWS} rows (6 columns) into an unindexed table (ceiling) | {copy_rate:.0} | 1.00 | |");
    for sessions in [true, false] {
        let namespace = visit_table().await;
        let (seconds, summary) = import(&namespace, sessions).await;
        assert_eq!(summary["rows_read"], ROWS, "{summary}");
        namespace.drop_database().await;
        let rate = ROWS as f64 / seconds;
        let name = if sessions { "import, visits on (default)" } else { "import, visits off" };
        println!("| {name}, no other traffic | {rate:.0} | {:.2} | {seconds:.1} |", rate / copy_rate);
    }
    let live = beside_live_traffic().await;
    let rate = ROWS as f64 / live.seconds;
    println!("| import, visits on, beside live traffic | {rate:.0} | {:.2} | {:.1} |", rate / copy_rate, live.seconds);
    let (rows, seconds) = plausible().await;
    println!(
        "| `import plausible`: an export of {EXPORT_DAYS} days, {rows} CSV rows (1,000 pages, 100 countries a day) \
         | {:.0} | {:.2} | {seconds:.1} |",
        rows as f64 / seconds,
        rows as f64 / seconds / copy_rate
    );
    println!();
    let (before, during) = (latency(live.before), latency(live.during));
    println!(
        "Live events beside the import, from publishing to the start of the transaction that applied them: \
         before the import p50 {} ms, p95 {} ms; during it p50 {} ms, p95 {} ms ({} batches during).\n",
        ms(before.p50),
        ms(before.p95),
        ms(during.p50),
        ms(during.p95),
        live.during_batches
    );
}

/// A fresh namespace with the site and its old Visit table, filled.
async fn visit_table() -> Namespace {
    let namespace = Namespace::create_durable().await;
    let db = namespace.db().await;
    analytics_store::sites::add_site(&db, "legacy.example.com", "Asia/Tehran").await.expect("site");
    db.batch_execute(analytics_e2e::legacy::DJANGO_VISIT_DDL).await.expect("the Visit table");
    fill(&db).await;
    db.batch_execute("VACUUM ANALYZE analytics_visit").await.expect("vacuum");
    namespace
}

/// How live traffic fared beside an import.
struct LiveRun {
    /// The import's.
    seconds: f64,
    /// Latencies of the live batches published before and during it.
    before: Vec<Duration>,
    during: Vec<Duration>,
    during_batches: usize,
}

/// The import (visits on) while an aggregator applies live batches to
/// the same site: 10 s of live traffic alone, then the import beside it.
async fn beside_live_traffic() -> LiveRun {
    let namespace = visit_table().await;
    let db = namespace.db().await;
    let site: Uuid =
        db.query_one("SELECT id FROM sites WHERE domain = 'legacy.example.com'", &[]).await.expect("site").get(0);
    let shape = crate::aggregator::Shape { sessions: true, keep_events: true };
    let aggregator = crate::aggregator::Running::start(&namespace, shape).await;
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = tokio::spawn(publish_live(namespace.clone(), site, stop.clone()));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started_at = SystemTime::now();
    let (seconds, summary) = import(&namespace, true).await;
    assert_eq!(summary["rows_read"], ROWS, "{summary}");
    let ended_at = SystemTime::now();
    stop.store(true, Ordering::Relaxed);
    let published: Vec<Uuid> = publisher.await.expect("publisher");
    let applied = eventually("every live batch applied", Duration::from_secs(120), || async {
        let rows = db
            .query("SELECT batch_id, processed_at FROM processed_batches WHERE batch_id = ANY($1)", &[&published])
            .await
            .ok()?;
        (rows.len() == published.len()).then_some(rows)
    })
    .await;
    aggregator.stop().await;
    let mut run = LiveRun { seconds, before: Vec::new(), during: Vec::new(), during_batches: 0 };
    for row in applied {
        let id: Uuid = row.get(0);
        let applied_at: chrono::DateTime<chrono::Utc> = row.get(1);
        let (secs, nanos) = id.get_timestamp().expect("a v7 id").to_unix();
        let sent = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        let waited = SystemTime::from(applied_at).duration_since(sent).unwrap_or_default();
        if sent < started_at {
            run.before.push(waited);
        } else if sent <= ended_at {
            run.during.push(waited);
        }
    }
    run.during_batches = run.during.len();
    drop(db);
    namespace.drop_database().await;
    run
}

/// Publishes a batch of live events every [`LIVE_EVERY`] until `stop`;
/// returns the batch ids.
async fn publish_live(namespace: Namespace, site: Uuid, stop: Arc<AtomicBool>) -> Vec<Uuid> {
    let (_connection, channel) = crate::aggregator::confirming_channel(&namespace, "bench-live").await;
    let mut ticks = tokio::time::interval(LIVE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ids = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let id = Uuid::now_v7();
        let events = encoded_events(&site.to_string(), LIVE_BATCH);
        crate::aggregator::publish(&channel, &namespace, &id, &events).await.await.expect("confirmed");
        ids.push(id);
    }
    ids
}

/// `import plausible` of an export of [`EXPORT_DAYS`] days into a fresh
/// namespace: the CSV rows and seconds.
async fn plausible() -> (i64, f64) {
    let namespace = Namespace::create_durable().await;
    let db = namespace.db().await;
    analytics_store::sites::add_site(&db, "from-plausible.example.com", "Asia/Tehran").await.expect("site");
    let (zip, rows) = plausible_export();
    let started = Instant::now();
    let output = tokio::process::Command::new(binary("analytics-ctl"))
        .args(["import", "plausible", "--site", "from-plausible.example.com", "--zip"])
        .arg(&zip)
        .env("ANALYTICS__POSTGRES__URL", namespace.postgres.url())
        .env("ANALYTICS__IMPORT__UA_REGEXES", analytics_e2e::ua_regexes())
        .env("ANALYTICS_CONFIG_DIR", "/nonexistent")
        .output()
        .await
        .expect("analytics-ctl runs");
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&zip);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("summary");
    assert_eq!(summary["rows_read"], rows, "{summary}");
    drop(db);
    namespace.drop_database().await;
    (rows, seconds)
}

/// An export of a site with 20,000 visitors a day: 1,000 pages, 100
/// countries, browsers, systems, sources, events, entry and exit pages.
fn plausible_export() -> (std::path::PathBuf, i64) {
    let today = chrono::Utc::now().date_naive();
    let mut tables: Vec<(&str, String, String)> = vec![
        ("visitors", "date,visitors,pageviews,bounces,visits,visit_duration".into(), String::new()),
        ("pages", "date,hostname,page,visits,visitors,pageviews".into(), String::new()),
        ("locations", "date,country,region,city,visitors,visits,visit_duration,bounces,pageviews".into(), String::new()),
        ("browsers", "date,browser,browser_version,visitors,visits,visit_duration,bounces,pageviews".into(), String::new()),
        ("sources", "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces".into(), String::new()),
        ("entry_pages", "date,entry_page,visitors,entrances,visit_duration,bounces,pageviews".into(), String::new()),
    ];
    let mut rows = 0;
    for d in 0..EXPORT_DAYS {
        let date = today - chrono::Duration::days(EXPORT_DAYS - d);
        let mut add = |table: usize, line: String| {
            tables[table].2.push_str(&line);
            tables[table].2.push('\n');
            rows += 1;
        };
        add(0, format!("{date},20000,60000,9000,26000,3120000"));
        for page in 0..PAGES {
            add(1, format!("{date},shop.example.com,/products/item-{page},40,{},60", 20 + page % 30));
            if page % 10 == 0 {
                add(5, format!("{date},/products/item-{page},200,260,0,0,0"));
            }
        }
        for country in 0..100 {
            add(
                2,
                format!("{date},{}{},,0,200,260,0,0,600", (b'A' + country / 26) as char, (b'A' + country % 26) as char),
            );
        }
        for version in 0..40 {
            add(3, format!("{date},Chrome,{}.0,500,650,0,0,1500", 90 + version));
        }
        for source in 0..30 {
            add(4, format!("{date},site{source}.example,site{source}.example/post,,,,,,2000,600,800,0,0"));
        }
    }
    let path = std::env::temp_dir().join(format!("plausible-bench-{}.zip", Uuid::new_v4()));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("a zip file"));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let (from, to) = (today - chrono::Duration::days(EXPORT_DAYS), today - chrono::Duration::days(1));
    for (table, header, body) in tables {
        let name = format!("imported_{table}_{}_{}.csv", from.format("%Y%m%d"), to.format("%Y%m%d"));
        zip.start_file(name, options).expect("a zip entry");
        zip.write_all(format!("{header}\n{body}").as_bytes()).expect("written");
    }
    zip.finish().expect("a zip");
    (path, rows)
}

/// `import django` of the namespace's Visit table: seconds and the
/// importer's summary.
async fn import(namespace: &Namespace, sessions: bool) -> (f64, serde_json::Value) {
    let started = Instant::now();
    let output = tokio::process::Command::new(binary("analytics-ctl"))
        .args(["import", "django", "--database-url", namespace.postgres.url(), "--site", "legacy.example.com"])
        .env("ANALYTICS__POSTGRES__URL", namespace.postgres.url())
        .env("ANALYTICS__IMPORT__UA_REGEXES", analytics_e2e::ua_regexes())
        .env("ANALYTICS__IMPORT__SESSIONS", sessions.to_string())
        .env("ANALYTICS_CONFIG_DIR", "/nonexistent")
        .output()
        .await
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
