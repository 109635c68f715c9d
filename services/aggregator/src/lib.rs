//! Aggregator: turns event batches into rollups. Each delivery is applied in
//! one Postgres transaction that also records its batch id, and acked only
//! after that commit; a batch id already recorded is acked without applying
//! anything. So every acknowledged event is counted exactly once, however
//! often RabbitMQ delivers it.

mod apply;
mod consume;
mod metrics;
mod rollup;
mod settings;
mod startup;

pub use settings::{AggregatorSettings, Settings};
pub use startup::Application;
