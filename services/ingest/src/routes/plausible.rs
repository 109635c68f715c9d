//! `POST /api/event`: Plausible's tracker protocol, unchanged, so pages with
//! Plausible's script can send to us as they are. The body is JSON whatever
//! the content type (the tracker sends `text/plain` to avoid a preflight),
//! fields have short and long names, and `domain` may list several sites:
//! the event is recorded once for each. Like Plausible, the answer is 202
//! `ok` also for events that are not counted (unknown site, bad URL, bot,
//! excluded page), which are counted in the metrics instead.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use analytics_events::Protocol;
use analytics_store::sites::Site;
use chrono::Utc;
use serde::Deserialize;

use crate::error::IngestError;
use crate::event::{Draft, stringify_props};
use crate::metrics::outcome;
use crate::normalise::{Fragment, location_from_url};
use crate::startup::AppState;

#[derive(Deserialize)]
struct PlausibleEvent {
    /// A string, or a number (the tracker's 404 events) taken as its text.
    #[serde(alias = "n", deserialize_with = "string_or_number")]
    name: String,
    #[serde(alias = "u")]
    url: String,
    #[serde(alias = "d")]
    domain: String,
    #[serde(alias = "r", default)]
    referrer: Option<String>,
    /// An object, or (older trackers) the same object as a JSON string.
    #[serde(alias = "p", default)]
    props: Option<serde_json::Value>,
    /// Single-page apps routing by fragment: the fragment is part of the page.
    #[serde(rename = "hashMode", alias = "h", default)]
    hash_mode: Option<serde_json::Value>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Name;
    impl serde::de::Visitor<'_> for Name {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<String, E> {
            Ok(text.to_owned())
        }
        fn visit_string<E: serde::de::Error>(self, text: String) -> Result<String, E> {
            Ok(text)
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<String, E> {
            Ok(n.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<String, E> {
            Ok(n.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<String, E> {
            Ok(n.to_string())
        }
    }
    deserializer.deserialize_any(Name)
}

pub async fn post_event(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, IngestError> {
    let body = super::read_request(&state, &request, payload, false).await?;
    let input: PlausibleEvent = super::parse_json(&body)?;
    if input.name == "engagement" {
        // Time on page and scroll depth, sent by the tracker on leaving a
        // page: not a pageview or a custom event, and not kept.
        state.metrics.count(outcome::IGNORED, 1);
        return Ok(HttpResponse::Accepted().content_type("text/plain").body("ok"));
    }
    let now = Utc::now();
    let salt = super::salt(&state, now).await?;
    let client_ip = state.client_address.of(&request);
    let mut encoded = Vec::new();
    let (domains, excess) = domain_list(&input.domain, MAX_DOMAINS.min(state.settings.max_events_per_request));
    if excess > 0 {
        // Not one event per listed name: a list of thousands would multiply a
        // single request into thousands of pageviews.
        state.metrics.count(outcome::INVALID, excess);
        tracing::debug!(excess, "plausible domain list over its cap");
    }
    for domain in domains {
        let Some(site) = state.sites.resolve(domain).await else {
            state.metrics.count(outcome::UNKNOWN_SITE, 1);
            continue;
        };
        match draft(&input, site, &request, client_ip, now.timestamp_millis()) {
            Ok(draft) => encoded.extend(super::admit(&state, draft, &salt)),
            Err((reason, error)) => {
                state.metrics.count(reason, 1);
                tracing::debug!(error, "plausible event not counted");
            }
        }
    }
    super::enqueue(&state, encoded, None).await?;
    Ok(HttpResponse::Accepted().content_type("text/plain").body("ok"))
}

/// Most sites one Plausible event is recorded for: the domain list exists to
/// roll a page's views up into a few sites (the site and an all-sites view),
/// not to multiply them.
const MAX_DOMAINS: usize = 10;

/// The distinct names of a comma-separated `domain` list (case-insensitive,
/// first occurrence kept), at most `max` of them, and how many more distinct
/// names there were.
fn domain_list(list: &str, max: usize) -> (Vec<&str>, usize) {
    let mut distinct: Vec<&str> = Vec::new();
    let mut excess = 0;
    for domain in list.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if distinct.iter().any(|seen| seen.eq_ignore_ascii_case(domain)) {
            continue;
        }
        if distinct.len() < max {
            distinct.push(domain);
        } else {
            excess += 1;
            if excess > max {
                // Past twice the cap the list is abuse; stop reading it.
                break;
            }
        }
    }
    (distinct, excess)
}

fn draft(
    input: &PlausibleEvent,
    site: Arc<Site>,
    request: &HttpRequest,
    client_ip: Option<IpAddr>,
    now_ms: i64,
) -> Result<Draft, crate::event::Rejection> {
    let invalid = crate::event::invalid;
    let hash_mode = matches!(&input.hash_mode, Some(v) if v.as_bool() == Some(true) || v.as_i64() == Some(1));
    let fragment = if hash_mode { Fragment::All } else { Fragment::Drop };
    let location =
        location_from_url(&input.url, fragment).ok_or_else(|| invalid("url: not an absolute http(s) URL"))?;
    let props = match &input.props {
        None | Some(serde_json::Value::Null) => BTreeMap::new(),
        Some(serde_json::Value::String(text)) => {
            serde_json::from_str(text).map_err(|_| invalid("props: not a JSON object"))?
        }
        Some(serde_json::Value::Object(map)) => map.clone().into_iter().collect(),
        Some(_) => return Err(invalid("props: not a JSON object")),
    };
    let name = if input.name == "pageview" { String::new() } else { input.name.clone() };
    let mut draft = Draft::from_browser(request, client_ip, site, location, Protocol::Plausible, now_ms).named(name);
    draft.referrer = input.referrer.clone().unwrap_or_default();
    draft.props = stringify_props(props)?;
    Ok(draft)
}

#[cfg(test)]
mod tests {
    use super::domain_list;

    #[test]
    fn domain_lists_are_deduplicated_and_capped() {
        assert_eq!(domain_list("a.com, b.com,A.COM,,a.com", 10), (vec!["a.com", "b.com"], 0));
        let many = (0..5000).map(|i| format!("s{i}.com")).collect::<Vec<_>>().join(",");
        let (kept, excess) = domain_list(&many, 10);
        assert_eq!((kept.len(), excess), (10, 11), "counting stops past twice the cap");
        let copies = vec!["x.com"; 5000].join(",");
        assert_eq!(domain_list(&copies, 10), (vec!["x.com"], 0));
    }
}
