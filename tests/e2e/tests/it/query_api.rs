//! The dashboard API over rollups of a scripted set of events, with exact
//! expected numbers (visitor counts are exact at these sizes).

use std::time::Duration;

use analytics_e2e::{Pipeline, PipelineOptions, TEST_ADMIN_TOKEN, eventually};
use analytics_events::{Event, EventBatch, EventType, Message, Source, Timing};
use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Tehran;
use serde_json::Value;

pub(crate) const WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
pub(crate) const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const PERSIAN_MONTHS: [&str; 12] =
    ["فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند"];

/// Noon of a Tehran local day, as Unix ms.
pub(crate) fn tehran_noon(day: NaiveDate) -> i64 {
    Tehran
        .from_local_datetime(&day.and_hms_opt(12, 0, 0).expect("time"))
        .single()
        .expect("unambiguous")
        .timestamp_millis()
}

pub(crate) fn pageview(site: &str, at: i64, path: &str, title: &str, ua: &str, visitor: u64) -> Event {
    Event {
        site_id: site.to_owned(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: at,
        received_ms: at,
        path: path.into(),
        title: title.into(),
        source: Source::Web as i32,
        user_agent: ua.into(),
        country: "IR".into(),
        visitor_id: visitor,
        ..Default::default()
    }
}

async fn publish(pipeline: &Pipeline, events: Vec<Event>) {
    let id = uuid::Uuid::now_v7().to_string();
    pipeline.publish(&EventBatch { batch_id: id, events }.encode_to_vec()).await;
}

/// Waits until the site's rollups hold `n` pageviews in all.
async fn wait_for_pageviews(pipeline: &Pipeline, n: i64) {
    eventually(&format!("{n} pageviews"), Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == n).then_some(())
    })
    .await;
}

/// An answer computed now, whatever the query service's cache holds (closed
/// ranges are cached for an hour).
pub(crate) async fn fresh(pipeline: &Pipeline, path_and_query: &str) -> serde_json::Value {
    let url = format!("{}/api/analytics/{path_and_query}", pipeline.query_url);
    let response =
        pipeline.http.get(url).bearer_auth(&pipeline.token).header("X-Skip-Cache", "1").send().await.expect("query");
    assert!(response.status().is_success(), "{path_and_query}: {}", response.status());
    response.json().await.expect("json")
}

async fn get(pipeline: &Pipeline, path_and_query: &str) -> (u16, Value, Option<String>) {
    let response = pipeline.query(path_and_query).await;
    let status = response.status().as_u16();
    let cache = response.headers().get("x-cache").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, response.json().await.expect("json"), cache)
}

pub(crate) async fn ok(pipeline: &Pipeline, path_and_query: &str) -> Value {
    let (status, body, _) = get(pipeline, path_and_query).await;
    assert_eq!(status, 200, "{path_and_query}: {body}");
    body
}

