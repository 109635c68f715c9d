//! `POST /api/send`: Umami's tracker protocol, unchanged. `payload.website`
//! is our site id; `payload.url` is a path (with its query string) on
//! `payload.hostname`. Answers 200 with a JSON body whose `cache` field the
//! tracker sends back in `x-umami-cache`; we need no such state, so it is
//! empty. Unlike Plausible, an unknown site is a 4xx, as Umami answers.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use analytics_events::{Message, Protocol};
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

/// The CORS headers Umami's tracker needs, on the answer and the preflight.
fn cors(response: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    response
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Access-Control-Allow-Methods", "POST, OPTIONS"))
        .insert_header(("Access-Control-Allow-Headers", "Content-Type, x-umami-cache"))
}

pub async fn preflight() -> HttpResponse {
    cors(&mut HttpResponse::NoContent()).insert_header(("Access-Control-Max-Age", "86400")).finish()
}

pub async fn send(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, IngestError> {
    let body = super::read_body(body, state.settings.max_body_bytes).await?;
    let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| IngestError::MalformedJson(e.to_string()))?;
    if envelope.kind == "identify" {
        // Session data Umami keeps per visitor; we keep no visitor state.
        return Ok(cors(&mut HttpResponse::Ok()).json(serde_json::json!({ "cache": "" })));
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
    let draft = match draft(payload, site.id.to_string(), &request, now.timestamp_millis()) {
        Ok(draft) => draft,
        Err((reason, error)) => {
            state.metrics.count(reason, 1);
            return Err(IngestError::Rejected(error));
        }
    };
    super::enqueue(&state, &[draft.into_event(&salt).encode_to_vec()], None).await?;
    Ok(cors(&mut HttpResponse::Ok()).json(serde_json::json!({ "cache": "" })))
}

fn draft(
    payload: Payload,
    site_id: String,
    request: &HttpRequest,
    now_ms: i64,
) -> Result<Draft, crate::event::Rejection> {
    if !payload.url.starts_with('/') || payload.hostname.is_empty() {
        return Err(invalid("payload.url: expected a path on payload.hostname"));
    }
    let location = location_from_url(&format!("https://{}{}", payload.hostname, payload.url))
        .ok_or_else(|| invalid("payload.url: not a valid path"))?;
    let mut draft = Draft::from_browser(request, site_id, location, Protocol::Umami, now_ms)
        .named(payload.name.unwrap_or_default());
    draft.title = payload.title.unwrap_or_default();
    draft.referrer = payload.referrer.unwrap_or_default();
    draft.props = stringify_props(payload.data.unwrap_or_default())?;
    Ok(draft)
}
