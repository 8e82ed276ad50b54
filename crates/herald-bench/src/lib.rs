//! `herald-bench`: the load generator behind `herald bench`.
//!
//! It drives any S3-compatible endpoint (Herald itself, or a peer such as
//! MinIO or moto) with a fixed number of concurrent workers for a fixed time
//! and reports throughput and latency percentiles, so that performance
//! changes in Herald can be measured and compared against other servers with
//! the same client. Scenarios:
//!
//! - `put`: PutObject of fresh keys;
//! - `get`: GetObject of pre-uploaded objects;
//! - `mixed`: GETs and overwriting PUTs on one object set (`--get-ratio`);
//! - `notify`: PUTs of fresh keys on a bucket whose `ObjectCreated` events
//!   go to a topic pushing to a receiver run by the bench, measuring event
//!   delivery too (events/s, end-to-end latency, missing, duplicated);
//! - `sqs`: SendMessageBatch / ReceiveMessage / DeleteMessageBatch through
//!   the SQS API (AWS JSON 1.0) on one queue, half of the workers sending
//!   and half receiving: messages/s end to end, per-operation latency,
//!   missing and duplicated messages, MD5 checks.
//!
//! The client is deliberately small — a pooled hyper HTTP/1.1 client whose
//! requests are signed by the SDK's SigV4 signer (`aws-sigv4`, see
//! [`signing`]) rather than sent through the SDK clients — so no retries,
//! checksums or interceptors are measured along with the server. The load loop
//! ([`engine`]) is protocol-agnostic so scenarios beyond S3 (notifications,
//! SQS) can reuse its timing, progress bar and report.
//!
//! Output is a table by default, or exactly one JSON object on stdout with
//! `--json` (see [`report::Report`] for the keys), so runs can be scripted.
//! Requests are sent with `x-amz-content-sha256: UNSIGNED-PAYLOAD`, plain
//! `http://` only, path-style.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

pub mod encode;
pub mod engine;
pub mod notify;
pub mod parse;
pub mod procfs;
pub mod report;
pub mod s3;
mod scenarios;
pub use herald_sign as signing;
pub mod sqs;

/// Arguments of `herald bench`: one subcommand per scenario.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmark scenarios. New protocols (e.g. `notify`, `sqs`) are added as
/// further variants with their own argument structs, reusing [`LoadArgs`].
#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// Upload new objects in a loop (PutObject throughput and latency).
    Put(PutArgs),
    /// Download pre-uploaded objects in a loop (GetObject throughput and latency).
    Get(GetArgs),
    /// GETs and overwriting PUTs on one pre-uploaded object set.
    Mixed(MixedArgs),
    /// PUTs on a bucket with an ObjectCreated notification to a topic that
    /// pushes to a receiver run by the bench: PUT throughput plus event
    /// delivery rate, end-to-end latency, missing and duplicated events.
    Notify(NotifyArgs),
    /// Queue throughput through the SQS API: half of the workers send
    /// batches, half receive and delete; messages/s end to end, latency per
    /// operation, missing and duplicated messages.
    Sqs(SqsArgs),
}

/// Where to send S3 requests and as whom.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Target")]
pub struct S3Args {
    /// S3 endpoint, e.g. http://127.0.0.1:9000 (plain HTTP, path-style).
    #[arg(long, env = "HERALD_BENCH_ENDPOINT")]
    pub endpoint: String,
    /// Access key id used to sign requests.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    /// Secret key used to sign requests.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: String,
    /// Signing region.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Bucket to use; created if it does not exist. Each run writes under its
    /// own random key prefix, so runs do not interfere.
    #[arg(long, default_value = "herald-bench")]
    pub bucket: String,
}

