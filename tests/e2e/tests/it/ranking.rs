//! Top values are exact whatever the day of the month: ranked from month rows
//! as bounds and the exact counts of the few values that may place, they
//! equal a ranking of every value, even when a value's month is far bigger
//! than its days in the range.

use std::time::Duration;

use analytics_e2e::{BROWSER_USER_AGENT, Pipeline, eventually};
use analytics_events::{Event, EventBatch, EventType, Message, Source, Timing};
use chrono::{Datelike, Days, Months, NaiveDate, TimeZone, Utc};

use crate::query_api::{fresh, ok};

/// A web pageview of `path` at noon UTC on `on`.
fn noon_view(site: &str, on: NaiveDate, path: String, visitor: u64) -> Event {
    Event {
        site_id: site.to_owned(),
        r#type: EventType::Pageview as i32,
        timestamp_ms: Utc.from_utc_datetime(&on.and_hms_opt(12, 0, 0).expect("noon")).timestamp_millis(),
        received_ms: Utc::now().timestamp_millis(),
        path,
        source: Source::Web as i32,
        user_agent: BROWSER_USER_AGENT.into(),
        visitor_id: visitor,
        ..Default::default()
    }
}

/// One maintenance round with the default settings: the weeks that are over
/// get their week rows (`analytics_aggregator::weeks`).
async fn seal_weeks(pipeline: &Pipeline) {
    let settings: analytics_aggregator::Settings =
        analytics_config::from_defaults(analytics_aggregator::Settings::DEFAULTS).expect("defaults");
    let pool = analytics_store::pg_pool(&pipeline.namespace.postgres).expect("pool");
    analytics_aggregator::maintenance::run_once(&pool, &settings.aggregator).await.expect("maintenance");
}

/// Publishes pageviews (each one a pageview) and waits until all are counted.
async fn publish_and_count(pipeline: &Pipeline, events: Vec<Event>) {
    let total = events.len() as i64;
    pipeline.publish(&EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events }.encode_to_vec()).await;
    eventually("all counted", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == total).then_some(())
    })
    .await;
}

