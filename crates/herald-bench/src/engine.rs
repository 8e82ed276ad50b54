//! The protocol-agnostic load loop: N workers, each running one operation
//! after another until the deadline, timing every operation.
//!
//! It knows nothing about S3 so that later scenarios (bucket notifications,
//! SQS) only have to implement [`Workload`] to get the same timing, progress
//! bar and reporting.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::report::Stats;
use crate::s3::OpError;

/// What a single operation did: its kind (a report row such as `"get"`) and
/// either the payload bytes it moved or why it failed.
pub struct Outcome {
    pub kind: &'static str,
    pub result: Result<u64, OpError>,
}

/// One benchmark scenario. `op` is called in a loop by every worker; it should
/// do exactly one request so that latencies are per request.
pub trait Workload: Send + Sync + 'static {
    /// The kind reported if `op` times out (the future is dropped, so it
    /// cannot say which kind it was running).
    const TIMEOUT_KIND: &'static str;

    fn op(&self, worker: usize, rng: &mut SmallRng) -> impl Future<Output = Outcome> + Send;
}

/// How long and how hard to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub concurrency: usize,
    pub duration: Duration,
    /// Per-operation timeout, so a hung server cannot stall the run forever.
    pub op_timeout: Duration,
    pub progress: bool,
    /// Total operations per second across all workers, or `None` to run
    /// closed-loop as fast as the workers can. With a rate, operation `n`
    /// is started no earlier than `start + n / rate` (whichever worker is
    /// free takes it), so the load is spread evenly. Latency is still timed
    /// from the actual send: if the target cannot keep up, operations start
    /// late rather than queueing, and the achieved ops/s shows the shortfall.
    pub rate: Option<f64>,
}

/// Counters shared with the progress ticker; workers bump them with relaxed
/// atomics, which is cheap next to a network round trip.
#[derive(Default)]
struct Live {
    ops: AtomicU64,
    errors: AtomicU64,
    first_error_printed: AtomicBool,
}

/// Runs `workload` according to `plan`; returns merged stats and the measured
/// wall time of the load phase.
pub async fn run_load<W: Workload>(workload: Arc<W>, plan: &LoadPlan) -> (Stats, Duration) {
    let live = Arc::new(Live::default());
    let bar = progress_bar(plan);
    let start = Instant::now();
    let deadline = start + plan.duration;
    // Shared ticket counter for paced runs (see `LoadPlan::rate`).
    let tickets = Arc::new(AtomicU64::new(0));

    let mut handles = Vec::with_capacity(plan.concurrency);
    for worker in 0..plan.concurrency {
        let workload = Arc::clone(&workload);
        let live = Arc::clone(&live);
        let bar = bar.clone();
        let op_timeout = plan.op_timeout;
        let rate = plan.rate;
        let tickets = Arc::clone(&tickets);
        handles.push(tokio::spawn(async move {
            let mut rng = SmallRng::from_os_rng();
            let mut stats = Stats::default();
            while Instant::now() < deadline {
                if let Some(rate) = rate {
                    let ticket = tickets.fetch_add(1, Ordering::Relaxed);
                    let due = start + Duration::from_secs_f64(ticket as f64 / rate);
                    if due >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                }
                let began = Instant::now();
                let outcome = tokio::time::timeout(op_timeout, workload.op(worker, &mut rng)).await;
                let latency = began.elapsed();
                match outcome {
                    Ok(Outcome {
                        kind,
                        result: Ok(bytes),
                    }) => {
                        stats.record_success(kind, latency, bytes);
                        live.ops.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Outcome { kind, result: Err(e) }) => {
                        stats.record_error(kind);
                        report_error(&live, &bar, kind, &e);
                    }
                    Err(_) => {
                        stats.record_error(W::TIMEOUT_KIND);
                        report_error(&live, &bar, W::TIMEOUT_KIND, &OpError::Timeout(op_timeout));
                    }
                }
            }
            stats
        }));
    }

    let ticker = tokio::spawn(tick(bar.clone(), Arc::clone(&live), start, plan.duration));
    let mut merged = Stats::default();
    for handle in handles {
        match handle.await {
            Ok(stats) => merged.merge(&stats),
            // A panicking worker is a bug in the bench, not a server problem.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    let elapsed = start.elapsed();
    ticker.abort();
    bar.finish_and_clear();
    (merged, elapsed)
}

fn report_error(live: &Live, bar: &ProgressBar, kind: &str, error: &OpError) {
    live.errors.fetch_add(1, Ordering::Relaxed);
    // Only the first error is printed: with a misconfigured endpoint every
    // request fails the same way and thousands of lines would hide the cause.
    if !live.first_error_printed.swap(true, Ordering::Relaxed) {
        bar.suspend(|| {
            eprintln!("first error ({kind}): {error} (further errors are only counted)");
        });
    }
}

/// A progress bar on stderr, or a hidden one when disabled. Hidden bars
/// accept every call, which keeps the callers free of conditionals.
pub fn progress_bar_with(enabled: bool, len: u64, template: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(5));
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("progress template is valid")
            .progress_chars("=> "),
    );
    bar
}