/// How hard and how long to drive the target; shared by every scenario.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Load")]
pub struct LoadArgs {
    /// Number of concurrent workers (and HTTP connections).
    #[arg(long, short = 'c', default_value_t = 16,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub concurrency: usize,
    /// How long to run the load phase, e.g. 20s, 500ms, 1m.
    #[arg(long, short = 'd', default_value = "20s", value_parser = parse::parse_duration)]
    pub duration: Duration,
    /// Per-request timeout; a request exceeding it counts as an error.
    #[arg(long, default_value = "30s", value_parser = parse::parse_duration)]
    pub timeout: Duration,
    /// Print exactly one JSON object on stdout instead of a table (implies --no-progress).
    #[arg(long)]
    pub json: bool,
    /// Do not show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// PID of the server under test: report its RSS (VmRSS) and peak RSS
    /// (VmHWM) from /proc at the end of the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

impl LoadArgs {
    fn progress(&self) -> bool {
        !(self.json || self.no_progress)
    }
}

/// `herald bench put`.
#[derive(Debug, Clone, Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub target: S3Args,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Object size, e.g. 1KiB, 1MiB, 4KB, 1024.
    #[arg(long, short = 's', default_value = "1KiB", value_parser = parse::parse_size)]
    pub size: u64,
}

/// `herald bench get`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub target: S3Args,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Object size, e.g. 1KiB, 1MiB, 4KB, 1024.
    #[arg(long, short = 's', default_value = "1KiB", value_parser = parse::parse_size)]
    pub size: u64,
    /// Number of objects uploaded before the run and read at random.
    #[arg(long, default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub objects: usize,
}

/// `herald bench mixed`.
#[derive(Debug, Clone, Args)]
pub struct MixedArgs {
    #[command(flatten)]
    pub target: S3Args,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Object size, e.g. 1KiB, 1MiB, 4KB, 1024.
    #[arg(long, short = 's', default_value = "1KiB", value_parser = parse::parse_size)]
    pub size: u64,
    /// Number of objects uploaded before the run; GETs read and PUTs
    /// overwrite keys of this set at random.
    #[arg(long, default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub objects: usize,
    /// Fraction of operations that are GETs (the rest are PUTs), 0.0–1.0.
    #[arg(long, default_value_t = 0.5, value_parser = parse_ratio)]
    pub get_ratio: f64,
}

/// `herald bench notify`.
#[derive(Debug, Clone, Args)]
// Its own default bucket, so notification configs of this scenario never
// land on the bucket the other scenarios use.
#[command(mut_arg("bucket", |a| a.default_value("herald-bench-notify")))]
pub struct NotifyArgs {
    #[command(flatten)]
    pub target: S3Args,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Object size, e.g. 1KiB, 1MiB, 4KB, 1024.
    #[arg(long, short = 's', default_value = "1KiB", value_parser = parse::parse_size)]
    pub size: u64,
    /// Kind of topic endpoint, i.e. how the bench receives the events.
    #[arg(long, value_enum, default_value_t = TopicKind::Http, help_heading = "Notifications")]
    pub topic_kind: TopicKind,
    /// Create the topic with persistent=true (events queued durably and
    /// delivered asynchronously) instead of synchronous delivery. Ignored
    /// with `--topic-kind sqs`: queues are always durable.
    #[arg(long, help_heading = "Notifications")]
    pub persistent: bool,
    /// After the load, how long to wait for events of acknowledged PUTs
    /// still outstanding; those that never arrive count as missing.
    #[arg(long, default_value = "30s", value_parser = parse::parse_duration,
          help_heading = "Notifications")]
    pub drain_timeout: Duration,
    /// More S3 endpoints taking the PUTs (repeatable): the workers spread
    /// over `--endpoint` and these, round-robin (cluster nodes). The topic
    /// and the notification are set up through `--endpoint`.
    #[arg(long, help_heading = "Notifications")]
    pub also_endpoint: Vec<String>,
    /// Address of the built-in HTTP event receiver (port 0: any free port).
    /// The topic's push-endpoint is http://<this address>/events (0.0.0.0 is
    /// advertised as 127.0.0.1). Unused with `--topic-kind sqs`.
    #[arg(long, default_value = "127.0.0.1:0", help_heading = "Notifications")]
    pub receiver_listen: SocketAddr,
    /// Broker the topic pushes to and the bench consumes from, for the
    /// broker topic kinds (default: the kind's standard port on 127.0.0.1,
    /// e.g. amqp://127.0.0.1:5672; AMQP uses the exchange `herald-bench`).
    #[arg(long, help_heading = "Notifications")]
    pub broker_url: Option<String>,
    /// Build a backlog first: the topic (persistent) points at a closed
    /// port during the load, then at the real endpoint; the drain time is
    /// then the time to deliver the whole backlog.
    #[arg(long, help_heading = "Notifications")]
    pub backlog: bool,
    /// Then replay: the topic keeps its delivered events (persistent, with
    /// a retention), and once all are delivered the bench asks for all of
    /// them again (`ReplayTopic`) and times their second arrival
    /// (`replay_events`, `replay_seconds`, `replay_events_per_sec`).
    #[arg(long, help_heading = "Notifications")]
    pub replay: bool,
    /// With --replay: throttle it to this many events per second (`Rate`).
    #[arg(long, help_heading = "Notifications")]
    pub replay_rate: Option<u32>,
    /// Pace the PUTs at this many per second in total (default: as fast as
    /// possible), e.g. to measure latency at a fraction of peak throughput.
    #[arg(long, value_parser = parse_rate, help_heading = "Load")]
    pub rate: Option<f64>,
}

