//! Steady load at a fixed rate, the case a busy site meets every day (the
//! overload section is the case it meets on its worst): 10,000 requests a
//! second of one pageview each for 30 s, sent on a schedule whatever the
//! answers do, through every service as its release binary, query included,
//! on durable stores. Measured beside it:
//! - ingest's latency, from the moment each request was due (a request sent
//!   late because an earlier one was slow counts its wait), so slow answers
//!   cannot hide by slowing the sender;
//! - freshness: a probe sends one pageview of its own site every 200 ms and
//!   polls that site's overview (without the cache) until it shows, as a
//!   dashboard open during the load would;
//! - every service's peak RSS and CPU per event; then the exact counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use analytics_e2e::{BROWSER_USER_AGENT, Expect};

use crate::query::{latency, ms};

const RATE: u64 = 10_000;
const SECONDS: u64 = 30;
/// Requests in flight at most: each sender task takes every `SENDERS`-th
/// slot of the schedule.
pub const SENDERS: u64 = 64;
const PROBE_EVERY: Duration = Duration::from_millis(200);
const POLL_EVERY: Duration = Duration::from_millis(10);

pub async fn run() {
    let pipeline = crate::overload::release_pipeline().await;
    let (probe_site, probe_token) = pipeline.add_site("probe.example").await;
    // Let the services read the probe site before it is used.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_before = crate::cpu::by_process(&pipeline);

    let stop = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn(probe(
        pipeline.ingest_url.clone(),
        pipeline.query_url.clone(),
        probe_site.clone(),
        probe_token.clone(),
        pipeline.ingest_key.clone(),
        stop.clone(),
    ));
    let http = scheduled_client(&[("X-Ingest-Key", &pipeline.ingest_key)]);
    let site = pipeline.site_id.clone();
    let url = format!("{}/v1/events", pipeline.ingest_url);
    let load =
        send_on_schedule(&http, &url, move |slot| pageview(&site, slot), RATE, Duration::from_secs(SECONDS)).await;
    stop.store(true, Ordering::Relaxed);
    let probes = probe.await.expect("probe");

    let load_accepted = load.by_status.iter().filter(|(s, _)| *s == 202).map(|(_, n)| *n as i64).sum::<i64>();
    let accepted = load_accepted + probes.accepted;
    let drain_started = Instant::now();
    let expect = [
        Expect { site: pipeline.site_id.clone(), token: pipeline.token.clone(), pageviews: load_accepted, events: 0 },
        Expect { site: probe_site, token: probe_token, pageviews: probes.accepted, events: 0 },
    ];
    pipeline.assert_counted(&expect, accepted, &pipeline.forwarder_instances()).await;
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    let cpu_after = crate::cpu::by_process(&pipeline);

    println!("## Steady load: 10,000 requests a second, with a dashboard probe\n");
    println!(
        "{RATE} requests a second for {SECONDS} s, each one native pageview from a random visitor (a million \
         addresses, 200 pages, sent with the ingest key as a forwarding server does), on a fixed schedule over at \
         most {SENDERS} connections from this benchmark's own client (reqwest), which shares the 2 cores. Latency \
         runs from the moment a request was due, so one sent late behind a slow answer counts its wait. Ingest, \
         forwarder, aggregator and query as release binaries with default settings (one process each), durable \
         Postgres (`fsync`, `synchronous_commit`, `full_page_writes` on). Beside the load, a probe sends one \
         pageview to a second site every {} ms and polls that site's overview every {} ms, skipping the query \
         cache, until the pageview shows: the time a dashboard waits for an event (the cache adds up to its \
         `cache_live_seconds` in production; a dashboard that must see it at once skips it, as the probe does).\n",
        PROBE_EVERY.as_millis(),
        POLL_EVERY.as_millis()
    );
    let sent: u64 = load.by_status.iter().map(|(_, n)| n).sum::<u64>() + load.errors;
    let ingest = latency(load.latencies);
    println!("| figure | value |\n|---|---:|");
    println!("| requests sent | {sent} ({:.0} a second) |", sent as f64 / load.seconds);
    for (status, n) in &load.by_status {
        println!("| answered {status} | {n} |");
    }
    println!("| connection errors or timeouts | {} |", load.errors);
    println!(
        "| ingest latency p50 / p95 / p99 / max, ms | {} / {} / {} / {} |",
        ms(ingest.p50),
        ms(ingest.p95),
        ms(ingest.p99),
        ms(ingest.max)
    );
    let fresh = latency(probes.latencies.clone());
    println!(
        "| fresh: probe pageview to overview, p50 / p95 / max, ms ({} probes, {} not seen within 10 s) | {} / {} / {} |",
        probes.latencies.len(),
        probes.unseen,
        ms(fresh.p50),
        ms(fresh.p95),
        ms(fresh.max)
    );
    println!("| backlog drained after the load, s | {drain_seconds:.1} |");
    println!();
    println!(
        "Exactly {accepted} pageviews were accepted and exactly as many counted. Peak RSS and CPU per accepted event \
         from before the load to the last event counted (the benchmark's own client left out):\n"
    );
    println!("| process | peak RSS MiB (k8s limit) | CPU s | µs per event |\n|---|---:|---:|---:|");
    let rss = |service: &str, process: &analytics_e2e::ServiceProcess| {
        format!("{} ({})", process.peak_rss_bytes() >> 20, analytics_e2e::manifest_memory_limit(service) >> 20)
    };
    let services = [
        ("ingest", &pipeline.ingest_processes[0]),
        ("forwarder", &pipeline.forwarder_processes[0]),
        ("aggregator", &pipeline.aggregator_processes[0]),
        ("query", &pipeline.query_processes[0]),
    ];
    let mut total = Duration::ZERO;
    for ((process, before), (_, after)) in cpu_before.iter().zip(&cpu_after) {
        let memory = services.iter().find(|(name, _)| name == process).map(|(name, p)| rss(name, p));
        let memory = memory.unwrap_or_else(|| "-".into());
        match before.zip(*after) {
            Some((before, after)) => {
                let used = after.saturating_sub(before);
                total += used;
                let per_event = used.as_secs_f64() * 1e6 / accepted.max(1) as f64;
                println!("| {process} | {memory} | {:.1} | {per_event:.1} |", used.as_secs_f64());
            }
            None => println!("| {process} | {memory} | n/a (not on this machine) | |"),
        }
    }
    println!(
        "| all of them | | {:.1} | {:.1} |\n",
        total.as_secs_f64(),
        total.as_secs_f64() * 1e6 / accepted.max(1) as f64
    );
    let namespace = pipeline.namespace.clone();
    pipeline.stop().await;
    namespace.drop_database().await;
}

