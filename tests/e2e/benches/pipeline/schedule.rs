//! Requests sent on a fixed schedule, whatever the answers do: the load a
//! busy site puts on ingest, as opposed to wrk's as-fast-as-answered, which
//! measures capacity rather than latency.

use std::time::Duration;

use analytics_e2e::BROWSER_USER_AGENT;

/// Requests in flight at most: each sender task takes every `SENDERS`-th
/// slot of the schedule.
pub const SENDERS: u64 = 64;

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
