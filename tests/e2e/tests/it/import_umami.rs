//! `analytics-ctl import umami` on Umami's own tables (`analytics_e2e::legacy`),
//! filled by the test: sessions with Umami's browser, OS and device names,
//! pageviews and custom events over 20 days, several events sharing a
//! timestamp (so chunk boundaries fall inside ties), and another website's
//! events that must not come along. Per local day and page, country,
//! browser, source and event name, pageviews, events and visitors must equal
//! SQL over the source tables, across a run stopped part-way and its
//! continuation; a further run adds nothing.

use std::collections::BTreeMap;
use std::process::Command;

use analytics_e2e::{Namespace, binary};
use serde_json::Value;

const WEBSITE: &str = "6a1b0c0e-0000-4000-8000-00000000000a";
const OTHER_WEBSITE: &str = "6a1b0c0e-0000-4000-8000-00000000000b";
const EVENTS: i64 = 1_500;

/// (local day, dimension, value) -> (pageviews, events, visitors).
type Figures = BTreeMap<(String, String, String), (i64, i64, i64)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_umami_website_imports_exactly_once_with_its_stated_clients() {
    let namespace = Namespace::create().await;
    let db = namespace.db().await;
    let (site, _) = namespace.add_site("from-umami.example", "Asia/Tehran").await;
    db.batch_execute(analytics_e2e::legacy::UMAMI_DDL).await.expect("Umami's tables");
    fill(&db).await;

    let ctl = |args: &[&str]| {
        let output = Command::new(binary("analytics-ctl"))
            .args(["import", "umami", "--database-url", namespace.postgres.url(), "--website", WEBSITE])
            .args(["--site", &site])
            .args(args)
            .env("ANALYTICS__POSTGRES__URL", namespace.postgres.url())
            .env("ANALYTICS__IMPORT__UA_REGEXES", analytics_e2e::ua_regexes())
            // Small chunks: boundaries land inside runs of equal timestamps.
            .env("ANALYTICS__IMPORT__CHUNK_ROWS", "7")
            .env("ANALYTICS_CONFIG_DIR", "/nonexistent")
            .output()
            .expect("analytics-ctl runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).expect("json")
    };

    let months = ctl(&["--dry-run"]);
    let planned: i64 = months.as_array().expect("months").iter().map(|m| m["rows"].as_i64().expect("rows")).sum();
    assert_eq!(planned, EVENTS, "{months}");
    let first = ctl(&["--max-rows", "500"]);
    assert_eq!(first["rows_read"], 500, "{first}");
    let rest = ctl(&[]);
    assert_eq!(rest["rows_read"], EVENTS - 500, "{rest}");
    assert_eq!(first["counted"].as_i64().expect("n") + rest["counted"].as_i64().expect("n"), EVENTS, "{rest}");

    let expected = source_figures(&db).await;
    assert!(expected.keys().any(|k| k.1 == "source" && k.2 == "mobile_web"), "{expected:?}");
    assert_eq!(rollup_figures(&db, &site).await, expected);

    assert_eq!(ctl(&[])["rows_read"], 0);
    assert_eq!(rollup_figures(&db, &site).await, expected);
}

/// 40 sessions of the website (and 5 of another), 1,500 events of the
/// website in threes with one timestamp, every 15th a custom event.
async fn fill(db: &tokio_postgres::Client) {
    let clients = [
        ("chrome", "Windows 10", "desktop", "IR"),
        ("ios", "iOS", "mobile", "DE"),
        ("firefox", "Mac OS", "laptop", "US"),
        ("samsung", "Android OS", "tablet", "FR"),
        ("crios", "iOS", "mobile", ""),
    ];
    db.execute(
        "INSERT INTO session (session_id, website_id, browser, os, device, country)
         SELECT ('6a1b0c0e-0000-4000-9000-' || lpad(i::text, 12, '0'))::uuid,
                CASE WHEN i < 40 THEN $1::text::uuid ELSE $2::text::uuid END,
                ($3::text[])[1 + i % 5], ($4::text[])[1 + i % 5], ($5::text[])[1 + i % 5],
                nullif(($6::text[])[1 + i % 5], '')
         FROM generate_series(0, 44) AS i",
        &[
            &WEBSITE,
            &OTHER_WEBSITE,
            &clients.map(|c| c.0).to_vec(),
            &clients.map(|c| c.1).to_vec(),
            &clients.map(|c| c.2).to_vec(),
            &clients.map(|c| c.3).to_vec(),
        ],
    )
    .await
    .expect("sessions");
    db.execute(
        &format!(
            "INSERT INTO website_event (event_id, website_id, session_id, created_at, url_path, url_query,
                 referrer_domain, referrer_path, page_title, event_type, event_name)
             SELECT gen_random_uuid(), $1::text::uuid, ('6a1b0c0e-0000-4000-9000-' || lpad((i % 40)::text, 12, '0'))::uuid,
                    date_trunc('second', now()) - interval '1 hour' - (i / 3) * interval '19 minutes',
                    '/u/' || (i % 9), CASE WHEN i % 6 = 0 THEN 'utm_source=news&x=1' END,
                    CASE WHEN i % 4 = 0 THEN 'www.google.com' END, CASE WHEN i % 4 = 0 THEN '/search' END,
                    'Page ' || (i % 9), CASE WHEN i % 15 = 0 THEN 2 ELSE 1 END,
                    CASE WHEN i % 15 = 0 THEN 'signup' END
             FROM generate_series(0, {EVENTS} - 1) AS i
             UNION ALL
             SELECT gen_random_uuid(), $2::text::uuid, ('6a1b0c0e-0000-4000-9000-' || lpad((40 + i % 5)::text, 12, '0'))::uuid,
                    now() - i * interval '1 hour', '/elsewhere', NULL, NULL, NULL, NULL, 1, NULL
             FROM generate_series(0, 49) AS i"
        ),
        &[&WEBSITE, &OTHER_WEBSITE],
    )
    .await
    .expect("events");
}

