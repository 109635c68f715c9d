//! Bounded under abuse: unknown names and tokens cost no database load, a
//! new site counts at once, junk parameters make no cache entries, one
//! client cannot take another's capacity or idempotency keys, slow clients
//! are cut off, and housekeeping keeps up whatever the volume.

use std::time::{Duration, Instant};

use analytics_e2e::{Expect, Pipeline, PipelineOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads of the `sites` table so far (sequential and index scans), as
/// Postgres' statistics count them.
async fn sites_reads(db: &tokio_postgres::Client) -> i64 {
    // Backends publish their statistics at most once a second, and at the
    // latest after 10 s idle.
    db.query_one(
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'sites'",
        &[],
    )
    .await
    .expect("table statistics")
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_sites_and_tokens_do_not_turn_into_database_reads() {
    let pipeline = Pipeline::start("UTC").await;
    let db = pipeline.namespace.db().await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let before = sites_reads(&db).await;
    let started = Instant::now();
    let unknown = (0..500).map(|i| {
        let body = json!({ "n": "pageview", "u": "https://x.example/", "d": format!("random-{i}-{}.example", rand::random::<u32>()) });
        pipeline.http.post(format!("{}/api/event", pipeline.ingest_url)).body(body.to_string()).send()
    });
    let tokens = (0..500).map(|i| {
        pipeline
            .http
            .get(format!("{}/api/analytics/overview/?site={}", pipeline.query_url, pipeline.site_id))
            .bearer_auth(format!("ak_random_{i}_{}", rand::random::<u64>()))
            .send()
    });
    let known = pipeline.send(crate::pageviews(&pipeline.site_id, 5), false);
    let (unknown, tokens, known) =
        tokio::join!(futures_util::future::join_all(unknown), futures_util::future::join_all(tokens), known);
    let elapsed = started.elapsed().as_secs_f64();
    assert!(unknown.iter().all(|r| r.as_ref().is_ok_and(|r| r.status() == 202)), "Plausible answers 202");
    assert!(tokens.iter().all(|r| r.as_ref().is_ok_and(|r| r.status() == 401)), "random tokens are 401");
    assert_eq!(known.status(), 202, "a known site is served as usual");
    pipeline.assert_exactly(5, &pipeline.forwarder_instances()).await;

    tokio::time::sleep(Duration::from_secs(11)).await;
    let reads = sites_reads(&db).await - before;
    // Two processes that look names up on a miss (ingest and query), each
    // within its budget (a burst, then a rate) for the flood's duration; and
    // a read or two by the aggregator.
    let per_process = 5.0 + analytics_store::sites::MISS_LOOKUPS_PER_SECOND * elapsed.ceil();
    let bound = 2.0 * per_process + 2.0;
    eprintln!("{reads} reads of sites for 1,000 unknown names in {elapsed:.1} s (bound {bound})");
    assert!((reads as f64) <= bound, "{reads} reads of sites in {elapsed:.1} s");
    pipeline.stop().await;
}

/// A site name with a NUL byte is nobody's, and Postgres is not asked for
/// it: the read would fail, each failure a logged warning, and failed reads
/// hold back the lookups of the sites not yet known (here one created
/// without the announcement that has every service read the sites again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_a_nul_byte_are_unknown_without_asking_postgres() {
    let pipeline = Pipeline::start("UTC").await;
    let db = pipeline.namespace.db().await;
    db.batch_execute("SET session_replication_role = replica").await.expect("no triggers");
    let domain = format!("quiet-{}.example", pipeline.namespace.name);
    let (quiet, _) = analytics_store::sites::add_site(&db, &domain, "UTC").await.expect("a site");
    let name = "a\u{0}b";
    for wait_ms in [250, 0] {
        let native = json!({ "events": [{ "site": name, "type": "pageview", "path": "/" }] });
        assert_eq!(pipeline.send(native, false).await.status(), 202);
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    }
    for (path, body) in [
        ("api/event", json!({ "n": "pageview", "u": "https://a.example/", "d": name })),
        ("api/send", json!({ "type": "event", "payload": { "website": name, "url": "/", "hostname": "a.example" } })),
    ] {
        let response = pipeline.http.post(format!("{}/{path}", pipeline.ingest_url)).json(&body).send().await;
        let status = response.expect("ingest").status();
        // Plausible answers 202 whatever the domain; Umami's endpoint 404s an unknown website.
        assert!(status.is_success() || status == 404, "{path}: {status}");
    }
    let event = json!({ "events": [{ "site": quiet.id.to_string(), "type": "pageview", "path": "/" }] });
    let answer: Value = pipeline.send(event, false).await.json().await.expect("json");
    assert_eq!(answer["accepted"], 1, "the quiet site is looked up at once: {answer}");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_counts_from_the_moment_it_is_created() {
    let pipeline = Pipeline::start("UTC").await;
    let domain = format!("new-{}.example", pipeline.namespace.name);
    // Misses for the name just before it exists: the negative cache must
    // not outlive the site's creation.
    let pageview = || json!({ "n": "pageview", "u": format!("https://{domain}/"), "d": domain }).to_string();
    for _ in 0..3 {
        let response = pipeline.http.post(format!("{}/api/event", pipeline.ingest_url)).body(pageview()).send().await;
        assert_eq!(response.expect("ingest").status(), 202);
    }
    let (site, token) = pipeline.add_site(&domain).await;
    // At once: seven events, then the dashboard with the new token.
    let events: Vec<Value> =
        (0..7).map(|i| json!({ "site": site, "type": "pageview", "path": format!("/{i}") })).collect();
    let answer: Value = pipeline.send(json!({ "events": events }), false).await.json().await.expect("json");
    assert_eq!(answer["accepted"], 7, "{answer}");
    let overview = pipeline
        .http
        .get(format!("{}/api/analytics/overview/?site={site}", pipeline.query_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("query");
    assert_eq!(overview.status(), 200, "the new site's token is known at once");
    let own = Expect { site: pipeline.site_id.clone(), token: pipeline.token.clone(), pageviews: 0, events: 0 };
    let new = Expect { site, token, pageviews: 7, events: 0 };
    pipeline.assert_counted(&[own, new], 7, &pipeline.forwarder_instances()).await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_parameters_are_refused_and_make_no_cache_entries() {
    let pipeline = Pipeline::start_with(PipelineOptions { query_cache_live_seconds: 60, ..Default::default() }).await;
    let get = |query: String| {
        let request =
            pipeline.http.get(format!("{}/api/analytics/{query}", pipeline.query_url)).bearer_auth(&pipeline.token);
        async move { request.send().await.expect("query") }
    };
    let site = &pipeline.site_id;
    let first = get(format!("overview/?site={site}&days=30")).await;
    assert_eq!(first.status(), 200);
    let mut redis = pipeline.namespace.redis().await;
    let keys = |redis: &mut redis::aio::ConnectionManager| {
        let pattern = format!("{}query-cache:*", pipeline.namespace.redis.key_prefix);
        let mut redis = redis.clone();
        async move { redis::cmd("KEYS").arg(pattern).query_async::<Vec<String>>(&mut redis).await.expect("keys").len() }
    };
    let cached = keys(&mut redis).await;
    for i in 0..200 {
        let response = get(format!("overview/?site={site}&junk{i}={i}")).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"], format!("junk{i}: unknown parameter"));
    }
    // Another endpoint's parameter, and spellings of the same request.
    let other = get(format!("overview/?site={site}&dimension=page")).await;
    assert_eq!(other.status(), 400);
    assert!(other.text().await.expect("body").contains("dimension"));
    for days in ["030", "0030", "00030"] {
        let same = get(format!("overview/?site={site}&days={days}")).await;
        assert_eq!(same.headers().get("x-cache").and_then(|v| v.to_str().ok()), Some("hit"), "days={days}");
    }
    let fresh = pipeline
        .http
        .get(format!("{}/api/analytics/overview/?site={site}&days=30", pipeline.query_url))
        .bearer_auth(&pipeline.token)
        .header("X-Skip-Cache", "1")
        .send()
        .await
        .expect("query");
    assert_eq!(
        fresh.headers().get("x-cache").and_then(|v| v.to_str().ok()),
        Some("bypass"),
        "X-Skip-Cache bypasses the cache"
    );
    assert_eq!(keys(&mut redis).await, cached, "the cache holds as many entries as before");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_belong_to_their_caller_and_their_body() {
    let pipeline = Pipeline::start("UTC").await;
    let (other_site, other_token) = pipeline.add_site(&format!("other-{}.example", pipeline.namespace.name)).await;
    let post = |body: Value| {
        let request = pipeline
            .http
            .post(format!("{}/v1/events", pipeline.ingest_url))
            .header("Idempotency-Key", "batch-1")
            .json(&body);
        async move { request.send().await.expect("ingest") }
    };
    // Two apps that both number their batches from 1.
    assert_eq!(post(crate::pageviews(&pipeline.site_id, 3)).await.status(), 202);
    assert_eq!(post(crate::pageviews(&other_site, 2)).await.status(), 202);
    // A retry of the first: answered, not stored again.
    let retry = post(crate::pageviews(&pipeline.site_id, 3)).await;
    assert_eq!(retry.status(), 202);
    // The same key with another body: a conflict, not a silent drop.
    let conflict = post(crate::pageviews(&pipeline.site_id, 4)).await;
    assert_eq!(conflict.status(), 422);
    let error: Value = conflict.json().await.expect("json");
    assert!(error["error"].as_str().is_some_and(|e| e.starts_with("Idempotency-Key")), "{error}");
    let own = Expect { site: pipeline.site_id.clone(), token: pipeline.token.clone(), pageviews: 3, events: 0 };
    let other = Expect { site: other_site, token: other_token, pageviews: 2, events: 0 };
    pipeline.assert_counted(&[own, other], 5, &pipeline.forwarder_instances()).await;
    let duplicate =
        pipeline.metric(&pipeline.ingest_ops_url, "analytics_ingest_events_total{outcome=\"duplicate\"}").await;
    assert_eq!(duplicate, 3.0);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_gets_429_and_others_do_not() {
    let pipeline = Pipeline::start_with(PipelineOptions {
        // Clients are told apart by X-Forwarded-For from this trusted proxy.
        trusted_proxies: "127.0.0.1/32",
        overrides: vec![
            ("ANALYTICS__INGEST__RATE_LIMIT_PER_SECOND".into(), "5".into()),
            ("ANALYTICS__INGEST__RATE_LIMIT_BURST".into(), "10".into()),
        ],
        ..Default::default()
    })
    .await;
    let from = |address: &'static str| {
        let request = pipeline
            .http
            .post(format!("{}/v1/events", pipeline.ingest_url))
            .header("X-Forwarded-For", address)
            .json(&crate::pageviews(&pipeline.site_id, 1));
        async move { request.send().await.expect("ingest") }
    };
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(from("203.0.113.7").await.status().as_u16());
    }
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    assert!((10..=13).contains(&accepted), "the burst and a little refill: {statuses:?}");
    let limited = from("203.0.113.7").await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    for _ in 0..10 {
        assert_eq!(from("198.51.100.9").await.status(), 202, "another client is unaffected");
    }
    let counted = pipeline.metric(&pipeline.ingest_ops_url, "analytics_ingest_rate_limited_requests_total").await;
    assert!(counted >= 28.0, "{counted}");
    pipeline.assert_exactly(accepted as i64 + 10, &pipeline.forwarder_instances()).await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_others_served() {
    let pipeline = Pipeline::start_with(PipelineOptions {
        overrides: vec![
            ("ANALYTICS__INGEST__BODY_TIMEOUT_MS".into(), "1000".into()),
            ("ANALYTICS__INGEST__REQUEST_HEAD_TIMEOUT_MS".into(), "1000".into()),
        ],
        ..Default::default()
    })
    .await;
    let address = pipeline.ingest_url.trim_start_matches("http://").to_owned();
    // 200 connections that announce a body and send a byte of it, and 200
    // that never finish their head.
    let mut slow = Vec::new();
    for i in 0..400 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
        let start = if i % 2 == 0 {
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        } else {
            "POST /v1/events HTTP/1.1\r\nHost: x\r\n"
        };
        stream.write_all(start.as_bytes()).await.expect("write");
        slow.push(stream);
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let sent = Instant::now();
        assert_eq!(pipeline.send(crate::pageviews(&pipeline.site_id, 1), false).await.status(), 202);
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    assert!(latencies[18] < Duration::from_millis(500), "other clients are served: {latencies:?}");
    // Every slow connection is closed (408 or a plain close) by the deadlines.
    for mut stream in slow {
        let mut answer = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        assert!(closed.is_ok(), "a slow connection still open after {:?}", started.elapsed());
    }
    assert!(started.elapsed() < Duration::from_secs(8), "closed after {:?}", started.elapsed());
    pipeline.assert_exactly(20, &pipeline.forwarder_instances()).await;
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_due_behind_a_long_query_does_not_block_the_aggregator() {
    let pipeline = Pipeline::start("UTC").await;
    assert_eq!(pipeline.send(crate::pageviews(&pipeline.site_id, 5), false).await.status(), 202);
    pipeline.assert_exactly(5, &pipeline.forwarder_instances()).await;
    // A dashboard query holding the rollup table for a long time.
    let mut reader = pipeline.namespace.db().await;
    let holding = reader.transaction().await.expect("transaction");
    holding.batch_execute("LOCK TABLE daily_dimensions IN ACCESS SHARE MODE").await.expect("lock");
    // Maintenance wants partitions further ahead than exist: it gives up
    // after the lock timeout instead of queueing every writer behind it.
    let mut settings: analytics_aggregator::Settings =
        analytics_config::from_defaults(analytics_aggregator::Settings::DEFAULTS).expect("defaults");
    settings.aggregator.partition_days_ahead = 60;
    let pool = analytics_store::pg_pool(&pipeline.namespace.postgres).expect("pool");
    let started = Instant::now();
    let outcome = analytics_aggregator::maintenance::run_once(&pool, &settings.aggregator).await;
    let waited = started.elapsed();
    assert!(outcome.is_err(), "the partition could not be created while the table was held");
    assert!(waited < Duration::from_secs(5), "gave up after {waited:?}");
    // Meanwhile, and after, events are counted.
    assert_eq!(pipeline.send(crate::pageviews(&pipeline.site_id, 5), false).await.status(), 202);
    pipeline.assert_exactly(10, &pipeline.forwarder_instances()).await;
    holding.rollback().await.expect("release");
    analytics_aggregator::maintenance::run_once(&pool, &settings.aggregator).await.expect("maintenance once released");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_maintenance_round_forgets_every_silent_visitor() {
    let pipeline = Pipeline::start("UTC").await;
    let db = pipeline.namespace.db().await;
    let site = uuid::Uuid::parse_str(&pipeline.site_id).expect("uuid");
    db.execute(
        "INSERT INTO visitor_visits (site_id, visitor_id, visits, last_seen)
         SELECT $1, v, '[]'::jsonb, now() - interval '4 days' FROM generate_series(1, 500000) AS v",
        &[&site],
    )
    .await
    .expect("500,000 silent visitors");
    db.execute(
        "INSERT INTO visitor_visits (site_id, visitor_id, visits, last_seen)
         SELECT $1, v, '[]'::jsonb, now() FROM generate_series(500001, 500010) AS v",
        &[&site],
    )
    .await
    .expect("10 recent ones");
    let settings: analytics_aggregator::Settings =
        analytics_config::from_defaults(analytics_aggregator::Settings::DEFAULTS).expect("defaults");
    let pool = analytics_store::pg_pool(&pipeline.namespace.postgres).expect("pool");
    let report = analytics_aggregator::maintenance::run_once(&pool, &settings.aggregator).await.expect("maintenance");
    assert_eq!(report.forgotten_visitors, 500_000);
    let left: i64 = db.query_one("SELECT count(*) FROM visitor_visits", &[]).await.expect("count").get(0);
    assert_eq!(left, 10);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_values_past_the_daily_bound_count_as_other() {
    let pipeline = Pipeline::start_with(PipelineOptions {
        overrides: vec![("ANALYTICS__AGGREGATOR__MAX_VALUES_PER_DAY".into(), "100".into())],
        ..Default::default()
    })
    .await;
    let site = pipeline.site_id.clone();
    // 2,000 pageviews on 2,000 random paths, with random referrers too.
    let mut paths = Vec::new();
    for _ in 0..20 {
        let events: Vec<Value> = (0..100)
            .map(|_| {
                let random = rand::random::<u64>();
                paths.push(format!("/scan/{random:x}"));
                json!({ "site": site, "type": "pageview", "path": format!("/scan/{random:x}"),
                        "referrer": format!("https://spam-{random:x}.example/") })
            })
            .collect();
        assert_eq!(pipeline.send(json!({ "events": events }), false).await.status(), 202);
    }
    pipeline.assert_exactly(2000, &pipeline.forwarder_instances()).await;
    let breakdown = |dimension: &str| {
        let request = pipeline
            .http
            .get(format!(
                "{}/api/analytics/breakdown/?site={site}&dimension={dimension}&limit=1000",
                pipeline.query_url
            ))
            .bearer_auth(&pipeline.token)
            .header("X-Skip-Cache", "1");
        async move { request.send().await.expect("query").json::<Value>().await.expect("json")["results"].clone() }
    };
    for dimension in ["page", "referrer"] {
        let rows = breakdown(dimension).await;
        let rows = rows.as_array().expect("rows");
        let other = rows.iter().find(|r| r["value"] == "(other)").expect("an (other) row");
        assert_eq!(rows.len(), 101, "{dimension}: 100 values and (other)");
        assert_eq!(other["pageviews"], 1900, "{dimension}");
        assert_eq!(rows.iter().map(|r| r["pageviews"].as_i64().unwrap_or(0)).sum::<i64>(), 2000);
    }
    // A value that made it in keeps counting under its own name.
    let rows = breakdown("page").await;
    let kept = rows.as_array().expect("rows").iter().find(|r| r["value"] != "(other)").expect("a kept page")["value"]
        .as_str()
        .expect("path")
        .to_owned();
    let again: Vec<Value> = (0..10).map(|_| json!({ "site": site, "type": "pageview", "path": kept })).collect();
    assert_eq!(pipeline.send(json!({ "events": again }), false).await.status(), 202);
    pipeline.assert_exactly(2010, &pipeline.forwarder_instances()).await;
    let rows = breakdown("page").await;
    let row = |value: &str| rows.as_array().expect("rows").iter().find(|r| r["value"] == value).cloned().expect("row");
    assert_eq!(row(&kept)["pageviews"], 11);
    assert_eq!(row("(other)")["pageviews"], 1900);
    // A segment still sees the folded values by their names (the kept
    // events hold them), also through `~=`, which the rollups alone cannot
    // list.
    let folded = paths.iter().find(|p| rows.as_array().expect("rows").iter().all(|r| r["value"] != **p));
    let folded = folded.expect("a folded path");
    for (filter, pageviews) in [(format!("page~={folded}"), 1), ("page~=/SCAN/".to_owned(), 2010)] {
        let url = format!("{}/api/analytics/overview/?site={site}&filter={filter}", pipeline.query_url);
        let request = pipeline.http.get(url).bearer_auth(&pipeline.token).header("X-Skip-Cache", "1");
        let answer: Value = request.send().await.expect("query").json().await.expect("json");
        assert_eq!(answer["range"]["pageviews"], pageviews, "{filter}: {answer}");
    }
    // The tables hold the bound, not the traffic.
    let db = pipeline.namespace.db().await;
    let stored: i64 = db
        .query_one("SELECT count(*) FROM daily_dimension_counts WHERE dimension = 'page'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 101);
    let speed_pages: i64 =
        db.query_one("SELECT count(DISTINCT path) FROM page_titles", &[]).await.expect("count").get(0);
    assert!(speed_pages <= 101);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_queue_keeps_only_its_newest_messages() {
    let pipeline = Pipeline::start_with(PipelineOptions {
        forwarders: analytics_e2e::Instances::Processes(0),
        overrides: vec![("ANALYTICS__AMQP__DEAD_LETTER_LIMIT".into(), "5".into())],
        ..Default::default()
    })
    .await;
    // The aggregator declares the queues (with the limit) once it consumes.
    let ready = format!("{}/readyz", pipeline.aggregator_ops_url);
    analytics_e2e::eventually("the aggregator consuming", Duration::from_secs(20), || async {
        (pipeline.http.get(&ready).send().await.ok()?.status() == 200).then_some(())
    })
    .await;
    for i in 0..8u8 {
        pipeline.publish(&[0xff, i, i, i]).await;
    }
    let poison = "analytics_aggregator_batches_total{outcome=\"poison\"}";
    pipeline.wait_for_metric(&pipeline.aggregator_ops_url, poison, 8.0).await;
    let amqp = analytics_store::amqp::amqp_connect(&pipeline.namespace.amqp, "test-dead").await.expect("amqp");
    let channel = amqp.create_channel().await.expect("channel");
    let queue = pipeline.namespace.amqp.dead_letter_queue();
    let depth = analytics_store::amqp::queue_depth(&channel, &pipeline.namespace.amqp, &queue).await.expect("depth");
    assert_eq!(depth, 5, "the dead-letter queue keeps its limit");
    let first = channel
        .basic_get(queue.as_str().into(), lapin::options::BasicGetOptions::default())
        .await
        .expect("get")
        .expect("a message");
    assert_eq!(first.delivery.data, vec![0xff, 3, 3, 3], "the oldest went first");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_service_works_with_a_read_only_login() {
    let pipeline = Pipeline::start("UTC").await;
    assert_eq!(pipeline.send(crate::pageviews(&pipeline.site_id, 5), false).await.status(), 202);
    pipeline.assert_exactly(5, &pipeline.forwarder_instances()).await;
    // A login that is a member of migration V8's role, as the prod overlay uses.
    let db = pipeline.namespace.db().await;
    let login = format!("reader_{}", pipeline.namespace.name);
    db.batch_execute(&format!("CREATE ROLE {login} LOGIN IN ROLE analytics_readonly")).await.expect("login role");
    let url = pipeline.namespace.postgres.url().replacen("postgres://postgres@", &format!("postgres://{login}@"), 1);
    let reader = analytics_store::connect(&url).await.expect("the login connects");
    let refused = reader.execute("DELETE FROM daily_totals", &[]).await.expect_err("no write");
    assert_eq!(refused.code(), Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE));

    let mut settings: analytics_query::Settings =
        analytics_config::from_defaults(analytics_query::Settings::DEFAULTS).expect("defaults");
    settings.http = analytics_config::HttpSettings { host: "127.0.0.1".into(), port: 0 };
    settings.ops = analytics_config::HttpSettings { host: "127.0.0.1".into(), port: 0 };
    settings.postgres.url = url.into();
    settings.redis = pipeline.namespace.redis.clone();
    let query = analytics_query::Application::build(settings).await.expect("query builds");
    let base = format!("http://127.0.0.1:{}", query.port());
    let stop = analytics_telemetry::Shutdown::new();
    let running = tokio::spawn(query.run_until_stopped(stop.clone()));
    for path in ["overview", "top-pages", "top-countries", "speed", "chart"] {
        let answer = pipeline
            .http
            .get(format!("{base}/api/analytics/{path}/?site={}", pipeline.site_id))
            .bearer_auth(&pipeline.token)
            .send()
            .await
            .expect("query");
        assert_eq!(answer.status(), 200, "{path} as a read-only login");
        if path == "overview" {
            let body: Value = answer.json().await.expect("json");
            assert_eq!(body["total"]["pageviews"], 5);
        }
    }
    stop.cancel();
    running.await.expect("task").expect("stopped cleanly");
    db.batch_execute(&format!("DROP OWNED BY {login}; DROP ROLE {login}")).await.expect("cleanup");
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_answered_late_is_known_by_its_receipt() {
    let pipeline = Pipeline::start("UTC").await;
    // A first request, so the day's visitor salt is in ingest's memory.
    assert_eq!(pipeline.send(crate::pageviews(&pipeline.site_id, 1), false).await.status(), 202);
    // Redis stalls for 300 ms (a long script), past ingest's 100 ms deadline
    // for a write: the write runs when Redis does, and ingest must then say
    // 202, not a 503 that would have the client send the events twice.
    let mut stall = pipeline.namespace.redis().await;
    let stalled = tokio::spawn(async move {
        let script = "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2]
                      while true do local n = redis.call('TIME')
                        if n[1] * 1000000 + n[2] - s > tonumber(ARGV[1]) then return 1 end end";
        redis::cmd("EVAL").arg(script).arg(0).arg(300_000).query_async::<i64>(&mut stall).await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let answer = pipeline.send(crate::pageviews(&pipeline.site_id, 5), false).await;
    assert_eq!(answer.status(), 202, "stored, so answered 202");
    stalled.await.expect("task").expect("the stalling script ran");
    pipeline.assert_exactly(6, &pipeline.forwarder_instances()).await;
    pipeline.stop().await;
}
