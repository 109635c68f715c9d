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
