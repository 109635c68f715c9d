//! `analytics-ctl import django` on a Visit table created with the DDL Django
//! 5.2 generates for the old middleware's model (`analytics_e2e::legacy`), filled with rows the way
//! that middleware writes them (web and app, desktop and phones, sessions
//! and rows without one, countries, a signed-in user, a crawler, a row
//! older than retention, one three days ahead). The rollups must equal SQL over the source table
//! per day and page, day and country, day and source, and visitors per day;
//! a run stopped part-way (`--max-rows`) or killed with SIGKILL between two
//! commits resumes to the same figures, and a further run adds nothing.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use analytics_e2e::{Namespace, Pipeline, binary, eventually};
use chrono::{Duration, Utc};
use serde_json::Value;

const DESKTOP: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
const APP: &str = "Dart/3.4 (dart:io)";
const CRAWLER: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

const ROWS: i64 = 3_000;
/// With one row older than retention and one three days ahead.
const ALL_ROWS: i64 = ROWS + 2;

/// What the rows count as, by SQL over the source table: signed-in users
/// and the crawler are not counted, nor rows older than retention; phones
/// on the web are mobile web.
const COUNTED: &str = "FROM analytics_visit WHERE user_id IS NULL AND user_agent NOT LIKE '%Googlebot%'
     AND timestamp > now() - interval '760 days' AND timestamp < now() + interval '1 day'";
