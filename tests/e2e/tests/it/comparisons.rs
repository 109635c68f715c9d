//! `compare=year_over_year`: every range answered beside the same dates a
//! year earlier; and speed compares too.

use std::time::Duration;

use analytics_e2e::{BROWSER_USER_AGENT, Pipeline, eventually};
use analytics_events::{Event, EventBatch, EventType, Message, Source, Timing};

use crate::query_api::ok;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn year_over_year_compares_with_the_same_dates_a_year_earlier() {
    let pipeline = Pipeline::start("UTC").await;
    let now = chrono::Utc::now();
    let year_ago = now.checked_sub_months(chrono::Months::new(12)).expect("a year ago");
    let month_ago = now - chrono::Duration::days(31);
    let view = |at: chrono::DateTime<chrono::Utc>, path: &str, load_ms: u32| Event {
        site_id: pipeline.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: at.timestamp_millis(),
        received_ms: now.timestamp_millis(),
        path: path.into(),
        source: Source::Web as i32,
        user_agent: BROWSER_USER_AGENT.into(),
        timing: Some(Timing { load_ms: Some(load_ms), ..Default::default() }),
        visitor_id: 5,
        ..Default::default()
    };
    let events = vec![
        view(now, "/a", 100),
        view(now, "/a", 100),
        view(now, "/b", 100),
        view(year_ago, "/a", 400),
        view(month_ago, "/a", 900), // the previous period, not a year ago
    ];
    pipeline.publish(&EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec()).await;
    let site = &pipeline.site_id;
    eventually("all five counted", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == 5).then_some(())
    })
    .await;

    let overview = ok(&pipeline, &format!("overview/?site={site}&compare=year_over_year")).await;
    assert_eq!(overview["today"]["pageviews"], 3);
    assert_eq!(overview["today"]["previous"]["pageviews"], 1, "the same day a year ago");
    assert_eq!(overview["today"]["change_percent"]["pageviews"], 200.0);

    let top = ok(&pipeline, &format!("top-pages/?site={site}&days=1&compare=year_over_year")).await;
    let a = top["results"].as_array().expect("results").iter().find(|r| r["path"] == "/a").expect("/a");
    assert_eq!((a["pageviews"].as_i64(), a["previous"]["pageviews"].as_i64()), (Some(2), Some(1)));

    let speed = ok(&pipeline, &format!("speed/?site={site}&days=1&compare=year_over_year")).await;
    assert_eq!(speed["overall"]["load_ms"]["count"], 3);
    assert_eq!(speed["previous"]["load_ms"]["count"], 1);
    assert_eq!(speed["previous"]["load_ms"]["avg_ms"], 400);
    let plain = ok(&pipeline, &format!("speed/?site={site}&days=1")).await;
    assert!(plain.get("previous").is_none(), "no comparison unless asked");

    let chart = ok(&pipeline, &format!("chart/?site={site}&days=7&compare=year_over_year")).await;
    let last = chart["points"].as_array().expect("points").last().expect("today").clone();
    assert_eq!((last["pageviews"].as_i64(), last["previous"]["pageviews"].as_i64()), (Some(3), Some(1)));

    let refused = pipeline.query(&format!("overview/?site={site}&compare=last_week")).await;
    assert_eq!(refused.status(), 400);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_reaches_the_overview_and_the_chart_whatever_its_buckets() {
    let pipeline = Pipeline::start("UTC").await;
    let now = chrono::Utc::now();
    let days_ago = |n: i64| now - chrono::Duration::days(n);
    let view = |n: i64, visitor: u64| Event {
        site_id: pipeline.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: days_ago(n).timestamp_millis(),
        received_ms: now.timestamp_millis(),
        path: "/a".into(),
        source: Source::Web as i32,
        user_agent: BROWSER_USER_AGENT.into(),
        visitor_id: visitor,
        ..Default::default()
    };
    // In the range (10 to 4 days ago): 2 + 1 + 1; before it, in the previous
    // period of as many days (17 to 11 days ago): 1; after it: 1.
    let events = vec![view(10, 1), view(10, 2), view(7, 1), view(4, 3), view(17, 1), view(1, 1)];
    pipeline.publish(&EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec()).await;
    let site = &pipeline.site_id;
    eventually("all six counted", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == 6).then_some(())
    })
    .await;
    let (from, to) = (days_ago(10).date_naive(), days_ago(4).date_naive());
    let range = format!("from={from}&to={to}");

    let overview = ok(&pipeline, &format!("overview/?site={site}&{range}&compare=previous_period")).await;
    assert_eq!(overview["range"]["from"], from.to_string());
    assert_eq!(overview["range"]["to"], to.to_string());
    assert_eq!(overview["range"]["pageviews"], 4);
    assert_eq!(overview["range"]["visitors"], 3);
    assert_eq!(overview["range"]["previous"]["pageviews"], 1);
    let default = ok(&pipeline, &format!("overview/?site={site}")).await;
    assert_eq!(default["range"]["pageviews"], default["last_30_days"]["pageviews"], "the last 30 days by default");

    let daily = ok(&pipeline, &format!("chart/?site={site}&{range}&compare=previous_period")).await;
    let points = daily["points"].as_array().expect("points");
    let figures: Vec<(i64, i64)> = points
        .iter()
        .map(|p| (p["pageviews"].as_i64().unwrap_or(-1), p["previous"]["pageviews"].as_i64().unwrap_or(-1)))
        .collect();
    assert_eq!(
        figures,
        [(2, 1), (0, 0), (0, 0), (1, 0), (0, 0), (0, 0), (1, 0)],
        "a point per day, each beside its day a week earlier"
    );
    assert_eq!(
        (points[0]["start"].as_str(), points[6]["end"].as_str()),
        (Some(&*from.to_string()), Some(&*to.to_string()))
    );

    // Weeks and months cut at the range's ends: their points add up to the range.
    for period in ["weekly", "monthly"] {
        for calendar in ["gregorian", "persian"] {
            let chart = ok(&pipeline, &format!("chart/?site={site}&{range}&period={period}&calendar={calendar}")).await;
            let points = chart["points"].as_array().expect("points");
            let sum: i64 = points.iter().map(|p| p["pageviews"].as_i64().unwrap_or(0)).sum();
            assert_eq!(sum, 4, "{period} {calendar}");
            assert_eq!(
                points.first().map(|p| p["start"].clone()),
                Some(from.to_string().into()),
                "{period} {calendar}"
            );
            assert_eq!(points.last().map(|p| p["end"].clone()), Some(to.to_string().into()), "{period} {calendar}");
        }
    }
    let backwards = pipeline.query(&format!("chart/?site={site}&from={to}&to={from}")).await;
    assert_eq!(backwards.status(), 400);
    pipeline.stop().await;
}
