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
    let schemas =
        ["Overview", "Chart", "TopPages", "TopCountries", "Breakdown", "Properties", "Goals", "Funnel", "Speed"];
    for schema in schemas.into_iter().chain(["Cleared", "ErrorBody"]) {
        assert!(spec["components"]["schemas"][schema].is_object(), "schema {schema}");
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    // Every dimension the spec's pattern lists is one the handler takes, and
    // no other; a custom property is `prop:` and its key.
    let breakdown = &spec["paths"]["/api/analytics/breakdown/"]["get"]["parameters"];
    let dimension = breakdown.as_array().expect("parameters").iter().find(|p| p["name"] == "dimension");
    let pattern = dimension.expect("a dimension parameter")["schema"]["pattern"].as_str().expect("a pattern");
    let alternatives = pattern.strip_prefix("^(").and_then(|p| p.strip_suffix(")$")).expect("^(a|b|...)$");
    let mut listed: Vec<String> = alternatives.split('|').map(str::to_owned).collect();
    assert_eq!(listed.pop().as_deref(), Some("prop:.+"), "{pattern}");
    assert!(listed.len() >= 15, "{listed:?}");
    for name in listed.iter().map(String::as_str).chain(["prop:plan", "nope", "prop:"]) {
        let url = format!("{}/api/analytics/breakdown/?site={}&dimension={name}", query.query_url, query.site_id);
        let status = query.http.get(url).bearer_auth(&query.token).send().await.expect("query reachable").status();
        assert_eq!(status, if ["nope", "prop:"].contains(&name) { 400 } else { 200 }, "dimension {name}");
    }
    query.stop().await;
}