/// The first day of a closed month well inside retention: the one before last.
fn month_before_last() -> NaiveDate {
    let today = Utc::now().date_naive();
    today.with_day(1).and_then(|d| d.checked_sub_months(Months::new(2))).expect("a month")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_values_over_part_of_a_month_are_exact() {
    let pipeline = Pipeline::start("UTC").await;
    let first = month_before_last();
    let day = |n: u64| first + Days::new(n);
    let view = |on: NaiveDate, path: String, visitor: u64| Event {
        // Every view timed: speed ranks pages by timed views the same way.
        timing: Some(Timing { load_ms: Some(300), ..Default::default() }),
        ..noon_view(&pipeline.site_id, on, path, visitor)
    };
    let mut events = Vec::new();
    // Big in its month, small in the range (the 11th to the 20th).
    events.extend((0..50).map(|v| view(day(2), "/early".into(), v)));
    events.push(view(day(12), "/early".into(), 1));
    events.extend((0..6).map(|v| view(day(15), "/mid-b".into(), v)));
    events.extend((0..5).map(|v| view(day(15), "/mid-a".into(), v)));
    // Thirty pages tied at 2, more than the first round reads exactly.
    for page in 0..30 {
        events.extend((0..2).map(|v| view(day(11), format!("/f{page:02}"), v)));
    }
    publish_and_count(&pipeline, events).await;

    let site = &pipeline.site_id;
    let range = format!("from={}&to={}", day(10), day(19));
    let paths = |answer: &serde_json::Value| -> Vec<(String, i64)> {
        answer["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| (r["path"].as_str().unwrap_or_default().to_owned(), r["pageviews"].as_i64().unwrap_or(-1)))
            .collect()
    };
    let top3_answer = ok(&pipeline, &format!("top-pages/?site={site}&{range}&limit=3")).await;
    let top3 = paths(&top3_answer);
    assert_eq!(top3, [("/mid-b".to_owned(), 6), ("/mid-a".to_owned(), 5), ("/f00".to_owned(), 2)]);
    // Visitors too, of /f00 as well, which places without a top month bound
    // (its sketches are read after the ranking, not beside it).
    let visitors: Vec<i64> = top3_answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["visitors"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(visitors, [6, 5, 2]);
    let every = paths(&ok(&pipeline, &format!("top-pages/?site={site}&{range}&limit=100")).await);
    assert_eq!(every.len(), 33, "every page seen in the range, /early with its one pageview");
    assert_eq!(every[..3], top3[..], "the top three of a ranking of every value");
    assert_eq!(every.last(), Some(&("/early".to_owned(), 1)));
    // Speed's pages, ranked by timed views the same way.
    let speed = ok(&pipeline, &format!("speed/?site={site}&{range}&limit=3")).await;
    let mut timed: Vec<(String, i64)> = speed["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| (p["path"].as_str().unwrap_or_default().to_owned(), p["load_ms"]["count"].as_i64().unwrap_or(-1)))
        .collect();
    timed.sort();
    assert_eq!(timed, [("/f00".to_owned(), 2), ("/mid-a".to_owned(), 5), ("/mid-b".to_owned(), 6)]);
    // The whole month: /early first.
    let month = format!(
        "from={first}&to={}",
        first.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).expect("month end")
    );
    let month_top = paths(&ok(&pipeline, &format!("top-pages/?site={site}&{month}&limit=1")).await);
    assert_eq!(month_top, [("/early".to_owned(), 51)]);
    pipeline.stop().await;
}

/// A value whose month bound is far down the list still places when its
/// range counts are the highest: 600 pages, busy earlier in the month, rank
/// above it by their bounds, past the bounds the ranking reads one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_with_a_low_month_bound_still_places() {
    let pipeline = Pipeline::start("UTC").await;
    let first = month_before_last();
    let day = |n: u64| first + Days::new(n);
    let site = pipeline.site_id.clone();
    let mut events: Vec<Event> = (0..600)
        .flat_map(|page| (0..3).map(move |v| (page, v)))
        .map(|(page, v)| noon_view(&site, day(2), format!("/busy-earlier/{page}"), v))
        .collect();
    events.extend((0..2).map(|v| noon_view(&site, day(12), "/in-range".into(), v)));
    publish_and_count(&pipeline, events).await;
    let range = format!("from={}&to={}", day(10), day(19));
    let answer = ok(&pipeline, &format!("top-pages/?site={site}&{range}&limit=1")).await;
    let top: Vec<(&str, i64, i64)> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap_or_default(),
                r["pageviews"].as_i64().unwrap_or(-1),
                r["visitors"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(top, [("/in-range", 2, 2)]);
    pipeline.stop().await;
}

/// Ranges that start and end on every kind of boundary read every day once:
/// a month's last and first day, a Monday-to-Sunday week, a day when the
/// clocks change, Esfand's last day and Nowruz, a whole closed month, and this
/// month so far. Each endpoint's figures add up to the pageviews the test
/// sent on those local days, read from days and months, then again once the
/// weeks that are over have week rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_on_every_kind_of_boundary_count_each_day_once() {
    let pipeline = Pipeline::start("Europe/Berlin").await;
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
    let today = Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let mut days: Vec<NaiveDate> =
        ["2026-03-19", "2026-03-20", "2026-03-21", "2026-03-22"].iter().map(|s| d(s)).collect();
    days.extend(d("2026-10-24").iter_days().take_while(|day| *day <= d("2026-11-02")));
    days.extend(d("2026-11-29").iter_days().take_while(|day| *day <= d("2026-12-01")));
    days.push(today.with_day(1).expect("first"));
    days.push(today);
    days.sort();
    days.dedup();
    days.retain(|day| *day <= today);
    // A distinct number of pageviews per day, over three pages.
    let views_on = |day: NaiveDate| u64::from(day.ordinal() % 5) + 1;
    let page_of = |day: NaiveDate| format!("/p{}", day.day() % 3);
    let mut events = Vec::new();
    for day in &days {
        for visitor in 0..views_on(*day) {
            // Noon UTC is the same local day in Berlin, summer or winter.
            let at = Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).expect("noon"));
            events.push(Event {
                site_id: pipeline.site_id.clone(),
                r#type: EventType::Pageview as i32,
                timestamp_ms: at.timestamp_millis().min(Utc::now().timestamp_millis()),
                received_ms: Utc::now().timestamp_millis(),
                path: page_of(*day),
                source: Source::Web as i32,
                user_agent: BROWSER_USER_AGENT.into(),
                visitor_id: visitor,
                ..Default::default()
            });
        }
    }
    publish_and_count(&pipeline, events).await;

    let site = &pipeline.site_id;
    let ranges = [
        ("a month's last and first day", d("2026-10-31"), d("2026-11-01")),
        ("a whole closed month", d("2026-11-01"), d("2026-11-30")),
        ("a Monday-to-Sunday week", d("2026-10-26"), d("2026-11-01")),
        ("whole weeks and a day either side", d("2026-10-25"), d("2026-11-09")),
        ("the day the clocks went back", d("2026-10-25"), d("2026-10-25")),
        ("Esfand's last day and Nowruz", d("2026-03-20"), d("2026-03-21")),
        ("Esfand's last days", d("2026-03-01"), d("2026-03-20")),
        ("from March to November", d("2026-03-20"), d("2026-11-01")),
        ("this month so far", today.with_day(1).expect("first"), today),
    ];
    for ((what, from, to), sealed) in ranges.iter().map(|r| (*r, false)).chain(ranges.iter().map(|r| (*r, true))) {
        if sealed && what == ranges[0].0 {
            seal_weeks(&pipeline).await;
        }
        let what = format!("{what}{}", if sealed { ", weeks sealed" } else { "" });
        let expected: i64 = days.iter().filter(|day| (from..=to).contains(*day)).map(|day| views_on(*day) as i64).sum();
        let range = format!("site={site}&from={from}&to={to}");
        let sum = |answer: &serde_json::Value, key: &str| -> i64 {
            answer[key].as_array().expect(key).iter().map(|r| r["pageviews"].as_i64().unwrap_or(0)).sum()
        };
        let overview = fresh(&pipeline, &format!("overview/?{range}")).await;
        assert_eq!(overview["range"]["pageviews"], expected, "{what}: overview");
        let pages = fresh(&pipeline, &format!("top-pages/?{range}&limit=100")).await;
        assert_eq!(sum(&pages, "results"), expected, "{what}: top-pages");
        let browsers = fresh(&pipeline, &format!("breakdown/?{range}&dimension=browser")).await;
        assert_eq!(sum(&browsers, "results"), expected, "{what}: breakdown");
        for period in ["daily", "weekly", "monthly"] {
            for calendar in ["gregorian", "persian"] {
                let chart = fresh(&pipeline, &format!("chart/?{range}&period={period}&calendar={calendar}")).await;
                assert_eq!(sum(&chart, "points"), expected, "{what}: chart {period} {calendar}");
            }
        }
        // The top page alone: exact, whichever way the month rows bound it.
        let top = fresh(&pipeline, &format!("top-pages/?{range}&limit=1")).await;
        let best = pages["results"].as_array().and_then(|r| r.first()).map(|r| r["pageviews"].clone());
        assert_eq!(top["results"].as_array().and_then(|r| r.first()).map(|r| r["pageviews"].clone()), best, "{what}");
    }
    pipeline.stop().await;
}

