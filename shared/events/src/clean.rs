//! What an [`Event`] may hold, enforced in one place: ingest applies it to
//! every event before it is queued, and the aggregator applies it again to
//! whatever arrives from the broker (a direct publisher, an older ingest)
//! before anything reaches SQL. Cleaning is idempotent, so the second pass
//! changes nothing that the first one produced.
//!
//! The rules exist because Postgres refuses some text outright (a NUL byte in
//! any `text` value; an index key over about 2.7 KB), and one refused value
//! must never stop the counting. Beyond that, text that looks the same must be
//! stored the same (Unicode NFC), and nothing invisible may make two keys
//! that look identical differ, or reorder what a dashboard shows.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

use crate::{Event, Timing};

/// Largest size, in bytes of UTF-8, of each text field. Every rollup key
/// (site, day, dimension, source and one of these values) stays far under
/// Postgres' B-tree limit of about 2,700 bytes per index entry.
pub mod limits {
    /// A page: path plus any route fragment (`/app#/settings`).
    pub const PATH: usize = 1024;
    /// A DNS name is at most 253 characters.
    pub const HOSTNAME: usize = 253;
    pub const TITLE: usize = 1024;
    /// The referrer URL as sent; the aggregator keeps only its host.
    pub const REFERRER: usize = 1024;
    pub const USER_AGENT: usize = 1024;
    pub const UTM: usize = 256;
    /// A custom event's name.
    pub const EVENT_NAME: usize = 256;
    pub const PROP_KEY: usize = 256;
    pub const PROP_VALUE: usize = 500;
    /// At most this many custom properties per event.
    pub const PROPS: usize = 30;
    pub const APP_PLATFORM: usize = 32;
    pub const APP_VERSION: usize = 64;
    /// An encoded event is at most this big: the caps above add up to less
    /// (see the test), and every hop after ingest relies on it.
    pub const EVENT_BYTES: usize = 32 * 1024;
    /// A timing above this (10 minutes) is a tab left in the background, not
    /// a page load; it is clamped so that no sum can overflow.
    pub const TIMING_MS: u32 = 600_000;
}

/// `text` as it may be stored: control characters (but tab) and invisible
/// formatting characters removed, NFC, at most `max_bytes` bytes cut on a
/// character boundary. Borrowed when nothing changes, which is the common
/// case of short printable ASCII.
pub fn clean(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        let plain_ascii = text.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t');
        if plain_ascii
            || (!text.chars().any(is_removed)
                && unicode_normalization::is_nfc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes)
        {
            return Cow::Borrowed(text);
        }
    }
    let normalised: String = text.chars().filter(|c| !is_removed(*c)).nfc().collect();
    let end = floor_char_boundary(&normalised, max_bytes);
    if end == text.len() && normalised == text {
        return Cow::Borrowed(text);
    }
    let mut owned = normalised;
    owned.truncate(end);
    Cow::Owned(owned)
}

/// Cleans `field` in place, allocating only when it changes.
pub fn clean_in_place(field: &mut String, max_bytes: usize) {
    if let Cow::Owned(cleaned) = clean(field, max_bytes) {
        *field = cleaned;
    }
}

/// Characters no stored text keeps:
/// - C0 and C1 control characters and DEL, except tab: Postgres refuses NUL,
///   and the others are never part of a page, title or name;
/// - the directional formatting characters (embeddings, overrides,
///   isolates, and the LRM, RLM and ALM marks), which reorder how a
///   dashboard displays the text around them (a "Trojan Source" trick);
/// - invisible spaces and joiners that carry no meaning here: zero-width
///   space, word joiner, the invisible math operators, the Mongolian vowel
///   separator and the byte-order mark.
///
/// The zero-width non-joiner (U+200C) and joiner (U+200D) stay: Persian
/// words need the first (`می‌خواهم`) and emoji sequences the second.
fn is_removed(c: char) -> bool {
    c.is_control() && c != '\t'
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{180E}'
                | '\u{FEFF}'
        )
}

