//! The dashboard's endpoints, each with its path, method and handler in one
//! place: a new endpoint that is not given a handler does not compile.

use actix_web::{Route, web};

use super::{admin, app_versions, chart, funnel, goals, overview, properties, realtime, sites, speed, top};

/// Every dashboard endpoint, served at `/api/analytics/<path>/` (with or
/// without the trailing slash). The OpenAPI test checks the spec against
/// [`Endpoint::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Overview,
    Chart,
    TopPages,
    TopCountries,
    Breakdown,
    Properties,
    Goals,
    Funnel,
    Funnels,
    Speed,
    Realtime,
    AppVersions,
    Sites,
    ClearCache,
}

impl Endpoint {
    pub const ALL: [Endpoint; 14] = [
        Endpoint::Overview,
        Endpoint::Chart,
        Endpoint::TopPages,
        Endpoint::TopCountries,
        Endpoint::Breakdown,
        Endpoint::Properties,
        Endpoint::Goals,
        Endpoint::Funnel,
        Endpoint::Funnels,
        Endpoint::Speed,
        Endpoint::Realtime,
        Endpoint::AppVersions,
        Endpoint::Sites,
        Endpoint::ClearCache,
    ];

    /// The last segment of its path.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Overview => "overview",
            Endpoint::Chart => "chart",
            Endpoint::TopPages => "top-pages",
            Endpoint::TopCountries => "top-countries",
            Endpoint::Breakdown => "breakdown",
            Endpoint::Properties => "properties",
            Endpoint::Goals => "goals",
            Endpoint::Funnel => "funnel",
            Endpoint::Funnels => "funnels",
            Endpoint::Speed => "speed",
            Endpoint::Realtime => "realtime",
            Endpoint::AppVersions => "app-versions",
            Endpoint::Sites => "sites",
            Endpoint::ClearCache => "clear-cache",
        }
    }

    /// Its path, with the trailing slash the Django API it replaces had.
    pub fn path(self) -> String {
        format!("/api/analytics/{}/", self.name())
    }

    pub fn method(self) -> &'static str {
        match self {
            Endpoint::ClearCache => "POST",
            _ => "GET",
        }
    }

    /// The method and handler it is served by.
    pub fn route(self) -> Route {
        match self {
            Endpoint::Overview => web::get().to(overview::overview),
            Endpoint::Chart => web::get().to(chart::chart),
            Endpoint::TopPages => web::get().to(top::top_pages),
            Endpoint::TopCountries => web::get().to(top::top_countries),
            Endpoint::Breakdown => web::get().to(top::breakdown),
            Endpoint::Properties => web::get().to(properties::properties),
            Endpoint::Goals => web::get().to(goals::goals),
            Endpoint::Funnel => web::get().to(funnel::funnel),
            Endpoint::Funnels => web::get().to(funnel::saved),
            Endpoint::Speed => web::get().to(speed::speed),
            Endpoint::Realtime => web::get().to(realtime::realtime),
            Endpoint::AppVersions => web::get().to(app_versions::app_versions),
            Endpoint::Sites => web::get().to(sites::sites),
            Endpoint::ClearCache => web::post().to(admin::clear_cache),
        }
    }
}

/// Every dashboard path, with and without its trailing slash, and the spec.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for endpoint in Endpoint::ALL {
        let path = endpoint.path();
        let bare = path.trim_end_matches('/').to_owned();
        cfg.service(web::resource([bare, path]).route(endpoint.route()));
    }
    cfg.route("/openapi.json", web::get().to(crate::api::openapi_json));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_listed_once_under_a_path_of_its_own() {
        let mut paths: Vec<String> = Endpoint::ALL.iter().map(|e| e.path()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), Endpoint::ALL.len());
        // `ALL` is checked against the match arms: each variant maps back to itself.
        for (i, endpoint) in Endpoint::ALL.iter().enumerate() {
            assert_eq!(Endpoint::ALL.iter().position(|e| e == endpoint), Some(i));
        }
    }
}
