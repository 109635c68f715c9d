//! The aggregator counts a known mix exactly: every rollup row is compared
//! with its expected value (visitor sketches are exact at these sizes).

use std::time::Duration;

use analytics_events::{Event, EventBatch, EventType, Message, Source, Timing};
use analytics_testkit::eventually;

use crate::TestAggregator;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const PIXEL: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
const WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).expect("valid time").timestamp_millis()
}

struct Spec {
    at: &'static str,
    ua: &'static str,
    country: &'static str,
    path: &'static str,
    title: &'static str,
    visitor: u64,
}

fn event(site: &str, spec: Spec) -> Event {
    Event {
        site_id: site.to_owned(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: ms(spec.at),
        received_ms: ms(spec.at),
        hostname: "shop.example".into(),
        path: spec.path.into(),
        title: spec.title.into(),
        source: Source::Web as i32,
        user_agent: spec.ua.into(),
        country: spec.country.into(),
        visitor_id: spec.visitor,
        ..Default::default()
    }
}

fn batch(id: &str, events: Vec<Event>) -> Vec<u8> {
    EventBatch { batch_id: id.to_owned(), events }.encode_to_vec()
}

type DimensionRow = (String, String, String, String, i64, i64, i64);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_mix_is_counted_exactly_in_tehran_days() {
    let aggregator = TestAggregator::start("Asia/Tehran").await;
    let site = aggregator.site_id.clone();
    let domain = format!("{}.example", aggregator.namespace.name);
    // Tehran is UTC+3:30: 20:29 UTC is 23:59 on the 26th, 20:30 UTC is 00:00 on the 27th.
    let (t1, t2, t3, t4) =
        ("2026-11-26T20:29:00Z", "2026-11-26T20:30:00Z", "2026-11-26T20:45:00Z", "2026-11-26T21:40:00Z");
    let spec = |at, ua, country, path, title, visitor| Spec { at, ua, country, path, title, visitor };

    let mut e1 = event(&site, spec(t1, IPHONE, "IR", "/a", "A", 1));
    e1.referrer = "https://www.google.com/search?q=shop".into();
    e1.utm_source = "news".into();
    let e2 = event(&site, spec(t2, PIXEL, "DE", "/a", "A2", 2));
    let mut e3 = event(&site, spec(t3, WINDOWS, "US", "/b", "B", 3));
    e3.referrer = format!("https://{domain}/a");
    e3.timing = Some(Timing { response_ms: Some(120), ttfb_ms: Some(80), load_ms: Some(900), ..Default::default() });
    let e4 = event(&site, spec(t4, IPAD, "IR", "/b", "B", 1));
    let mut e5 = event(&site, spec(t4, "Dart/3.4 (dart:io)", "", "/home", "Home", 4));
    e5.r#type = EventType::ScreenView as i32;
    e5.source = Source::App as i32;
    e5.app_platform = "android".into();
    let mut e6 = event(&site, spec(t4, WINDOWS, "US", "/join", "", 3));
    e6.r#type = EventType::Custom as i32;
    e6.name = "signup".into();
    let bots = [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
        "curl/8.5.0",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "",
    ]
    .map(|ua| event(&site, spec(t4, ua, "US", "/b", "B", 9)));
    let stranger = event("00000000-0000-0000-0000-000000000000", spec(t4, WINDOWS, "US", "/", "", 9));

    let mut first = vec![e1, e2, e3, e4, e5, e6, stranger];
    first.extend(bots);
    let b1 = batch("01890000-0000-7000-8000-000000000001", first);
    aggregator.publish(&b1).await;
    aggregator.publish(&b1).await; // forced redelivery of an applied batch
    aggregator.publish(b"\x0a\xff not protobuf").await; // poison: dead-lettered, not blocking
    let e7 = event(&site, spec(t4, WINDOWS, "US", "/b", "B", 5));
    aggregator.publish(&batch("01890000-0000-7000-8000-000000000002", vec![e7])).await;

    let metric = |series: &'static str| aggregator.metric(series);
    eventually("both batches, the duplicate and the poison handled", Duration::from_secs(30), || async {
        let applied = metric("analytics_aggregator_batches_total{outcome=\"applied\"}").await;
        let duplicate = metric("analytics_aggregator_batches_total{outcome=\"duplicate\"}").await;
        let poison = metric("analytics_aggregator_batches_total{outcome=\"poison\"}").await;
        (applied == 2.0 && duplicate == 1.0 && poison == 1.0).then_some(())
    })
    .await;
    for (reason, n) in [
        ("crawler", 1.0),
        ("headless", 1.0),
        ("http_client", 1.0),
        ("uptime_monitor", 1.0),
        ("empty_user_agent", 1.0),
        ("unknown_site", 1.0),
    ] {
        let series = format!("analytics_aggregator_dropped_events_total{{reason=\"{reason}\"}}");
        assert_eq!(aggregator.metric(&series).await, n, "{reason}");
    }
    assert_eq!(metric("analytics_aggregator_events_total{outcome=\"counted\"}").await, 7.0);

    let db = aggregator.namespace.db().await;
    let site_id = uuid::Uuid::parse_str(&site).expect("uuid");
    let hourly: Vec<(String, i16, String, i64, i64, i64)> = db
        .query(
            "SELECT local_day::text, local_hour, source, pageviews, events, hll_cardinality(visitors)::int8
             FROM hourly_totals WHERE site_id = $1 ORDER BY 1, 2, 3",
            &[&site_id],
        )
        .await
        .expect("hourly")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    let day = |d: &str| d.to_owned();
    let src = |s: &str| s.to_owned();
    assert_eq!(
        hourly,
        vec![
            (day("2026-11-26"), 23, src("mobile_web"), 1, 0, 1),
            (day("2026-11-27"), 0, src("mobile_web"), 1, 0, 1),
            (day("2026-11-27"), 0, src("web"), 1, 0, 1),
            (day("2026-11-27"), 1, src("app"), 1, 0, 1),
            (day("2026-11-27"), 1, src("mobile_web"), 1, 0, 1),
            (day("2026-11-27"), 1, src("web"), 1, 1, 2),
        ]
    );
    // The daily totals the dashboard reads are the hourly rows, summed per day.
    let daily_sql = |table: &str| {
        format!(
            "SELECT local_day::text, source, sum(pageviews)::int8, sum(events)::int8,
                    hll_cardinality(hll_union_agg(visitors))::int8
             FROM {table} WHERE site_id = $1 GROUP BY 1, 2 ORDER BY 1, 2"
        )
    };
    let mut per_table = Vec::new();
    for table in ["hourly_totals", "daily_totals"] {
        let rows = db.query(&daily_sql(table), &[&site_id]).await.expect("daily");
        let rows: Vec<(String, String, i64, i64, i64)> =
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect();
        per_table.push(rows);
    }
    assert_eq!(per_table[0].len(), 4, "two days, four day-and-source rows");
    assert_eq!(per_table[0], per_table[1]);
    // And the monthly dimension rows are the daily ones, summed per month.
    let monthly_sql = |table: &str, day: &str| {
        format!(
            "SELECT date_trunc('month', {day})::date::text, dimension, source, value, sum(pageviews)::int8,
                    sum(events)::int8, hll_cardinality(hll_union_agg(visitors))::int8
             FROM {table} WHERE site_id = $1 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        )
    };
    let mut per_table = Vec::new();
    for (table, day) in [("daily_dimensions", "local_day"), ("monthly_dimensions", "month")] {
        let rows = db.query(&monthly_sql(table, day), &[&site_id]).await.expect("monthly");
        let rows: Vec<DimensionRow> =
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6))).collect();
        per_table.push(rows);
    }
    assert!(per_table[0].len() > 10, "{:?}", per_table[0]);
    assert_eq!(per_table[0], per_table[1]);
    // The ranking tables hold the same counts, a column per source.
    for (sketched, counted, day) in [
        ("daily_dimensions", "daily_dimension_counts", "local_day"),
        ("monthly_dimensions", "monthly_dimension_counts", "month"),
    ] {
        let per_source = format!(
            "SELECT {day}::text, dimension, s.source, value, s.pageviews, s.events FROM {counted},
                 LATERAL (VALUES ('web', pageviews_web, events_web),
                                 ('mobile_web', pageviews_mobile_web, events_mobile_web),
                                 ('app', pageviews_app, events_app)) AS s(source, pageviews, events)
             WHERE site_id = $1 AND s.pageviews + s.events > 0 ORDER BY 1, 2, 3, 4"
        );
        let expected = count_rows(
            &db,
            &format!(
                "SELECT {day}::text, dimension, source, value, pageviews, events FROM {sketched}
                 WHERE site_id = $1 ORDER BY 1, 2, 3, 4"
            ),
            site_id,
        )
        .await;
        assert!(expected.len() > 10, "{sketched}: {expected:?}");
        assert_eq!(count_rows(&db, &per_source, site_id).await, expected, "{counted} against {sketched}");
    }

    let dimensions: Vec<DimensionRow> = db
        .query(
            "SELECT local_day::text, source, dimension, value, pageviews, events, hll_cardinality(visitors)::int8
             FROM daily_dimensions WHERE site_id = $1 ORDER BY 1, 2, 3, 4",
            &[&site_id],
        )
        .await
        .expect("dimensions")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
        .collect();
    let row = |d: &str, s: &str, dim: &str, v: &str, pv: i64, ev: i64, vis: i64| {
        (d.to_owned(), s.to_owned(), dim.to_owned(), v.to_owned(), pv, ev, vis)
    };
    let (d26, d27) = ("2026-11-26", "2026-11-27");
    let expected: Vec<DimensionRow> = vec![
        row(d26, "mobile_web", "browser", "Mobile Safari", 1, 0, 1),
        row(d26, "mobile_web", "browser_version", "Mobile Safari 17", 1, 0, 1),
        row(d26, "mobile_web", "country", "IR", 1, 0, 1),
        row(d26, "mobile_web", "device", "mobile", 1, 0, 1),
        row(d26, "mobile_web", "os", "iOS", 1, 0, 1),
        row(d26, "mobile_web", "page", "/a", 1, 0, 1),
        row(d26, "mobile_web", "referrer", "google.com", 1, 0, 1),
        row(d26, "mobile_web", "referrer_source", "Google", 1, 0, 1),
        row(d26, "mobile_web", "utm_source", "news", 1, 0, 1),
        row(d27, "app", "browser", "Other", 1, 0, 1),
        row(d27, "app", "browser_version", "Other", 1, 0, 1),
        row(d27, "app", "country", "unknown", 1, 0, 1),
        row(d27, "app", "device", "mobile", 1, 0, 1),
        row(d27, "app", "os", "Android", 1, 0, 1),
        row(d27, "app", "page", "/home", 1, 0, 1),
        row(d27, "mobile_web", "browser", "Chrome Mobile", 1, 0, 1),
        row(d27, "mobile_web", "browser", "Mobile Safari", 1, 0, 1),
        row(d27, "mobile_web", "browser_version", "Chrome Mobile 126", 1, 0, 1),
        row(d27, "mobile_web", "browser_version", "Mobile Safari 17", 1, 0, 1),
        row(d27, "mobile_web", "country", "DE", 1, 0, 1),
        row(d27, "mobile_web", "country", "IR", 1, 0, 1),
        row(d27, "mobile_web", "device", "mobile", 1, 0, 1),
        row(d27, "mobile_web", "device", "tablet", 1, 0, 1),
        row(d27, "mobile_web", "os", "Android", 1, 0, 1),
        row(d27, "mobile_web", "os", "iOS", 1, 0, 1),
        row(d27, "mobile_web", "page", "/a", 1, 0, 1),
        row(d27, "mobile_web", "page", "/b", 1, 0, 1),
        row(d27, "web", "browser", "Chrome", 2, 1, 2),
        row(d27, "web", "browser_version", "Chrome 126", 2, 1, 2),
        row(d27, "web", "country", "US", 2, 1, 2),
        row(d27, "web", "device", "desktop", 2, 1, 2),
        row(d27, "web", "event", "signup", 0, 1, 1),
        row(d27, "web", "os", "Windows", 2, 1, 2),
        row(d27, "web", "page", "/b", 2, 0, 2),
        row(d27, "web", "page", "/join", 0, 1, 1),
    ];
    assert_eq!(dimensions, expected);

    let speed: Vec<(String, String, i64, i64, Vec<i64>)> = db
        .query(
            "SELECT metric, path, count, sum_ms, histogram FROM daily_speed WHERE site_id = $1 ORDER BY metric",
            &[&site_id],
        )
        .await
        .expect("speed")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let histogram = |ms: u32| {
        let mut h = vec![0i64; analytics_events::speed::bucket_of(ms) + 1];
        *h.last_mut().expect("bucket") = 1;
        h
    };
    assert_eq!(
        speed,
        vec![
            ("load_ms".to_owned(), "/b".to_owned(), 1, 900, histogram(900)),
            ("response_ms".to_owned(), "/b".to_owned(), 1, 120, histogram(120)),
            ("ttfb_ms".to_owned(), "/b".to_owned(), 1, 80, histogram(80)),
        ]
    );
    let summed = speed_rows(
        &db,
        "SELECT date_trunc('month', local_day)::date::text, metric, source, path, sum(count)::int8,
                sum(sum_ms)::int8, analytics_histogram_sum(histogram)
         FROM daily_speed WHERE site_id = $1 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        site_id,
    )
    .await;
    assert_eq!(summed.len(), 3);
    let monthly = "SELECT month::text, metric, source, path, count, sum_ms, histogram
                   FROM monthly_speed WHERE site_id = $1 ORDER BY 1, 2, 3, 4";
    assert_eq!(speed_rows(&db, monthly, site_id).await, summed);

    let titles: Vec<(String, String)> = db
        .query("SELECT path, title FROM page_titles WHERE site_id = $1 ORDER BY path", &[&site_id])
        .await
        .expect("titles")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let pair = |p: &str, t: &str| (p.to_owned(), t.to_owned());
    assert_eq!(titles, vec![pair("/a", "A2"), pair("/b", "B"), pair("/home", "Home")], "latest title by event time");

    let dead = {
        let amqp = analytics_store::amqp::amqp_connect(&aggregator.namespace.amqp, "test").await.expect("amqp");
        let channel = amqp.create_channel().await.expect("channel");
        analytics_store::amqp::queue_depth(
            &channel,
            &aggregator.namespace.amqp,
            &aggregator.namespace.amqp.dead_letter_queue(),
        )
        .await
        .expect("depth")
    };
    assert_eq!(dead, 1, "the poison message is in the dead-letter queue");
    aggregator.stop().await;
}

