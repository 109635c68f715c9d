//! `POST /v1/events`: the native batch API for apps and servers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use analytics_events::{EventType, Protocol, Timing};
use chrono::Utc;
use serde::Deserialize;

use crate::error::IngestError;
use crate::event::{Draft, Rejection, invalid, stringify_props};
use crate::metrics::outcome;
use crate::normalise::{Fragment, is_app_user_agent, location_from_path, location_from_url, location_of_screen};
use crate::queue::Idempotency;
use crate::startup::AppState;

#[derive(Deserialize)]
struct Batch {
    events: Vec<serde_json::Value>,
}

impl Batch {
    /// The `site` of every event, distinct and sorted: who a caller without
    /// the ingest key is, for its idempotency keys.
    fn sites(&self) -> Vec<&str> {
        let mut sites: Vec<&str> = self.events.iter().filter_map(|e| e.get("site")?.as_str()).collect();
        sites.sort_unstable();
        sites.dedup();
        sites
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeEvent {
    site: String,
    #[serde(rename = "type")]
    kind: Kind,
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    title: Option<String>,
    referrer: Option<String>,
    source: Option<SourceIn>,
    app: Option<AppInfo>,
    /// An app's stable install id; hashed with the site's secret in ingest.
    visitor: Option<String>,
    timestamp: Option<i64>,
    timing: Option<TimingIn>,
    authenticated: Option<bool>,
    props: Option<BTreeMap<String, serde_json::Value>>,
    ip: Option<String>,
    user_agent: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Pageview,
    Event,
    ScreenView,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum SourceIn {
    Web,
    App,
}

#[derive(Deserialize)]
struct AppInfo {
    platform: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct TimingIn {
    response_ms: Option<u32>,
    ttfb_ms: Option<u32>,
    load_ms: Option<u32>,
}

/// Timestamps are accepted from 24 h in the past to 1 min in the future.
const MAX_AGE_MS: i64 = 24 * 3600 * 1000;
const MAX_AHEAD_MS: i64 = 60 * 1000;
const MAX_INSTALL_ID_LEN: usize = 200;

pub async fn post_events(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, IngestError> {
    let started = Instant::now();
    let result = handle(&request, payload, &state).await;
    state.metrics.request_duration.observe(started.elapsed().as_secs_f64());
    result
}

async fn handle(request: &HttpRequest, payload: web::Payload, state: &AppState) -> Result<HttpResponse, IngestError> {
    let server_side = check_ingest_key(request, state)?;
    let idempotency_key = idempotency_key(request)?;
    let body = super::read_request(state, request, payload, server_side).await?;
    let batch: Batch = super::parse_json(&body)?;
    let idempotency = idempotency_key.map(|key| {
        let scope = if server_side { vec!["ingest key"] } else { batch.sites() };
        Idempotency::new(&key, &scope, &body)
    });
    let max = state.settings.max_events_per_request;
    if batch.events.len() > max {
        return Err(IngestError::TooManyEvents { count: batch.events.len(), max });
    }

    let now = Utc::now();
    let salt = super::salt(state, now).await?;
    let header_ua = super::header(request, "user-agent");
    // A server forwarding an app's request marks it with the app's own signs.
    let app_header = server_side
        && (request.headers().contains_key("x-app-source")
            || super::header(request, "authorization").starts_with("Bearer "));
    let context = EventContext {
        server_side,
        app_header,
        client_ip: state.client_address.of(request),
        header_ua: &header_ua,
        now_ms: now.timestamp_millis(),
    };

    let mut encoded = Vec::with_capacity(batch.events.len());
    let mut rejected = Vec::new();
    let mut dropped = 0;
    for (index, raw) in batch.events.into_iter().enumerate() {
        match to_draft(raw, &context, state).await {
            Ok(draft) => match super::admit(state, draft, &salt) {
                Some(event) => encoded.push(event),
                None => dropped += 1,
            },
            Err((reason, error)) => {
                state.metrics.count(reason, 1);
                rejected.push(serde_json::json!({ "index": index, "error": error }));
            }
        }
    }

    let accepted = encoded.len();
    super::enqueue(state, encoded, idempotency.as_ref()).await?;
    // `dropped`: valid events left uncounted on purpose (bots, the site's rules).
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "accepted": accepted,
        "dropped": dropped,
        "rejected": rejected,
    })))
}

/// `Ok(true)` for a request carrying the configured ingest key, `Ok(false)`
/// for one without the header, an error for a wrong key.
fn check_ingest_key(request: &HttpRequest, state: &AppState) -> Result<bool, IngestError> {
    let Some(sent) = request.headers().get("x-ingest-key") else {
        return Ok(false);
    };
    let expected = state.settings.ingest_key().ok_or(IngestError::BadIngestKey)?;
    let equal: bool = subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), expected.as_bytes()).into();
    if equal { Ok(true) } else { Err(IngestError::BadIngestKey) }
}

