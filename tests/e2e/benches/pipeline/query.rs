//! Dashboard latency over a year of rollups of a busy site: every endpoint's
//! p50 and p95, uncached and cached, next to a `SELECT 1` round trip to the
//! same Postgres in the same run.

use std::time::{Duration, Instant};

use analytics_aggregator::backfill::{BackfillSpec, backfill};
use analytics_e2e::Namespace;
use secrecy::SecretString;

const SPEC: BackfillSpec =
    BackfillSpec { days: 365, pageviews_per_day: 1_000_000, pages: 5_000, countries: 150, visitors_per_day: 200_000 };
const SAMPLES: usize = 40;

struct Latency {
    p50: Duration,
    p95: Duration,
}

fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    Latency { p50: at(0.50), p95: at(0.95) }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn start_query(namespace: &Namespace, cached: bool) -> (String, analytics_telemetry::Shutdown) {
    let mut settings: analytics_query::Settings =
        analytics_config::from_defaults(analytics_query::Settings::DEFAULTS).expect("defaults");
    settings.http.host = "127.0.0.1".into();
    settings.http.port = 0;
    settings.postgres = namespace.postgres.clone();
    settings.redis = namespace.redis.clone();
    settings.query.admin_token = SecretString::from("bench-admin");
    // One client asking many times in a row: measured without the per-token limit.
    settings.query.rate_limit_per_second = 0.0;
    if !cached {
        settings.query.cache_live_seconds = 0;
        settings.query.cache_closed_seconds = 0;
    }
    let app = analytics_query::Application::build(settings).await.expect("query");
    let url = format!("http://127.0.0.1:{}", app.port());
    let shutdown = analytics_telemetry::Shutdown::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    (url, shutdown)
}

/// Up to `n` timed requests after 3 warm-up ones; fewer when an endpoint is
/// slow: at least 5 within 20 seconds, at least 2 within a minute.
async fn measure(http: &reqwest::Client, url: &str, token: &str, n: usize) -> Latency {
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n + 3 {
        let timed = i.saturating_sub(3);
        if (timed >= 5 && started.elapsed() > Duration::from_secs(20))
            || (timed >= 2 && started.elapsed() > Duration::from_secs(60))
        {
            break;
        }
        let begun = Instant::now();
        let response = http.get(url).bearer_auth(token).send().await.expect("request");
        assert!(response.status().is_success(), "{url}: {}", response.status());
        response.bytes().await.expect("body");
        samples.push(begun.elapsed());
    }
    latency(samples.split_off(3.min(samples.len() - 1)))
}

pub async fn run() {
    let namespace = Namespace::create_durable().await;
    let db = namespace.db().await;
    let (site, token) = analytics_store::sites::add_site(&db, "busy.example.com", "Asia/Tehran").await.expect("site");
    let today = chrono::Utc::now().with_timezone(&site.timezone).date_naive();
    let pool = analytics_store::pg_pool(&namespace.postgres).expect("pool");
    let started = Instant::now();
    let rows = backfill(&pool, site.id, today, &SPEC).await.expect("backfill");
    let backfill_time = started.elapsed();
    // The backfill packs a year of updates into minutes; on a live site
    // autovacuum clears each month's dead row versions long before anyone
    // reads that month back, so measure the tables in that state.
    db.batch_execute("VACUUM ANALYZE").await.expect("vacuum");

    let mut select_one = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        db.query_one("SELECT 1", &[]).await.expect("select 1");
        select_one.push(started.elapsed());
    }
    let ceiling = latency(select_one);

    let http = reqwest::Client::new();
    let (uncached, stop_uncached) = start_query(&namespace, false).await;
    let (cached, stop_cached) = start_query(&namespace, true).await;
    let endpoints: Vec<(&str, String)> = vec![
        ("overview (today, yesterday, month, 30 days, all time)", "overview/?site={s}".into()),
        ("chart daily, 30 days", "chart/?site={s}&period=daily&days=30".into()),
        ("chart monthly, 12 months", "chart/?site={s}&period=monthly&months=12".into()),
        ("chart monthly Persian, 12 months", "chart/?site={s}&period=monthly&months=12&calendar=persian".into()),
        ("top-pages, 30 days", "top-pages/?site={s}&days=30".into()),
        ("top-pages, 12 months", "top-pages/?site={s}&days=365".into()),
        ("top-countries, 30 days", "top-countries/?site={s}&days=30".into()),
        ("top-countries, 12 months", "top-countries/?site={s}&days=365".into()),
        ("breakdown browser, 30 days", "breakdown/?site={s}&dimension=browser&days=30".into()),
        ("breakdown browser, 12 months", "breakdown/?site={s}&dimension=browser&days=365".into()),
        ("speed, 30 days", "speed/?site={s}&days=30".into()),
        ("speed, 12 months", "speed/?site={s}&days=365".into()),
    ];

    println!("## Query: dashboard latency over a year of rollups\n");
    println!(
        "{} days backfilled through the aggregator's upsert path ({rows} rollup rows in {:.0} s): {} pageviews a \
         day, {} pages, {} countries, 3 sources, {} visitors a day, site in Asia/Tehran; then VACUUM ANALYZE (autovacuum's work on a live site). {SAMPLES} sequential \
         requests per endpoint after 3 warm-up requests (fewer for slow endpoints: at least 5 within 20 s, at least 2 within a minute), HTTP on loopback included. Uncached: a query service with \
         cache TTLs of 0. Ceiling: `SELECT 1` round trip to the same Postgres, p50 {} ms, p95 {} ms.\n",
        SPEC.days,
        backfill_time.as_secs_f64(),
        SPEC.pageviews_per_day,
        SPEC.pages,
        SPEC.countries,
        SPEC.visitors_per_day,
        ms(ceiling.p50),
        ms(ceiling.p95)
    );
    println!("| endpoint | uncached p50 ms | uncached p95 ms | p95 / SELECT 1 p95 | cached p50 ms | cached p95 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, path) in endpoints {
        let path = path.replace("{s}", &site.id.to_string());
        let cold = measure(&http, &format!("{uncached}/api/analytics/{path}"), &token, SAMPLES).await;
        let warm = measure(&http, &format!("{cached}/api/analytics/{path}"), &token, SAMPLES).await;
        println!(
            "| {name} | {} | {} | {:.0} | {} | {} |",
            ms(cold.p50),
            ms(cold.p95),
            cold.p95.as_secs_f64() / ceiling.p95.as_secs_f64(),
            ms(warm.p50),
            ms(warm.p95)
        );
    }
    println!();
    stop_uncached.cancel();
    stop_cached.cancel();
}
