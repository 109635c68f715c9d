//! `POST /api/send`: Umami's tracker protocol, unchanged. `payload.website`
//! is our site id; `payload.url` is a path (with its query string) on
//! `payload.hostname`. Answers 200 with a JSON body whose `cache` field the
//! tracker sends back in `x-umami-cache`; we need no such state, so it is
//! empty. Unlike Plausible, an unknown site is a 4xx, as Umami answers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use analytics_events::Protocol;
use analytics_store::sites::Site;
use chrono::Utc;
use serde::Deserialize;

use crate::error::IngestError;
use crate::event::{Draft, invalid, stringify_props};
use crate::metrics::outcome;
use crate::normalise::location_from_url;
use crate::startup::AppState;

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    payload: Payload,
}

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
    let body = super::read_body(body, state.settings.max_body_bytes).await?;
    let envelope: Envelope = super::parse_json(&body)?;
    if envelope.kind == "identify" {
        // Session data Umami keeps per visitor; we keep no visitor state.
        state.metrics.count(outcome::IGNORED, 1);
        return Ok(answer());
    }
    if envelope.kind != "event" {
        return Err(IngestError::Rejected(format!("type: expected event or identify, got {:?}", envelope.kind)));
    }
    let payload = envelope.payload;
    let Some(site) = state.sites.resolve(&payload.website).await else {
        state.metrics.count(outcome::UNKNOWN_SITE, 1);
        return Err(IngestError::UnknownSite(payload.website));
    };
    let now = Utc::now();
    let salt = super::salt(&state, now).await?;
    let client_ip = state.client_address.of(&request);
    let draft = match draft(payload, site, &request, client_ip, now.timestamp_millis()) {
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
    site: Arc<Site>,
    request: &HttpRequest,
    client_ip: Option<IpAddr>,
    now_ms: i64,
) -> Result<Draft, crate::event::Rejection> {
    // The tracker sends `encodeURI(url)`, `encodeURI(referrer)` and
    // `encodeURIComponent(title)`: decoded once, they are what the page had
    // (a path stays percent-encoded as browsers give it, like other trackers').
    let url = decode(&payload.url);
    if !url.starts_with('/') || payload.hostname.is_empty() {
        return Err(invalid("payload.url: expected a path on payload.hostname"));
    }
    let location = location_from_url(&format!("https://{}{url}", payload.hostname))
        .ok_or_else(|| invalid("payload.url: not a valid path"))?;
    let mut draft = Draft::from_browser(request, client_ip, site, location, Protocol::Umami, now_ms)
        .named(payload.name.unwrap_or_default());
    draft.title = decode(&payload.title.unwrap_or_default());
    draft.referrer = decode(&payload.referrer.unwrap_or_default());
    draft.props = stringify_props(payload.data.unwrap_or_default())?;
    Ok(draft)
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
