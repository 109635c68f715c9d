//! The four services together, for the tests and benchmarks that cross them:
//! [`Pipeline`] starts ingest, forwarder, aggregator and query on one
//! namespace (in this process, or as child processes a test can kill), and
//! knows when everything accepted has been counted. The test support below the
//! services comes from `analytics-testkit`, re-exported here.

pub mod legacy;
mod pipeline;

pub use analytics_testkit::*;
pub use pipeline::{Expect, Instances, Pipeline, PipelineOptions, Sender};
