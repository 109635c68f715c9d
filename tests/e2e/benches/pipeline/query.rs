//! Dashboard latency over a year of rollups of a busy site: every endpoint's
//! p50 and p95, uncached and cached, on the worst and the best day of the
//! month for the ranges a dashboard asks for, next to a `SELECT 1` round trip
//! to the same Postgres in the same run.

use std::time::{Duration, Instant};

use analytics_aggregator::backfill::{BackfillSpec, backfill};
use analytics_e2e::Namespace;
use analytics_query::{Clock, DayRange};
use chrono::{Datelike, Days, NaiveDate};
use secrecy::SecretString;

/// A year and a month: any day of the last month has a whole year behind it.
const SPEC: BackfillSpec =
    BackfillSpec { days: 396, pageviews_per_day: 1_000_000, pages: 5_000, countries: 150, visitors_per_day: 200_000 };
/// The days "today" may be for the worst and best case: the last month's.
const CANDIDATE_DAYS: u64 = 31;
const SAMPLES: usize = 40;

pub struct Latency {
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Percentiles of `samples` (zero when there are none).
pub fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort();
    let at = |q: f64| match samples.len() {
        0 => Duration::ZERO,
        n => samples[((n as f64 * q).ceil() as usize).clamp(1, n) - 1],
    };
    Latency { p50: at(0.50), p95: at(0.95), p99: at(0.99), max: at(1.0) }
}

pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

pub(crate) async fn start_query(
    namespace: &Namespace,
    cached: bool,
    clock: Clock,
) -> (String, analytics_telemetry::Shutdown) {
    start_query_with(namespace, cached, clock, |_| {}).await
}

/// [`start_query`] with its settings changed by `adjust` last.
pub(crate) async fn start_query_with(
    namespace: &Namespace,
    cached: bool,
    clock: Clock,
    adjust: impl FnOnce(&mut analytics_query::Settings),
) -> (String, analytics_telemetry::Shutdown) {
    let mut settings: analytics_query::Settings =
        analytics_config::from_defaults(analytics_query::Settings::DEFAULTS).expect("defaults");
    settings.http.host = "127.0.0.1".into();
    settings.http.port = 0;
    // Several run at once: each its own ops port too.
    settings.ops.host = "127.0.0.1".into();
    settings.ops.port = 0;
    settings.postgres = settings.postgres.on_database_of(&namespace.postgres);
    settings.redis = namespace.redis.clone();
    settings.query.admin_token = SecretString::from("bench-admin");
    // One client asking many times in a row: measured without the per-token limit.
    settings.query.rate_limit_per_second = 0.0;
    if !cached {
        settings.query.cache_live_seconds = 0;
        settings.query.cache_closed_seconds = 0;
    }
    adjust(&mut settings);
    let app = analytics_query::Application::build_with_clock(settings, clock).await.expect("query");
    let url = format!("http://127.0.0.1:{}", app.port());
    let shutdown = analytics_telemetry::Shutdown::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    (url, shutdown)
}

