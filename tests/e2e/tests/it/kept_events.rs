//! The kept events: custom properties, goals, a funnel and segments from
//! scripted visitors, with exact figures, and a redelivered batch that
//! changes none of them.
//!
//! Yesterday in Tehran: visitor 1 views /pricing, signs up (plan pro) and
//! reads /blog/a; visitor 2 views /pricing twice and signs up (plan free);
//! visitor 3 reads /blog/b with a property (lang fa) and downloads a file;
//! visitor 4 only views /; visitor 5 signs up twice (plan pro).

use std::process::Command;
use std::time::Duration;

use analytics_e2e::{Pipeline, binary, eventually};
use analytics_events::{Event, EventBatch, EventType, Message};
use chrono::{Datelike, Days, Utc};
use serde_json::{Value, json};

use crate::query_api::{WINDOWS, fresh, ok, pageview, tehran_noon};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_and_goals_count_each_event_once() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    let site = pipeline.site_id.clone();
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Tehran).date_naive();
    let noon = tehran_noon(today.checked_sub_days(Days::new(1)).expect("yesterday"));
    let view = |visitor: u64, path: &str| pageview(&site, noon + visitor as i64 * 1000, path, "", WINDOWS, visitor);
    let custom = |visitor: u64, name: &str, props: &[(&str, &str)]| {
        let mut event = view(visitor, "/app");
        event.r#type = EventType::Custom as i32;
        event.name = name.into();
        event.props = props.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        event
    };
    let mut read_blog = view(3, "/blog/b");
    read_blog.props = [("lang".to_owned(), "fa".to_owned())].into();
    let events = vec![
        view(1, "/pricing"),
        custom(1, "signup", &[("plan", "pro")]),
        view(1, "/blog/a"),
        view(2, "/pricing"),
        view(2, "/pricing"),
        custom(2, "signup", &[("plan", "free")]),
        read_blog,
        custom(3, "download", &[("file", "a.pdf")]),
        view(4, "/"),
        custom(5, "signup", &[("plan", "pro")]),
        custom(5, "signup", &[("plan", "pro")]),
    ];
    let batch = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec();
    pipeline.publish(&batch).await;
    eventually("the batch applied", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == 6).then_some(())
    })
    .await;
    // Its redelivery: already applied, so nothing is kept twice.
    pipeline.publish(&batch).await;
    pipeline
        .wait_for_metric(&pipeline.aggregator_ops_url, "analytics_aggregator_batches_total{outcome=\"duplicate\"}", 1.0)
        .await;
    let db = pipeline.namespace.db().await;
    let kept: i64 = db.query_one("SELECT count(*) FROM events", &[]).await.expect("count").get(0);
    assert_eq!(kept, 11);

    // Goals, as an operator adds them.
    let ctl = |args: &[&str]| ctl(&pipeline, args);
    for goal in [["--event", "signup"], ["--page", "/pricing"], ["--page", "/blog/*"], ["--event", "nothing"]] {
        let (ok, out, err) = ctl(&["goal", "add", "--site", &site, goal[0], goal[1]]);
        assert!(ok, "{}", String::from_utf8_lossy(&err));
        assert_eq!(serde_json::from_str::<Value>(&out).expect("json")["target"], goal[1]);
    }
    let (refused, _, err) = ctl(&["goal", "add", "--site", &site, "--page", "pricing"]);
    assert!(!refused && String::from_utf8_lossy(&err).contains("starting with /"));
    let (_, listed, _) = ctl(&["goal", "list", "--site", &site]);
    assert_eq!(serde_json::from_str::<Value>(&listed).expect("json").as_array().map(Vec::len), Some(4));
    let (_, deleted, _) = ctl(&["goal", "delete", "--site", &site, "--event", "nothing"]);
    assert_eq!(serde_json::from_str::<Value>(&deleted).expect("json"), json!({"deleted": true}));

    let goals = ok(&pipeline, &format!("goals/?site={site}&days=7")).await;
    assert_eq!(goals["visitors"], 5, "{goals}");
    assert_eq!(
        goals["results"],
        json!([
            {"goal": "signup", "kind": "event", "visitors": 3, "conversions": 4, "conversion_rate": 60.0},
            {"goal": "/pricing", "kind": "page", "visitors": 2, "conversions": 3, "conversion_rate": 40.0},
            {"goal": "/blog/*", "kind": "page", "visitors": 2, "conversions": 2, "conversion_rate": 40.0},
        ]),
        "{goals}"
    );
    // Web only: the same (every event is web); app only: nothing.
    let app = ok(&pipeline, &format!("goals/?site={site}&days=7&source=app")).await;
    assert_eq!((app["visitors"].clone(), app["results"][0]["conversions"].clone()), (json!(0), json!(0)), "{app}");
    // Unfiltered, goals come from the rollups; filtered, from the kept
    // events: a filter every event passes gives the same figures.
    let segment = ok(&pipeline, &format!("goals/?site={site}&days=7&filter=country==IR")).await;
    assert_eq!((&segment["visitors"], &segment["results"]), (&goals["visitors"], &goals["results"]), "{segment}");
    // A day before the kept events' 90 days: the rollups still answer.
    let long_ago = today.checked_sub_days(Days::new(100)).expect("a day");
    let mut old_signup = custom(9, "signup", &[]);
    old_signup.timestamp_ms = tehran_noon(long_ago);
    let old = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events: vec![old_signup] };
    pipeline.publish(&old.encode_to_vec()).await;
    let that_day = format!("goals/?site={site}&from={long_ago}&to={long_ago}");
    eventually("the old signup counted", Duration::from_secs(30), || async {
        let goals = fresh(&pipeline, &that_day).await;
        (goals["results"][0]
            == json!({"goal": "signup", "kind": "event", "visitors": 1, "conversions": 1, "conversion_rate": 100.0}))
        .then_some(())
    })
    .await;
    let filtered = ok(&pipeline, &format!("{that_day}&filter=country==IR")).await;
    assert_eq!(filtered["results"][0]["conversions"], 0, "no kept event that day: {filtered}");

    let properties = ok(&pipeline, &format!("properties/?site={site}&days=7")).await;
    assert_eq!(
        properties["results"],
        json!([
            {"key": "plan", "pageviews": 0, "events": 4, "visitors": 3},
            {"key": "file", "pageviews": 0, "events": 1, "visitors": 1},
            {"key": "lang", "pageviews": 1, "events": 0, "visitors": 1},
        ]),
        "{properties}"
    );
    let plans = ok(&pipeline, &format!("breakdown/?site={site}&days=7&dimension=prop:plan")).await;
    assert_eq!(plans["dimension"], "prop:plan");
    let rows: Vec<Value> = plans["results"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| json!([r["value"], r["pageviews"], r["events"], r["visitors"]]))
        .collect();
    assert_eq!(rows, vec![json!(["pro", 0, 3, 2]), json!(["free", 0, 1, 1])], "{plans}");
    let response = pipeline.query(&format!("breakdown/?site={site}&dimension=prop:")).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("body").contains("prop:<key>"));

    // A funnel: /pricing, then signing up, then the blog (visitor 1 only;
    // visitor 3 read the blog without the steps before).
    let steps = "step=page==/pricing&step=event==signup&step=page==/blog/*";
    let funnel = ok(&pipeline, &format!("funnel/?site={site}&days=7&{steps}")).await;
    let reached: Vec<Value> = funnel["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| json!([s["step"], s["visitors"], s["dropoff"]]))
        .collect();
    assert_eq!(
        reached,
        vec![json!(["page==/pricing", 2, 0]), json!(["event==signup", 2, 0]), json!(["page==/blog/*", 1, 1])],
        "{funnel}"
    );
    assert_eq!(funnel["steps"][2]["conversion_rate"], 50.0, "{funnel}");
    let segment = ok(&pipeline, &format!("funnel/?site={site}&days=7&{steps}&filter=prop:plan==free")).await;
    assert_eq!(segment["steps"][0]["visitors"], 0, "no pageview carries plan: {segment}");
    for bad in ["step=page==/pricing", "step=page==pricing&step=event==x", "step=event==a&step=event==a"] {
        let response = pipeline.query(&format!("funnel/?site={site}&{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.text().await.expect("body").contains("step"), "{bad}");
    }

    // The same funnel saved by name: listed, counted alike, and its new
    // steps counted at once when it is saved again.
    let name = "Pricing, signup, blog";
    let add = |steps: &[&str]| {
        let mut args = vec!["funnel", "add", "--site", &site, "--name", name];
        steps.iter().for_each(|step| args.extend(["--step", step]));
        ctl(&args)
    };
    let (saved, out, err) = add(&["page==/pricing", "event==signup", "page==/blog/*"]);
    assert!(saved, "{}", String::from_utf8_lossy(&err));
    assert_eq!(serde_json::from_str::<Value>(&out).expect("json")["steps"][2], "page==/blog/*");
    let (refused, _, err) = add(&["page==/pricing"]);
    assert!(!refused && String::from_utf8_lossy(&err).contains("2 to 8 steps"));
    let listed = ok(&pipeline, &format!("funnels/?site={site}")).await;
    assert_eq!(
        listed["results"],
        json!([{"name": name, "steps": ["page==/pricing", "event==signup", "page==/blog/*"]}])
    );
    let by_name = ok(&pipeline, &format!("funnel/?site={site}&days=7&name={}", urlencoding(name))).await;
    assert_eq!((&by_name["name"], &by_name["steps"]), (&json!(name), &funnel["steps"]), "{by_name}");
    let (saved, _, _) = add(&["page==/pricing", "event==signup"]);
    assert!(saved);
    let changed = ok(&pipeline, &format!("funnel/?site={site}&days=7&name={}", urlencoding(name))).await;
    assert_eq!(changed["steps"].as_array().map(Vec::len), Some(2), "{changed}");
    for (bad, says) in [("name=nothing", "no saved funnel"), ("name=x&step=page==/a&step=event==b", "not both")] {
        let response = pipeline.query(&format!("funnel/?site={site}&{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
        let body = response.text().await.expect("body");
        assert!(body.starts_with("{\"error\":\"name:") && body.contains(says), "{bad}: {body}");
    }
    let (_, deleted, _) = ctl(&["funnel", "delete", "--site", &site, "--name", name]);
    assert_eq!(serde_json::from_str::<Value>(&deleted).expect("json"), json!({"deleted": true}));
    assert_eq!(ok(&pipeline, &format!("funnels/?site={site}")).await["results"], json!([]));
    pipeline.stop().await;
}

/// Runs `analytics-ctl` on the pipeline's database: whether it succeeded, its
/// output and its errors.
fn ctl(pipeline: &Pipeline, args: &[&str]) -> (bool, String, Vec<u8>) {
    let output = Command::new(binary("analytics-ctl"))
        .args(args)
        .env("ANALYTICS__POSTGRES__URL", pipeline.namespace.postgres.url())
        .env("ANALYTICS_CONFIG_DIR", "/nonexistent")
        .output()
        .expect("analytics-ctl runs");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), output.stderr)
}

/// `text` as a query string's value.
fn urlencoding(text: &str) -> String {
    let url = reqwest::Url::parse_with_params("http://query/", &[("q", text)]).expect("url");
    url.query().unwrap_or_default().trim_start_matches("q=").to_owned()
}

/// Segments: one filter, two, `!=`, `~=` and a property, on the overview,
/// the chart, top pages and countries, a breakdown, goals and speed, each
/// with exact figures; bad filters are 400s naming the filter.
///
/// Yesterday in Tehran: visitor 1 (IR) views /pricing (load 300 ms) and
/// /blog/a; visitor 2 (DE, an iPhone) views /pricing; visitor 3 (DE) views
/// /pricing and signs up (plan pro); visitor 4 (IR) reads /blog/b from
/// Google; visitor 5 (US) views /pricing (load 100 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_segment_every_endpoint() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    let site = pipeline.site_id.clone();
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Tehran).date_naive();
    let noon = tehran_noon(today.checked_sub_days(Days::new(1)).expect("yesterday"));
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    let view = |visitor: u64, path: &str, country: &str, ua: &str| {
        let mut event = pageview(&site, noon + visitor as i64 * 1000, path, "", ua, visitor);
        event.country = country.into();
        event
    };
    let timed = |mut event: analytics_events::Event, load: u32| {
        event.timing = Some(analytics_events::Timing { load_ms: Some(load), ..Default::default() });
        event
    };
    let mut signup = view(3, "/pricing", "DE", WINDOWS);
    signup.r#type = EventType::Custom as i32;
    signup.name = "signup".into();
    signup.props = [("plan".to_owned(), "pro".to_owned())].into();
    let mut from_google = view(4, "/blog/b", "IR", WINDOWS);
    from_google.referrer = "https://www.google.com/".into();
    let events = vec![
        timed(view(1, "/pricing", "IR", WINDOWS), 300),
        view(1, "/blog/a", "IR", WINDOWS),
        view(2, "/pricing", "DE", iphone),
        view(3, "/pricing", "DE", WINDOWS),
        signup,
        from_google,
        timed(view(5, "/pricing", "US", WINDOWS), 100),
    ];
    pipeline.publish(&EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec()).await;
    eventually("the batch applied", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == 6).then_some(())
    })
    .await;
    let ask = |query: String| {
        let pipeline = &pipeline;
        async move { ok(pipeline, &format!("{query}&site={}&days=7", pipeline.site_id)).await }
    };
    let rows = |answer: &Value, field: &str, name: &str| -> Vec<Value> {
        answer[field]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| json!([r[name], r["pageviews"], r["visitors"], r["events"]]))
            .collect()
    };

    // One filter: the overview's figures, visits included, and the chart.
    let germany = ask("overview/?filter=country==DE".into()).await;
    let range = &germany["range"];
    assert_eq!(
        json!([range["pageviews"], range["visitors"], range["events"], range["visits"], range["bounce_rate"]]),
        json!([2, 2, 1, 2, 100.0]),
        "{germany}"
    );
    assert_eq!(germany["by_source"].as_array().map(Vec::len), Some(2), "web and mobile web: {germany}");
    let chart = ask("chart/?period=daily&filter=country==DE".into()).await;
    let points = chart["points"].as_array().expect("points");
    assert_eq!(points[points.len() - 2]["pageviews"], 2, "yesterday: {chart}");
    assert_eq!(points.iter().map(|p| p["pageviews"].as_i64().unwrap_or(0)).sum::<i64>(), 2);
    let day = today.checked_sub_days(Days::new(1)).expect("yesterday");
    let hourly = ask(format!("chart/?period=hourly&from={day}&to={day}&filter=country==DE")).await;
    let noon = &hourly["points"][12];
    assert_eq!(json!([noon["label"], noon["pageviews"], noon["visits"]]), json!(["12:00", 2, 2]), "{hourly}");

    // Two years of days compared with the year before, across 29 February
    // (whose compared days are not consecutive): one scan, however many.
    let long =
        ask("chart/?period=daily&from=2024-01-01&to=2025-12-31&compare=year_over_year&filter=country==DE".into()).await;
    assert_eq!(long["points"].as_array().map(Vec::len), Some(731), "{}", long["points"][0]);

    // Two filters, then `!=` and `~=` (contains, ignoring case).
    let both = ask("top-pages/?filter=country==DE&filter=page==/pricing".into()).await;
    assert_eq!(rows(&both, "results", "path"), vec![json!(["/pricing", 2, 2, 1])], "{both}");
    let abroad = ask("top-countries/?filter=country!=IR".into()).await;
    assert_eq!(rows(&abroad, "results", "country"), vec![json!(["DE", 2, 2, 1]), json!(["US", 1, 1, 0])], "{abroad}");
    let blog = ask("top-pages/?filter=page~=BLOG".into()).await;
    assert_eq!(rows(&blog, "results", "path"), vec![json!(["/blog/a", 1, 1, 0]), json!(["/blog/b", 1, 1, 0])]);
    let d = ask("top-countries/?filter=country~=d".into()).await;
    assert_eq!(rows(&d, "results", "country"), vec![json!(["DE", 2, 2, 1])], "{d}");
    let nothing = ask("overview/?filter=page~=/nowhere".into()).await;
    assert_eq!(nothing["range"]["pageviews"], 0, "{nothing}");
    // Without the monthly rows that list the values (dropped, or never
    // written), `~=` reads the range's events instead, with the same answer
    // (asked with another spelling: the first answer is cached).
    let db = pipeline.namespace.db().await;
    db.execute("DELETE FROM monthly_dimension_counts WHERE dimension = 'page'", &[]).await.expect("delete");
    let blog_again = ask("top-pages/?filter=page~=blog".into()).await;
    assert_eq!(rows(&blog_again, "results", "path"), rows(&blog, "results", "path"), "{blog_again}");
    let sources = ask("breakdown/?dimension=source&filter=page==/pricing".into()).await;
    assert_eq!(
        rows(&sources, "results", "value"),
        vec![json!(["web", 3, 3, 1]), json!(["mobile_web", 1, 1, 0])],
        "{sources}"
    );
    let referred = ask("breakdown/?dimension=referrer_source&filter=country==IR".into()).await;
    assert_eq!(rows(&referred, "results", "value"), vec![json!(["Google", 1, 1, 0])], "{referred}");

    // A property, goals and speed in a segment.
    let pro = ask("overview/?filter=prop:plan==pro".into()).await;
    assert_eq!(json!([pro["range"]["pageviews"], pro["range"]["events"], pro["range"]["visitors"]]), json!([0, 1, 1]));
    let (added, _, err) = ctl(&pipeline, &["goal", "add", "--site", &site, "--event", "signup"]);
    assert!(added, "{}", String::from_utf8_lossy(&err));
    let goals = ask("goals/?filter=country==DE".into()).await;
    assert_eq!(
        json!([goals["visitors"], goals["results"][0]["visitors"], goals["results"][0]["conversion_rate"]]),
        json!([2, 1, 50.0]),
        "{goals}"
    );
    let speed = ask("speed/?filter=country==US".into()).await;
    let load = &speed["overall"]["load_ms"];
    assert_eq!(json!([load["count"], load["avg_ms"]]), json!([1, 100]), "{speed}");
    // The overview's own speed summary of the segment (read beside its sources).
    let us = ask("overview/?filter=country==US".into()).await;
    assert_eq!(
        json!([us["speed"]["metric"], us["speed"]["count"], us["speed"]["avg_ms"]]),
        json!(["load_ms", 1, 100]),
        "{us}"
    );

    // Filters that cannot be answered are named.
    for (query, says) in [
        ("overview/?filter=nope==1", "unknown dimension"),
        ("overview/?filter=page", "expected <dimension>==<value>"),
        ("breakdown/?dimension=entry_page&filter=page==/", "entry and exit pages"),
        ("app-versions/?filter=page==/", "filter"),
        ("overview/?filter=page~=%00", "NUL byte"),
        ("top-pages/?filter=prop:a%00b==x", "NUL byte"),
    ] {
        let response = pipeline.query(&format!("{query}&site={site}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let body = response.text().await.expect("body");
        assert!(body.contains(says), "{query}: {body}");
    }
    pipeline.stop().await;
}

/// A `~=` filter finds every event that meets it, also where the rollups
/// cannot list its values: in a month whose rows are gone while its events
/// are kept, and in a page's later timings (which count in no dimension
/// row) on a day without its pageview.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contains_filters_find_what_the_rollups_do_not_list() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    let site = pipeline.site_id.clone();
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Tehran).date_naive();
    let back = |days: u64| tehran_noon(today.checked_sub_days(Days::new(days)).expect("a day"));
    let mut timings = pageview(&site, back(1), "/timed-only", "", WINDOWS, 3);
    timings.r#type = EventType::Performance as i32;
    timings.timing = Some(analytics_events::Timing { load_ms: Some(500), ..Default::default() });
    let events = vec![
        // Forty days back: always another month than yesterday.
        pageview(&site, back(40), "/blog/old", "", WINDOWS, 1),
        pageview(&site, back(1), "/blog/new", "", WINDOWS, 2),
        timings,
    ];
    pipeline.publish(&EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec()).await;
    let blog = |spelling: &'static str| {
        let pipeline = &pipeline;
        async move {
            let query = format!("top-pages/?site={}&days=60&filter=page~={spelling}", pipeline.site_id);
            let answer = ok(pipeline, &query).await;
            let rows = answer["results"].as_array().cloned().unwrap_or_default();
            rows.iter().map(|r| r["path"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>()
        }
    };
    let both = ["/blog/new".to_owned(), "/blog/old".to_owned()];
    eventually("the batch applied", Duration::from_secs(30), || async {
        let mut paths = blog("blog").await;
        paths.sort();
        (paths == both).then_some(())
    })
    .await;
    // The older month's rows dropped (as retention would, were the events
    // kept longer): its event is still found.
    let db = pipeline.namespace.db().await;
    let first_of_yesterday_month = today.checked_sub_days(Days::new(1)).expect("yesterday").with_day(1);
    db.execute(
        "DELETE FROM monthly_dimension_counts WHERE dimension = 'page' AND month < $1",
        &[&first_of_yesterday_month.expect("a first day")],
    )
    .await
    .expect("delete");
    let mut paths = blog("BLOG").await;
    paths.sort();
    assert_eq!(paths, both);
    let speed = ok(&pipeline, &format!("speed/?site={site}&days=7&filter=page~=timed")).await;
    assert_eq!(speed["overall"]["load_ms"]["count"], 1, "{speed}");
    pipeline.stop().await;
}

