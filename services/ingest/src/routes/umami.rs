//! `POST /api/send`: Umami's protocol, unchanged, from its browser tracker
//! (versions 2 and 3, `performance` messages included) and its Node client.
//! `payload.website` is our site id. Answers 200 with a JSON body whose
//! `cache` field the tracker sends back in `x-umami-cache`; we need no such
//! state, so it is empty. Unlike Plausible, an unknown site is a 4xx, as
//! Umami answers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use analytics_events::{EventType, Protocol, Timing};
use analytics_store::sites::Site;
use chrono::Utc;
use serde::Deserialize;

use crate::error::IngestError;
use crate::event::{Draft, invalid, stringify_props};
use crate::metrics::outcome;
use crate::normalise::{Fragment, Location, location_from_url};
use crate::startup::AppState;

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    payload: Payload,
}

/// What Umami's clients send. The browser tracker sends a path (`url`,
/// version 2) or the page's whole URL (version 3) with its `hostname`; the
/// Node client (`@umami/node`) sends only `website`, `name` and `data` for a
/// server-side event. Fields we do not use (`screen`, `language`, `tag`,
/// `id`) are ignored.
#[derive(Deserialize)]
struct Payload {
    website: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    referrer: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    data: Option<BTreeMap<String, serde_json::Value>>,
    /// Web vitals of a `performance` message, in milliseconds (`cls`: a score).
    #[serde(flatten)]
    vitals: Vitals,
}

#[derive(Deserialize, Default)]
struct Vitals {
    ttfb: Option<f64>,
    fcp: Option<f64>,
    lcp: Option<f64>,
    inp: Option<f64>,
    cls: Option<f64>,
}

impl Vitals {
    /// The measured values, rounded; a negative or non-finite one is left
    /// out (the clean-up clamps the large ones).
    fn timing(&self) -> Timing {
        let ms = |value: Option<f64>| value.filter(|v| v.is_finite() && *v >= 0.0).map(|v| v.round().min(1e9) as u32);
        Timing {
            ttfb_ms: ms(self.ttfb),
            fcp_ms: ms(self.fcp),
            lcp_ms: ms(self.lcp),
            inp_ms: ms(self.inp),
            cls_thousandths: ms(self.cls.map(|score| score * 1000.0)),
            ..Default::default()
        }
    }
}

/// What the tracker expects back: a `cache` token it would return in
/// `x-umami-cache`; we need no such state, so it is empty.
fn answer() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "cache": "" }))
}

pub async fn send(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, IngestError> {
    let body = super::read_request(&state, &request, body, false).await?;
    let envelope: Envelope = super::parse_json(&body)?;
    let performance = match envelope.kind.as_str() {
        "event" => false,
        "performance" => true,
        "identify" => {
            // Session data Umami keeps per visitor; we keep no visitor state.
            state.metrics.count(outcome::IGNORED, 1);
            return Ok(answer());
        }
        other => {
            let shown = analytics_events::clean::truncate(other, 40).escape_debug();
            return Err(IngestError::Rejected(format!(
                "type: expected event, performance or identify, got \"{shown}\""
            )));
        }
    };
    let payload = envelope.payload;
    let Some(site) = state.sites.resolve(&payload.website).await else {
        state.metrics.count(outcome::UNKNOWN_SITE, 1);
        return Err(IngestError::UnknownSite(payload.website));
    };
    let now = Utc::now();
    let salt = super::salt(&state, now).await?;
    let client_ip = state.client_address.of(&request);
    let draft = match draft(payload, performance, site, &request, client_ip, now.timestamp_millis()) {
        Ok(draft) => draft,
        Err((reason, error)) => {
            state.metrics.count(reason, 1);
            return Err(IngestError::Rejected(error));
        }
    };
    // A bot or an excluded page is answered like any other: the tracker needs no news.
    let encoded: Vec<_> = super::admit(&state, draft, &salt).into_iter().collect();
    super::enqueue(&state, encoded, None).await?;
    Ok(answer())
}

fn draft(
    payload: Payload,
    performance: bool,
    site: Arc<Site>,
    request: &HttpRequest,
    client_ip: Option<IpAddr>,
    now_ms: i64,
) -> Result<Draft, crate::event::Rejection> {
    // Version 2 of the tracker sends `encodeURI(path)`, `encodeURI(referrer)`
    // and `encodeURIComponent(title)`: decoded once, they are what the page
    // had (a path stays percent-encoded as browsers give it, like other
    // trackers'). Version 3 sends the page's URL and title as they are.
    let absolute = payload.url.starts_with("https://") || payload.url.starts_with("http://");
    let location = location(&payload, absolute)?;
    let mut draft = Draft::from_browser(request, client_ip, site, location, Protocol::Umami, now_ms)
        .named(payload.name.unwrap_or_default());
    let title = payload.title.unwrap_or_default();
    draft.title = if absolute { title } else { decode(&title) };
    draft.referrer = decode(&payload.referrer.unwrap_or_default());
    draft.props = stringify_props(payload.data.unwrap_or_default())?;
    if performance {
        draft.event_type = EventType::Performance;
        draft.timing = Some(payload.vitals.timing());
    }
    Ok(draft)
}

/// The page: from the whole URL (tracker version 3), from a path on
/// `hostname` (version 2; a path without a hostname is a server's own
/// page), or none at all (a server-side event of the Node client).
fn location(payload: &Payload, absolute: bool) -> Result<Location, crate::event::Rejection> {
    if absolute {
        return location_from_url(&payload.url, Fragment::Routes)
            .ok_or_else(|| invalid("payload.url: not a valid http(s) URL"));
    }
    if payload.url.is_empty() {
        return Ok(Location::default());
    }
    let path = decode(&payload.url);
    if !path.starts_with('/') {
        return Err(invalid("payload.url: expected a path or an absolute http(s) URL"));
    }
    let host = if payload.hostname.is_empty() { "localhost" } else { payload.hostname.as_str() };
    let mut location = location_from_url(&format!("https://{host}{path}"), Fragment::Drop)
        .ok_or_else(|| invalid("payload.hostname: not a host name"))?;
    if payload.hostname.is_empty() {
        location.hostname.clear();
    }
    Ok(location)
}

/// Undoes one round of percent-encoding; invalid UTF-8 becomes U+FFFD.
fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_round_of_encoding_is_undone() {
        // encodeURIComponent("خانه « ») and encodeURI of an already encoded path.
        assert_eq!(super::decode("%D8%AE%D8%A7%D9%86%D9%87%20%C2%AB%20%C2%BB"), "خانه « »");
        assert_eq!(super::decode("/t/%25D8%25AE?q=1"), "/t/%D8%AE?q=1");
        assert_eq!(super::decode("100%"), "100%");
    }
}
