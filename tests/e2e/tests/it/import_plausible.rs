//! `analytics-ctl import plausible` on an export zip the test builds from
//! known daily figures: every table Plausible exports that has a place
//! here, one with its columns in another order, a file that is not a table,
//! names that differ from ours (Laptop, Microsoft Edge, Mac, GNU/Linux),
//! regions of one country, direct traffic, a NUL byte in a page. Per day,
//! dimension and value, the rollups must hold the exported pageviews,
//! events and visitors, and the day's visits; across a run stopped
//! part-way and its continuation, a further run, and a later export that
//! overlaps the first (only its new days are added).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;

use analytics_e2e::{Pipeline, binary};
use chrono::{Duration, NaiveDate, Utc};
use serde_json::Value;

/// (day, dimension, value) -> (pageviews, events, visitors).
type Figures = BTreeMap<(String, String, String), (i64, i64, i64)>;

/// One day of a site's traffic, as Plausible would export it.
struct Day {
    date: NaiveDate,
    visitors: i64,
    visits: i64,
    bounces: i64,
    duration_s: i64,
    /// (page, pageviews, visitors)
    pages: Vec<(&'static str, i64, i64)>,
}

impl Day {
    /// The `i`th day: figures that differ from day to day.
    fn nth(date: NaiveDate, i: i64) -> Self {
        Day {
            date,
            visitors: 40 + i,
            visits: 50 + i,
            bounces: 20 + i % 3,
            duration_s: 3_000 + 17 * i,
            pages: vec![("/", 60 + i, 35 + i), ("/pricing", 20 + i % 4, 12), ("/blog/caf\u{0}é", 7, 5)],
        }
    }

    fn pageviews(&self) -> i64 {
        self.pages.iter().map(|p| p.1).sum()
    }

