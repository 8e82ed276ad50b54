//! Prometheus metrics served at `/metrics`.
//!
//! A handful of atomics rendered by hand: the set is small and fixed, and
//! this keeps the hot path to one relaxed increment per request.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Server-wide counters.
#[derive(Default)]
pub struct Metrics {
    /// Responses by status class: 1xx..5xx.
    responses: [AtomicU64; 6],
    in_flight: AtomicU64,
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_us: AtomicU64,
}

impl Metrics {
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_finished(&self, status: u16, elapsed: std::time::Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let class = (status / 100).min(5) as usize;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP herald_http_responses_total HTTP responses sent, by status class."
        );
        let _ = writeln!(s, "# TYPE herald_http_responses_total counter");
        for class in 1..=5 {
            let _ = writeln!(
                s,
                "herald_http_responses_total{{class=\"{class}xx\"}} {}",
                self.responses[class].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(s, "# HELP herald_http_requests_in_flight Requests being served now.");
        let _ = writeln!(s, "# TYPE herald_http_requests_in_flight gauge");
        let _ = writeln!(
            s,
            "herald_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP herald_http_request_duration_seconds Time from request to response head."
        );
        let _ = writeln!(s, "# TYPE herald_http_request_duration_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "herald_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.duration_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(s, "herald_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            s,
            "herald_http_request_duration_seconds_sum {}",
            self.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "herald_http_request_duration_seconds_count {count}");
        for (name, help, value) in extra {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} gauge");
            let _ = writeln!(s, "{name} {value}");
        }
        s
    }
}

/// Resident set size of this process in bytes (Linux), for the metrics page.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts() {
        let m = Metrics::default();
        m.request_started();
        m.request_finished(200, std::time::Duration::from_millis(2));
        m.request_started();
        m.request_finished(404, std::time::Duration::from_millis(30));
        let text = m.render(&[("herald_buckets", "Buckets.", 3.0)]);
        assert!(text.contains("herald_http_responses_total{class=\"2xx\"} 1"));
        assert!(text.contains("herald_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("herald_http_request_duration_seconds_bucket{le=\"0.0025\"} 1"));
        assert!(text.contains("herald_http_request_duration_seconds_count 2"));
        assert!(text.contains("herald_buckets 3"));
        assert!(text.contains("herald_http_requests_in_flight 0"));
    }
}
