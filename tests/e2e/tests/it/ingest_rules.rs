//! Each site's rules (hostnames, excluded paths, guests only) and the bot
//! filter decide at ingest what counts; what does not is counted by reason.

use std::time::Duration;

use analytics_e2e::{Pipeline, eventually};
use analytics_store::sites::{RulesUpdate, add_site, update_rules};
use serde_json::json;

/// `GET {query}/api/analytics/{path}` with `token`, as JSON; `None` until it
/// succeeds (the query service learns of a new site's token within a second).
pub async fn query(pipeline: &Pipeline, path: &str, token: &str) -> Option<serde_json::Value> {
    let response = pipeline
        .http
        .get(format!("{}/api/analytics/{path}", pipeline.query_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("query reachable");
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// `(value, pageviews)` of a breakdown, sorted by value.
pub fn rows(breakdown: &serde_json::Value) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = breakdown["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["value"].as_str().expect("value").to_owned(), r["pageviews"].as_i64().expect("pageviews")))
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_rules_and_bots_decide_what_counts() {
    let pipeline = Pipeline::start("UTC").await;
    let db = pipeline.namespace.db().await;
    let domain = format!("rules-{}.example", pipeline.namespace.name);
    let (site, token) = add_site(&db, &domain, "UTC").await.expect("site");
    let site = site.id.to_string();
    assert_eq!(
        site_rules_json(&db, &site).await,
        json!([[], ["/admin/", "/api/admin/", "/static/", "/media/", "/__debug__/", "/silk/"], false])
    );
    update_rules(
        &db,
        &site,
        RulesUpdate {
            hostnames: Some(vec!["allowed.example".into()]),
            excluded_paths: Some(vec!["/private/".into()]),
            count_authenticated: Some(true),
            ..Default::default()
        },
    )
    .await
    .expect("rules");

    // Ingest learns of the new site (and its rules) on its first miss; a
    // probe on an excluded path shows when it has.
    let probe =
        json!({ "events": [{ "site": site, "type": "pageview", "url": "https://allowed.example/private/probe" }] });
    eventually("ingest knows the new site", Duration::from_secs(10), || async {
        let answer: serde_json::Value = pipeline.send(probe.clone(), false).await.json().await.ok()?;
        (answer["dropped"] == 1).then_some(())
    })
    .await;

    let page = |url: &str| json!({ "site": site, "type": "pageview", "url": url });
    let body = json!({ "events": [
        page("https://allowed.example/a"),
        page("https://shop.allowed.example/b"),
        page("https://other.example/c"),
        page("https://allowed.example/private/d"),
        page("https://allowed.example/admin/"),
        { "site": site, "type": "pageview", "url": "https://allowed.example/signed-in", "authenticated": true },
        { "site": site, "type": "pageview", "url": "https://allowed.example/bot", "user_agent": "Mozilla/5.0 (compatible; Googlebot/2.1)" },
        { "site": site, "type": "pageview", "url": "https://allowed.example/curl", "user_agent": "curl/8.5.0" },
    ]});
    let answer: serde_json::Value = pipeline.send(body, true).await.json().await.expect("json");
    assert_eq!((answer["accepted"].as_i64(), answer["dropped"].as_i64()), (Some(4), Some(4)), "{answer}");

    // The pipeline's own site keeps the defaults: admin pages and signed-in users are left out.
    let own = &pipeline.site_id;
    let defaults = json!({ "events": [
        { "site": own, "type": "pageview", "url": "https://x.example/admin/users" },
        { "site": own, "type": "pageview", "url": "https://x.example/static/app.js" },
        { "site": own, "type": "pageview", "url": "https://x.example/member", "authenticated": true },
        { "site": own, "type": "pageview", "url": "https://x.example/guest", "authenticated": false },
    ]});
    let answer: serde_json::Value = pipeline.send(defaults, false).await.json().await.expect("json");
    assert_eq!((answer["accepted"].as_i64(), answer["dropped"].as_i64()), (Some(1), Some(3)), "{answer}");

    let pages = eventually("the counted pages", Duration::from_secs(60), || async {
        let mut pages =
            rows(&query(&pipeline, &format!("breakdown/?site={site}&dimension=page&days=1"), &token).await?);
        // A probe sent while ingest still had the site's default rules (it
        // can read the new site before the rules change) was counted.
        pages.retain(|(page, _)| page != "/private/probe");
        (pages.iter().map(|(_, n)| n).sum::<i64>() == 4).then_some(pages)
    })
    .await;
    let expected = [("/a", 1), ("/admin/", 1), ("/b", 1), ("/signed-in", 1)];
    assert_eq!(pages, expected.map(|(p, n)| (p.to_owned(), n)).to_vec());

    let metric = |outcome: &str| format!("analytics_ingest_events_total{{outcome=\"{outcome}\"}}");
    let excluded = pipeline.metric(&pipeline.ingest_ops_url, &metric("excluded")).await;
    // Probes (at least one), other.example, /private/d, and the three defaults.
    assert!(excluded >= 6.0, "excluded {excluded}");
    assert_eq!(pipeline.metric(&pipeline.ingest_ops_url, &metric("bot")).await, 2.0);
    pipeline.stop().await;
}

async fn site_rules_json(db: &tokio_postgres::Client, site: &str) -> serde_json::Value {
    let site = analytics_store::sites::find_site(db, site).await.expect("query").expect("site");
    json!([site.rules.hostnames, site.rules.excluded_paths, site.rules.count_authenticated])
}