/// (period, dimension, source, value, pageviews, events) rows of `sql` for `site`.
async fn count_rows(
    db: &tokio_postgres::Client,
    sql: &str,
    site: uuid::Uuid,
) -> Vec<(String, String, String, String, i64, i64)> {
    let rows = db.query(sql, &[&site]).await.expect("count rows");
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))).collect()
}

/// (month, metric, source, path, count, sum, histogram) rows of `sql` for `site`.
async fn speed_rows(
    db: &tokio_postgres::Client,
    sql: &str,
    site: uuid::Uuid,
) -> Vec<(String, String, String, String, i64, i64, Vec<i64>)> {
    let rows = db.query(sql, &[&site]).await.expect("speed rows");
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6))).collect()
}

/// Histograms add bucket by bucket, the shorter one padded with zeros, in
/// each row's upsert (`analytics_histogram_add`) and over rows
/// (`analytics_histogram_sum`, whose step it is): whichever is longer, with
/// an empty or missing one, and with a NULL bucket counted as 0.
#[tokio::test]
async fn histograms_add_bucket_by_bucket() {
    let namespace = analytics_testkit::Namespace::create().await;
    let db = namespace.db().await;
    let add = |a: &'static str, b: &'static str| {
        let db = &db;
        async move {
            let sql = format!("SELECT analytics_histogram_add({a}::int8[], {b}::int8[])");
            let row = db.query_one(&sql, &[]).await.expect("histogram add");
            row.get::<_, Vec<i64>>(0)
        }
    };
    assert_eq!(add("'{1,2,3}'", "'{10,20}'").await, vec![11, 22, 3], "the second shorter");
    assert_eq!(add("'{1}'", "'{10,20,30}'").await, vec![11, 20, 30], "the first shorter");
    assert_eq!(add("'{}'", "'{0,5}'").await, vec![0, 5], "the first empty");
    assert_eq!(add("'{4,0,7}'", "'{}'").await, vec![4, 0, 7], "the second empty");
    assert_eq!(add("NULL", "'{2}'").await, vec![2], "the first missing");
    assert_eq!(add("'{2,3}'", "NULL").await, vec![2, 3], "the second missing");
    assert_eq!(add("'{NULL,3}'", "'{1}'").await, vec![1, 3], "a NULL bucket of the first");
    assert_eq!(add("'{1,NULL,4}'", "'{1,NULL}'").await, vec![2, 0, 4], "NULL buckets of both");
    assert_eq!(add("'{}'", "'{}'").await, Vec::<i64>::new(), "both empty");

    let summed: Vec<i64> = db
        .query_one(
            "SELECT analytics_histogram_sum(h) FROM (VALUES ('{1,2}'::int8[]), ('{0,0,0,9}'), ('{}'), ('{5}')) AS r(h)",
            &[],
        )
        .await
        .expect("histogram sum")
        .get(0);
    assert_eq!(summed, vec![6, 2, 0, 9]);
    // The aggregate's running sum is updated in place: the rows it read stay as they were.
    let rows: Vec<Vec<i64>> = db
        .query(
            "WITH r(i, h) AS (VALUES (1, '{1,2}'::int8[]), (2, '{3}'))
             SELECT h FROM r UNION ALL SELECT analytics_histogram_sum(h ORDER BY i) FROM r",
            &[],
        )
        .await
        .expect("rows and their sum")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(rows, vec![vec![1, 2], vec![3], vec![4, 2]]);
}
