use analytics_events::bots::reason as bots;
use analytics_telemetry::register;
use prometheus::{Gauge, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, exponential_buckets};

/// The aggregator's metrics; every name is listed in docs/API.md.
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
    /// `analytics_aggregator_last_commit_timestamp_seconds`: when deliveries
    /// were last applied (or the process started).
    pub last_commit: Gauge,
    /// `analytics_aggregator_ua_patterns_compiled`: the uap-core patterns
    /// compiled so far (they are compiled when first needed; the memory
    /// they hold grows with this).
    pub ua_patterns_compiled: IntGauge,
}

/// Every drop reason, pre-created so dashboards show 0 rather than nothing:
/// the bot verdicts, an unknown site, then what fails the checks of
/// incoming events and what Postgres refuses.
pub const DROP_REASONS: [&str; 9] = [
    bots::CRAWLER,
    bots::HEADLESS,
    bots::UPTIME_MONITOR,
    bots::HTTP_CLIENT,
    bots::EMPTY_USER_AGENT,
    crate::rollup::UNKNOWN_SITE,
    crate::incoming::reason::BAD_TIMESTAMP,
    crate::incoming::reason::INVALID,
    crate::apply::REFUSED,
];

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
        let last_commit = register(
            registry,
            Gauge::new("analytics_aggregator_last_commit_timestamp_seconds", "When deliveries were last applied")
                .expect("valid metric"),
        );
        let ua_patterns_compiled = register(
            registry,
            IntGauge::new("analytics_aggregator_ua_patterns_compiled", "uap-core patterns compiled so far")
                .expect("valid metric"),
        );
        Self { batches, events, dropped, apply_duration, lag, last_commit, ua_patterns_compiled }
    }
}