/// Where to send SQS requests (AWS JSON 1.0 protocol, `POST /` on the
/// endpoint) and as whom.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Target")]
pub struct SqsTargetArgs {
    /// SQS endpoint, e.g. http://127.0.0.1:9000 (plain HTTP).
    #[arg(long, env = "HERALD_BENCH_ENDPOINT")]
    pub endpoint: String,
    /// Access key id used to sign requests.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    /// Secret key used to sign requests.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: String,
    /// Signing region.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Standard queue to use; created if it does not exist and deleted at
    /// the end. Bodies carry a per-run id, so leftovers of other runs are
    /// recognised (deleted, counted as foreign).
    #[arg(long, default_value = "herald-bench-queue")]
    pub queue: String,
}

/// `herald bench sqs`.
#[derive(Debug, Clone, Args)]
pub struct SqsArgs {
    #[command(flatten)]
    pub target: SqsTargetArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Message body size, e.g. 1KiB, 256, 4KB (at least the ~30-byte
    /// message id each body starts with; at most 1 MiB).
    #[arg(long, short = 's', default_value = "1KiB", value_parser = parse::parse_size)]
    pub size: u64,
    /// Messages per SendMessageBatch, 1–10.
    #[arg(long, default_value_t = 10, help_heading = "Queue",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10))]
    pub batch: usize,
    /// After the load, how long the receivers go on receiving and deleting
    /// while sent messages are still in the queue; those never received
    /// count as missing.
    #[arg(long, default_value = "30s", value_parser = parse::parse_duration, help_heading = "Queue")]
    pub drain_timeout: Duration,
}

/// How the bench receives events (`--topic-kind`): `http` (a topic pushing
/// to a receiver run by the bench), `sqs` (a queue on the endpoint under
/// test, long-polled by the bench), or a broker (`amqp`, `kafka`, `nats`,
/// `mqtt`: the topic pushes to `--broker-url` and the bench consumes there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopicKind {
    Http,
    Sqs,
    Amqp,
    Kafka,
    Nats,
    Mqtt,
}

impl TopicKind {
    pub fn name(self) -> &'static str {
        match self {
            TopicKind::Http => "http",
            TopicKind::Sqs => "sqs",
            TopicKind::Amqp => "amqp",
            TopicKind::Kafka => "kafka",
            TopicKind::Nats => "nats",
            TopicKind::Mqtt => "mqtt",
        }
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("{s:?} is not a positive number of operations per second")),
    }
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a ratio between 0.0 and 1.0")),
    }
}

