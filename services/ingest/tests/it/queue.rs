//! What an accepted request leaves on the Redis list: one encoded event per
//! event accepted, in order, cleaned, with the visitor as a keyed hash and
//! no trace of the address it was derived from.

use crate::TestIngest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_events_are_queued_in_order_without_the_address() {
    let ingest = TestIngest::start().await;
    let site = &ingest.site_id;
    let address = "203.0.113.77";
    let body = serde_json::json!({ "events": [
        { "site": site, "type": "pageview", "url": "https://shop.example/a?utm_source=news", "ip": address },
        { "site": site, "type": "pageview", "url": "https://shop.example/b", "title": "B\u{0}\u{202e}!", "ip": address },
        { "site": site, "type": "event", "name": "signup", "url": "https://shop.example/b", "ip": "198.51.100.9" },
    ]});
    let response = ingest.send(body, true).await;
    assert_eq!(response.status(), 202);

    let queued = ingest.queued().await;
    let summary: Vec<(&str, &str, &str, &str)> =
        queued.iter().map(|e| (e.path.as_str(), e.title.as_str(), e.name.as_str(), e.utm_source.as_str())).collect();
    let expected = vec![("/a", "", "", "news"), ("/b", "B!", "", ""), ("/b", "", "signup", "")];
    assert_eq!(summary, expected, "in order, and cleaned");
    assert!(queued.iter().all(|e| &e.site_id == site && e.received_ms > 0));
    let visitors: Vec<u64> = queued.iter().map(|e| e.visitor_id).collect();
    assert!(visitors[0] != 0 && visitors[0] == visitors[1], "one address, one visitor: {visitors:?}");
    assert_ne!(visitors[0], visitors[2], "another address, another visitor");

    let bytes: Vec<u8> = ingest.queued_bytes().await.concat();
    for needle in [address.as_bytes(), b"198.51.100.9"] {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "an address reached the queue");
    }
    assert_eq!(ingest.metric("analytics_ingest_events_total{outcome=\"accepted\"}").await, 3.0);
    ingest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_screen_is_counted_under_its_own_name() {
    let ingest = TestIngest::start().await;
    let site = &ingest.site_id;
    let body = serde_json::json!({ "events": [
        { "site": site, "type": "screen_view", "name": "Checkout", "source": "app", "app": { "platform": "ios" } },
        { "site": site, "type": "screen_view", "path": "/cart", "source": "app" },
        { "site": site, "type": "screen_view", "source": "app" },
        { "site": site, "type": "pageview", "name": "Checkout" },
    ]});
    let response = ingest.send(body, false).await;
    assert_eq!(response.status(), 202);
    let answer: serde_json::Value = response.json().await.expect("json");
    assert_eq!(answer["accepted"], 2);
    let errors: Vec<(i64, &str)> = answer["rejected"]
        .as_array()
        .expect("rejections")
        .iter()
        .map(|r| (r["index"].as_i64().expect("index"), r["error"].as_str().expect("error")))
        .collect();
    assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![2, 3], "{errors:?}");
    assert!(errors.iter().all(|(_, e)| e.starts_with("url: missing")), "{errors:?}");
    let paths: Vec<String> = ingest.queued().await.into_iter().map(|e| e.path).collect();
    assert_eq!(paths, vec!["Checkout", "/cart"]);
    ingest.stop().await;
}
