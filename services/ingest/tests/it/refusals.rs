//! Bad input gets a clear 4xx naming the problem, and nothing bad reaches the queue.

use analytics_testkit::pageviews;

use crate::TestIngest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_requests_are_refused_with_a_named_reason() {
    let ingest = TestIngest::start().await;
    let post = |body: &'static str| {
        let request = ingest.http.post(format!("{}/v1/events", ingest.ingest_url)).body(body);
        async move { request.send().await.expect("ingest reachable") }
    };
    let malformed = post("{\"events\": [").await;
    assert_eq!(malformed.status(), 400);
    let error: serde_json::Value = malformed.json().await.expect("json");
    assert!(error["error"].as_str().expect("text").starts_with("malformed JSON"));

    for (body, expected) in [
        (b"{\"events\": [\"\xff\"]}".to_vec(), "body: invalid UTF-8 at byte 13"),
        (
            format!("{{\"events\": {}{}}}", "[".repeat(20), "]".repeat(20)).into_bytes(),
            "body: JSON nested deeper than 10 levels",
        ),
    ] {
        let response = ingest.http.post(format!("{}/v1/events", ingest.ingest_url)).body(body).send().await;
        let response = response.expect("ingest reachable");
        assert_eq!(response.status(), 400);
        let error: serde_json::Value = response.json().await.expect("json");
        assert_eq!(error["error"], expected);
    }

    let too_many = ingest.send(pageviews(&ingest.site_id, 101), false).await;
    assert_eq!(too_many.status(), 413);

    let huge = ingest
        .http
        .post(format!("{}/v1/events", ingest.ingest_url))
        .body(vec![b' '; 70_000])
        .send()
        .await
        .expect("ingest reachable");
    assert_eq!(huge.status(), 413);

    let bad_key = ingest
        .http
        .post(format!("{}/v1/events", ingest.ingest_url))
        .header("X-Ingest-Key", "wrong")
        .json(&pageviews(&ingest.site_id, 1))
        .send()
        .await
        .expect("ingest reachable");
    assert_eq!(bad_key.status(), 401);
    let accepted = ingest.metric("analytics_ingest_events_total{outcome=\"accepted\"}").await;
    assert_eq!(accepted, 0.0, "nothing refused was queued");
    ingest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_rejected_by_index_and_good_ones_kept() {
    let ingest = TestIngest::start().await;
    let site = &ingest.site_id;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let body = serde_json::json!({ "events": [
        { "site": site, "type": "pageview", "url": "https://a.example/ok" },
        { "site": "00000000-0000-0000-0000-000000000000", "type": "pageview", "url": "https://a.example/" },
        { "site": site, "type": "pageview" },
        { "site": site, "type": "teleport", "url": "https://a.example/" },
        { "site": site, "type": "pageview", "url": "https://a.example/", "timestamp": now - 25 * 3600 * 1000 },
        { "site": site, "type": "pageview", "url": "https://a.example/", "ip": "192.0.2.1" },
        { "site": site, "type": "event", "url": "https://a.example/" },
        { "site": site, "type": "pageview", "path": "/also-ok", "timestamp": now - 1000 },
    ]});
    let response = ingest.send(body, false).await;
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["accepted"], 2);
    let rejected = body["rejected"].as_array().expect("list");
    let reasons: Vec<(i64, String)> = rejected
        .iter()
        .map(|r| (r["index"].as_i64().expect("index"), r["error"].as_str().expect("error").to_owned()))
        .collect();
    let indexes: Vec<i64> = reasons.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, vec![1, 2, 3, 4, 5, 6]);
    assert!(reasons[0].1.starts_with("site:"), "{reasons:?}");
    assert!(reasons[1].1.starts_with("url:"), "{reasons:?}");
    assert!(reasons[2].1.contains("teleport"), "{reasons:?}");
    assert!(reasons[3].1.starts_with("timestamp:"), "{reasons:?}");
    assert!(reasons[4].1.contains("X-Ingest-Key"), "{reasons:?}");
    assert!(reasons[5].1.starts_with("name:"), "{reasons:?}");
    let invalid = ingest.metric("analytics_ingest_events_total{outcome=\"invalid\"}").await;
    let unknown = ingest.metric("analytics_ingest_events_total{outcome=\"unknown_site\"}").await;
    assert_eq!((invalid, unknown), (5.0, 1.0));
    ingest.stop().await;
}