    /// Other tables' rows split the day's pageviews and visitors.
    fn split(&self, shares: &[i64]) -> Vec<(i64, i64)> {
        let total: i64 = shares.iter().sum();
        let mut left = (self.pageviews(), self.visitors);
        let mut parts = Vec::new();
        for (i, share) in shares.iter().enumerate() {
            let part = match i + 1 == shares.len() {
                true => left,
                false => (self.pageviews() * share / total, self.visitors * share / total),
            };
            left = (left.0 - part.0, left.1 - part.1);
            parts.push(part);
        }
        parts
    }
}

/// The CSV files of an export of `days`, with what each should count as.
fn export(days: &[Day]) -> (Vec<(String, String)>, Figures) {
    let (from, to) = (days[0].date.format("%Y%m%d"), days[days.len() - 1].date.format("%Y%m%d"));
    let mut files: BTreeMap<&str, String> = BTreeMap::new();
    let mut expected = Figures::new();
    let mut visits = Vec::new();
    let mut add = |day: &Day, dimension: &str, value: &str, figures: (i64, i64, i64)| {
        let sum = expected.entry((day.date.to_string(), dimension.to_owned(), value.to_owned())).or_default();
        *sum = (sum.0 + figures.0, sum.1 + figures.1, (sum.2 + figures.2).min(day.visitors));
    };
    let mut row = |table: &'static str, header: &str, line: String| {
        let file = files.entry(table).or_insert_with(|| format!("{header}\n"));
        file.push_str(&line);
        file.push('\n');
    };
    for day in days {
        let date = day.date;
        let (pageviews, visitors) = (day.pageviews(), day.visitors);
        row(
            "visitors",
            "date,visitors,pageviews,bounces,visits,visit_duration",
            format!("{date},{visitors},{pageviews},{},{},{}", day.bounces, day.visits, day.duration_s),
        );
        add(day, "total", "web", (pageviews, 6, visitors));
        for (page, views, who) in &day.pages {
            // Columns in another order than Plausible writes them.
            row(
                "pages",
                "pageviews,date,page,hostname,visitors,visits,scroll_depth,pageleave_visitors",
                format!("{views},{date},\"{page}\",example.com,{who},{who},,0"),
            );
            add(day, "page", &page.replace('\0', ""), (*views, 0, *who));
        }
        let shares = day.split(&[5, 3, 2]);
        for ((country, region), (views, who)) in [("EE", "EE-37"), ("EE", "EE-39"), ("", "")].into_iter().zip(&shares) {
            row(
                "locations",
                "date,country,region,city,visitors,visits,visit_duration,bounces,pageviews",
                format!("{date},{country},{region},0,{who},{who},0,0,{views}"),
            );
            add(day, "country", if country.is_empty() { "unknown" } else { country }, (*views, 0, *who));
        }
        for ((device, ours), (views, who)) in
            [("Desktop", "desktop"), ("Laptop", "desktop"), ("Mobile", "mobile")].into_iter().zip(&shares)
        {
            row(
                "devices",
                "date,device,visitors,visits,visit_duration,bounces,pageviews",
                format!("{date},{device},{who},{who},0,0,{views}"),
            );
            add(day, "device", ours, (*views, 0, *who));
        }
        for ((browser, version, ours), (views, who)) in
            [("Chrome", "126.0.1", "Chrome"), ("Chrome", "125.0", "Chrome"), ("Microsoft Edge", "126.0", "Edge")]
                .into_iter()
                .zip(&shares)
        {
            row(
                "browsers",
                "date,browser,browser_version,visitors,visits,visit_duration,bounces,pageviews",
                format!("{date},{browser},{version},{who},{who},0,0,{views}"),
            );
            add(day, "browser", ours, (*views, 0, *who));
            let major = version.split('.').next().expect("a major version");
            add(day, "browser_version", &format!("{ours} {major}"), (*views, 0, *who));
        }
        for ((os, ours), (views, who)) in
            [("Mac", "Mac OS X"), ("GNU/Linux", "Linux")].into_iter().zip(&day.split(&[2, 1]))
        {
            row(
                "operating_systems",
                "date,operating_system,operating_system_version,visitors,visits,visit_duration,bounces,pageviews",
                format!("{date},{os},14,{who},{who},0,0,{views}"),
            );
            add(day, "os", ours, (*views, 0, *who));
        }
        let sources = [
            ("Google", "google.com", ["", "", ""]),
            ("Direct / None", "", ["", "", ""]),
            ("Hacker News", "news.ycombinator.com/item?id=1", ["hn", "social", "launch"]),
        ];
        for ((source, referrer, utm), (views, who)) in sources.into_iter().zip(&shares) {
            row(
                "sources",
                "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces",
                format!("{date},{source},{referrer},{},{},{},,,{views},{who},{who},0,0", utm[0], utm[1], utm[2]),
            );
            if source != "Direct / None" {
                add(day, "referrer_source", source, (*views, 0, *who));
                add(day, "referrer", referrer.split('/').next().expect("a host"), (*views, 0, *who));
            }
            for (dimension, value) in ["utm_source", "utm_medium", "utm_campaign"].into_iter().zip(utm) {
                if !value.is_empty() {
                    add(day, dimension, value, (*views, 0, *who));
                }
            }
        }
        row("custom_events", "date,name,link_url,path,visitors,events", format!("{date},signup,,,4,6"));
        add(day, "event", "signup", (0, 6, 4));
        row(
            "entry_pages",
            "date,entry_page,visitors,entrances,visit_duration,bounces,pageviews",
            format!("{date},/,1,{},0,0,0", day.visits),
        );
        row(
            "exit_pages",
            "date,exit_page,visitors,visit_duration,exits,bounces,pageviews",
            format!("{date},/pricing,1,0,{},0,0", day.visits),
        );
        // Visits, bounces and their duration in ms: not visitors, so not capped.
        let figures = (day.visits, day.bounces, day.duration_s * 1000);
        visits.push(((date.to_string(), "visits".to_owned(), "web".to_owned()), figures));
        add(day, "entry", "/", (day.visits, 0, 0));
        add(day, "exit", "/pricing", (day.visits, 0, 0));
    }
    expected.extend(visits);
    let mut named: Vec<(String, String)> =
        files.into_iter().map(|(table, csv)| (format!("imported_{table}_{from}_{to}.csv"), csv)).collect();
    named.push((format!("imported_goals_{from}_{to}.csv"), "date,goal\n".into()));
    (named, expected)
}

/// A zip file of `files`, removed when dropped.
struct Zip(std::path::PathBuf);