/// Top pages, countries and browsers of the pipeline's site over each range.
async fn answers(pipeline: &Pipeline, ranges: &[(NaiveDate, NaiveDate)]) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for (from, to) in ranges {
        let range = format!("site={}&from={from}&to={to}", pipeline.site_id);
        for path in
            ["top-pages/?limit=5", "top-pages/?limit=100", "top-countries/?limit=2", "breakdown/?dimension=browser"]
        {
            all.push(fresh(pipeline, &format!("{path}&{range}")).await["results"].clone());
        }
    }
    all
}

/// Week rows are read where a range holds a whole sealed week, give the
/// answers the days gave, and stay the sum of their days when late events of
/// a sealed week arrive (and when their batch is delivered again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_weeks_answer_as_their_days_and_late_events_reach_them() {
    let pipeline = Pipeline::start("UTC").await;
    let site = pipeline.site_id.clone();
    let today = Utc::now().date_naive();
    let ago = |n: u64| today - Days::new(n);
    let view = |on: NaiveDate, path: String, country: &str, visitor: u64| Event {
        country: country.into(),
        ..noon_view(&site, on, path, visitor)
    };
    // Five to six weeks of days, each with its own mix of pages, countries and visitors.
    let mut events = Vec::new();
    for (i, day) in ago(45).iter_days().take_while(|d| *d <= ago(9)).enumerate() {
        for j in 0..(i % 4 + 1) {
            let country = ["IR", "DE", "US", "FR"][(i + j) % 4];
            events.push(view(day, format!("/p{}", (i * 7 + j) % 11), country, ((i * 5 + j) % 23) as u64));
        }
    }
    let pageviews = events.len() as i64;
    publish_and_count(&pipeline, events).await;

    let mondays: Vec<NaiveDate> = analytics_aggregator::weeks::monday_of(ago(52)).iter_weeks().take(7).collect();
    let mut ranges = vec![(ago(45), ago(9)), (ago(40), today), (mondays[2], mondays[5] - Days::new(1))];
    for from in [ago(44), mondays[1], mondays[2] + Days::new(3), today.with_day(1).expect("first") - Days::new(20)] {
        for to in [ago(9), mondays[5] - Days::new(1), mondays[5] + Days::new(2), today] {
            ranges.push((from.min(to), to));
        }
    }
    let from_days = answers(&pipeline, &ranges).await;
    seal_weeks(&pipeline).await;
    let db = pipeline.namespace.db().await;
    let site_id = uuid::Uuid::parse_str(&site).expect("uuid");
    let sealed: i64 =
        db.query_one("SELECT count(*) FROM sealed_weeks WHERE site_id = $1", &[&site_id]).await.expect("sealed").get(0);
    assert!(sealed >= 5, "the weeks that are over are sealed: {sealed}");
    assert_eq!(answers(&pipeline, &ranges).await, from_days, "week rows give what the days gave");

    // The week rows are what is read: a changed one changes the answer.
    let whole_weeks = format!("site={site}&from={}&to={}&limit=100", mondays[2], mondays[5] - Days::new(1));
    let p1 = |answer: serde_json::Value| {
        answer["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["path"] == "/p1")
            .map(|r| r["pageviews"].clone())
    };
    let before = p1(fresh(&pipeline, &format!("top-pages/?{whole_weeks}")).await).expect("/p1 in the weeks");
    db.execute(
        "UPDATE weekly_dimension_counts SET pageviews_web = pageviews_web + 1000 WHERE site_id = $1 AND value = '/p1'",
        &[&site_id],
    )
    .await
    .expect("spoil");
    assert_ne!(p1(fresh(&pipeline, &format!("top-pages/?{whole_weeks}")).await), Some(before.clone()));
    // Sealed again from their days, as a rebuild would.
    db.execute("DELETE FROM sealed_weeks WHERE site_id = $1", &[&site_id]).await.expect("unseal");
    seal_weeks(&pipeline).await;
    assert_eq!(answers(&pipeline, &ranges).await, from_days);

    // Late events of a sealed week, delivered twice: counted once, in the week too.
    let late =
        vec![view(mondays[3] + Days::new(2), "/late".into(), "IR", 900), view(mondays[3], "/p1".into(), "DE", 901)];
    let batch = EventBatch { batch_id: uuid::Uuid::now_v7().to_string(), events: late };
    pipeline.publish(&batch.encode_to_vec()).await;
    eventually("the late events counted", Duration::from_secs(30), || async {
        (pipeline.overview().await["total"]["pageviews"] == pageviews + 2).then_some(())
    })
    .await;
    pipeline.publish(&batch.encode_to_vec()).await;
    pipeline
        .wait_for_metric(&pipeline.aggregator_ops_url, "analytics_aggregator_batches_total{outcome=\"duplicate\"}", 1.0)
        .await;
    assert_eq!(pipeline.overview().await["total"]["pageviews"], pageviews + 2);
    let pages = fresh(&pipeline, &format!("top-pages/?{whole_weeks}")).await;
    assert_eq!(p1(pages.clone()), Some(serde_json::json!(before.as_i64().expect("count") + 1)));
    let late_row = pages["results"].as_array().expect("results").iter().find(|r| r["path"] == "/late").cloned();
    assert_eq!(late_row.map(|r| (r["pageviews"].clone(), r["visitors"].clone())), Some((1.into(), 1.into())));
    // Every week row is its days' sum: counts, and visitors by cardinality.
    for (weekly, daily, measures) in [
        (
            "weekly_dimensions",
            "daily_dimensions",
            "source, sum(pageviews)::int8 AS p, sum(events)::int8 AS e, hll_cardinality(hll_union_agg(visitors))::int8 AS v",
        ),
        (
            "weekly_dimension_counts",
            "daily_dimension_counts",
            "sum(pageviews_web)::int8 AS p, sum(events_web)::int8 AS e, sum(pageviews_mobile_web + pageviews_app)::int8 AS v",
        ),
    ] {
        let grouped = |table: &str, period: &str| {
            format!(
                "SELECT to_jsonb(x) FROM (SELECT {period} AS week, dimension, value, {measures} FROM {table} t
                 WHERE site_id = $1 AND {period} IN (SELECT week FROM sealed_weeks WHERE site_id = $1)
                 GROUP BY 1, 2, 3{} ORDER BY 1, 2, 3{}) x",
                if table.ends_with("dimensions") { ", source" } else { "" },
                if table.ends_with("dimensions") { ", source" } else { "" },
            )
        };
        let rows = |sql: String| {
            let db = &db;
            async move {
                db.query(&sql, &[&site_id])
                    .await
                    .expect("rows")
                    .iter()
                    .map(|r| r.get::<_, serde_json::Value>(0))
                    .collect::<Vec<_>>()
            }
        };
        let from_weeks = rows(grouped(weekly, "t.week")).await;
        let from_days = rows(grouped(daily, "date_trunc('week', t.local_day)::date")).await;
        assert!(from_weeks.len() > 20, "{weekly}: {}", from_weeks.len());
        assert_eq!(from_weeks, from_days, "{weekly} against {daily}");
    }
    pipeline.stop().await;
}
