//! The dashboard API only opens a site to that site's token.

use std::time::Duration;

use analytics_testkit::eventually;

use crate::TestQuery;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_needs_the_sites_own_token() {
    let query = TestQuery::start().await;
    let client = query.namespace.db().await;
    let (other, other_token) = analytics_store::sites::add_site(&client, "other.example", "UTC").await.expect("site");
    // A site created after start is found on a miss once the directory's
    // refresh rate limit (1 s) allows; poll rather than sleep.
    let url = |site: &str| format!("{}/api/analytics/overview?site={site}", query.query_url);
    let get = |site: String, token: Option<String>| {
        let mut request = query.http.get(url(&site));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.expect("query reachable") }
    };

    let no_token = get(query.site_id.clone(), None).await;
    assert_eq!(no_token.status(), 401);
    let body: serde_json::Value = no_token.json().await.expect("json error");
    assert!(body["error"].as_str().expect("error text").contains("token"));

    assert_eq!(get(query.site_id.clone(), Some("ak_wrong".into())).await.status(), 401);
    let status = eventually("the new site's token known", Duration::from_secs(5), || async {
        let status = get(query.site_id.clone(), Some(other_token.clone())).await.status();
        (status != 401).then_some(status)
    })
    .await;
    assert_eq!(status, 403);
    assert_eq!(get(other.id.to_string(), Some(other_token.clone())).await.status(), 200);
    assert_eq!(get("other.example".into(), Some(other_token.clone())).await.status(), 200, "by domain");
    assert_eq!(get("nope.example".into(), Some(other_token)).await.status(), 404);

    let missing = query.http.get(format!("{}/api/analytics/overview/", query.query_url)).bearer_auth(&query.token);
    let missing = missing.send().await.expect("query reachable");
    assert_eq!(missing.status(), 400);
    let body: serde_json::Value = missing.json().await.expect("json error");
    assert!(body["error"].as_str().expect("error text").starts_with("site:"));
    query.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_may_call_only_from_the_allowed_origin() {
    let query = TestQuery::start().await;
    let url = format!("{}/api/analytics/overview/?site={}", query.query_url, query.site_id);
    let preflight = |origin: &'static str| {
        let request = query
            .http
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization");
        async move { request.send().await.expect("query reachable") }
    };
    let allowed = preflight(analytics_testkit::PANEL_ORIGIN).await;
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some(analytics_testkit::PANEL_ORIGIN)
    );
    let refused = preflight("http://elsewhere.test").await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    query.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_opens_every_site_and_lists_them() {
    let query = TestQuery::start().await;
    let (other, other_token) = query.namespace.add_site("other.example", "Asia/Tehran").await;
    let get = |path: String, token: &str| {
        let request = query.http.get(format!("{}/api/analytics/{path}", query.query_url)).bearer_auth(token);
        async move { request.send().await.expect("query reachable") }
    };
    let admin = analytics_testkit::TEST_ADMIN_TOKEN;
    for site in [query.site_id.clone(), other.clone(), "other.example".to_owned()] {
        let status = eventually("the new site known", Duration::from_secs(5), || async {
            let status = get(format!("overview/?site={site}"), admin).await.status();
            (status != 404).then_some(status)
        })
        .await;
        assert_eq!(status, 200, "the admin reads {site}");
    }
    assert_eq!(get("overview/?site=nope.example".into(), admin).await.status(), 404);

    let listed: serde_json::Value = get("sites/".into(), admin).await.json().await.expect("json");
    let mut expected = vec![
        serde_json::json!({ "id": query.site_id, "domain": format!("{}.example", query.namespace.name), "timezone": "UTC" }),
        serde_json::json!({ "id": other, "domain": "other.example", "timezone": "Asia/Tehran" }),
    ];
    expected.sort_by_key(|s| s["domain"].as_str().unwrap_or_default().to_owned());
    assert_eq!(listed, serde_json::Value::Array(expected));
    assert_eq!(get("sites/".into(), &other_token).await.status(), 403, "a site's token is no admin");
    assert_eq!(get("sites/".into(), "nope").await.status(), 401);
    query.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_gets_429_and_other_tokens_do_not() {
    let query = TestQuery::start_with(|settings| {
        settings.query.rate_limit_per_second = 0.01;
        settings.query.rate_limit_burst = 3.0;
    })
    .await;
    let get = |token: &str| {
        let request = query.http.get(format!("{}/api/analytics/overview/?site={}", query.query_url, query.site_id));
        let request = request.bearer_auth(token);
        async move { request.send().await.expect("query reachable") }
    };
    for _ in 0..3 {
        assert_eq!(get(&query.token).await.status(), 200, "within the burst");
    }
    let limited = get(&query.token).await;
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!(wait >= 1, "Retry-After {wait}");
    // Each token has its own bucket: the admin's is untouched.
    assert_eq!(get(analytics_testkit::TEST_ADMIN_TOKEN).await.status(), 200);
    let metrics = query.http.get(format!("{}/metrics", query.query_ops_url)).send().await.expect("ops reachable");
    let metrics = metrics.text().await.expect("metrics text");
    assert!(metrics.contains("analytics_query_rate_limited_requests_total 1"), "{metrics}");
    query.stop().await;
}
