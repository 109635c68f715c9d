use analytics_telemetry::register;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, exponential_buckets};

/// The forwarder's metrics; every name is listed in docs/API.md.
#[derive(Clone)]
pub struct ForwarderMetrics {
    /// `analytics_forwarder_batches_total{outcome=published|confirmed|nacked|retried}`
    pub batches: IntCounterVec,
    /// `analytics_forwarder_events_total{outcome=published|confirmed}`
    pub events: IntCounterVec,
    pub confirm_duration: Histogram,
    /// `analytics_queue_depth{queue=redis|aggregate|dead}`
    pub queue_depth: IntGaugeVec,
    pub inflight_batches: IntGauge,
    pub oldest_event_age: prometheus::Gauge,
    /// `analytics_forwarder_last_confirm_timestamp_seconds`: when a batch was
    /// last confirmed by the broker (or the process started).
    pub last_confirm: prometheus::Gauge,
}

impl ForwarderMetrics {
    pub fn new(registry: &Registry) -> Self {
        let batches = register(
            registry,
            IntCounterVec::new(Opts::new("analytics_forwarder_batches_total", "Batches by outcome"), &["outcome"])
                .expect("valid metric"),
        );
        for outcome in ["published", "confirmed", "nacked", "retried"] {
            batches.with_label_values(&[outcome]);
        }
        let events = register(
            registry,
            IntCounterVec::new(Opts::new("analytics_forwarder_events_total", "Events by outcome"), &["outcome"])
                .expect("valid metric"),
        );
        for outcome in ["published", "confirmed"] {
            events.with_label_values(&[outcome]);
        }
        let confirm_duration = register(
            registry,
            Histogram::with_opts(
                HistogramOpts::new("analytics_forwarder_confirm_duration_seconds", "Publish to broker confirm")
                    .buckets(exponential_buckets(0.0005, 2.0, 16).expect("valid buckets")),
            )
            .expect("valid metric"),
        );
        let queue_depth = register(
            registry,
            IntGaugeVec::new(Opts::new("analytics_queue_depth", "Events (redis) or messages waiting"), &["queue"])
                .expect("valid metric"),
        );
        let inflight_batches = register(
            registry,
            IntGauge::new("analytics_inflight_batches", "Batches claimed by this forwarder, not yet confirmed")
                .expect("valid metric"),
        );
        let oldest_event_age = register(
            registry,
            prometheus::Gauge::new(
                "analytics_queue_oldest_event_age_seconds",
                "Age of the oldest event in the Redis list",
            )
            .expect("valid metric"),
        );
        let last_confirm = register(
            registry,
            prometheus::Gauge::new(
                "analytics_forwarder_last_confirm_timestamp_seconds",
                "When the broker last confirmed a batch of this forwarder",
            )
            .expect("valid metric"),
        );
        Self { batches, events, confirm_duration, queue_depth, inflight_batches, oldest_event_age, last_confirm }
    }
}
