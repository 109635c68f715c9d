use analytics_telemetry::register;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry, exponential_buckets};

/// The aggregator's metrics; every name is listed in the README.
#[derive(Clone)]
pub struct AggregatorMetrics {
    /// `analytics_aggregator_batches_total{outcome=applied|duplicate|poison|retried}`
    pub batches: IntCounterVec,
    /// `analytics_aggregator_events_total{outcome=counted|unknown_site}`
    pub events: IntCounterVec,
    pub apply_duration: Histogram,
    /// Seconds from ingest's acceptance to the rollup commit.
    pub lag: Histogram,
}

impl AggregatorMetrics {
    pub fn new(registry: &Registry) -> Self {
        let batches = register(
            registry,
            IntCounterVec::new(Opts::new("analytics_aggregator_batches_total", "Deliveries by outcome"), &["outcome"])
                .expect("valid metric"),
        );
        for outcome in ["applied", "duplicate", "poison", "retried"] {
            batches.with_label_values(&[outcome]);
        }
        let events = register(
            registry,
            IntCounterVec::new(Opts::new("analytics_aggregator_events_total", "Events by outcome"), &["outcome"])
                .expect("valid metric"),
        );
        for outcome in ["counted", "unknown_site"] {
            events.with_label_values(&[outcome]);
        }
        let apply_duration = register(
            registry,
            Histogram::with_opts(
                HistogramOpts::new("analytics_aggregator_apply_duration_seconds", "One batch transaction")
                    .buckets(exponential_buckets(0.0005, 2.0, 16).expect("valid buckets")),
            )
            .expect("valid metric"),
        );
        let lag = register(
            registry,
            Histogram::with_opts(
                HistogramOpts::new("analytics_aggregator_lag_seconds", "Ingest acceptance to rollup commit")
                    .buckets(exponential_buckets(0.005, 2.0, 16).expect("valid buckets")),
            )
            .expect("valid metric"),
        );
        Self { batches, events, apply_duration, lag }
    }
}
