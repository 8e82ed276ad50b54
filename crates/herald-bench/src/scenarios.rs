//! The S3 scenarios (`put`, `get`, `mixed`): setup (shared with `notify`), the per-operation
//! [`Workload`]s, and turning the results into a printed report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context, bail};
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::engine::{self, LoadPlan, Outcome, Workload};
use crate::parse::format_size;
use crate::report::Report;
use crate::s3::S3Client;
use crate::{GetArgs, LoadArgs, MixedArgs, PutArgs, S3Args, procfs};

/// State every S3 scenario needs once setup is done.
pub(crate) struct Target {
    pub(crate) client: Arc<S3Client>,
    pub(crate) bucket: String,
    /// Random per-run key prefix, so concurrent or repeated runs against the
    /// same bucket never read each other's objects.
    pub(crate) prefix: String,
    /// The object body, generated once: random so that servers which
    /// compress or deduplicate cannot cheat, shared so PUTs do not copy it.
    pub(crate) body: Bytes,
}

pub(crate) async fn connect(target: &S3Args, load: &LoadArgs, size: u64) -> anyhow::Result<Target> {
    let client = S3Client::new(
        &target.endpoint,
        &target.access_key,
        &target.secret_key,
        &target.region,
        load.concurrency,
    )?;
    tokio::time::timeout(load.timeout, client.ensure_bucket(&target.bucket, &target.region))
        .await
        .with_context(|| format!("creating bucket {:?} timed out", target.bucket))??;

    let mut rng = SmallRng::from_os_rng();
    let size = usize::try_from(size).context("--size does not fit in memory")?;
    let mut body = vec![0u8; size];
    rng.fill_bytes(&mut body);
    Ok(Target {
        client: Arc::new(client),
        bucket: target.bucket.clone(),
        prefix: format!("hb-{:08x}", rng.next_u32()),
        body: Bytes::from(body),
    })
}

pub(crate) fn plan(load: &LoadArgs) -> LoadPlan {
    LoadPlan {
        concurrency: load.concurrency,
        duration: load.duration,
        op_timeout: load.timeout,
        progress: load.progress(),
        rate: None,
    }
}

/// Keys of the pre-uploaded object set, built once so workers do not format
/// strings in the hot loop.
fn object_keys(prefix: &str, objects: usize) -> Arc<Vec<String>> {
    Arc::new((0..objects).map(|i| format!("{prefix}/obj/{i:08}")).collect())
}

/// Uploads every key with `concurrency` parallel uploads. Any failure aborts
/// the run: a GET benchmark over missing objects would measure 404s.
async fn preload(target: &Target, keys: &Arc<Vec<String>>, load: &LoadArgs) -> anyhow::Result<()> {
    if !load.json {
        eprintln!(
            "uploading {} objects of {} to {}/{}/ ...",
            keys.len(),
            format_size(target.body.len() as u64),
            target.bucket,
            target.prefix
        );
    }
    let bar = engine::progress_bar_with(
        load.progress(),
        keys.len() as u64,
        "setup [{bar:30}] {pos}/{len} objects",
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..load.concurrency.min(keys.len()) {
        let client = Arc::clone(&target.client);
        let keys = Arc::clone(keys);
        let next = Arc::clone(&next);
        let bucket = target.bucket.clone();
        let body = target.body.clone();
        let bar = bar.clone();
        let timeout = load.timeout;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(key) = keys.get(i) else {
                    return Ok(());
                };
                match tokio::time::timeout(timeout, client.put_object(&bucket, key, body.clone())).await {
                    Ok(Ok(_)) => bar.inc(1),
                    Ok(Err(e)) => bail!("pre-uploading {bucket}/{key} failed: {e}"),
                    Err(_) => bail!("pre-uploading {bucket}/{key} timed out after {timeout:?}"),
                }
            }
        }));
    }
    let mut result = Ok(());
    for task in tasks {
        let outcome = task.await.context("pre-upload task panicked")?;
        if result.is_ok() {
            result = outcome;
        }
    }
    bar.finish_and_clear();
    result
}

/// PUTs of fresh keys: measures object creation, never overwrites.
struct PutWorkload {
    target: Target,
    next: AtomicU64,
}

impl Workload for PutWorkload {
    const TIMEOUT_KIND: &'static str = "put";

