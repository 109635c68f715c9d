//! Synthetic history for demos and benchmarks: a year (or any number of days)
//! of rollups for a busy site, written day by day through the same upsert
//! path as live batches ([`crate::apply::write_deltas`]), so the query service
//! can be measured over realistic table sizes in minutes rather than by
//! replaying hundreds of millions of events.

use analytics_events::{Dimension, TrafficSource};
use chrono::{Days, NaiveDate};
use uuid::Uuid;

use crate::partitions::Partitions;
use crate::rollup::{Counts, Deltas, DimensionKey, HourKey, SpeedKey};

#[derive(Debug, Clone)]
pub struct BackfillSpec {
    pub days: u32,
    pub pageviews_per_day: u64,
    pub pages: usize,
    pub countries: usize,
    pub visitors_per_day: u64,
}

/// Writes `spec.days` days ending with `last_day`; returns rollup rows written.
pub async fn backfill(
    pool: &analytics_store::PgPool,
    site_id: Uuid,
    last_day: NaiveDate,
    spec: &BackfillSpec,
) -> anyhow::Result<usize> {
    let partitions = Partitions::default();
    let mut rows = 0;
    for back in (0..spec.days).rev() {
        let day = last_day.checked_sub_days(Days::new(u64::from(back))).unwrap_or(last_day);
        let mut deltas = day_deltas(site_id, day, spec);
        rows += deltas.hourly.len() + deltas.dimensions.len() + deltas.speed.len();
        let mut client = pool.get().await?;
        partitions.ensure(&mut client, &[day]).await?;
        let transaction = client.transaction().await?;
        crate::apply::write_deltas(&transaction, &mut deltas).await?;
        transaction.commit().await?;
    }
    // As maintenance would on its next round: the weeks that are over, summed.
    let today = chrono::Utc::now().date_naive();
    let first_day = last_day.checked_sub_days(Days::new(u64::from(spec.days.saturating_sub(1)))).unwrap_or(last_day);
    let mut client = pool.get().await?;
    crate::weeks::seal_over(&mut client, today, first_day).await?;
    Ok(rows)
}

/// A deterministic generator (xorshift), so every run writes the same history.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const SOURCES: [(TrafficSource, f64); 3] =
    [(TrafficSource::Web, 0.55), (TrafficSource::MobileWeb, 0.35), (TrafficSource::App, 0.10)];
const BROWSERS: [&str; 8] =
    ["Chrome", "Mobile Safari", "Chrome Mobile", "Firefox", "Edge", "Safari", "Samsung Internet", "Opera"];
const SYSTEMS: [&str; 5] = ["Windows", "Android", "iOS", "Mac OS X", "Linux"];
const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];
const EVENTS: [&str; 3] = ["signup", "purchase", "download"];

/// Shares of `total` following Zipf's law over `n` values (popular first).
fn zipf(total: u64, n: usize) -> impl Iterator<Item = (usize, u64)> {
    let harmonic: f64 = (1..=n).map(|i| 1.0 / i as f64).sum();
    (0..n).map(move |i| (i, (total as f64 / ((i + 1) as f64 * harmonic)).round() as u64)).filter(|(_, v)| *v > 0)
}

fn day_deltas(site_id: Uuid, local_day: NaiveDate, spec: &BackfillSpec) -> Deltas {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15 ^ local_day.to_epoch_days() as u64);
    let mut deltas = Deltas::default();
    for (source, share) in SOURCES {
        let source = source.as_str();
        let pageviews = (spec.pageviews_per_day as f64 * share) as u64;
        let visitors = ((spec.visitors_per_day as f64 * share) as u64).max(1);
        // A visitor id from this day's pool; a sample of them per row builds the sketch.
        let mut sample = |n: u64| -> Vec<i64> {
            (0..n.min(30))
                .map(|_| (local_day.to_epoch_days() as i64) << 32 | (noise.next() % visitors) as i64)
                .collect()
        };
        for hour in 0..24i16 {
            let weight = 1.0 + (f64::from(hour - 3) / 24.0 * std::f64::consts::TAU).sin().abs();
            let counts = Counts {
                pageviews: (pageviews as f64 * weight / 30.0) as i64,
                events: 0,
                visitors: sample(200),
                ..Default::default()
            };
            deltas.hourly.insert(HourKey { site_id, local_day, local_hour: hour, source }, counts);
        }
        let mut dimension = |name: Dimension, value: String, pageviews: u64, events: u64, visitors: Vec<i64>| {
            let key = DimensionKey { site_id, period: local_day, dimension: name.as_str(), source, value };
            deltas.dimensions.insert(
                key,
                Counts { pageviews: pageviews as i64, events: events as i64, visitors, ..Default::default() },
            );
        };
        for (i, n) in zipf(pageviews, spec.pages) {
            dimension(Dimension::Page, format!("/page/{i}"), n, 0, sample(n / 3 + 1));
        }
        for (i, n) in zipf(pageviews, spec.countries) {
            let code = format!("{}{}", (b'A' + (i / 26) as u8) as char, (b'A' + (i % 26) as u8) as char);
            dimension(Dimension::Country, code, n, 0, sample(n / 3 + 1));
        }
        for (values, name) in
            [(&BROWSERS[..], Dimension::Browser), (&SYSTEMS[..], Dimension::Os), (&DEVICES[..], Dimension::Device)]
        {
            for (i, n) in zipf(pageviews, values.len()) {
                dimension(name, values[i].to_owned(), n, 0, sample(n / 3 + 1));
            }
        }
        for (i, n) in zipf(pageviews / 4, 40) {
            dimension(Dimension::Referrer, format!("site{i}.example"), n, 0, sample(n / 3 + 1));
        }
        for (i, n) in zipf(pageviews / 50, EVENTS.len()) {
            dimension(Dimension::Event, EVENTS[i].to_owned(), 0, n, sample(n / 3 + 1));
        }
    }
    for (i, n) in zipf(spec.pageviews_per_day, spec.pages).take(300) {
        let histogram = deltas
            .speed
            .entry(SpeedKey {
                site_id,
                local_day,
                metric: analytics_events::speed::LOAD_MS,
                source: TrafficSource::Web.as_str(),
                path: format!("/page/{i}"),
            })
            .or_default();
        for _ in 0..n.min(50) {
            histogram.add(400 + (noise.next() % 2000) as u32);
        }
    }
    for i in 0..spec.pages {
        deltas.titles.insert((site_id, format!("/page/{i}")), (0, format!("Page {i}")));
    }
    deltas.finish();
    deltas
}