fn progress_bar(plan: &LoadPlan) -> ProgressBar {
    let len = u64::try_from(plan.duration.as_millis()).unwrap_or(u64::MAX);
    progress_bar_with(plan.progress, len, "[{bar:30}] {msg}")
}

/// Refreshes the bar five times a second with the run's rate so far.
async fn tick(bar: ProgressBar, live: Arc<Live>, start: Instant, duration: Duration) {
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    loop {
        interval.tick().await;
        let elapsed = start.elapsed();
        let ops = live.ops.load(Ordering::Relaxed);
        let errors = live.errors.load(Ordering::Relaxed);
        let rate = ops as f64 / elapsed.as_secs_f64().max(1e-3);
        bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        bar.set_message(format!(
            "{:.1}s/{:.0}s  {ops} ops  {rate:.0} ops/s  {errors} errors",
            elapsed.as_secs_f64().min(duration.as_secs_f64()),
            duration.as_secs_f64()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sleepy;

    impl Workload for Sleepy {
        const TIMEOUT_KIND: &'static str = "sleep";

        async fn op(&self, worker: usize, _rng: &mut SmallRng) -> Outcome {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Outcome {
                kind: "sleep",
                // Worker 1 always fails, to check error accounting.
                result: if worker == 1 {
                    Err(OpError::Transport("boom".into()))
                } else {
                    Ok(10)
                },
            }
        }
    }

    #[tokio::test]
    async fn runs_for_the_duration_and_counts() {
        let plan = LoadPlan {
            concurrency: 2,
            duration: Duration::from_millis(200),
            op_timeout: Duration::from_secs(1),
            progress: false,
            rate: None,
        };
        let (stats, elapsed) = run_load(Arc::new(Sleepy), &plan).await;
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        let total = stats.total();
        assert!(total.ops >= 10, "{}", total.ops);
        assert!(total.errors >= 10, "{}", total.errors);
        assert_eq!(total.bytes, total.ops * 10);
        let p50 = total.latency_us.value_at_quantile(0.5);
        assert!(p50 >= 5000, "{p50}");
    }

    #[tokio::test]
    async fn rate_paces_operations() {
        // 4 workers could do ~800 sleeps of 5 ms in a second; 50 ops/s for
        // 400 ms allows exactly 20 (tickets 0..20 are due before the end).
        let plan = LoadPlan {
            concurrency: 4,
            duration: Duration::from_millis(400),
            op_timeout: Duration::from_secs(1),
            progress: false,
            rate: Some(50.0),
        };
        let (stats, elapsed) = run_load(Arc::new(Sleepy), &plan).await;
        let total = stats.total();
        assert_eq!(total.ops + total.errors, 20, "{} + {}", total.ops, total.errors);
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    }

    struct Stuck;

    impl Workload for Stuck {
        const TIMEOUT_KIND: &'static str = "stuck";

        async fn op(&self, _worker: usize, _rng: &mut SmallRng) -> Outcome {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn hung_operations_time_out() {
        let plan = LoadPlan {
            concurrency: 1,
            duration: Duration::from_millis(50),
            op_timeout: Duration::from_millis(100),
            progress: false,
            rate: None,
        };
        let (stats, elapsed) = run_load(Arc::new(Stuck), &plan).await;
        assert!(elapsed < Duration::from_secs(1));
        assert_eq!(stats.total().errors, 1);
        assert_eq!(stats.kinds[0].name, "stuck");
    }
}