const LOCAL_DAY: &str = "(timestamp AT TIME ZONE 'Europe/Berlin')::date";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_django_visit_table_imports_exactly_once_and_resumes() {
    // The whole pipeline, for the overview's note on imported days.
    let pipeline = Pipeline::start("Europe/Berlin").await;
    let namespace = &pipeline.namespace;
    let db = namespace.db().await;
    let site = pipeline.site_id.clone();
    db.batch_execute(analytics_e2e::legacy::DJANGO_VISIT_DDL).await.expect("the Visit table");
    fill(&db).await;

    let ctl = |args: &[&str]| {
        let output = import_command(namespace, &site, 700).args(args).output().expect("analytics-ctl runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).expect("json")
    };

    let months = ctl(&["--dry-run"]);
    let planned: i64 = months.as_array().expect("months").iter().map(|m| m["rows"].as_i64().expect("rows")).sum();
    assert_eq!(planned, ALL_ROWS, "{months}");

    // A run that stops part-way (as a killed one would, after a commit)...
    let first = ctl(&["--max-rows", "1000"]);
    assert_eq!(first["rows_read"], 1000, "{first}");
    // ...and the next run goes on from its last key.
    let rest = ctl(&[]);
    assert_eq!(rest["rows_read"], ALL_ROWS - 1000, "{rest}");
    assert_eq!(rest["out_of_range"], 2, "one row too old, one too far ahead: {rest}");
    let signed_in = scalar(&db, "SELECT count(*) FROM analytics_visit WHERE user_id IS NOT NULL").await;
    let crawled = scalar(&db, "SELECT count(*) FROM analytics_visit WHERE user_agent LIKE '%Googlebot%'").await;
    let sum = |field: &str| first[field].as_i64().expect("a count") + rest[field].as_i64().expect("a count");
    assert_eq!(sum("excluded"), signed_in);
    let crawler = |run: &Value| run["dropped"]["crawler"].as_i64().unwrap_or(0);
    assert_eq!(crawler(&first) + crawler(&rest), crawled, "{first} {rest}");
    let counted = scalar(&db, &format!("SELECT count(*) {COUNTED}")).await;
    assert_eq!(sum("counted"), counted);

    let expected = source_figures(&db).await;
    let sources: Vec<&str> = expected.keys().filter(|k| k.1 == "source").map(|k| k.2.as_str()).collect();
    assert!(["app", "mobile_web", "web"].iter().all(|s| sources.contains(s)), "{sources:?}");
    assert!(expected.keys().filter(|k| k.1 == "total").count() >= 30, "rows on each of 30 days");
    assert_eq!(rollup_figures(&db, &site).await, expected);

    // Again: nothing left, nothing added.
    let again = ctl(&[]);
    assert_eq!(again["rows_read"], 0, "{again}");
    assert_eq!(ctl(&["--dry-run"]), serde_json::json!([]));
    assert_eq!(rollup_figures(&db, &site).await, expected);

    let progress = db
        .query_one("SELECT last_key, rows_read FROM imports WHERE source = 'django'", &[])
        .await
        .expect("progress row");
    assert_eq!((progress.get::<_, i64>(0), progress.get::<_, i64>(1)), (ALL_ROWS, ALL_ROWS));

    // The overview says which days were imported, and from where.
    let days = db
        .query_one(
            &format!(
                "SELECT min({LOCAL_DAY})::text, max({LOCAL_DAY})::text FROM analytics_visit
                 WHERE user_id IS NULL AND timestamp > now() - interval '760 days'
                   AND timestamp < now() + interval '1 day'"
            ),
            &[],
        )
        .await
        .expect("imported days");
    let overview = pipeline.overview().await;
    assert_eq!(
        overview["imported"],
        serde_json::json!([{
            "source": "django", "table": "analytics_visit", "rows": ALL_ROWS,
            "first_day": days.get::<_, String>(0), "last_day": days.get::<_, String>(1),
        }]),
        "{overview}"
    );
    assert_eq!(overview["total"]["pageviews"], counted, "{overview}");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_table_name_or_unknown_site_is_refused_by_name() {
    let namespace = Namespace::create().await;
    let run = |site: &str, table: &str| {
        import_command(&namespace, site, 700).args(["--table", table]).output().expect("analytics-ctl runs")
    };
    namespace.add_site("known.example", "UTC").await;
    let bad_table = run("known.example", "visit; DROP TABLE sites");
    assert!(!bad_table.status.success());
    assert!(String::from_utf8_lossy(&bad_table.stderr).contains("--table"), "{bad_table:?}");
    let unknown = run("nobody.example", "analytics_visit");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--site \"nobody.example\""), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_mid_run_resumes_to_the_same_figures_whatever_the_hostname_rule() {
    let namespace = Namespace::create().await;
    let db = namespace.db().await;
    let (site, _) = namespace.add_site("killed.example", "Europe/Berlin").await;
    // A hostname rule that does not name the site's domain: the table has no
    // hostnames, so it must not leave the rows out.
    let rules = analytics_store::sites::RulesUpdate {
        hostnames: Some(vec!["www.elsewhere.example".into()]),
        ..Default::default()
    };
    analytics_store::sites::update_rules(&db, &site, rules).await.expect("rules");
    db.batch_execute(analytics_e2e::legacy::DJANGO_VISIT_DDL).await.expect("the Visit table");
    fill(&db).await;

    // Small chunks, so that the kill lands between two commits of many.
    let mut child = import_command(&namespace, &site, 50).stdout(Stdio::null()).spawn().expect("analytics-ctl runs");
    let applied = || async { scalar(&db, "SELECT coalesce(max(rows_read), 0) FROM imports").await };
    eventually("the first chunks are applied", std::time::Duration::from_secs(60), || async {
        (applied().await >= 500).then_some(())
    })
    .await;
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let at_kill = applied().await;
    assert!(at_kill < ALL_ROWS, "the import ended before the kill: make its chunks smaller");

    let output = import_command(&namespace, &site, 700).output().expect("analytics-ctl runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rest: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(rest["rows_read"], ALL_ROWS - at_kill, "the rerun starts after the last commit: {rest}");
    assert_eq!(rollup_figures(&db, &site).await, source_figures(&db).await);
}

/// `analytics-ctl import django` of the namespace's own Visit table into `site`.
fn import_command(namespace: &Namespace, site: &str, chunk_rows: usize) -> Command {
    let mut command = Command::new(binary("analytics-ctl"));
    command
        .args(["import", "django", "--database-url", namespace.postgres.url(), "--site", site])
        .env("ANALYTICS__POSTGRES__URL", namespace.postgres.url())
        .env("ANALYTICS__IMPORT__UA_REGEXES", analytics_e2e::ua_regexes())
        .env("ANALYTICS__IMPORT__CHUNK_ROWS", chunk_rows.to_string())
        .env("ANALYTICS_CONFIG_DIR", "/nonexistent");
    command
}

/// The rows, as the old middleware wrote them, over the last 30 days (and
/// one far older).
async fn fill(db: &tokio_postgres::Client) {
    let now = Utc::now();
    let mut rows = Vec::new();
    for i in 0..ROWS {
        let app = i % 10 == 0;
        let user_agent = match i {
            _ if app => APP,
            _ if i % 97 == 1 => CRAWLER,
            _ if i % 3 == 0 => IPHONE,
            _ if i % 3 == 1 => ANDROID,
            _ => DESKTOP,
        };
        let path = if app { format!("/api/items/{}", i % 4) } else { format!("/p/{}", i % 17) };
        let session = (i % 50 != 7).then(|| format!("session{}", i % 230));
        let country = ["IR", "DE", "US", ""][(i % 4) as usize];
        let when = now - Duration::days(1 + i % 30) - Duration::minutes(i * 37 % 1440);
        rows.push((app, user_agent, path, session, country, when, i % 33 == 5, i));
    }
    let statement = db
        .prepare(
            "INSERT INTO analytics_visit (source, user_id, session_key, path, method, ip_address, country, device,
                 browser, os, user_agent, referrer, response_time, timestamp)
             VALUES ($1, $2, $3, $4, 'GET', $5::text::inet, nullif($6, ''), 'desktop', 'Chrome', 'Windows', $7, $8,
                 $9, $10)",
        )
        .await
        .expect("insert");
    for (app, user_agent, path, session, country, when, signed_in, i) in rows {
        let source = if app { "app" } else { "web" };
        let user_id = signed_in.then_some(42i64);
        let ip = format!("203.0.113.{}", i % 250);
        let referrer = if i % 5 == 0 { "https://www.google.com/" } else { "" };
        let response = 3.0 + (i % 40) as f64;
        db.execute(
            &statement,
            &[&source, &user_id, &session, &path, &ip, &country, &user_agent, &referrer, &response, &when],
        )
        .await
        .expect("row");
    }
    for (path, when) in [("/old", now - Duration::days(800)), ("/ahead", now + Duration::days(3))] {
        db.execute(
            "INSERT INTO analytics_visit (source, session_key, path, method, device, browser, os, user_agent,
                 referrer, timestamp)
             VALUES ('web', 'out-of-range', $1, 'GET', 'desktop', 'Chrome', 'Windows', $2, '', $3)",
            &[&path, &DESKTOP, &when],
        )
        .await
        .expect("a row out of range");
    }
}

/// (local day, dimension, value) -> (pageviews, visitors).
type Figures = BTreeMap<(String, String, String), (i64, i64)>;

async fn source_figures(db: &tokio_postgres::Client) -> Figures {
    let source = "CASE WHEN source = 'app' THEN 'app'
                       WHEN user_agent LIKE '%iPhone%' OR user_agent LIKE '%Android%' THEN 'mobile_web'
                       ELSE 'web' END";
    let visitor = "coalesce(session_key, host(ip_address) || user_agent)";
    let mut figures = Figures::new();
    for (dimension, value) in
        [("page", "path"), ("country", "coalesce(country, 'unknown')"), ("source", source), ("total", "''")]
    {
        let sql =
            format!("SELECT {LOCAL_DAY}::text, {value}, count(*), count(DISTINCT {visitor}) {COUNTED} GROUP BY 1, 2");
        for row in db.query(&sql, &[]).await.expect("source figures") {
            figures.insert((row.get(0), dimension.to_owned(), row.get(1)), (row.get(2), row.get(3)));
        }
    }
    figures
}

async fn rollup_figures(db: &tokio_postgres::Client, site: &str) -> Figures {
    let site = uuid::Uuid::parse_str(site).expect("site id");
    let mut figures = Figures::new();
    let visitors = "round(hll_cardinality(hll_union_agg(visitors)))::int8";
    let queries = [
        format!(
            "SELECT local_day::text, dimension, value, sum(pageviews)::int8, {visitors} FROM daily_dimensions
             WHERE site_id = $1 AND dimension IN ('page', 'country') GROUP BY 1, 2, 3"
        ),
        format!(
            "SELECT local_day::text, 'source', source, sum(pageviews)::int8, {visitors} FROM daily_totals
             WHERE site_id = $1 GROUP BY 1, 3"
        ),
        format!(
            "SELECT local_day::text, 'total', '', sum(pageviews)::int8, {visitors} FROM daily_totals
             WHERE site_id = $1 GROUP BY 1"
        ),
    ];
    for sql in queries {
        for row in db.query(&sql, &[&site]).await.expect("rollup figures") {
            figures.insert((row.get(0), row.get(1), row.get(2)), (row.get(3), row.get(4)));
        }
    }
    figures
}

async fn scalar(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.expect("scalar").get(0)
}