impl Zip {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Zip {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn zip_of(files: &[(String, String)]) -> Zip {
    let path = std::env::temp_dir().join(format!("plausible-export-{}.zip", uuid::Uuid::new_v4()));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("a zip file"));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, csv) in files {
        zip.start_file(name.as_str(), options).expect("a zip entry");
        zip.write_all(csv.as_bytes()).expect("written");
    }
    zip.finish().expect("a zip");
    Zip(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plausible_export_imports_its_daily_figures_once() {
    let pipeline = Pipeline::start("Europe/Berlin").await;
    let namespace = &pipeline.namespace;
    let db = namespace.db().await;
    let site = pipeline.site_id.clone();
    let today = Utc::now().date_naive();
    let days: Vec<Day> = (0..14).map(|i| Day::nth(today - Duration::days(28 - i), i)).collect();
    let (files, expected) = export(&days);
    let zip = zip_of(&files);
    let rows_per_day = files.iter().map(|(_, csv)| csv.lines().count() as i64 - 1).sum::<i64>() / 14;

    let ctl = |zip: &std::path::Path, args: &[&str]| {
        let output = import_command(namespace, &site, zip)
            .args(args)
            // About a day per transaction.
            .env("ANALYTICS__IMPORT__CHUNK_ROWS", rows_per_day.to_string())
            .output()
            .expect("analytics-ctl runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).expect("json")
    };

    let months = ctl(zip.path(), &["--dry-run"]);
    let planned: i64 = months.as_array().expect("months").iter().map(|m| m["rows"].as_i64().expect("rows")).sum();
    assert_eq!(planned, rows_per_day * 14, "{months}");
    // Fewer rows than a day holds: one whole day, and the run stops there.
    let one = ctl(zip.path(), &["--max-rows", "1"]);
    assert_eq!(one["rows_read"], rows_per_day, "one whole day: {one}");
    let first = ctl(zip.path(), &["--max-rows", &(rows_per_day * 4).to_string()]);
    assert_eq!(first["rows_read"], rows_per_day * 4, "four whole days: {first}");
    let rest = ctl(zip.path(), &[]);
    assert_eq!(rest["rows_read"], rows_per_day * 9, "{rest}");
    let counted: i64 = days.iter().map(|d| d.pageviews() + 6).sum();
    let runs = [&one, &first, &rest];
    assert_eq!(runs.iter().map(|r| r["counted"].as_i64().expect("n")).sum::<i64>(), counted);
    assert_eq!(rollup_figures(&db, &site).await, expected);

    // Again: nothing left, nothing added.
    assert_eq!(ctl(zip.path(), &[])["rows_read"], 0);
    assert_eq!(rollup_figures(&db, &site).await, expected);

    // A later export overlapping the first: only its days after the last
    // one applied count.
    let later: Vec<Day> = (10..18).map(|i| Day::nth(today - Duration::days(28 - i), 50 + i)).collect();
    let (later_files, later_expected) = export(&later);
    let later_run = ctl(zip_of(&later_files).path(), &[]);
    assert_eq!(later_run["rows_read"], rows_per_day * 4, "days 14 to 17 only: {later_run}");
    let mut both = expected.clone();
    let first_new = later[4].date.to_string();
    both.extend(later_expected.into_iter().filter(|(k, _)| k.0 >= first_new));
    assert_eq!(rollup_figures(&db, &site).await, both);

    // The overview: imported days named, and the range's figures.
    let overview = pipeline.overview().await;
    let imported = &overview["imported"][0];
    assert_eq!(imported["source"], "plausible", "{overview}");
    assert_eq!(imported["first_day"], days[0].date.to_string(), "{overview}");
    assert_eq!(imported["last_day"], later[7].date.to_string(), "{overview}");
    let all_days: Vec<&Day> = days.iter().chain(&later[4..]).collect();
    let total = &overview["range"];
    assert_eq!(total["pageviews"], all_days.iter().map(|d| d.pageviews()).sum::<i64>(), "{overview}");
    assert_eq!(total["visits"], all_days.iter().map(|d| d.visits).sum::<i64>(), "{overview}");
    // A range's visitors are the days' summed (an HLL estimate over them).
    let visitors: i64 = all_days.iter().map(|d| d.visitors).sum();
    let estimate = total["visitors"].as_i64().expect("visitors");
    assert!((estimate - visitors).abs() * 100 <= visitors * 6, "{estimate} against {visitors}");

    // Its days have figures but no events: a rebuild would erase them, so it is refused.
    let day = days[3].date;
    let (rebuilt, _, err) = crate::rebuild::rebuild(namespace.postgres.url(), &site, day, day);
    assert!(!rebuilt && err.contains("imported from Plausible"), "{err}");
    assert_eq!(rollup_figures(&db, &site).await, both);
    pipeline.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_an_export_is_refused_by_name() {
    let namespace = analytics_e2e::Namespace::create().await;
    let (site, _) = namespace.add_site("not-an-export.example", "UTC").await;
    let run = |zip: &std::path::Path| import_command(&namespace, &site, zip).output().expect("analytics-ctl runs");
    let not_zip = Zip(std::env::temp_dir().join(format!("plausible-not-a-zip-{}.csv", uuid::Uuid::new_v4())));
    std::fs::write(not_zip.path(), "date,visitors\n").expect("written");
    let empty = zip_of(&[("notes.txt".into(), "hello".into())]);
    let bad_count = zip_of(&[(
        "imported_visitors_20260101_20260101.csv".into(),
        "date,visitors,pageviews,bounces,visits,visit_duration\n2026-01-01,-5,1,0,1,0\n".into(),
    )]);
    let missing_column =
        zip_of(&[("imported_pages_20260101_20260101.csv".into(), "date,page,visitors\n2026-01-01,/,1\n".into())]);
    for (file, says) in [
        (not_zip.path(), "not a zip archive"),
        (empty.path(), "no table of Plausible's CSV export"),
        (bad_count.path(), "visitors: -5"),
        (missing_column.path(), "no column \"pageviews\""),
    ] {
        let output = run(file);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(says), "{says}: {stderr}");
    }
    let figures = namespace.db().await.query_one("SELECT count(*) FROM daily_totals", &[]).await.expect("count");
    assert_eq!(figures.get::<_, i64>(0), 0, "nothing applied");
}

/// `analytics-ctl import plausible` of `zip` into `site` of the namespace.
fn import_command(namespace: &analytics_e2e::Namespace, site: &str, zip: &std::path::Path) -> Command {
    let mut command = Command::new(binary("analytics-ctl"));
    command
        .args(["import", "plausible", "--site", site, "--zip"])
        .arg(zip)
        .env("ANALYTICS__POSTGRES__URL", namespace.postgres.url())
        .env("ANALYTICS__IMPORT__UA_REGEXES", analytics_e2e::ua_regexes())
        .env("ANALYTICS_CONFIG_DIR", "/nonexistent");
    command
}

/// What the rollups hold for `site`, in the shape of [`Figures`]: dimension
/// rows, daily totals (`total`), visits (`visits`: visits, bounces,
/// duration in ms) and entry and exit pages.
async fn rollup_figures(db: &tokio_postgres::Client, site: &str) -> Figures {
    let site = uuid::Uuid::parse_str(site).expect("site id");
    let sums = "sum(pageviews)::int8, sum(events)::int8, round(hll_cardinality(hll_union_agg(visitors)))::int8";
    let queries = [
        format!(
            "SELECT local_day::text, dimension, value, {sums} FROM daily_dimensions WHERE site_id = $1 GROUP BY 1, 2, 3"
        ),
        format!("SELECT local_day::text, 'total', source, {sums} FROM daily_totals WHERE site_id = $1 GROUP BY 1, 3"),
        "SELECT local_day::text, 'visits', source, visits, bounces, duration_ms FROM daily_visits WHERE site_id = $1"
            .to_owned(),
        "SELECT local_day::text, kind, page, visits, 0::int8, 0::int8 FROM daily_visit_pages WHERE site_id = $1"
            .to_owned(),
    ];
    let mut figures = Figures::new();
    for sql in queries {
        for row in db.query(&sql, &[&site]).await.expect("rollup figures") {
            figures.insert((row.get(0), row.get(1), row.get(2)), (row.get(3), row.get(4), row.get(5)));
        }
    }
    figures
}