    async fn op(&self, _worker: usize, _rng: &mut SmallRng) -> Outcome {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}/put/{n:010}", self.target.prefix);
        let result = self
            .target
            .client
            .put_object(&self.target.bucket, &key, self.target.body.clone())
            .await;
        Outcome { kind: "put", result }
    }
}

/// GETs and PUTs over one object set; `get_ratio` 1.0 is a pure GET load.
struct MixedWorkload {
    target: Target,
    keys: Arc<Vec<String>>,
    get_ratio: f64,
}

impl Workload for MixedWorkload {
    const TIMEOUT_KIND: &'static str = "timeout";

    async fn op(&self, _worker: usize, rng: &mut SmallRng) -> Outcome {
        let key = &self.keys[rng.random_range(0..self.keys.len())];
        let t = &self.target;
        // `random::<f64>()` is in [0, 1), so ratio 1.0 never PUTs and 0.0
        // never GETs.
        if rng.random::<f64>() < self.get_ratio {
            let result = t.client.get_object(&t.bucket, key, t.body.len() as u64).await;
            Outcome { kind: "get", result }
        } else {
            let result = t.client.put_object(&t.bucket, key, t.body.clone()).await;
            Outcome { kind: "put", result }
        }
    }
}

/// A pure-GET workload reports timeouts as `get`, unlike `mixed` where the
/// kind of a timed-out operation is unknown.
struct GetWorkload(MixedWorkload);

impl Workload for GetWorkload {
    const TIMEOUT_KIND: &'static str = "get";

    async fn op(&self, worker: usize, rng: &mut SmallRng) -> Outcome {
        self.0.op(worker, rng).await
    }
}

pub async fn put(args: PutArgs) -> anyhow::Result<Report> {
    let target = connect(&args.target, &args.load, args.size).await?;
    let workload = PutWorkload {
        target,
        next: AtomicU64::new(0),
    };
    let (stats, elapsed) = engine::run_load(Arc::new(workload), &plan(&args.load)).await;
    let report = Report::new(
        "put",
        &args.target.endpoint,
        &args.target.bucket,
        args.load.concurrency,
        args.size,
        &stats,
        elapsed,
    );
    Ok(with_server_memory(report, &args.load))
}

pub async fn get(args: GetArgs) -> anyhow::Result<Report> {
    let target = connect(&args.target, &args.load, args.size).await?;
    let keys = object_keys(&target.prefix, args.objects);
    preload(&target, &keys, &args.load).await?;
    let workload = GetWorkload(MixedWorkload {
        target,
        keys,
        get_ratio: 1.0,
    });
    let (stats, elapsed) = engine::run_load(Arc::new(workload), &plan(&args.load)).await;
    let mut report = Report::new(
        "get",
        &args.target.endpoint,
        &args.target.bucket,
        args.load.concurrency,
        args.size,
        &stats,
        elapsed,
    );
    report.params.insert("objects".into(), args.objects.into());
    Ok(with_server_memory(report, &args.load))
}

pub async fn mixed(args: MixedArgs) -> anyhow::Result<Report> {
    let target = connect(&args.target, &args.load, args.size).await?;
    let keys = object_keys(&target.prefix, args.objects);
    preload(&target, &keys, &args.load).await?;
    let workload = MixedWorkload {
        target,
        keys,
        get_ratio: args.get_ratio,
    };
    let (stats, elapsed) = engine::run_load(Arc::new(workload), &plan(&args.load)).await;
    let mut report = Report::new(
        "mixed",
        &args.target.endpoint,
        &args.target.bucket,
        args.load.concurrency,
        args.size,
        &stats,
        elapsed,
    );
    report.params.insert("objects".into(), args.objects.into());
    report.params.insert("get_ratio".into(), args.get_ratio.into());
    Ok(with_server_memory(report, &args.load))
}

/// Adds the server's memory use, if `--server-pid` was given.
pub(crate) fn with_server_memory(mut report: Report, load: &LoadArgs) -> Report {
    if let Some(pid) = load.server_pid
        && let Some(memory) = procfs::read_memory(pid)
    {
        report.server_rss_kb = Some(memory.rss_kb);
        report.server_hwm_kb = memory.hwm_kb;
    }
    report
}
