//! Where a visitor comes from and who they are, without keeping their IP:
//! countries from the GeoIP file, X-Forwarded-For only through trusted
//! proxies, app installs as visitors, and no IP anywhere after ingest.

use std::time::Duration;

use analytics_e2e::{BROWSER_USER_AGENT, Namespace, Pipeline, PipelineOptions, ServiceProcess, eventually};
use redis::AsyncCommands;
use serde_json::json;

use crate::ingest_rules::{query, rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn countries_come_from_the_trusted_client_address() {
    let pipeline =
        Pipeline::start_with(PipelineOptions { trusted_proxies: "127.0.0.1/32", ..Default::default() }).await;
    let site = pipeline.site_id.clone();
    let plausible = |forwarded_for: &'static str| {
        let request = pipeline
            .http
            .post(format!("{}/api/event", pipeline.ingest_url))
            .header("X-Forwarded-For", forwarded_for)
            .body(format!(r#"{{"n":"pageview","u":"https://x.example/","d":"{}.example"}}"#, pipeline.namespace.name));
        async move { assert_eq!(request.send().await.expect("ingest").status(), 202) }
    };
    plausible("8.8.8.8").await;
    // The client cannot put a country in front of the proxy's word.
    plausible("5.5.5.5, 8.8.4.4").await;
    plausible("10.1.2.3").await;
    // Server-side forwarding names the client itself, IPv6 too.
    let server = json!({ "events": [{ "site": site, "type": "pageview", "path": "/", "ip": "2001:4860:4860::8888", "user_agent": BROWSER_USER_AGENT }] });
    assert_eq!(pipeline.send(server, true).await.status(), 202);

    let countries = eventually("four countries counted", Duration::from_secs(30), || async {
        let top = rows(
            &query(&pipeline, &format!("breakdown/?site={site}&dimension=country&days=1"), &pipeline.token).await?,
        );
        (top.iter().map(|(_, n)| n).sum::<i64>() == 4).then_some(top)
    })
    .await;
    assert_eq!(countries, vec![("US".to_owned(), 3), ("unknown".to_owned(), 1)]);
    pipeline.stop().await;

    // Without trust, the header is ignored: the peer (loopback) has no country.
    let untrusting = Pipeline::start("UTC").await;
    let body = format!(r#"{{"n":"pageview","u":"https://x.example/","d":"{}.example"}}"#, untrusting.namespace.name);
    let sent = untrusting
        .http
        .post(format!("{}/api/event", untrusting.ingest_url))
        .header("X-Forwarded-For", "8.8.8.8")
        .body(body);
    assert_eq!(sent.send().await.expect("ingest").status(), 202);
    let site = untrusting.site_id.clone();
    let countries = eventually("the pageview counted", Duration::from_secs(30), || async {
        let top = rows(
            &query(&untrusting, &format!("breakdown/?site={site}&dimension=country&days=1"), &untrusting.token).await?,
        );
        (!top.is_empty()).then_some(top)
    })
    .await;
    assert_eq!(countries, vec![("unknown".to_owned(), 1)]);
    untrusting.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_install_is_one_visitor_whatever_its_address() {
    let pipeline = Pipeline::start("UTC").await;
    let site = &pipeline.site_id;
    let screen = |install: &str, ip: &str, ua: &str| json!({ "site": site, "type": "screen_view", "path": "/home", "source": "app", "visitor": install, "ip": ip, "user_agent": ua });
    let body = json!({ "events": [
        screen("install-1", "8.8.8.8", "Dart/3.4 (dart:io)"),
        screen("install-1", "9.9.9.9", "Dart/3.5 (dart:io)"),
        screen("install-1", "1.1.1.1", "okhttp/4.12"),
        screen("install-2", "8.8.8.8", "Dart/3.4 (dart:io)"),
    ]});
    let answer: serde_json::Value = pipeline.send(body, true).await.json().await.expect("json");
    assert_eq!(answer["accepted"], 4, "{answer}");
    let too_long = json!({ "events": [screen(&"x".repeat(201), "8.8.8.8", "Dart/3.4")] });
    let answer: serde_json::Value = pipeline.send(too_long, true).await.json().await.expect("json");
    assert_eq!(answer["rejected"][0]["error"], "visitor: 1 to 200 bytes");

    let today = eventually("four app events", Duration::from_secs(30), || async {
        let overview = pipeline.overview().await;
        (overview["today"]["events"].as_i64()? + overview["today"]["pageviews"].as_i64()? >= 4).then_some(overview)
    })
    .await;
    assert_eq!(today["today"]["visitors"], 2, "{today}");
    pipeline.stop().await;
}

/// Sends the same distinctive addresses every way ingest can receive one,
/// then looks for them in everything ingest wrote: the Redis namespace and
/// its own log at debug level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ip_address_leaves_ingest() {
    let namespace = Namespace::create().await;
    let db = namespace.db().await;
    let (site, _) =
        analytics_store::sites::add_site(&db, &format!("{}.example", namespace.name), "UTC").await.expect("site");
    let log = std::env::temp_dir().join(format!("{}-ingest.log", namespace.name));
    let mut env = namespace.environment();
    env.extend([
        ("ANALYTICS__INGEST__INGEST_KEY".to_owned(), "k".to_owned()),
        ("ANALYTICS__INGEST__TRUSTED_PROXIES".to_owned(), "127.0.0.1".to_owned()),
        ("ANALYTICS__INGEST__GEOIP_DATABASE".to_owned(), analytics_e2e::geoip_database().display().to_string()),
        ("RUST_LOG".to_owned(), "debug".to_owned()),
    ]);
    let ingest = ServiceProcess::spawn_logging("analytics-ingest", env, &log);
    ingest.wait_ready().await;
    let http = reqwest::Client::builder().user_agent(BROWSER_USER_AGENT).build().expect("client");
    let url = ingest.url();
    let site = site.id.to_string();
    let ips = ["81.2.69.142", "2a02:1388:2:3::1"];
    for ip in ips {
        let native = json!({ "events": [
            { "site": site, "type": "pageview", "path": "/", "ip": ip, "user_agent": BROWSER_USER_AGENT },
            { "site": site, "type": "pageview", "path": "/", "ip": format!("{ip}x") },
        ]});
        let sent = http.post(format!("{url}/v1/events")).header("X-Ingest-Key", "k").json(&native).send().await;
        assert_eq!(sent.expect("ingest").status(), 202);
        let wrong_key = http.post(format!("{url}/v1/events")).header("X-Ingest-Key", "nope").json(&native).send().await;
        assert_eq!(wrong_key.expect("ingest").status(), 401);
        for (path, body) in [
            ("/api/event", format!(r#"{{"n":"pageview","u":"https://x.example/","d":"{site}"}}"#)),
            (
                "/api/send",
                format!(r#"{{"type":"event","payload":{{"website":"{site}","url":"/","hostname":"x.example"}}}}"#),
            ),
            ("/v1/events", format!(r#"{{"events":[{{"site":"{site}","type":"pageview","path":"/"}}]}}"#)),
            ("/v1/events", "{not json".to_owned()),
        ] {
            let sent = http.post(format!("{url}{path}")).header("X-Forwarded-For", ip).body(body).send().await;
            assert!(sent.expect("ingest").status().as_u16() < 500);
        }
    }
    let accepted = eventually("events queued", Duration::from_secs(10), || async {
        let text = http.get(format!("{}/metrics", ingest.ops_url())).send().await.ok()?.text().await.ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("analytics_ingest_events_total{outcome=\"accepted\"} ")?.parse::<f64>().ok())
            .filter(|n| *n >= 8.0)
    })
    .await;
    assert_eq!(accepted, 8.0);

    let mut stored: Vec<Vec<u8>> = Vec::new();
    let mut redis = namespace.redis().await;
    let keys: Vec<String> = redis.keys(format!("{}*", namespace.redis.key_prefix)).await.expect("keys");
    assert!(!keys.is_empty());
    for key in keys {
        stored.push(key.clone().into_bytes());
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut redis).await.expect("type");
        match kind.as_str() {
            "list" => stored.extend(redis.lrange::<_, Vec<Vec<u8>>>(&key, 0, -1).await.expect("list")),
            "string" => stored.push(redis.get(&key).await.expect("string")),
            other => panic!("unexpected {other} at {key}"),
        }
    }
    let log_text = std::fs::read(&log).expect("ingest log");
    assert!(log_text.len() > 1000, "the debug log was written");
    for ip in ips {
        let address: std::net::IpAddr = ip.parse().expect("ip");
        let binary = match address {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        for needle in [ip.as_bytes().to_vec(), binary] {
            assert!(!stored.iter().any(|value| contains(value, &needle)), "{ip} found in Redis");
            assert!(!contains(&log_text, &needle), "{ip} found in the log");
        }
    }
    let _ = std::fs::remove_file(&log);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}
