//! Whatever arrives, ingest answers below 500, stays up, and queues only
//! well-formed events: a bounded fuzz run per protocol, mutating valid
//! requests byte-wise and field-wise. Also the tracker script's caching and
//! the batching of concurrent requests into shared Redis writes.

use std::time::{Duration, Instant};

use analytics_e2e::{Instances, Pipeline, PipelineOptions, eventually};
use analytics_events::{Event, Message};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::AsyncCommands;
use serde_json::{Value, json};

/// Per protocol: at most this many requests, and at most this long.
const ROUNDS: usize = 400;
const TIME_LIMIT: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_requests_never_crash_ingest_or_poison_the_queue() {
    // No forwarder: what ingest queued stays in the list for inspection.
    let pipeline =
        Pipeline::start_with(PipelineOptions { forwarders: Instances::Processes(0), ..Default::default() }).await;
    let seed = fuzz_seed();
    let site = pipeline.site_id.clone();
    let now = chrono::Utc::now().timestamp_millis();
    send_fuzzed_requests(&pipeline, seed).await;
    let health = pipeline.http.get(format!("{}/healthz", pipeline.ingest_ops_url)).send().await.expect("alive");
    assert_eq!(health.status(), 200);

    let mut redis = pipeline.namespace.redis().await;
    let queued: Vec<Vec<u8>> = redis.lrange(pipeline.namespace.redis.queue_key(), 0, -1).await.expect("list");
    let accepted =
        pipeline.metric(&pipeline.ingest_ops_url, "analytics_ingest_events_total{outcome=\"accepted\"}").await;
    assert_eq!(queued.len() as f64, accepted, "seed {seed}: every accepted event is queued, nothing else");
    assert!(!queued.is_empty(), "seed {seed}: some mutations stay valid");
    for entry in queued {
        let event = Event::decode(entry.as_slice()).unwrap_or_else(|e| panic!("seed {seed}: undecodable entry: {e}"));
        assert_eq!(event.site_id, site);
        // An Umami event may come without a page (its Node client sends none).
        assert!(event.path.starts_with('/') || event.path.is_empty(), "{event:?}");
        let mut cleaned = event.clone();
        analytics_events::clean::sanitize(&mut cleaned);
        assert_eq!(cleaned, event, "seed {seed}: every queued value is already clean");
        assert!(event.country.is_empty() || event.country.len() == 2, "{event:?}");
        assert!(event.encoded_len() <= analytics_events::clean::limits::EVENT_BYTES);
        assert!((now - 25 * 3600 * 1000..now + 3600 * 1000).contains(&event.timestamp_ms), "{event:?}");
    }
    pipeline.stop().await;
}

fn fuzz_seed() -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>)
}

