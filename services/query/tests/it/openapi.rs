//! The OpenAPI document describes exactly what the service serves.

use serde_json::Value;

use crate::TestQuery;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route() {
    let query = TestQuery::start().await;
    let spec: Value = query
        .http
        .get(format!("{}/openapi.json", query.query_url))
        .send()
        .await
        .expect("query reachable")
        .json()
        .await
        .expect("json");
    let mut documented: Vec<(String, String)> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().expect("operations").keys().map(move |method| (path.clone(), method.to_uppercase()))
        })
        .collect();
    documented.sort();
    let mut routes: Vec<(String, String)> =
        analytics_query::Endpoint::ALL.iter().map(|e| (e.path(), e.method().to_owned())).collect();
    routes.sort();
    assert_eq!(documented, routes);
    for schema in ["Overview", "Chart", "TopPages", "TopCountries", "Breakdown", "Speed", "Cleared", "ErrorBody"] {
        assert!(spec["components"]["schemas"][schema].is_object(), "schema {schema}");
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    // Every dimension the spec lists is one the handler takes, and no other.
    let breakdown = &spec["paths"]["/api/analytics/breakdown/"]["get"]["parameters"];
    let dimension = breakdown.as_array().expect("parameters").iter().find(|p| p["name"] == "dimension");
    let listed: Vec<String> = dimension.expect("a dimension parameter")["schema"]["enum"]
        .as_array()
        .expect("its values")
        .iter()
        .map(|v| v.as_str().expect("a name").to_owned())
        .collect();
    assert!(listed.len() >= 15, "{listed:?}");
    for name in listed.iter().map(String::as_str).chain(["nope"]) {
        let url = format!("{}/api/analytics/breakdown/?site={}&dimension={name}", query.query_url, query.site_id);
        let status = query.http.get(url).bearer_auth(&query.token).send().await.expect("query reachable").status();
        assert_eq!(status, if name == "nope" { 400 } else { 200 }, "dimension {name}");
    }
    query.stop().await;
}
