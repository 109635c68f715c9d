//! Percentiles from the aggregator's timing histograms
//! (`analytics_events::speed::bucket_of`): a percentile read as the middle of
//! its bucket is within one bucket width (about 10%) of the true value.

use serde::Serialize;

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Summary {
    pub count: i64,
    pub avg_ms: Option<i64>,
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
}

impl Summary {
    pub fn new(count: i64, sum_ms: i64, histogram: &[i64]) -> Self {
        if count <= 0 {
            return Self { count: 0, avg_ms: None, p50_ms: None, p95_ms: None };
        }
        Self {
            count,
            avg_ms: Some((sum_ms as f64 / count as f64).round() as i64),
            p50_ms: percentile(histogram, 0.50),
            p95_ms: percentile(histogram, 0.95),
        }
    }
}

/// The middle of the bucket holding the `q` quantile.
pub fn percentile(histogram: &[i64], q: f64) -> Option<i64> {
    let total: i64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (bucket, n) in histogram.iter().enumerate() {
        seen += n;
        if seen >= rank {
            let (low, high) = analytics_events::speed::bucket_range(bucket);
            return Some(((low + high) / 2.0).round() as i64);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use analytics_events::speed::bucket_of;

    #[test]
    fn percentiles_land_within_one_bucket_of_the_truth() {
        // 1..=1000 ms, one each: p50 is 500, p95 is 950.
        let mut histogram = vec![0i64; bucket_of(1000) + 1];
        for ms in 1..=1000 {
            histogram[bucket_of(ms)] += 1;
        }
        for (q, truth) in [(0.50, 500.0), (0.95, 950.0)] {
            let estimate = percentile(&histogram, q).expect("value") as f64;
            assert!((estimate - truth).abs() <= truth * 0.1, "q{q}: {estimate} vs {truth}");
        }
        assert_eq!(Summary::new(0, 0, &[]), Summary { count: 0, avg_ms: None, p50_ms: None, p95_ms: None });
    }
}