/// The optional `Idempotency-Key` header: a client that retries a request
/// with the same key is counted once, even when the first attempt was stored
/// but its answer lost.
fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, IngestError> {
    let Some(value) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let valid = !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_graphic());
    if valid { Ok(Some(key.to_owned())) } else { Err(IngestError::BadIdempotencyKey) }
}

struct EventContext<'a> {
    server_side: bool,
    app_header: bool,
    client_ip: Option<IpAddr>,
    header_ua: &'a str,
    now_ms: i64,
}

async fn to_draft(raw: serde_json::Value, context: &EventContext<'_>, state: &AppState) -> Result<Draft, Rejection> {
    let input: NativeEvent = serde_json::from_value(raw).map_err(|e| invalid(e.to_string()))?;
    let site = state
        .sites
        .resolve(&input.site)
        .await
        .ok_or_else(|| (outcome::UNKNOWN_SITE, format!("site: unknown site {:?}", input.site)))?;

    if !context.server_side && (input.ip.is_some() || input.user_agent.is_some()) {
        return Err(invalid("ip, user_agent: only allowed with a valid X-Ingest-Key"));
    }
    let ip = match &input.ip {
        Some(text) => Some(text.trim().parse::<IpAddr>().map_err(|_| invalid("ip: not an IP address"))?),
        None => context.client_ip,
    };
    if let Some(install_id) = &input.visitor
        && (install_id.is_empty() || install_id.len() > MAX_INSTALL_ID_LEN)
    {
        return Err(invalid(format!("visitor: 1 to {MAX_INSTALL_ID_LEN} bytes")));
    }
    let location = match (&input.url, &input.path, &input.name) {
        (Some(url), ..) => {
            location_from_url(url, Fragment::Routes).ok_or_else(|| invalid("url: not an absolute http(s) URL"))?
        }
        (None, Some(path), _) => location_from_path(path).ok_or_else(|| invalid("path: must start with /"))?,
        (None, None, Some(screen)) if matches!(input.kind, Kind::ScreenView) => {
            location_of_screen(screen).ok_or_else(|| invalid("name: the screen's name, or give url or path"))?
        }
        (None, None, _) => return Err(invalid("url: missing (or give path, or for a screen_view the screen's name)")),
    };
    let timestamp_ms = input.timestamp.unwrap_or(context.now_ms);
    if timestamp_ms < context.now_ms - MAX_AGE_MS || timestamp_ms > context.now_ms + MAX_AHEAD_MS {
        return Err(invalid("timestamp: outside [-24 h, +1 min] of now"));
    }
    let name = input.name.unwrap_or_default();
    let event_type = match input.kind {
        Kind::Pageview => EventType::Pageview,
        Kind::ScreenView => EventType::ScreenView,
        Kind::Event if name.is_empty() => return Err(invalid("name: required for type event")),
        Kind::Event => EventType::Custom,
    };
    let props = stringify_props(input.props.unwrap_or_default())?;
    let user_agent = input.user_agent.unwrap_or_else(|| context.header_ua.to_owned());
    let is_app = matches!(input.source, Some(SourceIn::App))
        || input.app.is_some()
        || context.app_header
        || is_app_user_agent(&user_agent);
    let (app_platform, app_version) =
        input.app.map(|a| (a.platform.unwrap_or_default(), a.version.unwrap_or_default())).unwrap_or_default();
    Ok(Draft {
        site,
        event_type,
        name,
        location,
        title: input.title.unwrap_or_default(),
        referrer: input.referrer.unwrap_or_default(),
        props,
        ip,
        install_id: input.visitor,
        user_agent,
        timestamp_ms,
        is_app,
        app_platform,
        app_version,
        authenticated: input.authenticated.unwrap_or(false),
        timing: input.timing.map(|t| Timing {
            response_ms: t.response_ms,
            ttfb_ms: t.ttfb_ms,
            load_ms: t.load_ms,
            ..Default::default()
        }),
        protocol: if context.server_side { Protocol::Server } else { Protocol::Native },
        received_ms: context.now_ms,
    })
}
