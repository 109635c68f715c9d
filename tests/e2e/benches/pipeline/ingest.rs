//! Ingest throughput and latency under wrk, next to a bare actix-web handler
//! that answers the same request without doing anything (the ceiling of the
//! HTTP layer on this machine). Both run in this process on the same two
//! worker threads; wrk, Redis and this process share the two cores.

use std::io::Write;

use actix_web::{App, HttpResponse, HttpServer, web};
use analytics_e2e::{BROWSER_USER_AGENT, Namespace};
use analytics_telemetry::Shutdown;

const DURATION: &str = "10s";
/// wrk's open connections: few, where ingest waits on Redis (each answer
/// waits for the group commit's round trip, so the cores idle between
/// writes), and many, where both servers are busy on every core; the bare
/// handler never waits, so the ratio at few connections says how long
/// ingest's answers take, and at many how much work they are.
const CONNECTIONS: [&str; 2] = ["32", "256"];
/// How long the fixed-rate run lasts.
const SCHEDULED: std::time::Duration = std::time::Duration::from_secs(10);

struct Measured {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

pub async fn run() {
    let namespace = Namespace::create_durable().await;
    let db = namespace.db().await;
    let (site, _) =
        analytics_store::sites::add_site(&db, &format!("{}.example", namespace.name), "UTC").await.expect("site");
    let site = site.id.to_string();

    let bare = HttpServer::new(|| {
        App::new().default_service(web::to(|_body: web::Bytes| async {
            HttpResponse::Accepted().json(serde_json::json!({ "accepted": 1, "dropped": 0, "rejected": [] }))
        }))
    })
    .workers(2)
    .bind("127.0.0.1:0")
    .expect("bind");
    let bare_url = format!("http://127.0.0.1:{}", bare.addrs()[0].port());
    let bare = bare.run();
    let bare_handle = bare.handle();
    tokio::spawn(bare);

    let mut settings: analytics_ingest::Settings =
        analytics_config::from_defaults(analytics_ingest::Settings::DEFAULTS).expect("defaults");
    settings.http = analytics_config::HttpSettings { host: "127.0.0.1".into(), port: 0 };
    settings.redis = namespace.redis.clone();
    settings.postgres = namespace.postgres.clone();
    settings.ingest.geoip_database = analytics_e2e::geoip_database().display().to_string();
    // The load generator is one address: measured without the per-address limit.
    settings.ingest.rate_limit_per_second = 0.0;
    let ingest = analytics_ingest::Application::build(settings).await.expect("ingest");
    let ingest_url = format!("http://127.0.0.1:{}", ingest.port());
    let shutdown = Shutdown::new();
    let ingest_task = tokio::spawn(ingest.run_until_stopped(shutdown.clone()));

    let one = serde_json::json!({ "events": [{ "site": site, "type": "pageview", "url": "https://shop.example/p/1?utm_source=news", "title": "Product", "referrer": "https://www.google.com/" }] });
    let batch = serde_json::json!({ "events": (0..20).map(|i| serde_json::json!({ "site": site, "type": "pageview", "url": format!("https://shop.example/p/{i}") })).collect::<Vec<_>>() });
    let plausible = serde_json::json!({ "n": "pageview", "u": "https://shop.example/p/1", "d": format!("{}.example", namespace.name), "r": "https://www.google.com/" });
    let scheduled_body = one.clone();
    let cases = [
        ("native, 1 event per request", "/v1/events", one, 1),
        ("native, 20 events per request", "/v1/events", batch, 20),
        ("Plausible protocol, 1 event", "/api/event", plausible, 1),
    ];

    println!("## Ingest: HTTP intake to the Redis list\n");
    println!(
        "wrk, 1 thread, {} connections, {DURATION} per run, desktop Chrome user agent, against the \
         release build in one process with 2 HTTP workers; GeoIP lookup on (the client is loopback, so no country). \
         The ceiling is a bare actix-web handler on the same 2 workers that answers the same 202 without reading \
         anything. Every ingest answer is sent only after Redis stored the events, so at few connections \
         ingest waits on the group commit's round trip and the cores idle between writes (a third of the \
         machine at 32 connections); at many, both servers are busy on every core.\n",
        CONNECTIONS.join(" and ")
    );
    println!(
        "| case | connections | bare handler req/s | ingest req/s | ratio | ingest events/s | ingest p50 ms | ingest p99 ms | bare p50 / p99 ms | non-2xx |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut redis = namespace.redis().await;
    for (name, path, body, events) in cases {
        for connections in CONNECTIONS {
            let ceiling = wrk(&format!("{bare_url}{path}"), &body, connections);
            let measured = wrk(&format!("{ingest_url}{path}"), &body, connections);
            let _: () = redis::cmd("DEL").arg(namespace.redis.queue_key()).query_async(&mut redis).await.expect("del");
            println!(
                "| {name} | {connections} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} / {:.2} | {} |",
                ceiling.requests_per_second,
                measured.requests_per_second,
                measured.requests_per_second / ceiling.requests_per_second,
                measured.requests_per_second * events as f64,
                measured.p50_ms,
                measured.p99_ms,
                ceiling.p50_ms,
                ceiling.p99_ms,
                measured.failed,
            );
        }
    }
    println!();
    // The same request on a schedule, as a busy site sends it (wrk above
    // sends as fast as answers come, which measures capacity, not latency).
    let rate = 10_000;
    let body = serde_json::to_string(&scheduled_body).expect("json");
    let http = crate::schedule::scheduled_client(&[]);
    let url = format!("{ingest_url}/v1/events");
    let load = crate::schedule::send_on_schedule(&http, &url, move |_| body.clone(), rate, SCHEDULED).await;
    let _: () = redis::cmd("DEL").arg(namespace.redis.queue_key()).query_async(&mut redis).await.expect("del");
    let sent: u64 = load.by_status.iter().map(|(_, n)| n).sum::<u64>() + load.errors;
    let other: u64 = load.by_status.iter().filter(|(s, _)| *s != 202).map(|(_, n)| n).sum::<u64>() + load.errors;
    let at = crate::query::latency(load.latencies);
    println!(
        "The native one-event request at a fixed {rate} requests a second for {} s (this benchmark's own client, \
         reqwest, at most {} connections; each request timed from when it was due, so one held back by a slow \
         answer counts its wait): {sent} sent, {other} not answered 202; latency p50 {} ms, p95 {} ms, p99 {} ms, \
         max {} ms.\n",
        SCHEDULED.as_secs(),
        crate::schedule::SENDERS,
        crate::query::ms(at.p50),
        crate::query::ms(at.p95),
        crate::query::ms(at.p99),
        crate::query::ms(at.max)
    );
    shutdown.cancel();
    let _ = ingest_task.await;
    bare_handle.stop(true).await;
}

/// Runs wrk posting `body` to `url` over `connections`; parses its summary.
fn wrk(url: &str, body: &serde_json::Value, connections: &str) -> Measured {
    let mut script = tempfile();
    let body = serde_json::to_string(body).expect("json").replace('\\', "\\\\").replace('"', "\\\"");
    write!(
        script.1,
        "wrk.method = \"POST\"\nwrk.body = \"{body}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"User-Agent\"] = \"{BROWSER_USER_AGENT}\"\n"
    )
    .expect("write lua");
    let output = std::process::Command::new("wrk")
        .args(["-t1", "-c", connections, "-d", DURATION, "--latency", "-s"])
        .arg(&script.0)
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let _ = std::fs::remove_file(&script.0);
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines().find_map(|line| line.trim().strip_prefix(prefix).map(|rest| rest.trim().to_owned()))
    };
    Measured {
        requests_per_second: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("wrk: {text}")),
        p50_ms: field("50%").map(|v| milliseconds(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| milliseconds(&v)).unwrap_or(f64::NAN),
        failed: field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0),
    }
}

/// wrk's `1.23ms`, `850.00us`, `1.02s` in milliseconds.
fn milliseconds(value: &str) -> f64 {
    let (number, factor) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (value, f64::NAN)
    };
    number.parse::<f64>().map(|n| n * factor).unwrap_or(f64::NAN)
}

fn tempfile() -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("ingest-bench-{}-{}.lua", std::process::id(), rand::random::<u32>()));
    let file = std::fs::File::create(&path).expect("lua file");
    (path, file)
}
