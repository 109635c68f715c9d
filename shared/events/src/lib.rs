//! The messages that travel between the services (see `proto-schemas/analytics.proto`).
//!
//! Ingest pushes one encoded [`Event`] per Redis list entry. The forwarder turns a
//! claimed run of entries into an encoded [`EventBatch`] without decoding them:
//! a repeated message field is just each element's bytes behind a tag and a length.

// Generated code follows prost's style, not our lints.
#[allow(clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/analytics.v1.rs"));
}

pub mod bots;
pub mod clean;
pub mod identity;
pub mod names;
pub mod speed;

pub use generated::*;
pub use names::{Dimension, FOLDED_VALUE, TrafficSource};
pub use prost::Message;

/// Encodes an [`EventBatch`] from already encoded events, byte for byte what
/// `EventBatch { batch_id, events }.encode_to_vec()` gives, without a decode and
/// re-encode of every event.
pub fn encode_batch_raw<'a>(batch_id: &str, events: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    prost::encoding::string::encode(1, &batch_id.to_owned(), &mut out);
    for event in events {
        prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(event.len() as u64, &mut out);
        out.extend_from_slice(event);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_batch_encoding_matches_prost() {
        let events: Vec<Event> = (0..3)
            .map(|i| Event {
                site_id: format!("site-{i}"),
                r#type: EventType::Pageview as i32,
                path: "/a".repeat(i * 100),
                visitor_id: i as u64,
                ..Default::default()
            })
            .collect();
        let encoded: Vec<Vec<u8>> = events.iter().map(|e| e.encode_to_vec()).collect();
        let raw = encode_batch_raw("b-1", encoded.iter().map(Vec::as_slice));
        let expected = EventBatch { batch_id: "b-1".into(), events }.encode_to_vec();
        assert_eq!(raw, expected);
        let decoded = EventBatch::decode(raw.as_slice()).expect("decodes");
        assert_eq!(decoded.events.len(), 3);
    }
}
