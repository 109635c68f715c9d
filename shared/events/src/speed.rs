//! The speed metrics an event's [`Timing`] carries, named once: the
//! aggregator stores a histogram per name, the query service reports them.

use crate::Timing;

/// Server response time, reported by a backend for its own requests.
pub const RESPONSE_MS: &str = "response_ms";
/// Time to first byte, measured by the browser.
pub const TTFB_MS: &str = "ttfb_ms";
/// Page load time (the load event), measured by the browser.
pub const LOAD_MS: &str = "load_ms";
/// Web vitals, from Umami's tracker with `data-performance`.
pub const LCP_MS: &str = "lcp_ms";
pub const FCP_MS: &str = "fcp_ms";
pub const INP_MS: &str = "inp_ms";
/// Cumulative layout shift times 1000 (the score is a small fraction).
pub const CLS_THOUSANDTHS: &str = "cls_thousandths";

/// Every metric, in the order dashboards list them.
pub const METRICS: [&str; 7] = [RESPONSE_MS, TTFB_MS, LOAD_MS, LCP_MS, FCP_MS, INP_MS, CLS_THOUSANDTHS];

/// Each bucket of a speed histogram is about 10% wide: bucket `i` holds the
/// values `v` with `floor(ln(v + 1) / ln(GROWTH)) = i`. The aggregator fills
/// them ([`bucket_of`]), the query service reads percentiles back
/// ([`bucket_range`]); stored histograms depend on this never changing.
const GROWTH: f64 = 1.1;

/// The histogram bucket of a value.
pub fn bucket_of(value: u32) -> usize {
    ((f64::from(value) + 1.0).ln() / GROWTH.ln()).floor() as usize
}

/// The values bucket `i` holds, as the half-open range `[low, high)`.
pub fn bucket_range(bucket: usize) -> (f64, f64) {
    let edge = |i: usize| GROWTH.powi(i as i32) - 1.0;
    (edge(bucket), edge(bucket + 1))
}

impl Timing {
    /// Each measured metric with its value.
    pub fn measurements(&self) -> impl Iterator<Item = (&'static str, u32)> {
        [self.response_ms, self.ttfb_ms, self.load_ms, self.lcp_ms, self.fcp_ms, self.inp_ms, self.cls_thousandths]
            .into_iter()
            .zip(METRICS)
            .filter_map(|(value, metric)| Some((metric, value?)))
    }

    /// Every value, for bounding them all alike.
    pub(crate) fn values_mut(&mut self) -> [&mut Option<u32>; 7] {
        [
            &mut self.response_ms,
            &mut self.ttfb_ms,
            &mut self.load_ms,
            &mut self.lcp_ms,
            &mut self.fcp_ms,
            &mut self.inp_ms,
            &mut self.cls_thousandths,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_the_range_of_its_bucket() {
        for value in (0..2_000).chain([10_000, 600_000, u32::MAX]) {
            let (low, high) = bucket_range(bucket_of(value));
            assert!(low <= f64::from(value) && f64::from(value) < high, "{value} in [{low}, {high})");
        }
        // From about 100 ms up, a bucket is at most 10% of its values wide.
        for bucket in 50..200 {
            let (low, high) = bucket_range(bucket);
            assert!((high - low) / high <= 0.1 + 1e-9, "bucket {bucket} at most 10% wide");
        }
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1_000), 72, "stored histograms depend on the formula");
    }

    #[test]
    fn measurements_name_each_present_value() {
        let timing = Timing { ttfb_ms: Some(12), cls_thousandths: Some(50), ..Default::default() };
        assert_eq!(timing.measurements().collect::<Vec<_>>(), vec![(TTFB_MS, 12), (CLS_THOUSANDTHS, 50)]);
    }
}
