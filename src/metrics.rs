//! The pieces every `/metrics` family is made of: a lock-free latency histogram and a writer
//! for the Prometheus text exposition format (version 0.0.4), which `promtool check metrics`
//! accepts and every Prometheus-compatible scraper reads.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A histogram of durations with fixed bucket bounds, updated with relaxed atomics: a scrape
/// may see a count one ahead of a bucket, which Prometheus tolerates, and never blocks a
/// request.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds, in microseconds, ascending.
    bounds: &'static [u64],
    /// Observations at or under each bound (not cumulative; summed when written).
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = self.bounds.iter().position(|bound| micros <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Writes the `_bucket`, `_sum` and `_count` samples of `name` with `labels`.
    fn write(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
        let count = self.count();
        let mut cumulative = 0;
        let bucket = format!("{name}_bucket");
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let le = seconds(*bound);
            out.sample_with(&bucket, labels, ("le", &le), cumulative.min(count) as f64);
        }
        out.sample_with(&bucket, labels, ("le", "+Inf"), count as f64);
        out.sample(&format!("{name}_sum"), labels, self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        out.sample(&format!("{name}_count"), labels, count as f64);
    }
}

/// Microseconds as seconds, without float noise (`0.0025`, not `0.0025000000000000001`).
fn seconds(micros: u64) -> String {
    let text = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// What `/metrics` answers, written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

/// A metric family's kind, as its `# TYPE` line says.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines. Every sample written after it, up to
    /// the next family, must belong to it.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.line(name, labels, None, value);
    }

    /// One sample line with an extra label after `labels` (a histogram's `le`).
    fn sample_with(&mut self, name: &str, labels: &[(&str, &str)], extra: (&str, &str), value: f64) {
        self.line(name, labels, Some(extra), value);
    }

    /// A histogram's samples.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        histogram.write(self, name, labels);
    }

    fn line(&mut self, name: &str, labels: &[(&str, &str)], extra: Option<(&str, &str)>, value: f64) {
        self.text.push_str(name);
        let mut all = labels.iter().copied().chain(extra).peekable();
        if all.peek().is_some() {
            self.text.push('{');
            for (i, (key, value)) in all.enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let value = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let _ = write!(self.text, "{key}=\"{value}\"");
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    pub fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_written_cumulative_with_escaped_labels() {
        const BOUNDS: &[u64] = &[1_000, 2_500, 1_000_000];
        let histogram = Histogram::new(BOUNDS);
        for micros in [500, 1_000, 2_000, 3_000_000] {
            histogram.observe(Duration::from_micros(micros));
        }
        let mut out = Exposition::default();
        out.family("t_seconds", Kind::Histogram, "A test.\nSecond line.");
        out.histogram("t_seconds", &[("route", "/a/\"b\"")], &histogram);
        assert_eq!(
            out.finish(),
            "# HELP t_seconds A test.\\nSecond line.\n# TYPE t_seconds histogram\n\
             t_seconds_bucket{route=\"/a/\\\"b\\\"\",le=\"0.001\"} 2\n\
             t_seconds_bucket{route=\"/a/\\\"b\\\"\",le=\"0.0025\"} 3\n\
             t_seconds_bucket{route=\"/a/\\\"b\\\"\",le=\"1\"} 3\n\
             t_seconds_bucket{route=\"/a/\\\"b\\\"\",le=\"+Inf\"} 4\n\
             t_seconds_sum{route=\"/a/\\\"b\\\"\"} 3.0035\n\
             t_seconds_count{route=\"/a/\\\"b\\\"\"} 4\n"
        );
    }
}