/// Up to `n` timed requests after 3 warm-up ones; fewer when an endpoint is
/// slow: at least 5 within 20 seconds, at least 2 within a minute.
pub(crate) async fn measure(http: &reqwest::Client, url: &str, token: &str, n: usize) -> Latency {
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

/// What the last 30 days and the last 12 months ending on `today` read per
/// value: whole months, whole weeks sealed by then (as maintenance seals
/// them: a week whose Sunday is more than a day past), and every other day.
/// The day of the month and of the week decide it.
fn periods_read(today: NaiveDate) -> usize {
    let last_sealed = analytics_aggregator::weeks::monday_of(today - Days::new(8));
    [30, 365]
        .iter()
        .map(|days| {
            let from = today.checked_sub_days(Days::new(days - 1)).unwrap_or(today);
            let sealed: Vec<NaiveDate> =
                analytics_aggregator::weeks::monday_of(from).iter_weeks().take_while(|m| *m <= last_sealed).collect();
            let split = DayRange { from, to: today }.split_months(today).with_weeks(&sealed);
            split.months.len() + split.weeks.len() + split.days.len()
        })
        .sum()
}

/// The days of the last month on which the dashboard's ranges read the most
/// and the fewest periods (the latest on ties).
fn worst_and_best(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let candidates: Vec<NaiveDate> =
        (0..CANDIDATE_DAYS).rev().filter_map(|back| today.checked_sub_days(Days::new(back))).collect();
    let worst = candidates.iter().copied().max_by_key(|d| periods_read(*d)).unwrap_or(today);
    let best = candidates.iter().copied().rev().min_by_key(|d| periods_read(*d)).unwrap_or(today);
    (worst, best)
}

/// The dimension rows' size per period (tables, indexes and TOAST; a
/// partitioned table's partitions added up), as a sentence.
async fn storage(db: &tokio_postgres::Client) -> String {
    let sql = "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_class c
               WHERE c.relname = ANY($1) OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent::regclass::text = ANY($1))";
    let mut sizes = Vec::new();
    for (period, tables) in [
        ("daily", ["daily_dimensions", "daily_dimension_counts"]),
        ("weekly", ["weekly_dimensions", "weekly_dimension_counts"]),
        ("monthly", ["monthly_dimensions", "monthly_dimension_counts"]),
    ] {
        let bytes: i64 = db.query_one(sql, &[&tables.to_vec()]).await.expect("sizes").get(0);
        sizes.push(format!("{period} {:.0} MB", bytes as f64 / 1e6));
    }
    format!("Dimension rows on disk (with indexes and TOAST): {}.", sizes.join(", "))
}

pub async fn run() {
    let namespace = Namespace::create_durable().await;
    let mut db = namespace.db().await;
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
    // Without filters, goals are answered from the rollups; a prefix's rows
    // are derived from its pages' rows as it is added.
    analytics_store::goals::add(&mut db, site.id, analytics_store::goals::GoalKind::Event, "signup")
        .await
        .expect("goal");
    let started = Instant::now();
    analytics_store::goals::add(&mut db, site.id, analytics_store::goals::GoalKind::Page, "/page/1*")
        .await
        .expect("goal");
    let derive_time = started.elapsed();
    db.batch_execute("VACUUM ANALYZE").await.expect("vacuum");
    let storage = storage(&db).await;

    let mut select_one = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        db.query_one("SELECT 1", &[]).await.expect("select 1");
        select_one.push(started.elapsed());
    }
    let ceiling = latency(select_one);

    let http = reqwest::Client::new();
    let (worst, best) = worst_and_best(today);
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
        ("goals (an event, a prefix of 1,111 pages), 30 days", "goals/?site={s}&days=30".into()),
        ("goals (an event, a prefix of 1,111 pages), 12 months", "goals/?site={s}&days=365".into()),
    ];

    println!("## Query: dashboard latency over a year of rollups\n");
    println!(
        "{} days backfilled through the aggregator's upsert path ({rows} rollup rows in {:.0} s): {} pageviews a \
         day, {} pages, {} countries, 3 sources, {} visitors a day, site in Asia/Tehran; then VACUUM ANALYZE (autovacuum's work on a live site). {SAMPLES} sequential \
         requests per endpoint after 3 warm-up requests (fewer for slow endpoints: at least 5 within 20 s, at least 2 within a minute), HTTP on loopback included. Uncached: a query service with \
         cache TTLs of 0. Each endpoint is asked with \"today\" set to the worst and to the best day of the last month \
         for the last 30 days and 12 months (the day of the month and of the week decide how many whole months, \
         sealed weeks and single days they read): worst {worst} ({} months, weeks and days), best {best} ({}). \
         The backfill seals every week that is over by the real today, as maintenance does; so on a Monday \
         the measured range may read one sealed week that would still be seven days on that Monday. \
         Adding the prefix goal derived its rows from its pages' in {:.1} s. \
         Ceiling: `SELECT 1` round trip to the same Postgres, p50 {} ms, p95 {} ms.\n",
        SPEC.days,
        backfill_time.as_secs_f64(),
        SPEC.pageviews_per_day,
        SPEC.pages,
        SPEC.countries,
        SPEC.visitors_per_day,
        periods_read(worst),
        periods_read(best),
        derive_time.as_secs_f64(),
        ms(ceiling.p50),
        ms(ceiling.p95)
    );
    println!("{storage}\n");
    println!(
        "| endpoint | worst day uncached p50 ms | worst day uncached p95 ms | p95 / SELECT 1 p95 | best day uncached p95 ms | worst day cached p95 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let steal = crate::cpu::machine_steal();
    let (worst_uncached, stop_worst) = start_query(&namespace, false, Clock::Fixed(worst)).await;
    let (best_uncached, stop_best) = start_query(&namespace, false, Clock::Fixed(best)).await;
    let (worst_cached, stop_worst_cached) = start_query(&namespace, true, Clock::Fixed(worst)).await;
    for (name, path) in endpoints {
        let path = path.replace("{s}", &site.id.to_string());
        let cold = measure(&http, &format!("{worst_uncached}/api/analytics/{path}"), &token, SAMPLES).await;
        let best_cold = measure(&http, &format!("{best_uncached}/api/analytics/{path}"), &token, SAMPLES).await;
        let warm = measure(&http, &format!("{worst_cached}/api/analytics/{path}"), &token, SAMPLES).await;
        println!(
            "| {name} | {} | {} | {:.0} | {} | {} |",
            ms(cold.p50),
            ms(cold.p95),
            cold.p95.as_secs_f64() / ceiling.p95.as_secs_f64(),
            ms(best_cold.p95),
            ms(warm.p95)
        );
    }
    println!(
        "\nCPU time stolen by the hypervisor while these were measured: {:.0}%.\n",
        crate::cpu::steal_percent_since(steal)
    );
    for stop in [stop_worst, stop_best, stop_worst_cached] {
        stop.cancel();
    }
    // The panel asks for the real today's figures.
    let (cached, stop_cached) = start_query(&namespace, true, Clock::System).await;
    panel_load(&cached, &site.id.to_string(), &token, today).await;
    stop_cached.cancel();
}

