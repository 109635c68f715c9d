//! What arrives from the broker, checked before anything reaches SQL. The
//! broker is a trust boundary: besides our forwarder, anyone with access to
//! the exchange can publish, and an older ingest may have queued events that
//! today's rules would refuse. So every event is decoded on its own, its size
//! and time are checked, and its text is cleaned by the same rules ingest
//! applies ([`analytics_events::clean`]). An event that fails is dropped and
//! counted by reason; only a message that is not a batch at all is refused
//! as a whole (dead-lettered).

use std::collections::HashMap;

use analytics_events::clean::limits::EVENT_BYTES;
use analytics_events::{EncodedEventBatch, Event, EventType, Message};
use uuid::Uuid;

use crate::rollup::DropReason;

/// One batch, ready to apply.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The forwarder's batch id: the idempotency key of the whole batch.
    pub id: Uuid,
    /// Its events that passed the checks, cleaned.
    pub events: Vec<Event>,
    /// How many events the message held, checked or not: what the batch
    /// counts for in `processed_batches`.
    pub size: usize,
    /// Events dropped by the checks, by reason.
    pub dropped: HashMap<DropReason, usize>,
    /// The client of each event, when its source recorded one instead of a
    /// user agent (an Umami import); empty for everything from the broker.
    pub clients: Vec<std::sync::Arc<crate::classify::Client>>,
}

impl Incoming {
    /// The events (and their stated clients) whose index `keep` accepts.
    pub fn only(&self, keep: impl Fn(usize) -> bool) -> Self {
        let pick = |len: usize| (0..len).filter(|i| keep(*i));
        Incoming {
            events: pick(self.events.len()).map(|i| self.events[i].clone()).collect(),
            clients: pick(self.clients.len()).map(|i| self.clients[i].clone()).collect(),
            ..self.clone()
        }
    }
}

/// The window of event times the rollups accept, around the time of
/// checking: from `retention_days` ago (older days are dropped from the
/// rollups anyway) to a day ahead (ingest refuses more than a minute of
/// client clock skew; the rest is margin for a publisher's).
#[derive(Debug, Clone, Copy)]
pub struct TimeWindow {
    pub earliest_ms: i64,
    pub latest_ms: i64,
    /// When the check runs: no event was accepted by ingest after it.
    pub now_ms: i64,
}

impl TimeWindow {
    pub fn around(now_ms: i64, retention_days: u64) -> Self {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let retention = i64::try_from(retention_days).unwrap_or(i64::MAX / DAY_MS).saturating_mul(DAY_MS);
        Self { earliest_ms: now_ms.saturating_sub(retention), latest_ms: now_ms.saturating_add(DAY_MS), now_ms }
    }

    fn contains(&self, ms: i64) -> bool {
        (self.earliest_ms..=self.latest_ms).contains(&ms)
    }
}

/// Why a whole message is refused (dead-lettered); the text goes into a header.
pub type Refusal = String;

/// A message as a batch of checked events, or why it cannot be one.
pub fn decode(data: &[u8], max_message_bytes: usize, window: TimeWindow) -> Result<Incoming, Refusal> {
    if data.len() > max_message_bytes {
        return Err(format!("oversized: {} bytes, at most {max_message_bytes}", data.len()));
    }
    let batch = EncodedEventBatch::decode(data).map_err(|e| format!("undecodable: {e}"))?;
    let id = Uuid::parse_str(&batch.batch_id).map_err(|_| {
        let shown = analytics_events::clean::truncate(&batch.batch_id, 64).escape_debug().to_string();
        format!("batch_id \"{shown}\" is not a UUID")
    })?;
    let mut incoming = Incoming {
        id,
        events: Vec::with_capacity(batch.events.len()),
        size: batch.events.len(),
        dropped: HashMap::new(),
        clients: Vec::new(),
    };
    for encoded in &batch.events {
        match check(encoded, window) {
            Ok(event) => incoming.events.push(event),
            Err(reason) => *incoming.dropped.entry(reason).or_default() += 1,
        }
    }
    Ok(incoming)
}

/// Reasons an event fails the checks (labels of the drop metric).
pub mod reason {
    /// Undecodable, larger than any event ingest queues, of no known type.
    pub const INVALID: &str = "invalid";
    /// Outside the [`super::TimeWindow`].
    pub const BAD_TIMESTAMP: &str = "bad_timestamp";
}

fn check(encoded: &[u8], window: TimeWindow) -> Result<Event, DropReason> {
    if encoded.len() > EVENT_BYTES {
        return Err(reason::INVALID);
    }
    let mut event = Event::decode(encoded).map_err(|_| reason::INVALID)?;
    if EventType::try_from(event.r#type).is_err() || event.r#type == EventType::Unspecified as i32 {
        return Err(reason::INVALID);
    }
    if !window.contains(event.timestamp_ms) {
        return Err(reason::BAD_TIMESTAMP);
    }
    // Ingest's acceptance time, which later steps compare with their own
    // clock, is never later than now (a publisher may write anything).
    event.received_ms = event.received_ms.min(window.now_ms);
    analytics_events::clean::sanitize(&mut event);
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;

    fn window() -> TimeWindow {
        TimeWindow::around(NOW, 30)
    }

    fn event(at: i64) -> Event {
        Event { site_id: "s".into(), r#type: EventType::Pageview as i32, timestamp_ms: at, ..Default::default() }
    }

    fn message(id: &str, events: &[Vec<u8>]) -> Vec<u8> {
        analytics_events::encode_batch_raw(id, events.iter().map(Vec::as_slice))
    }

    #[test]
    fn bad_events_are_dropped_and_the_rest_kept() {
        let id = Uuid::now_v7().to_string();
        let mut poisoned = event(NOW);
        poisoned.utm_source = "\0x".into();
        let unknown_type = Event { r#type: 99, ..event(NOW) };
        let events = [
            event(NOW).encode_to_vec(),
            vec![0xff, 0xff, 0xff],
            event(NOW + 2 * 24 * 3600 * 1000).encode_to_vec(),
            event(i64::MIN).encode_to_vec(),
            unknown_type.encode_to_vec(),
            poisoned.encode_to_vec(),
            Event { title: "x".repeat(EVENT_BYTES), ..event(NOW) }.encode_to_vec(),
        ];
        let incoming = decode(&message(&id, &events), 1 << 20, window()).expect("a batch");
        assert_eq!(incoming.size, 7);
        assert_eq!(incoming.events.len(), 2);
        assert_eq!(incoming.events[1].utm_source, "x", "cleaned like ingest cleans");
        assert_eq!(incoming.dropped, HashMap::from([(reason::INVALID, 3), (reason::BAD_TIMESTAMP, 2)]));
    }

    #[test]
    fn what_is_not_a_batch_is_refused_whole() {
        let refusal = |data: &[u8]| decode(data, 1000, window()).expect_err("refused");
        assert!(refusal(&[0xff; 10]).starts_with("undecodable"));
        assert!(refusal(&message("batch-1", &[])).contains("not a UUID"));
        assert!(refusal(&[0; 1001]).starts_with("oversized"));
    }
}