async fn source_figures(db: &tokio_postgres::Client) -> Figures {
    let local_day = "(e.created_at AT TIME ZONE 'Asia/Tehran')::date::text";
    let browser = "CASE s.browser WHEN 'chrome' THEN 'Chrome' WHEN 'ios' THEN 'Mobile Safari' WHEN 'firefox'
                   THEN 'Firefox' WHEN 'samsung' THEN 'Samsung Internet' WHEN 'crios' THEN 'Chrome Mobile iOS' END";
    let source = "CASE WHEN s.device IN ('mobile', 'tablet') THEN 'mobile_web' ELSE 'web' END";
    let mut figures = Figures::new();
    for (dimension, value, only) in [
        ("page", "e.url_path", "true"),
        ("country", "coalesce(s.country, 'unknown')", "true"),
        ("browser", browser, "true"),
        ("source", source, "true"),
        ("event", "e.event_name", "e.event_type = 2"),
    ] {
        let sql = format!(
            "SELECT {local_day}, {value}, count(*) FILTER (WHERE e.event_type = 1),
                    count(*) FILTER (WHERE e.event_type <> 1), count(DISTINCT e.session_id)
             FROM website_event e JOIN session s USING (session_id)
             WHERE e.website_id = '{WEBSITE}' AND {only} GROUP BY 1, 2"
        );
        for row in db.query(&sql, &[]).await.expect("source figures") {
            figures.insert((row.get(0), dimension.to_owned(), row.get(1)), (row.get(2), row.get(3), row.get(4)));
        }
    }
    figures
}

async fn rollup_figures(db: &tokio_postgres::Client, site: &str) -> Figures {
    let site = uuid::Uuid::parse_str(site).expect("site id");
    let sums = "sum(pageviews)::int8, sum(events)::int8, round(hll_cardinality(hll_union_agg(visitors)))::int8";
    let queries = [
        format!(
            "SELECT local_day::text, dimension, value, {sums} FROM daily_dimensions
             WHERE site_id = $1 AND dimension IN ('page', 'country', 'browser', 'event') GROUP BY 1, 2, 3"
        ),
        format!("SELECT local_day::text, 'source', source, {sums} FROM daily_totals WHERE site_id = $1 GROUP BY 1, 3"),
    ];
    let mut figures = Figures::new();
    for sql in queries {
        for row in db.query(&sql, &[&site]).await.expect("rollup figures") {
            figures.insert((row.get(0), row.get(1), row.get(2)), (row.get(3), row.get(4), row.get(5)));
        }
    }
    figures
}