/// What a load on a schedule met.
pub struct Load {
    pub by_status: Vec<(u16, u64)>,
    /// Connection errors and timeouts.
    pub errors: u64,
    pub latencies: Vec<Duration>,
    pub seconds: f64,
}

/// POSTs `body(slot)` to `url` with `http`, `rate` requests a second for
/// `duration`, on a fixed schedule over at most [`SENDERS`] connections.
/// A request is timed from when it leaves when it leaves on time (the
/// timer's own lateness is the sender's, not the server's), and from when
/// it was due when an earlier slow answer held its sender back.
pub async fn send_on_schedule(
    http: &reqwest::Client,
    url: &str,
    body: impl Fn(u64) -> String + Clone + Send + 'static,
    rate: u64,
    duration: Duration,
) -> Load {
    let slots = rate * duration.as_secs();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let started = tokio::time::Instant::now() + Duration::from_millis(100);
    let senders: Vec<_> = (0..SENDERS)
        .map(|first| {
            let (http, url, body) = (http.clone(), url.to_owned(), body.clone());
            tokio::spawn(async move {
                let mut statuses: Vec<(u16, u64)> = Vec::new();
                let mut errors = 0;
                let mut latencies = Vec::with_capacity((slots / SENDERS) as usize + 1);
                let mut slot = first;
                while slot < slots {
                    let due = started + interval * slot as u32;
                    let sent_at = match tokio::time::Instant::now() < due {
                        true => {
                            tokio::time::sleep_until(due).await;
                            tokio::time::Instant::now()
                        }
                        false => due,
                    };
                    let request = http.post(&url).header("Content-Type", "application/json").body(body(slot));
                    match request.send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let _ = response.bytes().await;
                            latencies.push(sent_at.elapsed());
                            match statuses.iter_mut().find(|(s, _)| *s == status) {
                                Some((_, n)) => *n += 1,
                                None => statuses.push((status, 1)),
                            }
                        }
                        Err(_) => errors += 1,
                    }
                    slot += SENDERS;
                }
                (statuses, errors, latencies)
            })
        })
        .collect();
    let mut load = Load { by_status: Vec::new(), errors: 0, latencies: Vec::new(), seconds: 0.0 };
    for sender in senders {
        let (statuses, errors, latencies) = sender.await.expect("sender");
        for (status, n) in statuses {
            match load.by_status.iter_mut().find(|(s, _)| *s == status) {
                Some((_, total)) => *total += n,
                None => load.by_status.push((status, n)),
            }
        }
        load.errors += errors;
        load.latencies.extend(latencies);
    }
    load.by_status.sort();
    load.seconds = started.elapsed().as_secs_f64();
    load
}

