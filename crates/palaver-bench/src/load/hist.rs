//! Latency histograms (HdrHistogram, microseconds) and their exchange between shards as JSON
//! bucket counts, so the parent of a multi-process run merges exact distributions.

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Highest trackable latency: 10 minutes, in µs.
const HIGHEST_US: u64 = 600_000_000;

/// A latency histogram in µs with 3 significant digits.
#[derive(Clone, Debug)]
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl Hist {
    pub fn new() -> Self {
        // 1 µs .. 10 min at 3 digits cannot be refused.
        match Histogram::new_with_bounds(1, HIGHEST_US, 3) {
            Ok(h) => Self(h),
            Err(_) => Self(Histogram::new(3).unwrap_or_else(|_| unreachable!("3 digits is valid"))),
        }
    }

    /// Records a latency in nanoseconds (saturating at the top of the range).
    pub fn record_ns(&mut self, ns: u64) {
        self.record_us(ns / 1000);
    }

    pub fn record_us(&mut self, us: u64) {
        let _ = self.0.record(us.clamp(1, HIGHEST_US));
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// The value at quantile `q`, in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.max() as f64 / 1000.0
    }

    pub fn merge(&mut self, other: &Hist) {
        let _ = self.0.add(&other.0);
    }

    /// `[[value_us, count], ...]` of every non-empty bucket.
    pub fn to_json(&self) -> Value {
        let buckets: Vec<Value> = self
            .0
            .iter_recorded()
            .map(|v| json!([v.value_iterated_to(), v.count_at_value()]))
            .collect();
        Value::Array(buckets)
    }

    pub fn from_json(v: &Value) -> Result<Self> {
        let mut h = Self::new();
        for b in v.as_array().context("histogram: expected an array")? {
            let value = b[0].as_u64().context("histogram: bad value")?;
            let count = b[1].as_u64().context("histogram: bad count")?;
            let _ = h.0.record_n(value.clamp(1, HIGHEST_US), count);
        }
        Ok(h)
    }

    /// The usual summary for reports: p50/p99/p99.9/max in ms.
    pub fn summary(&self) -> Value {
        json!({
            "count": self.len(),
            "p50_ms": round(self.ms(0.5)),
            "p99_ms": round(self.ms(0.99)),
            "p999_ms": round(self.ms(0.999)),
            "max_ms": round(self.max_ms()),
        })
    }
}

/// Three decimals are plenty for a report.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_round_trip_keeps_counts_and_quantiles() {
        let mut h = Hist::new();
        for us in 1..=10_000 {
            h.record_us(us);
        }
        let back = Hist::from_json(&h.to_json()).unwrap();
        assert_eq!(back.len(), 10_000);
        assert!((back.ms(0.99) - h.ms(0.99)).abs() < 0.05);
        let mut m = Hist::new();
        m.merge(&back);
        m.merge(&back);
        assert_eq!(m.len(), 20_000);
    }
}