/// How many times the panel benchmark loads each view, cold and warm.
const PANEL_RUNS: usize = 10;

/// The panel's first and warm page load over the same year of data, in
/// Chromium (panel/scripts/load-bench.sh), against the caching query service:
/// cold is a new browser profile right after clear-cache.
async fn panel_load(query_url: &str, site: &str, token: &str, today: chrono::NaiveDate) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../panel/scripts/load-bench.sh");
    let views = ["/en", "/en?range=12mo", "/fa?range=month"];
    let output = tokio::process::Command::new(script)
        .args([query_url, site, token, "bench-admin", &PANEL_RUNS.to_string()])
        .args(views)
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .expect("panel/scripts/load-bench.sh");
    assert!(output.status.success(), "panel load benchmark failed: {}", output.status);
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let ceiling = lines.iter().find(|l| l["view"] == "ceiling").expect("the ceiling's line");
    let ceiling_p95 = ceiling["html"]["p95"].as_f64().unwrap_or(f64::NAN);
    println!("## Panel: page load over a year of rollups\n");
    println!(
        "The panel (`next start`, production build) for the site above, measured in Chromium with the Navigation \
         Timing API, {PANEL_RUNS} runs per view: cold is a new browser profile right after clear-cache (every \
         figure computed from Postgres, every script fetched), warm the same page loaded again. HTML is \
         `responseEnd` (the server-rendered page received), loaded is `loadEventEnd`. Measured on day {} of the \
         month. Ceiling: the panel's health route (a Next.js answer with no work behind it), HTML p50 {} ms, \
         p95 {} ms. Goals: cold under 500 ms, warm under 100 ms.\n",
        today.day(),
        ceiling["html"]["p50"],
        ceiling["html"]["p95"],
    );
    println!(
        "| view | cold HTML p50 ms | cold HTML p95 ms | cold loaded p95 ms | warm HTML p50 ms | warm HTML p95 ms | warm loaded p95 ms | warm HTML p95 / ceiling p95 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for line in lines.iter().filter(|l| l["view"] != "ceiling") {
        println!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {:.1} |",
            line["view"].as_str().unwrap_or("?"),
            line["cold"]["html"]["p50"],
            line["cold"]["html"]["p95"],
            line["cold"]["loaded"]["p95"],
            line["warm"]["html"]["p50"],
            line["warm"]["html"]["p95"],
            line["warm"]["loaded"]["p95"],
            line["warm"]["html"]["p95"].as_f64().unwrap_or(f64::NAN) / ceiling_p95,
        );
    }
    println!();
}
