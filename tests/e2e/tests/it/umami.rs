//! Umami's tracker protocol, as its script sends it, through the whole pipeline.

use std::time::Duration;

use analytics_e2e::{Pipeline, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn umami_events_are_counted_and_unknown_sites_refused() {
    let pipeline = Pipeline::start("UTC").await;
    let site = pipeline.site_id.clone();
    let send = |body: serde_json::Value| {
        let request = pipeline.http.post(format!("{}/api/send", pipeline.ingest_url)).json(&body);
        async move { request.send().await.expect("ingest reachable") }
    };
    let payload = |url: &str, name: Option<&str>| {
        let mut payload = serde_json::json!({
            // As the tracker sends it: encodeURIComponent(document.title).
            "website": site, "hostname": "shop.example", "url": url,
            "title": "%D8%B5%D9%81%D8%AD%D9%87%20%D8%A7%D8%B5%D9%84%DB%8C",
            "referrer": "https://t.me/", "language": "fa-IR", "screen": "390x844",
        });
        if let Some(name) = name {
            payload["name"] = name.into();
            payload["data"] = serde_json::json!({ "plan": "pro" });
        }
        serde_json::json!({ "type": "event", "payload": payload })
    };
    let pageview = send(payload("/fa/?utm_source=tg", None)).await;
    assert_eq!(pageview.status(), 200);
    assert_eq!(pageview.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
    let body: serde_json::Value = pageview.json().await.expect("json");
    assert!(body.get("cache").is_some(), "the tracker reads a cache field: {body}");
    assert_eq!(send(payload("/fa/", Some("signup"))).await.status(), 200);

    let unknown = send(serde_json::json!({ "type": "event", "payload": { "website": "00000000-0000-0000-0000-000000000000", "hostname": "x.example", "url": "/" } })).await;
    assert_eq!(unknown.status(), 404);
    let error: serde_json::Value = unknown.json().await.expect("json");
    assert!(error["error"].as_str().expect("error").starts_with("site:"));
    assert_eq!(send(serde_json::json!({ "type": "event", "payload": { "website": site, "hostname": "shop.example", "url": "no-slash" } })).await.status(), 400);

    let preflight = pipeline
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/send", pipeline.ingest_url))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, x-umami-cache")
        .send()
        .await
        .expect("ingest reachable");
    assert!(preflight.status().is_success());
    let allowed =
        preflight.headers().get("access-control-allow-headers").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(
        allowed.to_ascii_lowercase().contains("x-umami-cache") && allowed.to_ascii_lowercase().contains("content-type")
    );

    let db = pipeline.namespace.db().await;
    let site_id = uuid::Uuid::parse_str(&site).expect("uuid");
    let rows = eventually("both Umami events counted", Duration::from_secs(30), || async {
        let rows: Vec<(String, String, i64, i64)> = db
            .query(
                "SELECT dimension, value, sum(pageviews)::int8, sum(events)::int8 FROM daily_dimensions
                 WHERE site_id = $1 AND dimension IN ('page', 'utm_source', 'event', 'referrer_source')
                 GROUP BY 1, 2 ORDER BY 1, 2",
                &[&site_id],
            )
            .await
            .ok()?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        (rows.iter().any(|r| r.0 == "event")).then_some(rows)
    })
    .await;
    let row = |d: &str, v: &str, pv, ev| (d.to_owned(), v.to_owned(), pv, ev);
    assert_eq!(
        rows,
        vec![
            row("event", "signup", 0, 1),
            row("page", "/fa/", 1, 1),
            row("referrer_source", "Telegram", 1, 1),
            row("utm_source", "tg", 1, 0),
        ]
    );
    let title: String = db
        .query_one("SELECT title FROM page_titles WHERE site_id = $1 AND path = '/fa/'", &[&site_id])
        .await
        .expect("title")
        .get(0);
    assert_eq!(title, "صفحه اصلی", "titles in any language, exactly as sent");
    pipeline.stop().await;
}
