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

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use analytics_e2e::{Expect, Pipeline};

use crate::query::{latency, ms};
use crate::schedule::{SENDERS, scheduled_client, send_on_schedule};

const RATE: u64 = 10_000;
const SECONDS: u64 = 30;
const PROBE_EVERY: Duration = Duration::from_millis(200);
const POLL_EVERY: Duration = Duration::from_millis(10);

pub async fn run() {
    let pipeline = crate::overload::release_pipeline().await;
    let (probe_site, probe_token) = pipeline.add_site("probe.example").await;
    // Let the services read the probe site before it is used.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_before = crate::cpu::by_process(&pipeline);

    let stop = AtomicBool::new(false);
    let http = scheduled_client(&[("X-Ingest-Key", &pipeline.ingest_key)]);
    let site = pipeline.site_id.clone();
    let url = format!("{}/v1/events", pipeline.ingest_url);
    let load = async {
        let load =
            send_on_schedule(&http, &url, move |slot| pageview(&site, slot), RATE, Duration::from_secs(SECONDS)).await;
        stop.store(true, Ordering::Relaxed);
        load
    };
    let (load, probes) = tokio::join!(load, probe(&pipeline, &probe_site, &probe_token, &stop));

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
    let seen = probes.latencies.len();
    let fresh = latency(probes.latencies);
    println!(
        "| fresh: probe pageview to overview, p50 / p95 / max, ms ({seen} probes, {} not seen within 10 s) | {} / {} / {} |",
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
    let rss: Vec<(&str, String)> = pipeline
        .service_processes()
        .into_iter()
        .map(|(name, p)| {
            (name, format!("{} ({})", p.peak_rss_bytes() >> 20, analytics_e2e::manifest_memory_limit(name) >> 20))
        })
        .collect();
    let rss = crate::cpu::Column { heading: "peak RSS MiB (k8s limit)", cells: &rss };
    crate::cpu::print_per_event(&cpu_before, &cpu_after, accepted, Some(rss));
    let namespace = pipeline.namespace.clone();
    pipeline.stop().await;
    namespace.drop_database().await;
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

/// Every [`PROBE_EVERY`], one pageview of `site`, then its overview polled
/// (fresh, not from the cache) until it shows; until `stop`.
async fn probe(pipeline: &Pipeline, site: &str, token: &str, stop: &AtomicBool) -> Probes {
    let mut probes = Probes { accepted: 0, latencies: Vec::new(), unseen: 0 };
    let mut ticks = tokio::time::interval(PROBE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        let sent = Instant::now();
        let body = serde_json::json!({ "events": [{ "site": site, "type": "pageview", "path": "/probe", "ip": "198.51.100.7" }] });
        if pipeline.send(body, true).await.status() != 202 {
            continue;
        }
        probes.accepted += 1;
        let seen = async {
            loop {
                let figures = pipeline.try_overview_of(site, token).await.unwrap_or_default();
                if figures["total"]["pageviews"].as_i64() >= Some(probes.accepted) {
                    return;
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
