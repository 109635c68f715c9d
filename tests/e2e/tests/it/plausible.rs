//! Plausible's tracker protocol, as its script sends it, through the whole pipeline.

use std::time::Duration;

use analytics_e2e::{Pipeline, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plausible_events_are_counted_per_site_with_their_paths() {
    let pipeline = Pipeline::start("UTC").await;
    let domain = format!("{}.example", pipeline.namespace.name);
    let db = pipeline.namespace.db().await;
    let (other, _) = analytics_store::sites::add_site(&db, "second.example", "UTC").await.expect("site");
    // The ingest's site list knows a new site on the first miss after its rate limit.
    let post = |body: String| {
        let request = pipeline
            .http
            .post(format!("{}/api/event", pipeline.ingest_url))
            .header("Content-Type", "text/plain")
            .body(body);
        async move { request.send().await.expect("ingest reachable") }
    };
    let pageview = post(format!(
        r#"{{"name":"pageview","url":"https://{domain}/blog?utm_source=news&id=7#top","domain":"{domain}","referrer":"https://www.google.com/"}}"#
    ))
    .await;
    assert_eq!(pageview.status(), 202);
    assert_eq!(pageview.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("*"));
    assert_eq!(pageview.text().await.expect("body"), "ok");
    let custom =
        post(format!(r#"{{"n":"signup","u":"https://{domain}/join","d":"{domain}","p":"{{\"plan\":\"pro\"}}"}}"#));
    assert_eq!(custom.await.status(), 202);
    let hashed = post(format!(r#"{{"n":"pageview","u":"https://{domain}/app#/settings","d":"{domain}","h":1}}"#));
    assert_eq!(hashed.await.status(), 202);
    // The tracker's time-on-page ping is answered and not counted.
    let engagement =
        post(format!(r#"{{"n":"engagement","u":"https://{domain}/blog","d":"{domain}","sd":40,"e":1200}}"#));
    assert_eq!(engagement.await.status(), 202);
    // One event, two sites (the second one created after start: found once the
    // site directory's rate limit allows a refresh, so retried until counted).
    let both = format!(r#"{{"n":"pageview","u":"https://{domain}/shared","d":"{domain}, second.example"}}"#);
    eventually("the second site counted", Duration::from_secs(10), || async {
        assert_eq!(post(both.clone()).await.status(), 202);
        let n: i64 = db
            .query_one(
                "SELECT coalesce(sum(pageviews), 0)::int8 FROM daily_dimensions WHERE site_id = $1 AND dimension = 'page'",
                &[&other.id],
            )
            .await
            .ok()?
            .get(0);
        (n >= 1).then_some(())
    })
    .await;
    let malformed = post("{not json".into()).await;
    assert_eq!(malformed.status(), 400);

    let site_id = uuid::Uuid::parse_str(&pipeline.site_id).expect("uuid");
    let pages = eventually("the first site's pages", Duration::from_secs(30), || async {
        let rows: Vec<(String, i64, i64)> = db
            .query(
                "SELECT value, sum(pageviews)::int8, sum(events)::int8 FROM daily_dimensions
                 WHERE site_id = $1 AND dimension = 'page' GROUP BY value ORDER BY value",
                &[&site_id],
            )
            .await
            .ok()?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        (rows.iter().any(|r| r.0 == "/shared") && rows.len() == 4).then_some(rows)
    })
    .await;
    let shared = pages.iter().find(|r| r.0 == "/shared").map(|r| r.1).expect("shared");
    assert!(shared >= 1);
    let fixed: Vec<(String, i64, i64)> = pages.into_iter().filter(|r| r.0 != "/shared").collect();
    let page = |p: &str, pv, ev| (p.to_owned(), pv, ev);
    assert_eq!(fixed, vec![page("/app#/settings", 1, 0), page("/blog", 1, 0), page("/join", 0, 1)]);
    let ignored = pipeline.metric(&pipeline.ingest_ops_url, "analytics_ingest_events_total{outcome=\"ignored\"}").await;
    assert_eq!(ignored, 1.0, "the engagement ping");
    let utm: i64 = db
        .query_one(
            "SELECT coalesce(sum(pageviews), 0)::int8 FROM daily_dimensions
             WHERE site_id = $1 AND dimension = 'utm_source' AND value = 'news'",
            &[&site_id],
        )
        .await
        .expect("utm")
        .get(0);
    assert_eq!(utm, 1);
    pipeline.stop().await;
}