/// Sends mutated requests of every protocol (at most [`ROUNDS`] and
/// [`TIME_LIMIT`] per protocol); every answer must be below 500, and every
/// 4xx a one-line JSON error.
async fn send_fuzzed_requests(pipeline: &Pipeline, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let site = pipeline.site_id.clone();
    let domain = format!("{}.example", pipeline.namespace.name);
    let now = chrono::Utc::now().timestamp_millis();
    let samples = [
        (
            "/v1/events",
            json!({ "events": [{
                "site": site, "type": "pageview", "url": "https://a.example/p?utm_source=x&q=1#/r", "title": "Tëst",
                "referrer": "https://r.example/", "props": { "k": "v", "n": 1 },
                "timing": { "ttfb_ms": 10, "load_ms": 100 }, "timestamp": now,
            }]}),
        ),
        (
            "/api/event",
            json!({ "n": "pageview", "u": format!("https://{domain}/p"), "d": domain, "r": null, "p": { "a": 1 }, "h": 0 }),
        ),
        (
            "/api/send",
            json!({ "type": "event", "payload": {
                "website": site, "url": "/p?x=1", "hostname": "a.example", "title": "T", "referrer": "",
                "language": "en", "screen": "1x1", "name": "signup", "data": { "a": 1 },
            }}),
        ),
        (
            "/api/send",
            json!({ "type": "performance", "payload": {
                "website": site, "url": "https://a.example/p#x", "hostname": "a.example", "title": "T",
                "lcp": 1200.5, "fcp": 300, "inp": 40, "cls": 0.02, "ttfb": 90,
            }}),
        ),
    ];
    for (path, sample) in samples {
        let started = Instant::now();
        for round in 0..ROUNDS {
            if started.elapsed() > TIME_LIMIT {
                break;
            }
            let body = mutate(&sample, &mut rng);
            let response = pipeline
                .http
                .post(format!("{}{path}", pipeline.ingest_url))
                .header("Content-Type", if rng.random_bool(0.5) { "application/json" } else { "text/plain" })
                .body(body.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: {path} round {round} got no answer: {e}"));
            let status = response.status().as_u16();
            // 503 with Retry-After is ingest saying "later" (Redis slower than
            // its deadline on a loaded machine), not a failure.
            let retry_later = status == 503 && response.headers().contains_key("retry-after");
            assert!(
                status < 500 || retry_later,
                "seed {seed}: {path} answered {status} to {:?}",
                String::from_utf8_lossy(&body)
            );
            if status >= 400 {
                let error: Value =
                    response.json().await.unwrap_or_else(|_| panic!("seed {seed}: {status} without JSON"));
                assert!(error["error"].as_str().is_some_and(|e| !e.is_empty() && !e.contains('\n')), "{error}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fuzzed_event_ingest_accepts_is_counted_or_dropped_by_reason() {
    let pipeline = Pipeline::start("UTC").await;
    let seed = fuzz_seed();
    send_fuzzed_requests(&pipeline, seed).await;
    let accepted =
        pipeline.metric(&pipeline.ingest_ops_url, "analytics_ingest_events_total{outcome=\"accepted\"}").await;
    assert!(accepted > 0.0, "seed {seed}: some mutations stay valid");
    // Everything accepted reaches the aggregator, which counts it or says why not.
    let aggregator = pipeline.aggregator_ops_url.clone();
    eventually(&format!("seed {seed}: {accepted} events accounted for"), Duration::from_secs(60), || async {
        let handled = handled_events(&pipeline).await;
        assert!(handled <= accepted, "seed {seed}: {handled} handled of {accepted} accepted");
        (handled == accepted).then_some(())
    })
    .await;
    assert_eq!(pipeline.metric(&aggregator, "analytics_aggregator_batches_total{outcome=\"retried\"}").await, 0.0);
    assert_eq!(pipeline.metric(&aggregator, "analytics_aggregator_batches_total{outcome=\"poison\"}").await, 0.0);
    keeps_counting(&pipeline).await;
    pipeline.stop().await;
}

/// Events the aggregator counted or dropped by reason, in all.
async fn handled_events(pipeline: &Pipeline) -> f64 {
    let url = &pipeline.aggregator_ops_url;
    pipeline.metric_sum(url, "analytics_aggregator_events_total").await
        + pipeline.metric_sum(url, "analytics_aggregator_dropped_events_total").await
}

/// Ten more pageviews are counted: nothing before them stopped the pipeline.
async fn keeps_counting(pipeline: &Pipeline) {
    let before = pipeline.overview().await["total"]["pageviews"].as_i64().expect("total");
    assert_eq!(pipeline.send(crate::pageviews(&pipeline.site_id, 10), false).await.status(), 202);
    eventually("ten more pageviews counted", Duration::from_secs(30), || async {
        let after = pipeline.overview().await["total"]["pageviews"].as_i64()?;
        (after == before + 10).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_batches_on_the_exchange_are_applied_or_dead_lettered() {
    let pipeline = Pipeline::start("UTC").await;
    let seed = fuzz_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    const MESSAGES: usize = 150;
    for _ in 0..MESSAGES {
        let message = fuzzed_batch(&pipeline.site_id, &mut rng);
        pipeline.publish(&message).await;
    }
    let aggregator = pipeline.aggregator_ops_url.clone();
    let batches = |outcome: &str| format!("analytics_aggregator_batches_total{{outcome=\"{outcome}\"}}");
    eventually(&format!("seed {seed}: every message applied or dead-lettered"), Duration::from_secs(60), || async {
        let mut settled = 0.0;
        for outcome in ["applied", "duplicate", "poison"] {
            settled += pipeline.metric(&aggregator, &batches(outcome)).await;
        }
        (settled == MESSAGES as f64).then_some(())
    })
    .await;
    assert_eq!(pipeline.metric(&aggregator, &batches("retried")).await, 0.0, "seed {seed}: nothing retried");
    // Every event of an applied batch is counted or dropped by reason.
    let db = pipeline.namespace.db().await;
    let applied: i64 = db
        .query_one("SELECT coalesce(sum(event_count), 0)::int8 FROM processed_batches", &[])
        .await
        .expect("applied")
        .get(0);
    assert_eq!(handled_events(&pipeline).await, applied as f64, "seed {seed}");
    keeps_counting(&pipeline).await;
    pipeline.stop().await;
}

/// A batch of a few events with hostile field values, then perhaps damaged
/// byte-wise.
fn fuzzed_batch(site: &str, rng: &mut StdRng) -> Vec<u8> {
    let now = chrono::Utc::now().timestamp_millis();
    let text = |rng: &mut StdRng| -> String {
        const PIECES: &[&str] =
            &["a", "/", "\u{0}", "\u{1b}", "\u{202E}", "\u{200B}", "é", "e\u{301}", "ش", "%00", "🙂", " "];
        let n = if rng.random_bool(0.1) { rng.random_range(1000..5000) } else { rng.random_range(0..30) };
        (0..n).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect()
    };
    let events: Vec<Vec<u8>> = (0..rng.random_range(1..6))
        .map(|_| {
            let timestamp_ms = match rng.random_range(0..4) {
                0 => rng.random(),
                1 => now + rng.random_range(-800i64..800) * 24 * 3600 * 1000,
                _ => now - rng.random_range(0..3_600_000),
            };
            let event = Event {
                site_id: if rng.random_bool(0.8) { site.to_owned() } else { text(rng) },
                r#type: rng.random_range(-1..6),
                name: text(rng),
                timestamp_ms,
                received_ms: if rng.random_bool(0.5) { now } else { rng.random() },
                hostname: text(rng),
                path: format!("/{}", text(rng)),
                title: text(rng),
                referrer: if rng.random_bool(0.5) { format!("https://{}/", text(rng)) } else { text(rng) },
                source: rng.random_range(-1..4),
                user_agent: if rng.random_bool(0.7) { analytics_e2e::BROWSER_USER_AGENT.to_owned() } else { text(rng) },
                country: text(rng),
                visitor_id: rng.random(),
                props: (0..rng.random_range(0..40)).map(|_| (text(rng), text(rng))).collect(),
                timing: rng.random_bool(0.5).then(|| analytics_events::Timing {
                    response_ms: Some(rng.random()),
                    lcp_ms: Some(rng.random()),
                    cls_thousandths: Some(rng.random()),
                    ..Default::default()
                }),
                utm_source: text(rng),
                utm_medium: text(rng),
                utm_campaign: text(rng),
                app_platform: text(rng),
                app_version: text(rng),
                authenticated: rng.random_bool(0.1),
                protocol: rng.random_range(-1..6),
            };
            event.encode_to_vec()
        })
        .collect();
    let mut message =
        analytics_events::encode_batch_raw(&uuid::Uuid::now_v7().to_string(), events.iter().map(Vec::as_slice));
    match rng.random_range(0..6) {
        0 => {
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..message.len());
                message[at] = rng.random();
            }
        }
        1 => message.truncate(rng.random_range(0..message.len())),
        _ => {}
    }
    message
}

/// A valid request, damaged in one of several ways.
fn mutate(sample: &Value, rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(sample).expect("json");
    match rng.random_range(0..6) {
        0 => bytes,
        1 => {
            for _ in 0..rng.random_range(1..5) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            bytes
        }
        2 => {
            bytes.truncate(rng.random_range(0..bytes.len()));
            bytes
        }
        3 => {
            const TOKENS: &[&[u8]] = &[
                b"\"",
                b"{",
                b"[",
                b"]",
                b"}",
                b",",
                b":",
                b"null",
                b"1e999",
                b"-0",
                b"\"\\u0000\"",
                b"\xff\xfe",
                b"\\",
                b"\"\\ud800\"",
            ];
            let at = rng.random_range(0..bytes.len());
            let token = TOKENS[rng.random_range(0..TOKENS.len())];
            bytes.splice(at..at, token.iter().copied());
            bytes
        }
        4 => {
            let mut value = sample.clone();
            replace_random_field(&mut value, rng);
            serde_json::to_vec(&value).expect("json")
        }
        _ => {
            let depth = rng.random_range(5..200);
            let mut value = sample.clone();
            let deep = serde_json::from_str::<Value>(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
                .unwrap_or(Value::Null);
            set_random_field(&mut value, deep, rng);
            serde_json::to_vec(&value).expect("json")
        }
    }
}

fn replace_random_field(value: &mut Value, rng: &mut StdRng) {
    let long = "x".repeat(rng.random_range(100..5000));
    let candidates = [
        Value::Null,
        json!(0),
        json!(-1),
        json!(1.5),
        json!(i64::MAX),
        json!(""),
        json!(long),
        json!([]),
        json!({}),
        json!(true),
        json!("javascript:alert(1)"),
        json!("http://"),
        json!("https://ä.example/𝄞?utm_source=☃#/x"),
        json!("/p\u{0}x?utm_source=%00y#/r\u{202E}?token=1"),
        json!("\u{0}\u{1}\u{7f}\u{85}\u{200B}\u{FEFF}"),
        json!("e\u{301}".repeat(rng.random_range(1..3000))),
        json!((0..40).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>()),
    ];
    let replacement = candidates[rng.random_range(0..candidates.len())].clone();
    set_random_field(value, replacement, rng);
}

/// Replaces one field, chosen at random at any depth, with `replacement`.
fn set_random_field(value: &mut Value, replacement: Value, rng: &mut StdRng) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(rng.random_range(0..map.len())).cloned().expect("key");
            let child = map.get_mut(&key).expect("child");
            if child.is_object() || child.is_array() && rng.random_bool(0.6) {
                set_random_field(child, replacement, rng);
            } else {
                *child = replacement;
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let at = rng.random_range(0..items.len());
            set_random_field(&mut items[at], replacement, rng);
        }
        other => *other = replacement,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracker_script_cors_and_shared_redis_writes() {
    let pipeline =
        Pipeline::start_with(PipelineOptions { forwarders: Instances::Processes(0), ..Default::default() }).await;
    let script_url = format!("{}/js/script.js", pipeline.ingest_url);
    let plain = pipeline.http.get(&script_url).send().await.expect("script");
    assert_eq!(plain.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    assert_eq!(header(&plain, "content-type"), "application/javascript; charset=utf-8");
    assert!(header(&plain, "cache-control").contains("max-age=86400"));
    let etag = header(&plain, "etag");
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let source = plain.bytes().await.expect("body");
    let shipped = std::fs::read(analytics_e2e::repo_root().join("services/ingest/assets/script.js")).expect("asset");
    assert_eq!(source.as_ref(), shipped.as_slice());

    let gzipped = pipeline.http.get(&script_url).header("Accept-Encoding", "gzip").send().await.expect("script");
    assert_eq!(header(&gzipped, "content-encoding"), "gzip");
    let compressed = gzipped.bytes().await.expect("body");
    assert!(compressed.len() < 1500, "tracker is {} bytes gzipped", compressed.len());
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(compressed.as_ref()), &mut unpacked).expect("gunzip");
    assert_eq!(unpacked, shipped);
    let revalidated = pipeline.http.get(&script_url).header("If-None-Match", &etag).send().await.expect("script");
    assert_eq!(revalidated.status(), 304);

    // Trackers post from any origin: preflight and answers, errors included.
    let preflight = pipeline
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/events", pipeline.ingest_url))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 204);
    assert!(header(&preflight, "access-control-allow-headers").contains("Content-Type"));
    let refused =
        pipeline.http.post(format!("{}/v1/events", pipeline.ingest_url)).body("{").send().await.expect("post");
    assert_eq!((refused.status().as_u16(), header(&refused, "access-control-allow-origin")), (400, "*".to_owned()));

    // 100 concurrent requests of 2 events share Redis writes.
    let requests = (0..100).map(|_| pipeline.send(crate::pageviews(&pipeline.site_id, 2), false));
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.status(), 202);
    }
    let writes = pipeline.metric(&pipeline.ingest_ops_url, "analytics_ingest_push_events_count").await;
    let events = pipeline.metric(&pipeline.ingest_ops_url, "analytics_ingest_push_events_sum").await;
    assert_eq!(events, 200.0);
    assert!(writes < 100.0, "{writes} Redis writes for 100 concurrent requests");
    let mut redis = pipeline.namespace.redis().await;
    let queued: usize = redis.llen(pipeline.namespace.redis.queue_key()).await.expect("llen");
    assert_eq!(queued, 200);
    pipeline.stop().await;
}
