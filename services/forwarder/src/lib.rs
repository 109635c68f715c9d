//! Forwarder: claims batches of events from the Redis list into an in-flight
//! record, publishes each as one persistent AMQP message, and deletes the
//! record only once RabbitMQ has confirmed it. A crash at any point leaves the
//! events either in the list or in an in-flight record that is republished
//! under the same batch id, which the aggregator deduplicates.

mod claim;
mod depth;
mod forward;
mod metrics;
mod publish;
mod settings;
mod startup;

pub use settings::{ForwarderSettings, Settings};
pub use startup::Application;
