use analytics_telemetry::register;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry, exponential_buckets};

/// The aggregator's metrics; every name is listed in the README.
#[derive(Clone)]
pub struct AggregatorMetrics {
    /// `analytics_aggregator_batches_total{outcome=applied|duplicate|poison|retried}`
    pub batches: IntCounterVec,
    /// `analytics_aggregator_events_total{outcome=counted}`
    pub events: IntCounterVec,
    /// `analytics_aggregator_dropped_events_total{reason}`: bots by kind,
    /// unknown sites, unusable timestamps. Nothing is dropped without a count.
    pub dropped: IntCounterVec,
    pub apply_duration: Histogram,
    /// Seconds from ingest's acceptance of a batch's oldest event to its commit.
    pub lag: Histogram,
}

/// Every drop reason, pre-created so dashboards show 0 rather than nothing.
pub const DROP_REASONS: [&str; 7] =
    ["crawler", "headless", "uptime_monitor", "http_client", "empty_user_agent", "unknown_site", "bad_timestamp"];

impl AggregatorMetrics {
    pub fn new(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str, label: &str, values: &[&str]| {
            let counter =
                register(registry, IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric"));
            for value in values {
                counter.with_label_values(&[value]);
            }
            counter
        };
        let batches = counter(
            "analytics_aggregator_batches_total",
            "Deliveries by outcome",
            "outcome",
            &["applied", "duplicate", "poison", "retried"],
        );
        let events = counter("analytics_aggregator_events_total", "Events counted in rollups", "outcome", &["counted"]);
        let dropped = counter(
            "analytics_aggregator_dropped_events_total",
            "Events not counted, by reason",
            "reason",
            &DROP_REASONS,
        );
        let histogram = |name: &str, help: &str, start: f64| {
            register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(name, help).buckets(exponential_buckets(start, 2.0, 16).expect("valid buckets")),
                )
                .expect("valid metric"),
            )
        };
        let apply_duration =
            histogram("analytics_aggregator_apply_duration_seconds", "One transaction of grouped deliveries", 0.0005);
        let lag = histogram("analytics_aggregator_lag_seconds", "Ingest acceptance to rollup commit", 0.005);
        Self { batches, events, dropped, apply_duration, lag }
    }
}
