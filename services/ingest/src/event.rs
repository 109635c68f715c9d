//! What every intake protocol produces: a checked draft of one event, turned
//! into the protobuf [`Event`] that goes onto the queue, or dropped by the
//! site's rules. The client's IP is used here for the visitor hash and the
//! country, and goes no further.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use analytics_events::{Event, EventType, Protocol, Source, Timing};
use analytics_store::sites::Site;

use crate::geo::Countries;
use crate::metrics::outcome;
use analytics_events::clean::limits;

use crate::normalise::Location;

/// Why one event was not accepted: the metric outcome and a message naming the field.
pub type Rejection = (&'static str, String);

pub fn invalid(message: impl Into<String>) -> Rejection {
    (outcome::INVALID, message.into())
}

pub struct Draft {
    pub site: Arc<Site>,
    pub event_type: EventType,
    pub name: String,
    pub location: Location,
    pub title: String,
    pub referrer: String,
    pub props: BTreeMap<String, String>,
    pub user_agent: String,
    pub ip: Option<IpAddr>,
    /// An app's stable install id: the visitor, hashed with the site's secret.
    pub install_id: Option<String>,
    pub timestamp_ms: i64,
    pub is_app: bool,
    pub app_platform: String,
    pub app_version: String,
    pub authenticated: bool,
    pub timing: Option<Timing>,
    pub protocol: Protocol,
    pub received_ms: i64,
}

impl Draft {
    /// A pageview as a browser tracker sends it (Plausible, Umami): the client
    /// is the request's peer and user agent, the time is now, no app fields.
    /// Callers set the name, title, referrer and props they have.
    pub fn from_browser(
        request: &actix_web::HttpRequest,
        client_ip: Option<IpAddr>,
        site: Arc<Site>,
        location: Location,
        protocol: Protocol,
        now_ms: i64,
    ) -> Self {
        let user_agent = crate::routes::header(request, "user-agent");
        Self {
            site,
            event_type: EventType::Pageview,
            name: String::new(),
            location,
            title: String::new(),
            referrer: String::new(),
            props: BTreeMap::new(),
            ip: client_ip,
            install_id: None,
            is_app: crate::normalise::is_app_user_agent(&user_agent),
            user_agent,
            timestamp_ms: now_ms,
            app_platform: String::new(),
            app_version: String::new(),
            authenticated: false,
            timing: None,
            protocol,
            received_ms: now_ms,
        }
    }

    /// A custom event named `name`, or a pageview when `name` is empty.
    pub fn named(mut self, name: String) -> Self {
        self.event_type = if name.is_empty() { EventType::Pageview } else { EventType::Custom };
        self.name = name;
        self
    }

    /// The event to queue, or the outcome that counts why it is not: a bot,
    /// or excluded by the site's rules (hostname, path, signed-in user).
    pub fn admit(self, salt: &[u8; 32], countries: &Countries) -> Result<Event, &'static str> {
        if let Some(reason) = analytics_events::bots::bot_reason(&self.user_agent)
            && analytics_events::bots::drops(reason, self.is_app)
        {
            return Err(outcome::BOT);
        }
        if self.site.rules.exclusion(&self.location.hostname, &self.location.path, self.authenticated).is_some() {
            return Err(outcome::EXCLUDED);
        }
        Ok(self.into_event(salt, countries))
    }

    /// The queued event: every value cleaned and bounded the way the
    /// aggregator and Postgres can store it, the IP reduced to the visitor
    /// hash and a country.
    fn into_event(self, salt: &[u8; 32], countries: &Countries) -> Event {
        let Location { hostname, path, utm_source, utm_medium, utm_campaign } = self.location;
        let site_id = self.site.id.to_string();
        let visitor_id = match &self.install_id {
            Some(install_id) => crate::identity::install_visitor_id(&self.site.install_secret, install_id),
            None => {
                let ip = self.ip.map(|ip| ip.to_string()).unwrap_or_default();
                crate::identity::visitor_id(salt, &site_id, &ip, &self.user_agent)
            }
        };
        let mut event = Event {
            visitor_id,
            site_id,
            r#type: self.event_type as i32,
            name: self.name,
            timestamp_ms: self.timestamp_ms,
            hostname,
            path,
            title: self.title,
            referrer: self.referrer,
            source: if self.is_app { Source::App } else { Source::Web } as i32,
            user_agent: self.user_agent,
            country: self.ip.map(|ip| countries.country(ip)).unwrap_or_default(),
            props: self.props,
            timing: self.timing,
            utm_source,
            utm_medium,
            utm_campaign,
            app_platform: self.app_platform,
            app_version: self.app_version,
            authenticated: self.authenticated,
            protocol: self.protocol as i32,
            received_ms: self.received_ms,
        };
        analytics_events::clean::sanitize(&mut event);
        event
    }
}

/// Custom properties as flat strings: at most [`limits::PROPS`] keys, each
/// key and value within its cap (a 4xx names the one that is not).
pub fn stringify_props(props: BTreeMap<String, serde_json::Value>) -> Result<BTreeMap<String, String>, Rejection> {
    if props.len() > limits::PROPS {
        return Err(invalid(format!("props: {} keys, at most {}", props.len(), limits::PROPS)));
    }
    props
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                    return Err(invalid(format!("props.{}: must be a string, number or boolean", key.escape_debug())));
                }
                other => other.to_string(),
            };
            if key.is_empty() || key.len() > limits::PROP_KEY {
                let shown = analytics_events::clean::truncate(&key, 40).escape_debug();
                return Err(invalid(format!(
                    "props: key \"{shown}\" is empty or longer than {} bytes",
                    limits::PROP_KEY
                )));
            }
            if value.len() > limits::PROP_VALUE {
                return Err(invalid(format!("props.{}: longer than {} bytes", key.escape_debug(), limits::PROP_VALUE)));
            }
            Ok((key, value))
        })
        .collect()
}