/// The token expression the query service writes for `==` filters and
/// funnel steps is the one the events' GIN index is on (migration V14): a
/// planner that may not read the whole table finds the events through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equality_filters_use_the_token_index() {
    let namespace = analytics_e2e::Namespace::create().await;
    let db = namespace.db().await;
    db.batch_execute(
        "CREATE TABLE events_19990101 PARTITION OF events FOR VALUES FROM ('1999-01-01') TO ('1999-01-02');
         SET enable_seqscan = off",
    )
    .await
    .expect("a partition");
    let tokens = analytics_query::EVENT_TOKENS;
    for condition in
        [format!("{tokens} @> ARRAY['country:IR'::text]"), format!("{tokens} && ARRAY['page:/a', 'event:b']")]
    {
        let sql = format!("EXPLAIN (FORMAT JSON) SELECT count(*) FROM events WHERE {condition}");
        let plan: Value = db.query_one(&sql, &[]).await.expect("plan").get(0);
        assert!(plan.to_string().contains("events_19990101_event_tokens_idx"), "{condition}: {plan}");
    }
}

/// A prefix goal's own rows (migration V16): derived from its pages' rows
/// when it is added, added to by every batch after, dropped with the goal,
/// and always the sum of its pages' rows (deleted and added again, the goal
/// is derived anew, and answers the same). Ranges of days and of a whole
/// month (the monthly rows) both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_goal_keeps_rows_of_its_own_that_sum_its_pages() {
    let pipeline = Pipeline::start("Asia/Tehran").await;
    let site = pipeline.site_id.clone();
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Tehran).date_naive();
    let noon = tehran_noon(today.checked_sub_days(Days::new(1)).expect("yesterday"));
    let long_ago = today.checked_sub_days(Days::new(100)).expect("a day");
    let view = |visitor: u64, path: &str| pageview(&site, noon + visitor as i64 * 1000, path, "", WINDOWS, visitor);
    let old_view = |visitor: u64, path: &str| pageview(&site, tehran_noon(long_ago), path, "", WINDOWS, visitor);
    let publish = |events: Vec<Event>| async {
        let batch = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec();
        pipeline.publish(&batch).await;
    };
    let ctl = |args: &[&str]| {
        let (done, _, err) = ctl(&pipeline, args);
        assert!(done, "{args:?}: {}", String::from_utf8_lossy(&err));
    };
    let week = format!("goals/?site={site}&days=7");
    let first = long_ago.with_day(1).expect("first of month");
    let last = first.checked_add_months(chrono::Months::new(1)).and_then(|m| m.pred_opt()).expect("last of month");
    let month = format!("goals/?site={site}&from={first}&to={last}");
    let blog = |answer: &Value| {
        let goal = answer["results"].as_array().and_then(|r| r.iter().find(|g| g["goal"] == "/blog/*")).cloned();
        goal.map(|g| json!([g["visitors"], g["conversions"]])).unwrap_or(Value::Null)
    };

    // Before the goal: visitors 1 and 2 read the blog (three pageviews);
    // /blogger and / are not under /blog/.
    publish(vec![view(1, "/blog/a"), view(2, "/blog/b"), view(2, "/blog/b"), view(3, "/blogger"), view(4, "/")]).await;
    eventually("the first batch applied", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == 5).then_some(())
    })
    .await;
    ctl(&["goal", "add", "--site", &site, "--page", "/blog/*"]);
    assert_eq!(blog(&fresh(&pipeline, &week).await), json!([2, 3]), "derived from the page rows");

    // After it: visitor 1 again, a new reader, a page beside the prefix, and
    // a reader in a month long over.
    publish(vec![view(1, "/blog/a"), view(6, "/blog/c"), view(7, "/blogger/x"), old_view(8, "/blog/old")]).await;
    eventually("the second batch counted in the goal", Duration::from_secs(30), || async {
        (blog(&fresh(&pipeline, &week).await) == json!([3, 5])).then_some(())
    })
    .await;
    let (live_week, live_month) = (fresh(&pipeline, &week).await, fresh(&pipeline, &month).await);
    assert_eq!(blog(&live_month), json!([1, 1]), "{live_month}");

    // Deleted, the goal's rows go; added again, they are derived from the
    // page rows, and are what the batches had added up to.
    ctl(&["goal", "delete", "--site", &site, "--page", "/blog/*"]);
    let db = pipeline.namespace.db().await;
    let site_id: uuid::Uuid = site.parse().expect("uuid");
    for table in ["daily_dimensions", "daily_dimension_counts", "monthly_dimensions", "monthly_dimension_counts"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE site_id = $1 AND dimension = 'goal'");
        let rows: i64 = db.query_one(&sql, &[&site_id]).await.expect("count").get(0);
        assert_eq!(rows, 0, "{table}");
    }
    ctl(&["goal", "add", "--site", &site, "--page", "/blog/*"]);
    assert_eq!(fresh(&pipeline, &week).await["results"], live_week["results"]);
    assert_eq!(fresh(&pipeline, &month).await["results"], live_month["results"]);

    // A site has at most 100 goals.
    let mut db = db;
    for n in 1..analytics_store::goals::MAX_PER_SITE {
        let kind = analytics_store::goals::GoalKind::Event;
        analytics_store::goals::add(&mut db, site_id, kind, &format!("e{n}")).await.expect("a goal");
    }
    let kind = analytics_store::goals::GoalKind::Event;
    let refused =
        analytics_store::goals::add(&mut db, site_id, kind, "one too many").await.expect_err("over the bound");
    assert!(refused.to_string().contains("at most 100 goals"), "{refused}");
    // Added again, a goal it has is no new one.
    analytics_store::goals::add(&mut db, site_id, kind, "e1").await.expect("the same goal");
    pipeline.stop().await;
}