/// Runs the benchmark described by `args`, printing the report to stdout
/// (a table, or one JSON object with `--json`) and progress/diagnostics to
/// stderr.
///
/// Failed operations do not make this return an error — they are counted in
/// the report's `errors` — but failing setup (bucket creation, pre-upload)
/// does, since the measurement would be meaningless. So does a completed run
/// the report shows to be broken ([`report::Report::failure`], e.g. a
/// notification configuration that never delivers), after printing it.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let json = args.command.load().json;
    let report = execute(args).await?;
    if json {
        println!("{}", report.to_json());
    } else {
        report.write_table(&mut std::io::stdout().lock())?;
    }
    if let Some(failure) = report.failure() {
        anyhow::bail!(failure);
    }
    Ok(())
}

/// Like [`run`] but returns the report instead of printing it, for callers
/// (and tests) that want the numbers.
pub async fn execute(args: BenchArgs) -> anyhow::Result<report::Report> {
    match args.command {
        BenchCommand::Put(a) => scenarios::put(a).await,
        BenchCommand::Get(a) => scenarios::get(a).await,
        BenchCommand::Mixed(a) => scenarios::mixed(a).await,
        BenchCommand::Notify(a) => notify::notify(a).await,
        BenchCommand::Sqs(a) => sqs::sqs(a).await,
    }
}

