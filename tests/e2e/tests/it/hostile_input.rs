//! No input can stop, wedge or inflate the counting: values Postgres would
//! refuse, sent through every protocol; raw batches published straight to
//! the exchange; a domain list that would multiply a pageview; a request
//! large enough to break a shared Redis write; events as large as a body
//! allows. Each ends with exact counts, and the counting goes on after it.

use std::time::Duration;

use analytics_e2e::{Expect, Instances, Pipeline, PipelineOptions, eventually};
use analytics_events::{Event, EventType, Message};
use lapin::options::{BasicAckOptions, BasicGetOptions};
use serde_json::{Value, json};

const RETRIED: &str = "analytics_aggregator_batches_total{outcome=\"retried\"}";

fn dropped(reason: &str) -> String {
    format!("analytics_aggregator_dropped_events_total{{reason=\"{reason}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_values_in_every_protocol_are_cleaned_and_the_counting_goes_on() {
    let pipeline = Pipeline::start("UTC").await;
    let domain = format!("poison-{}.example", pipeline.namespace.name);
    let (poisoned, token) = pipeline.add_site(&domain).await;
    let long = "x".repeat(5000);
    let post = |path: &str, body: Value| {
        let request = pipeline.http.post(format!("{}{path}", pipeline.ingest_url)).body(body.to_string());
        async move { request.header("Content-Type", "text/plain").send().await.expect("ingest reachable") }
    };

    // Plausible: three pageviews, three custom events.
    for event in [
        json!({ "n": "pageview", "u": format!("https://{domain}/a?utm_source=%00x"), "d": domain }),
        json!({ "n": "pageview", "u": format!("https://{domain}/b?utm_campaign={long}&utm_medium=%E2%80%AEevil"),
                "d": domain, "r": "https://ref.example/\u{0}" }),
        json!({ "n": "pageview", "u": format!("https://{domain}/app#/{long}?token=secret"), "d": domain, "h": 1 }),
        json!({ "n": "sign\u{0}up", "u": format!("https://{domain}/c"), "d": domain }),
        json!({ "n": long, "u": format!("https://{domain}/c"), "d": domain }),
        json!({ "n": 404, "u": format!("https://{domain}/missing"), "d": domain }),
    ] {
        assert_eq!(post("/api/event", event).await.status(), 202);
    }
    // Umami: a pageview, a custom event whose name is only a NUL, web vitals.
    for message in [
        json!({ "type": "event", "payload": { "website": poisoned, "hostname": domain, "url": "/d%00",
                "title": "%00%E2%80%AEtitle" } }),
        json!({ "type": "event", "payload": { "website": poisoned, "hostname": domain, "url": "/e", "name": "\u{0}" } }),
        json!({ "type": "performance", "payload": { "website": poisoned, "hostname": domain, "url": "/d",
                "lcp": 1e300, "cls": 0.25, "inp": -5 } }),
    ] {
        assert_eq!(post("/api/send", message).await.status(), 200);
    }
    // The native API: three pageviews and an event.
    let native = json!({ "events": [
        { "site": poisoned, "type": "pageview", "url": format!("https://{domain}/f#/r\u{0}?email=a@b.c"),
          "title": "\u{0}", "timing": { "response_ms": u32::MAX, "ttfb_ms": u32::MAX } },
        { "site": poisoned, "type": "event", "name": format!("n\u{0}{long}"), "path": "/g",
          "props": { "k\u{0}": "v\u{202E}" } },
        { "site": poisoned, "type": "pageview", "path": "/h", "app": { "platform": long, "version": "\u{0}1.0" } },
        { "site": poisoned, "type": "pageview", "path": format!("/{long}") },
    ]});
    let answer: Value = pipeline.send(native, false).await.json().await.expect("json");
    assert_eq!(answer["accepted"], 4, "{answer}");

    // Then ordinary traffic for another site: it must be counted, exactly.
    assert_eq!(pipeline.send(crate::pageviews(&pipeline.site_id, 100), false).await.status(), 202);
    let own = Expect { site: pipeline.site_id.clone(), token: pipeline.token.clone(), pageviews: 100, events: 0 };
    let other = Expect { site: poisoned.clone(), token: token.clone(), pageviews: 7, events: 5 };
    // Every accepted message is applied: 100 + 7 + 5 and the performance one.
    pipeline.assert_counted(&[own, other], 113, &pipeline.forwarder_instances()).await;
    assert_eq!(pipeline.metric(&pipeline.aggregator_ops_url, RETRIED).await, 0.0, "nothing was retried");
    assert_eq!(pipeline.metric(&pipeline.aggregator_ops_url, &dropped("refused")).await, 0.0);

    // What was stored is the cleaned value, within its cap.
    let db = pipeline.namespace.db().await;
    let site_id = uuid::Uuid::parse_str(&poisoned).expect("uuid");
    let values: Vec<(String, String)> = db
        .query("SELECT DISTINCT dimension, value FROM daily_dimensions WHERE site_id = $1 ORDER BY 1, 2", &[&site_id])
        .await
        .expect("dimensions")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let has = |dimension: &str, value: &str| values.iter().any(|(d, v)| d == dimension && v == value);
    assert!(has("utm_source", "x") && has("utm_medium", "evil"), "{values:?}");
    assert!(has("event", "signup") && has("event", "404"), "{values:?}");
    assert!(has("page", "/f#/r%00"), "a route keeps no query: {values:?}");
    for (dimension, value) in &values {
        assert!(value.len() <= 1024, "{dimension} value of {} bytes", value.len());
        assert!(!value.chars().any(|c| c.is_control() || c == '\u{202E}'), "{dimension}: {value:?}");
        assert!(!value.contains("secret") && !value.contains("a@b.c"), "{dimension}: {value:?}");
    }
    let speed: Value = pipeline
        .http
        .get(format!("{}/api/analytics/speed/?site={poisoned}", pipeline.query_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("speed")
        .json()
        .await
        .expect("json");
    let overall = &speed["overall"];
    assert_eq!(overall["response_ms"]["count"], 1, "{speed}");
    assert!(overall["response_ms"]["avg_ms"].as_i64().expect("avg") <= 600_000, "clamped: {speed}");
    assert_eq!((overall["lcp_ms"]["count"].as_i64(), overall["cls_thousandths"]["count"].as_i64()), (Some(1), Some(1)));
    assert!(overall.get("inp_ms").is_none(), "a negative vital is left out: {speed}");
    pipeline.stop().await;
}

fn event_at(site: &str, path: &str, at_ms: i64) -> Event {
    Event {
        site_id: site.to_owned(),
        r#type: EventType::Pageview as i32,
        path: path.to_owned(),
        hostname: "shop.example".into(),
        user_agent: analytics_e2e::BROWSER_USER_AGENT.into(),
        visitor_id: rand::random(),
        timestamp_ms: at_ms,
        received_ms: at_ms,
        ..Default::default()
    }
}

fn batch(events: &[Event]) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = events.iter().map(Message::encode_to_vec).collect();
    analytics_events::encode_batch_raw(&uuid::Uuid::now_v7().to_string(), encoded.iter().map(Vec::as_slice))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_batches_are_checked_and_what_postgres_refuses_is_dropped_alone() {
    let pipeline = Pipeline::start_with(PipelineOptions {
        forwarders: Instances::Processes(0),
        overrides: vec![("ANALYTICS__AGGREGATOR__MAX_MESSAGE_BYTES".into(), "200000".into())],
        ..Default::default()
    })
    .await;
    let db = pipeline.namespace.db().await;
    // Stand-ins for values Postgres refuses: one title on its own, and one
    // page only when two of its views meet in one batch.
    db.batch_execute(
        "CREATE FUNCTION refuse_title() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.title = 'refuse me' THEN RAISE EXCEPTION 'test refuses this title' USING ERRCODE = '22021'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_title BEFORE INSERT ON page_titles FOR EACH ROW EXECUTE FUNCTION refuse_title();
         CREATE FUNCTION refuse_together() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.value = '/together' AND NEW.pageviews_web + NEW.pageviews_mobile_web + NEW.pageviews_app >= 2 THEN
             RAISE EXCEPTION 'test refuses two views together' USING ERRCODE = '22003';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_together BEFORE INSERT ON daily_dimension_counts
             FOR EACH ROW EXECUTE FUNCTION refuse_together();",
    )
    .await
    .expect("triggers");
    let site = pipeline.site_id.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let view = |path: &str| event_at(&site, path, now);

    let mut refused_title = view("/refused");
    refused_title.title = "refuse me".into();
    let mut first: Vec<Event> = (0..10).map(|i| view(&format!("/first/{i}"))).collect();
    first.insert(4, refused_title);

    let mut cleaned = view("/cleaned");
    cleaned.utm_source = "\0x".into();
    cleaned.title = "\u{202E}t".into();
    let mut encoded_junk: Vec<Vec<u8>> = vec![
        cleaned.encode_to_vec(),
        event_at(&site, "/old", i64::MIN).encode_to_vec(),
        event_at(&site, "/future", now + 3 * 24 * 3600 * 1000).encode_to_vec(),
        vec![0xff, 0x01, 0x02],
        Event { r#type: 0, ..view("/untyped") }.encode_to_vec(),
        Event { title: "t".repeat(100_000), ..view("/huge") }.encode_to_vec(),
    ];
    encoded_junk.extend((0..3).map(|i| view(&format!("/ok/{i}")).encode_to_vec()));
    let junk =
        analytics_events::encode_batch_raw(&uuid::Uuid::now_v7().to_string(), encoded_junk.iter().map(Vec::as_slice));
    let oversized: Vec<Event> =
        (0..100).map(|i| Event { title: "t".repeat(2500), ..view(&format!("/big/{i}")) }).collect();
    let last: Vec<Event> = (0..20).map(|i| view(&format!("/last/{i}"))).collect();

    for message in [
        batch(&first),
        batch(&[view("/together"), view("/together")]),
        junk,
        vec![0xff; 64],
        analytics_events::encode_batch_raw("not-a-uuid", std::iter::empty()),
        batch(&oversized),
        batch(&last),
    ] {
        pipeline.publish(&message).await;
    }

    // 10 + 1 cleaned + 3 + 20 pageviews; applied: the whole of the first,
    // junk and last batches.
    let own = Expect { site: site.clone(), token: pipeline.token.clone(), pageviews: 34, events: 0 };
    pipeline.assert_counted(&[own], 11 + 9 + 20, &[]).await;
    let aggregator = &pipeline.aggregator_ops_url;
    assert_eq!(pipeline.metric(aggregator, &dropped("refused")).await, 1.0);
    assert_eq!(pipeline.metric(aggregator, &dropped("invalid")).await, 3.0);
    assert_eq!(pipeline.metric(aggregator, &dropped("bad_timestamp")).await, 2.0);
    assert_eq!(pipeline.metric(aggregator, RETRIED).await, 0.0, "refusals are not retried");

    // Four messages are dead letters, each saying why.
    let amqp = analytics_store::amqp::amqp_connect(&pipeline.namespace.amqp, "test-dead-letters").await.expect("amqp");
    let channel = amqp.create_channel().await.expect("channel");
    let mut reasons = Vec::new();
    while let Some(message) = channel
        .basic_get(pipeline.namespace.amqp.dead_letter_queue().as_str().into(), BasicGetOptions::default())
        .await
        .expect("get")
    {
        let headers = message.delivery.properties.headers().clone().unwrap_or_default();
        let reason = match headers.inner().get("x-analytics-reason") {
            Some(lapin::types::AMQPValue::LongString(text)) => text.to_string(),
            other => panic!("no reason header: {other:?}"),
        };
        reasons.push(reason);
        message.delivery.ack(BasicAckOptions::default()).await.expect("ack");
    }
    reasons.sort();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for expected in ["22003", "not a UUID", "oversized", "undecodable"] {
        assert!(reasons.iter().any(|r| r.contains(expected)), "no dead letter says {expected}: {reasons:?}");
    }
    let title: Option<String> = db
        .query_opt("SELECT title FROM page_titles WHERE path = '/cleaned'", &[])
        .await
        .expect("title")
        .map(|r| r.get(0));
    assert_eq!(title.as_deref(), Some("t"), "cleaned like ingest cleans");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_list_records_a_pageview_once_per_distinct_site() {
    let pipeline = Pipeline::start_with(PipelineOptions {
        overrides: vec![("ANALYTICS__INGEST__MAX_BODY_BYTES".into(), "1000000".into())],
        ..Default::default()
    })
    .await;
    let domain = format!("{}.example", pipeline.namespace.name);
    let (second_site, second_token) = pipeline.add_site(&format!("second-{domain}")).await;
    let post = |domains: String| {
        let body = json!({ "n": "pageview", "u": format!("https://{domain}/"), "d": domains });
        let request = pipeline.http.post(format!("{}/api/event", pipeline.ingest_url)).body(body.to_string());
        async move { request.send().await.expect("ingest reachable") }
    };
    let copies = vec![domain.as_str(); 5000].join(",");
    assert_eq!(post(copies).await.status(), 202);
    let mixed = format!("{domain},second-{domain},{},SECOND-{domain}", domain.to_uppercase());
    assert_eq!(post(mixed).await.status(), 202);
    let many = std::iter::once(domain.clone()).chain((0..11).map(|i| format!("s{i}.invalid"))).collect::<Vec<_>>();
    assert_eq!(post(many.join(",")).await.status(), 202);

    let own = Expect { site: pipeline.site_id.clone(), token: pipeline.token.clone(), pageviews: 3, events: 0 };
    let second = Expect { site: second_site, token: second_token, pageviews: 1, events: 0 };
    pipeline.assert_counted(&[own, second], 4, &pipeline.forwarder_instances()).await;
    let ingest = |outcome: &str| format!("analytics_ingest_events_total{{outcome=\"{outcome}\"}}");
    assert_eq!(pipeline.metric(&pipeline.ingest_ops_url, &ingest("unknown_site")).await, 9.0, "the 10 kept, less ours");
    assert_eq!(pipeline.metric(&pipeline.ingest_ops_url, &ingest("invalid")).await, 2.0, "names past the cap of 10");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_request_does_not_fail_the_requests_sharing_its_write() {
    let pipeline = Pipeline::start_with(PipelineOptions {
        forwarders: Instances::Processes(0),
        overrides: vec![
            ("ANALYTICS__INGEST__MAX_EVENTS_PER_REQUEST".into(), "10000".into()),
            ("ANALYTICS__INGEST__MAX_BODY_BYTES".into(), "4000000".into()),
            ("ANALYTICS__INGEST__MAX_BATCH_EVENTS".into(), "20000".into()),
        ],
        ..Default::default()
    })
    .await;
    let huge = pipeline.send(crate::pageviews(&pipeline.site_id, 9000), false);
    let normal = (0..50).map(|_| pipeline.send(crate::pageviews(&pipeline.site_id, 2), false));
    let (huge, normal) = tokio::join!(huge, futures_util::future::join_all(normal));
    assert_eq!(huge.status(), 202);
    assert!(normal.iter().all(|r| r.status() == 202), "{:?}", normal.iter().map(|r| r.status()).collect::<Vec<_>>());
    let mut redis = pipeline.namespace.redis().await;
    let queued: usize =
        redis::AsyncCommands::llen(&mut redis, pipeline.namespace.redis.queue_key()).await.expect("llen");
    assert_eq!(queued, 9100);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_bomb_is_counted_exactly_within_the_memory_limits() {
    let pipeline = Pipeline::start_with(PipelineOptions {
        ingest: Instances::Processes(1),
        forwarders: Instances::Processes(1),
        aggregators: Instances::Processes(1),
        // Small messages, so the forwarder must split by size, not by count.
        overrides: vec![("ANALYTICS__FORWARDER__MAX_MESSAGE_BYTES".into(), "65536".into())],
        ..Default::default()
    })
    .await;
    // 1,000 events of about 60 KB each, 16 requests at a time.
    let site = pipeline.site_id.clone();
    let bomb = |i: usize| {
        let event = json!({ "site": site, "type": "pageview", "url": format!("https://shop.example/bomb/{i}"),
            "title": "ت".repeat(15_000), "referrer": format!("https://r.example/{}", "r".repeat(29_000)) });
        json!({ "events": [event] })
    };
    let mut accepted = 0;
    let sender = pipeline.sender();
    for chunk in (0..1000).collect::<Vec<_>>().chunks(16) {
        let bodies: Vec<Value> = chunk.iter().map(|i| bomb(*i)).collect();
        let requests = bodies.iter().map(|body| sender.post(body));
        accepted += futures_util::future::join_all(requests).await.iter().map(|(n, _)| n).sum::<i64>();
    }
    assert_eq!(accepted, 1000);
    pipeline.assert_exactly(1000, &pipeline.forwarder_instances()).await;
    let forwarder = pipeline.forwarder_processes[0].url();
    let confirmed = pipeline.metric(&forwarder, "analytics_forwarder_batches_total{outcome=\"confirmed\"}").await;
    assert!(confirmed >= 30.0, "{confirmed} batches: 1,000 events of about 2 KB need 30 of 64 KB");
    let aggregator = pipeline.aggregator_processes[0].url();
    let poison = pipeline.metric(&aggregator, "analytics_aggregator_batches_total{outcome=\"poison\"}").await;
    assert_eq!(poison, 0.0, "no good batch was dead-lettered");
    for (service, process) in [
        ("ingest", &pipeline.ingest_processes[0]),
        ("forwarder", &pipeline.forwarder_processes[0]),
        ("aggregator", &pipeline.aggregator_processes[0]),
    ] {
        let (peak, limit) = (process.peak_rss_bytes(), analytics_e2e::manifest_memory_limit(service));
        eprintln!("{service}: peak RSS {} MiB, limit {} MiB", peak >> 20, limit >> 20);
        assert!(peak < limit, "{service} peaked at {peak} bytes, over its limit of {limit}");
    }
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_aggregator_fails_its_health_check_until_it_commits_again() {
    let pipeline = Pipeline::start_with(PipelineOptions {
        overrides: vec![("ANALYTICS__AGGREGATOR__STALL_SECONDS".into(), "2".into())],
        ..Default::default()
    })
    .await;
    let db = pipeline.namespace.db().await;
    // An error worth retrying (a cancelled statement), every time.
    db.batch_execute(
        "CREATE FUNCTION always_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'test cancels every write' USING ERRCODE = '57014'; END $$;
         CREATE TRIGGER always_cancel BEFORE INSERT ON daily_totals FOR EACH ROW EXECUTE FUNCTION always_cancel();",
    )
    .await
    .expect("trigger");
    let health = format!("{}/healthz", pipeline.aggregator_ops_url);
    assert_eq!(pipeline.http.get(&health).send().await.expect("healthz").status(), 200);
    assert_eq!(pipeline.send(crate::pageviews(&pipeline.site_id, 5), false).await.status(), 202);
    pipeline.wait_for_metric(&pipeline.aggregator_ops_url, RETRIED, 1.0).await;
    let report = eventually("the aggregator reported stalled", Duration::from_secs(20), || async {
        let response = pipeline.http.get(&health).send().await.ok()?;
        (response.status() == 503).then_some(())?;
        response.json::<Value>().await.ok()
    })
    .await;
    assert_eq!(report["status"], "stalled", "{report}");
    assert!(report["checks"]["consumer"].as_str().is_some_and(|c| c.contains("no progress")), "{report}");

    db.batch_execute("DROP TRIGGER always_cancel ON daily_totals").await.expect("drop trigger");
    pipeline.assert_exactly(5, &pipeline.forwarder_instances()).await;
    assert_eq!(pipeline.http.get(&health).send().await.expect("healthz").status(), 200);
    let last_commit =
        pipeline.metric(&pipeline.aggregator_ops_url, "analytics_aggregator_last_commit_timestamp_seconds").await;
    assert!((chrono::Utc::now().timestamp() as f64 - last_commit).abs() < 60.0, "{last_commit}");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn umami_node_client_and_web_vitals_are_counted() {
    let pipeline = Pipeline::start("UTC").await;
    let site = pipeline.site_id.clone();
    // Exactly what @umami/node 0.4.0 sends (its user agent included), and
    // what Umami's tracker 3.1 sends with data-performance.
    let node = |payload: Value| {
        let body = json!({ "type": "event", "payload": payload });
        let request = pipeline
            .http
            .post(format!("{}/api/send", pipeline.ingest_url))
            .header("User-Agent", "Mozilla/5.0 Umami/v20.20.2")
            .json(&body);
        async move { request.send().await.expect("ingest reachable").status() }
    };
    assert_eq!(node(json!({ "website": site, "name": "newsletter", "data": { "foo": "bar" } })).await, 200);
    assert_eq!(node(json!({ "website": site, "url": "/x", "title": "T" })).await, 200);
    let vitals = json!({ "type": "performance", "payload": {
        "website": site, "screen": "1920x1080", "language": "en-US", "title": "Home – Ex",
        "hostname": "shop.example", "url": "https://shop.example/blog?utm_source=x#top",
        "referrer": "https://www.google.com/search?q=x", "id": "user-42",
        "ttfb": 123.4, "fcp": 456.7, "lcp": 789.1, "cls": 0.0123, "inp": 48, "duration": 63 } });
    let response = pipeline.http.post(format!("{}/api/send", pipeline.ingest_url)).json(&vitals).send().await;
    assert_eq!(response.expect("ingest reachable").status(), 200);

    let own = Expect { site: site.clone(), token: pipeline.token.clone(), pageviews: 1, events: 1 };
    pipeline.assert_counted(&[own], 3, &pipeline.forwarder_instances()).await;
    let get = |path: String| {
        let request = pipeline.http.get(format!("{}{path}", pipeline.query_url)).bearer_auth(&pipeline.token);
        async move { request.send().await.expect("query").json::<Value>().await.expect("json") }
    };
    let pages = get(format!("/api/analytics/breakdown/?site={site}&dimension=page")).await;
    let page = |value: &str| pages["results"].as_array().expect("rows").iter().find(|r| r["value"] == value).cloned();
    assert_eq!(page("/x").map(|r| r["pageviews"].clone()), Some(json!(1)), "{pages}");
    assert_eq!(page("(none)").map(|r| r["events"].clone()), Some(json!(1)), "an event without a page: {pages}");
    let speed = get(format!("/api/analytics/speed/?site={site}")).await;
    let overall = &speed["overall"];
    for (metric, p50) in [("ttfb_ms", 123), ("fcp_ms", 457), ("lcp_ms", 789), ("inp_ms", 48), ("cls_thousandths", 12)] {
        let estimate = overall[metric]["p50_ms"].as_i64().unwrap_or_else(|| panic!("{metric}: {speed}"));
        assert!((estimate - p50).abs() <= p50 / 10 + 1, "{metric}: {estimate} for {p50}");
    }
    assert_eq!(overall["ttfb_ms"]["count"], 1);
    assert!(pages["results"].as_array().expect("rows").iter().all(|r| r["value"] != "/blog"), "vitals count no view");
    pipeline.stop().await;
}
