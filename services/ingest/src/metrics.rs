use analytics_telemetry::register;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry, exponential_buckets};

/// Ingest's metrics; every name is listed in docs/API.md.
#[derive(Clone)]
pub struct IngestMetrics {
    /// `analytics_ingest_events_total{outcome}`: every event that reached us,
    /// by what became of it. Nothing is dropped without a count here.
    pub events: IntCounterVec,
    pub request_duration: Histogram,
    pub push_size: Histogram,
    /// `analytics_ingest_rate_limited_requests_total`: requests answered 429
    /// (their events were not read; the client retries or gives up).
    pub rate_limited: prometheus::IntCounter,
}

pub mod outcome {
    pub const ACCEPTED: &str = "accepted";
    pub const INVALID: &str = "invalid";
    /// An automated client (crawler, monitor, headless browser, HTTP library).
    pub const BOT: &str = "bot";
    /// Left out by the site's rules: hostname, excluded path, signed-in user.
    pub const EXCLUDED: &str = "excluded";
    /// A tracker message that is no visit: Plausible's engagement pings,
    /// Umami's identify.
    pub const IGNORED: &str = "ignored";
    pub const UNKNOWN_SITE: &str = "unknown_site";
    pub const BACKPRESSURE: &str = "backpressure";
    pub const UNAVAILABLE: &str = "unavailable";
    /// A retried request whose events were already stored (same Idempotency-Key).
    pub const DUPLICATE: &str = "duplicate";
}

impl IngestMetrics {
    pub fn new(registry: &Registry) -> Self {
        let events = register(
            registry,
            IntCounterVec::new(Opts::new("analytics_ingest_events_total", "Events received, by outcome"), &["outcome"])
                .expect("valid metric"),
        );
        // Pre-create every label so dashboards show 0 rather than no series.
        for label in [
            outcome::ACCEPTED,
            outcome::DUPLICATE,
            outcome::INVALID,
            outcome::BOT,
            outcome::EXCLUDED,
            outcome::IGNORED,
            outcome::UNKNOWN_SITE,
            outcome::BACKPRESSURE,
            outcome::UNAVAILABLE,
        ] {
            events.with_label_values(&[label]);
        }
        let request_duration = register(
            registry,
            Histogram::with_opts(
                HistogramOpts::new("analytics_ingest_request_duration_seconds", "Time to answer an intake request")
                    .buckets(exponential_buckets(0.0001, 2.0, 16).expect("valid buckets")),
            )
            .expect("valid metric"),
        );
        let push_size = register(
            registry,
            Histogram::with_opts(
                HistogramOpts::new("analytics_ingest_push_events", "Events written to Redis by one LPUSH")
                    .buckets(exponential_buckets(1.0, 2.0, 12).expect("valid buckets")),
            )
            .expect("valid metric"),
        );
        let rate_limited = register(
            registry,
            prometheus::IntCounter::new(
                "analytics_ingest_rate_limited_requests_total",
                "Requests refused with 429: the client was over its rate",
            )
            .expect("valid metric"),
        );
        Self { events, request_duration, push_size, rate_limited }
    }

    pub fn count(&self, outcome: &str, n: usize) {
        self.events.with_label_values(&[outcome]).inc_by(n as u64);
    }
}
