//! Overload: far more traffic than the pipeline can drain, for a minute.
//! Ingest must answer every request with 202, 429 or 503 (with Retry-After),
//! never an error or a timeout; every service must stay within its memory
//! limit of the Kubernetes manifests; and once the load stops, the backlog
//! drains and every event answered 202 is counted, exactly.
//!
//! The services run as their release binaries (as in production, one process
//! each); wrk sends native batches of 20 events over 64 connections as fast as
//! ingest answers, which on this machine is well over twice what the
//! aggregator drains (the aggregator section measures that). Each event comes
//! from a visitor drawn from a million addresses over 200 pages, as a server
//! forwarding its visitors' requests sends them (with the ingest key), so the
//! rollups grow as on a busy day rather than folding into one row.

use std::io::Write;
use std::time::Instant;

use analytics_e2e::{BROWSER_USER_AGENT, Instances, Pipeline, PipelineOptions};

const DURATION: &str = "60s";
const CONNECTIONS: &str = "64";

/// Every service as its release binary, one process each, on durable
/// commits as production runs them (the default namespace of tests commits
/// without waiting for the disk).
pub async fn release_pipeline() -> Pipeline {
    Pipeline::start_with(PipelineOptions {
        stores: Some(analytics_e2e::stores().await),
        ingest: Instances::Processes(1),
        forwarders: Instances::Processes(1),
        aggregators: Instances::Processes(1),
        query: Instances::Processes(1),
        ..Default::default()
    })
    .await
}

pub async fn run() {
    let pipeline = release_pipeline().await;
    let cpu_before = crate::cpu::by_process(&pipeline);
    let started = Instant::now();
    let statuses = wrk_statuses(&format!("{}/v1/events", pipeline.ingest_url), &pipeline.site_id, &pipeline.ingest_key);
    let load_seconds = started.elapsed().as_secs_f64();

    // Requests wrk gave up on may still be finishing: wait until the count rests.
    let ingest = pipeline.ingest_processes[0].ops_url();
    let accepted_series = "analytics_ingest_events_total{outcome=\"accepted\"}";
    let mut accepted = pipeline.metric(&ingest, accepted_series).await as i64;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let now = pipeline.metric(&ingest, accepted_series).await as i64;
        if now == accepted {
            break;
        }
        accepted = now;
    }
    let drain_started = Instant::now();
    pipeline.assert_exactly(accepted, &pipeline.forwarder_instances()).await;
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    let cpu_after = crate::cpu::by_process(&pipeline);

    println!("## Overload: a minute far over capacity\n");
    println!(
        "wrk, 1 thread, {CONNECTIONS} connections, {DURATION}, native batches of 20 events from random visitors \
         (a million addresses, 200 pages, sent with the ingest key as a forwarding server does), as fast as ingest answers; \
         ingest, forwarder, aggregator and query (idle) as release binaries (one process each), on the durable private stores, \
         sharing the 2 cores with wrk. Ingest's per-address rate limit is off (wrk is one address standing for \
         many clients). Afterwards the backlog drains and the counted events are compared with the accepted ones.\n"
    );
    println!("| answer | requests |\n|---|---:|");
    for (status, n) in &statuses.by_status {
        println!("| {status} | {n} |");
    }
    println!("| socket errors or timeouts | {} |", statuses.socket_errors);
    println!();
    let total: u64 = statuses.by_status.iter().map(|(_, n)| n).sum();
    let unexpected: u64 =
        statuses.by_status.iter().filter(|(s, _)| !matches!(*s, 202 | 429 | 503)).map(|(_, n)| n).sum();
    println!(
        "- {total} answers in {load_seconds:.0} s; {unexpected} were other than 202, 429 or 503, and {} socket errors or timeouts.",
        statuses.socket_errors
    );
    println!(
        "- {accepted} events accepted ({:.0} a second); after the load, the backlog drained in {drain_seconds:.0} s and \
         exactly {accepted} were counted.",
        accepted as f64 / load_seconds
    );
    for (service, process) in pipeline.service_processes() {
        println!(
            "- {service}: peak RSS {} MiB (its limit in k8s/base: {} MiB)",
            process.peak_rss_bytes() >> 20,
            analytics_e2e::manifest_memory_limit(service) >> 20
        );
    }
    println!();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "End to end, from the first request to the last event counted: {accepted} events in {seconds:.0} s, {:.0} a \
         second through the whole pipeline. CPU per accepted event over that time, by process (wrk's own left out; \
         ingest's includes the requests it refused with 429 or 503):\n",
        accepted as f64 / seconds
    );
    crate::cpu::print_per_event(&cpu_before, &cpu_after, accepted, None);
    let namespace = pipeline.namespace.clone();
    pipeline.stop().await;
    namespace.drop_database().await;
}

struct Statuses {
    by_status: Vec<(u16, u64)>,
    socket_errors: u64,
}

/// Runs wrk with a script that builds each batch of 20 events from random
/// visitors and counts the answers by status. `response` runs in the thread's
/// Lua state, `done` in the main one: it reads the counts through the thread.
fn wrk_statuses(url: &str, site: &str, ingest_key: &str) -> Statuses {
    let path = std::env::temp_dir().join(format!("overload-{}.lua", std::process::id()));
    let script = format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "{BROWSER_USER_AGENT}"
wrk.headers["X-Ingest-Key"] = "{ingest_key}"
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  counts = {{}}
  math.randomseed(os.time())
end
function request()
  local events = {{}}
  for i = 1, 20 do
    local visitor = math.random(0, 999999)
    local ip = string.format("%d.%d.%d.1", 20 + math.floor(visitor / 65536), math.floor(visitor / 256) % 256, visitor % 256)
    events[i] = string.format('{{"site":"{site}","type":"pageview","path":"/overload/%d","ip":"%s"}}', math.random(0, 199), ip)
  end
  return wrk.format(nil, nil, nil, '{{"events":[' .. table.concat(events, ",") .. ']}}')
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {{}}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do total[status] = (total[status] or 0) + n end
  end
  for status, n in pairs(total) do io.write(string.format("status %d %d\n", status, n)) end
  local e = summary.errors
  io.write(string.format("socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
end
"#
    );
    std::fs::File::create(&path).and_then(|mut f| f.write_all(script.as_bytes())).expect("lua script");
    let output = std::process::Command::new("wrk")
        .args(["-t1", "-c", CONNECTIONS, "-d", DURATION, "--timeout", "10s", "-s"])
        .arg(&path)
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    let mut by_status: Vec<(u16, u64)> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.strip_prefix("status ")?.split_whitespace();
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    by_status.sort();
    let socket_errors = text
        .lines()
        .find_map(|line| line.strip_prefix("socket_errors ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk ({}): {text} {}", output.status, String::from_utf8_lossy(&output.stderr)));
    // wrk gives each request 10 s: a slower answer counts as a socket timeout.
    Statuses { by_status, socket_errors }
}
