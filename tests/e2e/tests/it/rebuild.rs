//! `analytics-ctl rebuild`: a day's rollups computed again from its kept
//! events equal the day as the aggregator counted it, spoiled rollups come
//! back, and rebuilds running while late events of the day arrive lose none
//! of them.

use std::process::Command;
use std::time::Duration;

use analytics_e2e::{Pipeline, binary, eventually};
use analytics_events::{Event, EventBatch, EventType, Message, Source, Timing};
use chrono::{Days, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::query_api::{IPHONE, WINDOWS, pageview, tehran_noon};

/// Every rollup that a rebuild writes, with (site) and without a visitors
/// sketch (their cardinality stands for them: equal sets of visitors give
/// equal estimates, whatever the sketch's representation).
const ROLLUPS: [(&str, bool); 13] = [
    ("hourly_totals", true),
    ("daily_totals", true),
    ("daily_dimensions", true),
    ("daily_dimension_counts", false),
    ("daily_speed", false),
    ("daily_site_speed", false),
    ("daily_app_versions", false),
    ("daily_value_counts", false),
    ("monthly_dimensions", true),
    ("monthly_dimension_counts", false),
    ("monthly_speed", false),
    ("weekly_dimensions", true),
    ("weekly_dimension_counts", false),
];

/// The site's rows of every rollup, each table's rows in one order.
async fn rollups(db: &tokio_postgres::Client, site: &str) -> Value {
    let site = uuid::Uuid::parse_str(site).expect("site id");
    let mut all = serde_json::Map::new();
    for (table, sketched) in ROLLUPS {
        let row = match sketched {
            true => "to_jsonb(t) || jsonb_build_object('visitors', hll_cardinality(t.visitors))",
            false => "to_jsonb(t)",
        };
        let sql = format!(
            "SELECT coalesce(jsonb_agg(r ORDER BY r::text), '[]') FROM (SELECT {row} AS r FROM {table} t WHERE site_id = $1) x"
        );
        let rows: Value = db.query_one(&sql, &[&site]).await.expect(table).get(0);
        all.insert(table.to_owned(), rows);
    }
    Value::Object(all)
}

/// `analytics-ctl rebuild` of `site` from `from` to `to`: success, stdout, stderr.
pub(crate) fn rebuild(postgres_url: &str, site: &str, from: NaiveDate, to: NaiveDate) -> (bool, String, String) {
    let output = Command::new(binary("analytics-ctl"))
        .args(["rebuild", "--site", site, "--from", &from.to_string(), "--to", &to.to_string()])
        .env("ANALYTICS__POSTGRES__URL", postgres_url)
        .env("ANALYTICS_CONFIG_DIR", "/nonexistent")
        .output()
        .expect("analytics-ctl runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// A day in Tehran: pageviews on the web and a phone, with a referrer,
/// a campaign, a custom event with a property, a page's later timings, and
/// two requests of an app that report their status and response time.
fn day_of_events(site: &str, noon: i64) -> Vec<Event> {
    let mut referred = pageview(site, noon, "/pricing", "Pricing", WINDOWS, 1);
    referred.referrer = "https://www.google.com/search?q=x".into();
    referred.utm_campaign = "winter".into();
    referred.timing = Some(Timing { load_ms: Some(480), lcp_ms: Some(900), ..Default::default() });
    let mut signup = pageview(site, noon + 60_000, "/pricing", "", WINDOWS, 1);
    signup.r#type = EventType::Custom as i32;
    signup.name = "signup".into();
    signup.props = [("plan".to_owned(), "pro".to_owned())].into();
    let mut timings = pageview(site, noon + 90_000, "/pricing", "", WINDOWS, 1);
    timings.r#type = EventType::Performance as i32;
    timings.timing = Some(Timing { inp_ms: Some(120), ..Default::default() });
    let app = |status: &str, ms: u32, hour: i64| Event {
        source: Source::App as i32,
        user_agent: "okhttp/4.12.0".into(),
        app_version: "3.2.0".into(),
        props: [("status".to_owned(), status.to_owned())].into(),
        timing: Some(Timing { response_ms: Some(ms), ..Default::default() }),
        ..pageview(site, noon + hour * 3_600_000, "/api/orders", "", "", 7)
    };
    let mut events = vec![referred, signup, timings, app("200", 80, 1), app("503", 900, 2)];
    for visitor in 2..8 {
        let (ua, path) = if visitor % 2 == 0 { (IPHONE, "/blog/a") } else { (WINDOWS, "/") };
        let mut view = pageview(site, noon - visitor as i64 * 3_600_000, path, "Home", ua, visitor);
        view.country = if visitor < 5 { "IR" } else { "DE" }.into();
        events.push(view);
    }
    events.push(pageview(site, noon + 120_000, "/blog/a", "", IPHONE, 2));
    let mut download = pageview(site, noon + 180_000, "/blog/a", "", IPHONE, 2);
    download.r#type = EventType::Custom as i32;
    download.name = "download".into();
    events.push(download);
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_gives_back_the_day_as_counted_while_events_arrive() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    let site = pipeline.site_id.clone();
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Tehran).date_naive();
    // A day of a week that is over, whose week rows maintenance has summed:
    // a rebuild sums them again, and late events add to them as well.
    let day = today.checked_sub_days(Days::new(10)).expect("a day");
    let noon = tehran_noon(day);
    let events = day_of_events(&site, noon);
    let kept = events.len() as i64;
    let pageviews = events.iter().filter(|e| e.r#type == EventType::Pageview as i32).count() as i64;
    let batch = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events };
    // A prefix goal from the start: its rows (migration V16) are summed live,
    // sealed with the week, and must come back from a rebuild as well.
    let mut goals_db = pipeline.namespace.db().await;
    let site_id = uuid::Uuid::parse_str(&site).expect("site id");
    let page = analytics_store::goals::GoalKind::Page;
    analytics_store::goals::add(&mut goals_db, site_id, page, "/blog/*").await.expect("a goal");
    pipeline.publish(&batch.encode_to_vec()).await;
    let counted = |n: i64| {
        let pipeline = &pipeline;
        async move {
            eventually(&format!("{n} pageviews"), Duration::from_secs(30), || async {
                (pipeline.overview().await["total"]["pageviews"] == n).then_some(())
            })
            .await
        }
    };
    counted(pageviews).await;
    let db = pipeline.namespace.db().await;
    let url = pipeline.namespace.postgres.url().to_owned();
    let settings: analytics_aggregator::Settings =
        analytics_config::from_defaults(analytics_aggregator::Settings::DEFAULTS).expect("defaults");
    let pool = analytics_store::pg_pool(&pipeline.namespace.postgres).expect("pool");
    analytics_aggregator::maintenance::run_once(&pool, &settings.aggregator).await.expect("maintenance");
    let as_counted = rollups(&db, &site).await;
    assert_ne!(as_counted["weekly_dimensions"], json!([]), "the day's week is sealed");
    for period in ["daily", "weekly", "monthly"] {
        let rows = as_counted[format!("{period}_dimensions")].as_array().expect("rows");
        assert!(rows.iter().any(|r| r["dimension"] == "goal" && r["value"] == "/blog/*"), "{period} goal rows");
    }
    assert_ne!(as_counted["daily_app_versions"], json!([]), "the app's requests are in the day");
    assert_ne!(as_counted["daily_speed"], json!([]), "the timings are in the day");

    // Rollups spoiled in every kind of way come back as they were counted.
    db.batch_execute(&format!(
        "UPDATE daily_totals SET pageviews = pageviews + 1000 WHERE site_id = '{site}';
         DELETE FROM daily_dimensions WHERE site_id = '{site}' AND dimension = 'country';
         DELETE FROM daily_speed WHERE site_id = '{site}';
         UPDATE monthly_dimension_counts SET pageviews_web = 0 WHERE site_id = '{site}';
         DELETE FROM daily_app_versions WHERE site_id = '{site}';
         UPDATE weekly_dimensions SET pageviews = 0 WHERE site_id = '{site}' AND dimension = 'page';"
    ))
    .await
    .expect("spoil");
    assert_ne!(rollups(&db, &site).await, as_counted);
    let (ok, out, err) = rebuild(&url, &site, day, day);
    assert!(ok, "{err}");
    let days: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(days, json!([{"day": day.to_string(), "events": kept}]));
    assert_eq!(rollups(&db, &site).await, as_counted);

    // Rebuilds while late pageviews of the day arrive, one batch each:
    // every one of them counted once, and the day still equals its events.
    let running = {
        let (url, site) = (url.clone(), site.clone());
        tokio::task::spawn_blocking(move || (0..5).map(|_| rebuild(&url, &site, day, day)).collect::<Vec<_>>())
    };
    for i in 0..20 {
        let late = pageview(&site, noon + 600_000 + i * 1000, "/late", "", WINDOWS, 100 + i as u64);
        let batch = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events: vec![late] };
        pipeline.publish(&batch.encode_to_vec()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rebuilds = running.await.expect("rebuilds");
    for (ok, _, err) in rebuilds {
        assert!(ok, "{err}");
    }
    counted(pageviews + 20).await;
    let with_late = rollups(&db, &site).await;
    let (ok, _, err) = rebuild(&url, &site, day, day);
    assert!(ok, "{err}");
    assert_eq!(rollups(&db, &site).await, with_late);

    // A day whose events are no longer kept is refused, and named.
    let old = day.checked_sub_days(Days::new(100)).expect("day");
    let (ok, _, err) = rebuild(&url, &site, old, old);
    assert!(!ok && err.contains(&format!("{old}: no kept events")), "{err}");
    pipeline.stop().await;
}
