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
    fn measurements_name_each_present_value() {
        let timing = Timing { ttfb_ms: Some(12), cls_thousandths: Some(50), ..Default::default() };
        assert_eq!(timing.measurements().collect::<Vec<_>>(), vec![(TTFB_MS, 12), (CLS_THOUSANDTHS, 50)]);
    }
}
