//! Aggregator: turns event batches into rollups. Each group of deliveries is
//! applied in one Postgres transaction that also records their batch ids, and
//! acked only after that commit; a batch id already recorded is acked without
//! applying anything. So every acknowledged event is counted exactly once,
//! however often RabbitMQ delivers it.

mod apply;
pub mod backfill;
mod classify;
mod consume;
mod goal_rows;
pub mod import;
mod incoming;
mod kept_events;
mod long_tail;
pub mod maintenance;
mod metrics;
pub mod partitions;
pub mod rebuild;
mod referrer;
mod rollup;
mod sessions;
mod settings;
pub mod sketch;
mod startup;
mod uap;
pub mod weeks;

pub use apply::{ApplyError, Outcome};
pub use settings::{AggregatorSettings, Settings};
pub use startup::Application;