/// The largest index at most `max` that is a character boundary of `text`.
fn floor_char_boundary(text: &str, max: usize) -> usize {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// `text` cut to at most `max` bytes on a character boundary, without any
/// other change (for values that are cleaned later as a whole).
pub fn truncate(text: &str, max: usize) -> &str {
    &text[..floor_char_boundary(text, max)]
}

/// Makes every field of `event` storable: text cleaned and capped (see
/// [`limits`]), props limited in number, timings clamped, the country a
/// two-letter code or empty. Whole-event checks that need context (the
/// site, the time) are the caller's.
pub fn sanitize(event: &mut Event) {
    use limits::*;
    for (field, max) in [
        (&mut event.name, EVENT_NAME),
        (&mut event.hostname, HOSTNAME),
        (&mut event.path, PATH),
        (&mut event.title, TITLE),
        (&mut event.referrer, REFERRER),
        (&mut event.user_agent, USER_AGENT),
        (&mut event.utm_source, UTM),
        (&mut event.utm_medium, UTM),
        (&mut event.utm_campaign, UTM),
        (&mut event.app_platform, APP_PLATFORM),
        (&mut event.app_version, APP_VERSION),
    ] {
        clean_in_place(field, max);
    }
    let props_clean = event.props.len() <= PROPS
        && event.props.iter().all(|(k, v)| is_clean(k, PROP_KEY) && is_clean(v, PROP_VALUE) && !k.is_empty());
    if !props_clean {
        event.props = std::mem::take(&mut event.props)
            .into_iter()
            .map(|(k, v)| (clean(&k, PROP_KEY).into_owned(), clean(&v, PROP_VALUE).into_owned()))
            .filter(|(k, _)| !k.is_empty())
            .take(PROPS)
            .collect();
    }
    if let Some(timing) = &mut event.timing {
        clamp_timing(timing);
    }
    let country_ok = event.country.len() == 2 && event.country.bytes().all(|b| b.is_ascii_uppercase());
    if !country_ok {
        event.country.clear();
    }
}

/// Whether [`clean`] would leave `text` as it is.
fn is_clean(text: &str, max_bytes: usize) -> bool {
    matches!(clean(text, max_bytes), Cow::Borrowed(_))
}

fn clamp_timing(timing: &mut Timing) {
    for value in timing.values_mut().into_iter().flatten() {
        *value = (*value).min(limits::TIMING_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_is_borrowed() {
        assert!(matches!(clean("/blog/post?utm_source=x", 100), Cow::Borrowed(_)));
        assert!(matches!(clean("tab\tstays", 100), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_and_invisible_formatting_are_removed() {
        assert_eq!(clean("a\0b\u{1}c\u{7f}d\u{85}e", 100), "abcde");
        assert_eq!(clean("line\nbreak\r", 100), "linebreak");
        assert_eq!(clean("pay\u{202E}lp.exe", 100), "paylp.exe");
        assert_eq!(clean("zero\u{200B}width\u{FEFF}\u{2066}x\u{2069}", 100), "zerowidthx");
        assert_eq!(clean("\u{200F}سلام\u{200E}", 100), "سلام");
    }

    #[test]
    fn persian_joiners_and_emoji_sequences_stay() {
        assert_eq!(clean("می\u{200C}خواهم", 100), "می\u{200C}خواهم");
        let family = "👨\u{200D}👩\u{200D}👧";
        assert_eq!(clean(family, 100), family);
    }

    #[test]
    fn text_is_normalised_to_nfc() {
        // "é" as e + combining acute becomes the one precomposed character.
        assert_eq!(clean("caf\u{65}\u{301}", 100), "caf\u{e9}");
        assert_eq!(clean("caf\u{e9}", 100), "caf\u{e9}");
    }

    #[test]
    fn caps_cut_on_character_boundaries() {
        assert_eq!(clean("héllo", 2), "h");
        assert_eq!(clean("abcdef", 3), "abc");
        assert_eq!(clean(&"ش".repeat(1000), 1001).len(), 1000);
    }

    #[test]
    fn cleaning_is_idempotent() {
        for input in ["a\0b", "caf\u{65}\u{301}\u{301}", "ﬁ\u{200B}x", &"é".repeat(700), "\u{1}\u{2}"] {
            let once = clean(input, 1001).into_owned();
            assert_eq!(clean(&once, 1001), once.as_str(), "{input:?}");
        }
    }

    #[test]
    fn the_largest_clean_event_fits_the_event_cap() {
        use prost::Message;
        let text = |n: usize| "ش".repeat(n);
        let mut event = Event {
            site_id: uuid_text(),
            name: text(9999),
            hostname: text(9999),
            path: text(9999),
            title: text(9999),
            referrer: text(9999),
            user_agent: text(9999),
            utm_source: text(9999),
            utm_medium: text(9999),
            utm_campaign: text(9999),
            app_platform: text(9999),
            app_version: text(9999),
            country: "IR".into(),
            props: (0..99).map(|i| (format!("{i:0>9}{}", text(999)), text(999))).collect(),
            timing: Some(Timing {
                response_ms: Some(u32::MAX),
                ttfb_ms: Some(u32::MAX),
                load_ms: Some(u32::MAX),
                lcp_ms: Some(u32::MAX),
                fcp_ms: Some(u32::MAX),
                inp_ms: Some(u32::MAX),
                cls_thousandths: Some(u32::MAX),
            }),
            visitor_id: u64::MAX,
            timestamp_ms: i64::MIN,
            received_ms: i64::MIN,
            r#type: i32::MIN,
            source: i32::MIN,
            protocol: i32::MIN,
            authenticated: true,
        };
        sanitize(&mut event);
        assert!(event.encoded_len() <= limits::EVENT_BYTES, "{} bytes", event.encoded_len());
    }

    fn uuid_text() -> String {
        "0192f0c4-0000-7000-8000-000000000000".into()
    }

    #[test]
    fn events_are_made_storable() {
        let mut event = Event {
            name: format!("sign\0up{}", "x".repeat(1000)),
            path: format!("/a/{}", "b".repeat(5000)),
            utm_source: "\0x".into(),
            app_platform: "android".repeat(100),
            country: "ir\0".into(),
            props: (0..40).map(|i| (format!("k{i}\0"), format!("v\u{202E}{i}"))).collect(),
            timing: Some(Timing { response_ms: Some(u32::MAX), ttfb_ms: Some(12), ..Default::default() }),
            ..Default::default()
        };
        sanitize(&mut event);
        assert!(event.name.starts_with("signupxxx") && event.name.len() == limits::EVENT_NAME);
        assert_eq!(event.path.len(), limits::PATH);
        assert_eq!(event.utm_source, "x");
        assert_eq!(event.app_platform.len(), limits::APP_PLATFORM);
        assert_eq!(event.country, "");
        assert_eq!(event.props.len(), limits::PROPS);
        assert!(event.props.iter().all(|(k, v)| !k.contains('\0') && !v.contains('\u{202E}')));
        let timing = event.timing.expect("kept");
        assert_eq!((timing.response_ms, timing.ttfb_ms, timing.load_ms), (Some(limits::TIMING_MS), Some(12), None));
        let again = event.clone();
        sanitize(&mut event);
        assert_eq!(event, again, "a second pass changes nothing");
    }
}
