//! The events themselves, kept beside the rollups (table `events`, migration
//! V12) for what one-dimension rollups cannot answer: custom properties and
//! goals. Each counted pageview and custom event becomes one row (and the
//! timings a page reports after its pageview one more), written by binary
//! COPY in the transaction that counts it, so exactly once.

use analytics_events::speed::METRICS;
use analytics_events::{Dimension, Event};
use chrono::NaiveDate;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

/// One counted event as it is kept: its values in every dimension (the
/// rollups' own, as read before the daily value bound folds rare ones into
/// `(other)`: a segment sees the real value) and its custom properties.
#[derive(Debug, Clone)]
pub struct KeptEvent {
    pub site_id: Uuid,
    pub local_day: NaiveDate,
    pub at_ms: i64,
    pub visitor: i64,
    pub kind: Kind,
    pub source: &'static str,
    /// By [`Dimension::ALL`]'s order; empty where the event has no value.
    pub values: [String; Dimension::ALL.len()],
    pub props: Option<serde_json::Value>,
    /// By [`analytics_events::speed::METRICS`]' order.
    pub timings: [Option<i32>; METRICS.len()],
}

/// What a kept row is (its `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pageview = 0,
    Custom = 1,
    /// The timings of a page counted by an earlier pageview: neither.
    Timings = 2,
}

/// Where a counted event is, what it is, and its dimension values.
pub struct Counted<'a> {
    pub site_id: Uuid,
    pub local_day: NaiveDate,
    pub source: &'static str,
    pub kind: Kind,
    pub dimensions: &'a [(Dimension, String)],
}

impl KeptEvent {
    pub fn of(event: &Event, counted: Counted<'_>) -> Self {
        let mut values: [String; Dimension::ALL.len()] = Default::default();
        for (dimension, value) in counted.dimensions {
            if let Some(i) = Dimension::ALL.iter().position(|d| d == dimension) {
                values[i].clone_from(value);
            }
        }
        let props = (!event.props.is_empty()).then(|| {
            let pairs = event.props.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())));
            serde_json::Value::Object(pairs.collect())
        });
        let mut timings = [None; METRICS.len()];
        for (metric, value) in event.timing.iter().flat_map(|t| t.measurements()) {
            if let Some(i) = METRICS.iter().position(|m| *m == metric) {
                timings[i] = i32::try_from(value).ok();
            }
        }
        Self {
            site_id: counted.site_id,
            local_day: counted.local_day,
            at_ms: event.timestamp_ms,
            visitor: event.visitor_id as i64,
            kind: counted.kind,
            source: counted.source,
            values,
            props,
            timings,
        }
    }
}

/// Writes `events` into `transaction` (every one's day must have its
/// partition: see [`crate::partitions::Partitions::keeps_events_of`]).
pub async fn write(transaction: &Transaction<'_>, events: &[KeptEvent]) -> Result<(), tokio_postgres::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let columns: Vec<&str> = Dimension::ALL.iter().map(|d| d.as_str()).collect();
    let sql = format!(
        "COPY events (site_id, local_day, at, visitor_id, kind, source, {}, props, {}) FROM STDIN BINARY",
        columns.join(", "),
        METRICS.join(", ")
    );
    let mut types = vec![Type::UUID, Type::DATE, Type::TIMESTAMPTZ, Type::INT8, Type::INT2, Type::TEXT];
    types.extend([Type::TEXT; Dimension::ALL.len()]);
    types.push(Type::JSONB);
    types.extend([Type::INT4; METRICS.len()]);
    let sink = transaction.copy_in(&sql).await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures_util::pin_mut!(writer);
    for event in events {
        // Every counted event's time has a local day, so it is a valid instant.
        let at = chrono::DateTime::from_timestamp_millis(event.at_ms).unwrap_or_default();
        let kind = event.kind as i16;
        let mut row: Vec<&(dyn ToSql + Sync)> =
            vec![&event.site_id, &event.local_day, &at, &event.visitor, &kind, &event.source];
        row.extend(event.values.iter().map(|v| v as &(dyn ToSql + Sync)));
        row.push(&event.props);
        row.extend(event.timings.iter().map(|t| t as &(dyn ToSql + Sync)));
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    Ok(())
}