/// A client for [`send_on_schedule`]: a browser's user agent, `headers`,
/// and a connection kept for each sender.
pub fn scheduled_client(headers: &[(&'static str, &str)]) -> reqwest::Client {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, value.parse().expect("a header value"));
    }
    reqwest::Client::builder()
        .user_agent(BROWSER_USER_AGENT)
        .default_headers(map)
        .pool_max_idle_per_host(SENDERS as usize)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// One pageview of `site` from one of a million visitors, on one of 200 pages.
fn pageview(site: &str, slot: u64) -> String {
    // A cheap scramble, so consecutive slots are different visitors and pages.
    let n = slot.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let visitor = n % 1_000_000;
    let ip = format!("{}.{}.{}.1", 20 + visitor / 65536, (visitor / 256) % 256, visitor % 256);
    format!(r#"{{"events":[{{"site":"{site}","type":"pageview","path":"/steady/{}","ip":"{ip}"}}]}}"#, n % 200)
}

/// What the probe saw.
struct Probes {
    accepted: i64,
    latencies: Vec<Duration>,
    unseen: usize,
}

/// Every [`PROBE_EVERY`], one pageview of the probe site, then its overview
/// polled until it shows; until `stop`.
async fn probe(
    ingest_url: String,
    query_url: String,
    site: String,
    token: String,
    ingest_key: String,
    stop: Arc<AtomicBool>,
) -> Probes {
    let http = analytics_e2e::browser();
    let mut probes = Probes { accepted: 0, latencies: Vec::new(), unseen: 0 };
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let overview = format!("{query_url}/api/analytics/overview/?site={site}");
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let sent = Instant::now();
        let body = serde_json::json!({ "events": [{ "site": site, "type": "pageview", "path": "/probe", "ip": "198.51.100.7" }] });
        let response =
            http.post(format!("{ingest_url}/v1/events")).header("X-Ingest-Key", &ingest_key).json(&body).send().await;
        if !matches!(response, Ok(ref r) if r.status() == 202) {
            continue;
        }
        probes.accepted += 1;
        let seen = async {
            loop {
                let answer = http.get(&overview).bearer_auth(&token).header("X-Skip-Cache", "1").send().await;
                if let Ok(answer) = answer {
                    let figures: serde_json::Value = answer.json().await.unwrap_or_default();
                    if figures["total"]["pageviews"].as_i64() >= Some(probes.accepted) {
                        return;
                    }
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(10), seen).await {
            Ok(()) => probes.latencies.push(sent.elapsed()),
            Err(_) => probes.unseen += 1,
        }
    }
    probes
}
