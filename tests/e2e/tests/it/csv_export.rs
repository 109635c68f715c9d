//! `format=csv`: the rows of an answer with the same numbers as its JSON,
//! quoted where they must be, formulas neutralised.

use std::time::Duration;

use analytics_e2e::{BROWSER_USER_AGENT, Pipeline, eventually};
use analytics_events::{Event, EventBatch, EventType, Message, Source};
use serde_json::Value;

use crate::query_api::ok;

/// The CSV answer of `path_and_query`: its content type and its lines split into cells.
async fn csv(pipeline: &Pipeline, path_and_query: &str) -> (String, Vec<Vec<String>>) {
    let response = pipeline.query(path_and_query).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    let text = response.text().await.expect("text");
    (content_type, text.split("\r\n").filter(|l| !l.is_empty()).map(cells).collect())
}

/// One CSV line's cells (RFC 4180 quoting).
fn cells(line: &str) -> Vec<String> {
    let (mut cells, mut cell, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_rows_carry_the_json_numbers_quoted_and_neutralised() {
    let pipeline = Pipeline::start("UTC").await;
    let now = chrono::Utc::now().timestamp_millis();
    let view = |path: &str, title: &str, visitor: u64| Event {
        site_id: pipeline.site_id.clone(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: now,
        received_ms: now,
        path: path.into(),
        title: title.into(),
        source: Source::Web as i32,
        user_agent: BROWSER_USER_AGENT.into(),
        visitor_id: visitor,
        ..Default::default()
    };
    let events = vec![
        view("/a,b", "=HYPERLINK(\"x\")", 1),
        view("/a,b", "=HYPERLINK(\"x\")", 2),
        view("/فارسی", "خانه \"اصلی\"", 1),
    ];
    pipeline.publish(&EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec()).await;
    let site = &pipeline.site_id;
    let json = eventually("the pageviews counted", Duration::from_secs(30), || async {
        let answer = ok(&pipeline, &format!("top-pages/?site={site}&days=1")).await;
        (answer["results"].as_array().map(Vec::len) == Some(2)).then_some(answer)
    })
    .await;

    let (content_type, lines) = csv(&pipeline, &format!("top-pages/?site={site}&days=1&format=csv")).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let header = &lines[0];
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    assert_eq!(lines.len(), 3, "a header and one line per result: {lines:?}");
    for (result, line) in json["results"].as_array().expect("results").iter().zip(&lines[1..]) {
        assert_eq!(line[column("path")], result["path"].as_str().expect("path"));
        for number in ["pageviews", "visitors", "events"] {
            assert_eq!(line[column(number)], result[number].to_string(), "{number} of {}", result["path"]);
        }
    }
    let titles: Vec<&str> = lines[1..].iter().map(|l| l[column("title")].as_str()).collect();
    assert_eq!(titles, vec!["'=HYPERLINK(\"x\")", "خانه \"اصلی\""], "formulas neutralised, text kept");

    let (_, chart) = csv(&pipeline, &format!("chart/?site={site}&days=7&format=csv")).await;
    assert_eq!(chart.len(), 8, "a header and seven days");
    let pageviews = chart[0].iter().position(|h| h == "pageviews").expect("pageviews column");
    let total: i64 = chart[1..].iter().map(|l| l[pageviews].parse::<i64>().expect("a number")).sum();
    assert_eq!(total, 3);

    let refused = ok_or_status(&pipeline, &format!("top-pages/?site={site}&format=xml")).await;
    assert_eq!(refused.0, 400);
    assert!(refused.1["error"].as_str().expect("error").starts_with("format:"), "{}", refused.1);
    let overview = ok_or_status(&pipeline, &format!("overview/?site={site}&format=csv")).await;
    assert_eq!(overview.0, 400, "the overview has no rows to export");
    pipeline.stop().await;
}

async fn ok_or_status(pipeline: &Pipeline, path_and_query: &str) -> (u16, Value) {
    let response = pipeline.query(path_and_query).await;
    (response.status().as_u16(), response.json().await.expect("json"))
}