/// The scripted events: (local day offset from today, pageviews...) as in the comments.
fn scripted(site: &str, today: NaiveDate) -> Vec<Event> {
    let day = |back: u64| tehran_noon(today.checked_sub_days(Days::new(back)).expect("date"));
    let mut events = Vec::new();
    for (visitor, load) in [(1, 100), (2, 200), (1, 300)] {
        let mut e = pageview(site, day(0), "/a", "A", WINDOWS, visitor);
        e.timing = Some(Timing { load_ms: Some(load), ..Default::default() });
        events.push(e);
    }
    let mut phone = pageview(site, day(0), "/b", "B", IPHONE, 3);
    phone.country = "DE".into();
    events.push(phone);
    let mut app = pageview(site, day(0), "/home", "Home", "Dart/3.4 (dart:io)", 4);
    app.source = Source::App as i32;
    app.app_platform = "android".into();
    events.push(app);
    let mut signup = pageview(site, day(0), "/a", "", WINDOWS, 1);
    signup.r#type = EventType::Custom as i32;
    signup.name = "signup".into();
    events.push(signup);
    events.push(pageview(site, day(1), "/a", "A", WINDOWS, 5));
    events.push(pageview(site, day(1), "/a", "A", WINDOWS, 6));
    let mut older = pageview(site, day(10), "/c", "C", WINDOWS, 7);
    older.country = "DE".into();
    events.push(older);
    events.push(pageview(site, day(40), "/a", "A", WINDOWS, 8));
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_exact_numbers() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    let site = pipeline.site_id.clone();
    let today = Utc::now().with_timezone(&Tehran).date_naive();
    let events = scripted(&site, today);
    let days: Vec<NaiveDate> = events
        .iter()
        .filter(|e| e.r#type == EventType::Pageview as i32)
        .map(|e| Utc.timestamp_millis_opt(e.timestamp_ms).single().expect("ms").with_timezone(&Tehran).date_naive())
        .collect();
    publish(&pipeline, events).await;
    wait_for_pageviews(&pipeline, 9).await;

    let overview = ok(&pipeline, &format!("overview/?site={site}&compare=previous_period")).await;
    let totals = |v: &Value| (v["pageviews"].as_i64(), v["visitors"].as_i64(), v["events"].as_i64());
    assert_eq!(totals(&overview["today"]), (Some(5), Some(4), Some(1)));
    assert_eq!(totals(&overview["yesterday"]), (Some(2), Some(2), Some(0)));
    assert_eq!(totals(&overview["last_30_days"]), (Some(8), Some(7), Some(1)));
    assert_eq!(totals(&overview["total"]), (Some(9), Some(8), Some(1)));
    let month_start = today.with_day(1).expect("day 1");
    let this_month = days.iter().filter(|d| **d >= month_start).count() as i64;
    assert_eq!(overview["this_month"]["pageviews"], this_month);
    assert_eq!(overview["today"]["previous"]["pageviews"], 2);
    assert_eq!(overview["today"]["change_percent"]["pageviews"], 150.0);
    let sources: Vec<(String, i64, i64)> = overview["by_source"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| {
            (
                s["source"].as_str().expect("name").to_owned(),
                s["pageviews"].as_i64().expect("pv"),
                s["visitors"].as_i64().expect("v"),
            )
        })
        .collect();
    assert_eq!(sources, vec![("web".into(), 6, 5), ("app".into(), 1, 1), ("mobile_web".into(), 1, 1)]);
    assert_eq!(overview["speed"]["metric"], "load_ms");
    assert_eq!(overview["speed"]["count"], 3);
    assert_eq!(overview["speed"]["avg_ms"], 200);
    let within = |v: &Value, truth: f64| (v.as_f64().expect("number") - truth).abs() <= truth * 0.1;
    assert!(within(&overview["speed"]["p50_ms"], 200.0), "{}", overview["speed"]);
    assert!(within(&overview["speed"]["p95_ms"], 300.0), "{}", overview["speed"]);

    let app_only = ok(&pipeline, &format!("overview?site={site}&source=app")).await;
    assert_eq!(totals(&app_only["today"]), (Some(1), Some(1), Some(0)));

    let pages = ok(&pipeline, &format!("top-pages/?site={site}&days=30")).await;
    let rows: Vec<(String, String, i64, i64)> = pages["results"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| {
            (
                r["path"].as_str().expect("path").into(),
                r["title"].as_str().expect("title").into(),
                r["pageviews"].as_i64().expect("pv"),
                r["visitors"].as_i64().expect("v"),
            )
        })
        .collect();
    let page = |p: &str, t: &str, pv, v| (p.to_owned(), t.to_owned(), pv, v);
    assert_eq!(
        rows,
        vec![page("/a", "A", 5, 4), page("/b", "B", 1, 1), page("/c", "C", 1, 1), page("/home", "Home", 1, 1)]
    );
    // Today against yesterday: /a had 3 pageviews (2 visitors) then 2 (2); /b is new.
    let compared = ok(&pipeline, &format!("top-pages/?site={site}&days=1&compare=previous_period")).await;
    let first = &compared["results"][0];
    assert_eq!((first["path"].as_str(), first["pageviews"].as_i64()), (Some("/a"), Some(3)), "{compared}");
    assert_eq!(first["previous"], serde_json::json!({ "pageviews": 2, "visitors": 2, "events": 0 }));
    assert_eq!(first["change_percent"]["pageviews"], 50.0);
    let new_page = compared["results"].as_array().expect("list").iter().find(|r| r["path"] == "/b").expect("/b");
    assert_eq!(
        (new_page["previous"]["pageviews"].as_i64(), &new_page["change_percent"]["pageviews"]),
        (Some(0), &Value::Null)
    );
    let plain = ok(&pipeline, &format!("top-pages/?site={site}&days=1")).await;
    assert!(plain["results"][0].get("previous").is_none(), "no comparison unless asked");
    let limited = ok(&pipeline, &format!("top-pages?site={site}&days=30&limit=1")).await;
    assert_eq!(limited["results"].as_array().map(Vec::len), Some(1));
    // A year: whole months, the 40-day-old view of /a included, and the days before them.
    let year = ok(&pipeline, &format!("top-pages?site={site}&days=365&limit=1")).await;
    assert_eq!((year["results"][0]["pageviews"].as_i64(), year["results"][0]["visitors"].as_i64()), (Some(6), Some(5)));
    // One source: only the pages it viewed, with its own counts.
    for (source, expected) in [("mobile_web", vec![page("/b", "B", 1, 1)]), ("app", vec![page("/home", "Home", 1, 1)])]
    {
        let body = ok(&pipeline, &format!("top-pages?site={site}&days=30&source={source}")).await;
        let rows: Vec<_> = body["results"]
            .as_array()
            .expect("list")
            .iter()
            .map(|r| {
                page(
                    r["path"].as_str().expect("path"),
                    r["title"].as_str().expect("title"),
                    r["pageviews"].as_i64().expect("pv"),
                    r["visitors"].as_i64().expect("v"),
                )
            })
            .collect();
        assert_eq!(rows, expected, "source={source}");
    }

    let countries = ok(&pipeline, &format!("top-countries/?site={site}&days=30")).await;
    let rows: Vec<(String, String, i64, i64)> = countries["results"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| {
            (
                r["country"].as_str().expect("code").into(),
                r["name"].as_str().expect("name").into(),
                r["pageviews"].as_i64().expect("pv"),
                r["visitors"].as_i64().expect("v"),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![("IR".into(), "Iran (Islamic Republic of)".into(), 6, 5), ("DE".into(), "Germany".into(), 2, 2),]
    );

    let breakdown = |dimension: &'static str| {
        let pipeline = &pipeline;
        let site = site.clone();
        async move {
            let body = ok(pipeline, &format!("breakdown/?site={site}&dimension={dimension}&days=30")).await;
            assert_eq!(body["dimension"], dimension);
            body["results"]
                .as_array()
                .expect("list")
                .iter()
                .map(|r| {
                    (
                        r["value"].as_str().expect("value").to_owned(),
                        r["pageviews"].as_i64().expect("pv"),
                        r["events"].as_i64().expect("ev"),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(breakdown("device").await, vec![("desktop".into(), 6, 1), ("mobile".into(), 2, 0)]);
    assert_eq!(breakdown("event").await, vec![("signup".into(), 0, 1)]);
    assert_eq!(
        breakdown("source").await,
        vec![("web".into(), 6, 1), ("app".into(), 1, 0), ("mobile_web".into(), 1, 0)]
    );

    let speed = ok(&pipeline, &format!("speed/?site={site}")).await;
    assert_eq!(speed["overall"]["load_ms"]["count"], 3);
    assert_eq!(speed["pages"][0]["path"], "/a");
    assert_eq!(speed["pages"][0]["load_ms"]["avg_ms"], 200);

    // Daily chart: seven points ending today, empty days as zero.
    let chart = ok(&pipeline, &format!("chart/?site={site}&period=daily&days=7")).await;
    let points = chart["points"].as_array().expect("points");
    let pageviews: Vec<i64> = points.iter().map(|p| p["pageviews"].as_i64().expect("pv")).collect();
    assert_eq!(pageviews, vec![0, 0, 0, 0, 0, 2, 5]);
    assert_eq!(points[6]["start"], today.to_string());

    // Persian monthly chart: each bucket holds exactly the events of its days,
    // and is labelled with a Persian month name.
    let chart = ok(&pipeline, &format!("chart/?site={site}&period=monthly&months=3&calendar=persian")).await;
    assert_eq!(chart["calendar"], "persian");
    let points = chart["points"].as_array().expect("points");
    assert_eq!(points.len(), 3);
    for point in points {
        let start: NaiveDate = point["start"].as_str().expect("start").parse().expect("date");
        let end: NaiveDate = point["end"].as_str().expect("end").parse().expect("date");
        let expected = days.iter().filter(|d| start <= **d && **d <= end).count() as i64;
        assert_eq!(point["pageviews"], expected, "{point}");
        let label = point["label"].as_str().expect("label");
        assert!(PERSIAN_MONTHS.iter().any(|m| label.starts_with(m)), "{label}");
        assert!((29..=31).contains(&((end - start).num_days() + 1)), "a Persian month: {point}");
    }
    let last_end: NaiveDate = points[2]["end"].as_str().expect("end").parse().expect("date");
    assert!(last_end >= today);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tehran_midnight_splits_days_and_bad_parameters_are_named() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    let site = pipeline.site_id.clone();
    // 20:29 UTC on 20 March 2026 is 23:59 in Tehran; a minute later it is
    // Nowruz, 1 Farvardin 1405.
    let ms = |t: &str| chrono::DateTime::parse_from_rfc3339(t).expect("time").timestamp_millis();
    publish(
        &pipeline,
        vec![
            pageview(&site, ms("2026-03-20T20:29:00Z"), "/nowruz", "Nowruz", WINDOWS, 1),
            pageview(&site, ms("2026-03-20T20:30:00Z"), "/nowruz", "Nowruz", WINDOWS, 2),
            pageview(&site, ms("2026-03-20T20:31:00Z"), "/nowruz", "Nowruz", WINDOWS, 2),
        ],
    )
    .await;
    wait_for_pageviews(&pipeline, 3).await;
    let on = |day: &str| {
        let (pipeline, site) = (&pipeline, site.clone());
        let day = day.to_owned();
        async move {
            ok(pipeline, &format!("top-pages?site={site}&from={day}&to={day}")).await["results"][0]["pageviews"].clone()
        }
    };
    assert_eq!(on("2026-03-20").await, 1);
    assert_eq!(on("2026-03-21").await, 2);

    for (query, parameter, status) in [
        ("overview?site={site}&days=0", "days:", 400),
        ("top-pages?site={site}&days=3651", "days:", 400),
        ("top-pages?site={site}&from=2026-02-30", "from:", 400),
        ("top-pages?site={site}&from=2026-03-02&to=2026-03-01", "from:", 400),
        ("chart?site={site}&period=yearly", "period:", 400),
        ("chart?site={site}&calendar=julian", "calendar:", 400),
        ("breakdown?site={site}&dimension=planet", "dimension:", 400),
        ("breakdown?site={site}", "dimension:", 400),
        ("overview?site={site}&source=tv", "source:", 400),
        ("overview?site={site}&compare=last_year", "compare:", 400),
        ("overview?site=nowhere.example", "site:", 404),
    ] {
        let (code, body, _) = get(&pipeline, &query.replace("{site}", &site)).await;
        assert_eq!(code, status, "{query}: {body}");
        assert!(body["error"].as_str().expect("error").starts_with(parameter), "{query}: {body}");
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_cached_until_clear_cache() {
    let pipeline =
        Pipeline::start_with(PipelineOptions { timezone: "UTC", query_cache_live_seconds: 60, ..Default::default() })
            .await;
    let site = pipeline.site_id.clone();
    let now = Utc::now().timestamp_millis();
    // Progress is read from the database: every API answer here may be cached.
    let db = pipeline.namespace.db().await;
    let applied = |n: i64| {
        let db = &db;
        async move {
            eventually(&format!("{n} batches applied"), Duration::from_secs(30), || async {
                let done: i64 = db.query_one("SELECT count(*) FROM processed_batches", &[]).await.ok()?.get(0);
                (done == n).then_some(())
            })
            .await
        }
    };
    publish(&pipeline, vec![pageview(&site, now, "/", "Home", WINDOWS, 1)]).await;
    applied(1).await;

    let url = format!("overview/?site={site}");
    let (_, first, cache) = get(&pipeline, &url).await;
    assert_eq!((first["today"]["pageviews"].as_i64(), cache.as_deref()), (Some(1), Some("miss")));
    let (_, _, cache) = get(&pipeline, &url).await;
    assert_eq!(cache.as_deref(), Some("hit"));

    publish(&pipeline, vec![pageview(&site, now, "/", "Home", WINDOWS, 2)]).await;
    applied(2).await;
    let (_, stale, cache) = get(&pipeline, &url).await;
    assert_eq!(
        (stale["today"]["pageviews"].as_i64(), cache.as_deref()),
        (Some(1), Some("hit")),
        "cached until cleared"
    );

    let clear = |token: Option<&str>| {
        let mut request = pipeline.http.post(format!("{}/api/analytics/clear-cache/", pipeline.query_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.expect("query reachable") }
    };
    assert_eq!(clear(None).await.status(), 401);
    assert_eq!(clear(Some(&pipeline.token)).await.status(), 403, "a site token is not the admin token");
    let cleared = clear(Some(TEST_ADMIN_TOKEN)).await;
    assert_eq!(cleared.status(), 200);
    let cleared: Value = cleared.json().await.expect("json");
    assert_eq!(cleared, serde_json::json!({ "cleared": true, "generation": 1 }));

    let (_, fresh, cache) = get(&pipeline, &url).await;
    assert_eq!((fresh["today"]["pageviews"].as_i64(), cache.as_deref()), (Some(2), Some("miss")));
    let hits = pipeline.metric(&pipeline.query_ops_url, "analytics_query_cache_total{outcome=\"hit\"}").await;
    assert!(hits >= 2.0);
    pipeline.stop().await;
}