impl BenchCommand {
    /// The load settings every scenario carries.
    pub fn load(&self) -> &LoadArgs {
        match self {
            BenchCommand::Put(a) => &a.load,
            BenchCommand::Get(a) => &a.load,
            BenchCommand::Mixed(a) => &a.load,
            BenchCommand::Notify(a) => &a.load,
            BenchCommand::Sqs(a) => &a.load,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_full_command_line() {
        let cli = Cli::try_parse_from([
            "bench",
            "mixed",
            "--endpoint",
            "http://127.0.0.1:9100",
            "--access-key",
            "k",
            "--secret-key",
            "s",
            "--concurrency",
            "8",
            "--size",
            "4KB",
            "--duration",
            "500ms",
            "--objects",
            "10",
            "--get-ratio",
            "0.9",
            "--json",
            "--server-pid",
            "42",
        ])
        .unwrap();
        let BenchCommand::Mixed(m) = cli.bench.command else {
            panic!("expected mixed");
        };
        assert_eq!(m.target.bucket, "herald-bench");
        assert_eq!(m.target.region, "us-east-1");
        assert_eq!(m.load.concurrency, 8);
        assert_eq!(m.size, 4000);
        assert_eq!(m.load.duration, Duration::from_millis(500));
        assert_eq!(m.objects, 10);
        assert_eq!(m.get_ratio, 0.9);
        assert!(!m.load.progress());
        assert_eq!(m.load.server_pid, Some(42));
    }

    #[test]
    fn parses_notify() {
        let base = [
            "bench",
            "notify",
            "--endpoint",
            "http://127.0.0.1:9300",
            "--access-key",
            "k",
            "--secret-key",
            "s",
        ];
        let cli = Cli::try_parse_from(base).unwrap();
        let BenchCommand::Notify(n) = cli.bench.command else {
            panic!("expected notify");
        };
        assert_eq!(n.target.bucket, "herald-bench-notify");
        assert_eq!(n.topic_kind, TopicKind::Http);
        assert!(!n.persistent);
        assert_eq!(n.drain_timeout, Duration::from_secs(30));
        assert_eq!(n.receiver_listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(n.rate, None);
        assert_eq!(n.size, 1024);

        let extra = [
            "--topic-kind",
            "kafka",
            "--persistent",
            "--drain-timeout",
            "5s",
            "--receiver-listen",
            "0.0.0.0:9999",
            "--rate",
            "250",
            "--bucket",
            "other",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(&extra)).unwrap();
        let BenchCommand::Notify(n) = cli.bench.command else {
            panic!("expected notify");
        };
        assert_eq!(n.topic_kind, TopicKind::Kafka);
        assert_eq!(n.topic_kind.name(), "kafka");
        assert!(n.persistent);
        assert_eq!(n.drain_timeout, Duration::from_secs(5));
        assert_eq!(n.rate, Some(250.0));
        assert_eq!(n.target.bucket, "other");
        for bad in [["--rate", "0"], ["--topic-kind", "smtp"], ["--rate", "inf"]] {
            assert!(Cli::try_parse_from(base.iter().chain(&bad)).is_err(), "{bad:?}");
        }
        // The other scenarios keep their default bucket.
        let put = Cli::try_parse_from([
            "bench",
            "put",
            "--endpoint",
            "x",
            "--access-key",
            "k",
            "--secret-key",
            "s",
        ])
        .unwrap();
        let BenchCommand::Put(p) = put.bench.command else {
            panic!("expected put");
        };
        assert_eq!(p.target.bucket, "herald-bench");
    }

    #[test]
    fn parses_sqs() {
        let base = [
            "bench",
            "sqs",
            "--endpoint",
            "http://127.0.0.1:9310",
            "--access-key",
            "k",
            "--secret-key",
            "s",
        ];
        let cli = Cli::try_parse_from(base).unwrap();
        let BenchCommand::Sqs(q) = cli.bench.command else {
            panic!("expected sqs");
        };
        assert_eq!(q.target.queue, "herald-bench-queue");
        assert_eq!(q.target.region, "us-east-1");
        assert_eq!(q.load.concurrency, 16);
        assert_eq!(q.load.duration, Duration::from_secs(20));
        assert_eq!(q.size, 1024);
        assert_eq!(q.batch, 10);
        assert_eq!(q.drain_timeout, Duration::from_secs(30));

        let extra = [
            "--queue",
            "q2",
            "--region",
            "eu-west-1",
            "-c",
            "4",
            "-d",
            "5s",
            "-s",
            "256",
            "--batch",
            "3",
            "--drain-timeout",
            "2s",
            "--json",
            "--no-progress",
            "--server-pid",
            "7",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(&extra)).unwrap();
        let BenchCommand::Sqs(q) = cli.bench.command else {
            panic!("expected sqs");
        };
        assert_eq!(q.target.queue, "q2");
        assert_eq!(q.target.region, "eu-west-1");
        assert_eq!(q.load.concurrency, 4);
        assert_eq!(q.size, 256);
        assert_eq!(q.batch, 3);
        assert_eq!(q.drain_timeout, Duration::from_secs(2));
        assert!(q.load.json && q.load.no_progress);
        assert_eq!(q.load.server_pid, Some(7));
        for bad in [["--batch", "0"], ["--batch", "11"], ["--bucket", "b"]] {
            assert!(Cli::try_parse_from(base.iter().chain(&bad)).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn sqs_rejects_bad_settings_before_connecting() {
        let base = [
            "bench",
            "sqs",
            "--endpoint",
            "http://127.0.0.1:1",
            "--access-key",
            "k",
            "--secret-key",
            "s",
        ];
        for (extra, expected) in [
            (["-c", "1"], "at least 2"),
            (["-s", "2MiB"], "1 MiB"),
            (["--queue", "q.fifo"], "FIFO"),
        ] {
            let cli = Cli::try_parse_from(base.iter().chain(&extra)).unwrap();
            let err = execute(cli.bench).await.unwrap_err().to_string();
            assert!(err.contains(expected), "{extra:?}: {err}");
        }
    }

    #[tokio::test]
    async fn a_backlog_needs_a_topic() {
        let cli = Cli::try_parse_from([
            "bench",
            "notify",
            "--endpoint",
            "http://127.0.0.1:1",
            "--access-key",
            "k",
            "--secret-key",
            "s",
            "--topic-kind",
            "sqs",
            "--backlog",
        ])
        .unwrap();
        let err = execute(cli.bench).await.unwrap_err().to_string();
        assert!(err.contains("--backlog needs a topic"), "{err}");
    }

    #[test]
    fn rejects_bad_values() {
        let base = [
            "bench",
            "put",
            "--endpoint",
            "http://x",
            "--access-key",
            "k",
            "--secret-key",
            "s",
        ];
        for extra in [["--concurrency", "0"], ["--size", "1XB"], ["--duration", "0s"]] {
            let args = base.iter().chain(extra.iter());
            assert!(Cli::try_parse_from(args).is_err(), "{extra:?}");
        }
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("nan").is_err());
        assert_eq!(parse_ratio("0"), Ok(0.0));
    }
}
