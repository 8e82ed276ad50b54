//! `herald`: one binary for the whole chain.
//!
//! `herald serve` runs the server; `herald user ...` administers users on a
//! data dir (through the running server's admin socket when there is one).

mod admin;
mod admin_client;
mod cluster;
mod config;
mod health;
mod lifecycle;
mod notification;
mod quotas;
mod serve;
mod topic;
mod user;
mod watch;

use clap::{Parser, Subcommand};

/// Herald: an S3-compatible store that turns every object change into an
/// event and delivers it.
/// `herald --version`: the version and the git commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("HERALD_GIT_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(name = "herald", version = VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (S3, SNS topics, SQS queues, /health, /metrics) on one port.
    Serve(Box<config::ServeArgs>),
    /// Manage users and their access keys.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Inspect and remove topics (like `radosgw-admin topic`).
    Topic {
        #[command(subcommand)]
        command: topic::TopicCommand,
    },
    /// List, show and remove a bucket's notification configurations (like `radosgw-admin notification`).
    Notification {
        #[command(subcommand)]
        command: notification::NotificationCommand,
    },
    /// See where the lifecycle worker stands, run a pass now (like `radosgw-admin lc`).
    Lifecycle {
        #[command(subcommand)]
        command: lifecycle::LifecycleCommand,
    },
    /// Inspect and purge the built-in SQS queues.
    Queue {
        #[command(subcommand)]
        command: topic::QueueCommand,
    },
    /// Measure an S3 endpoint (Herald or any other): ops/s, MB/s, latency.
    Bench(herald_bench::BenchArgs),
    /// Consume S3 events (SQS, webhooks) and keep an index, a mirror or other systems in sync.
    Agent(Box<herald_agent::AgentArgs>),
    /// Watch a bucket's events live, one line each (the live tail).
    Watch(watch::WatchArgs),
    /// Ask a server's /health (exit 0 when it answers 200): for container health checks.
    Health(health::HealthArgs),
    /// Print a shell completion script: `herald completions bash > /etc/bash_completion.d/herald`.
    Completions { shell: clap_complete::Shell },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        use std::io::Write as _;
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "herald", &mut script);
        // A closed pipe (`| head`) is the reader's choice, not an error.
        return match std::io::stdout().write_all(&script) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                eprintln!("herald: {e}");
                std::process::ExitCode::FAILURE
            }
            _ => std::process::ExitCode::SUCCESS,
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("herald: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::User { command } => user::run(command).await,
            Command::Topic { command } => topic::run(command).await,
            Command::Queue { command } => topic::run_queue(command).await,
            Command::Notification { command } => notification::run(command).await,
            Command::Lifecycle { command } => lifecycle::run(command).await,
            Command::Bench(args) => herald_bench::run(args).await,
            Command::Agent(args) => herald_agent::run(*args).await,
            Command::Watch(args) => watch::run(args).await,
            Command::Health(args) => health::run(args).await,
            Command::Completions { .. } => unreachable!("handled before the runtime starts"),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e:#}");
            if e.downcast_ref::<admin_client::NotFound>().is_some() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
