//! Command line of `herald agent`.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

/// Consume S3 events (SQS queues, webhooks) and keep an index, a mirror
/// bucket, a metadata service or a script in sync with the buckets.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: Option<AgentCommand>,
    /// The agent's JSON config file (see docs/agent.md).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Log lines as text or as one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Listen address of the webhook source (overrides its `listen`).
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Write and delete a test object through each source's S3 endpoint and
    /// check both events arrive through the source (queue or webhook).
    SelfTest {
        /// Only this source (by name).
        #[arg(long)]
        source: Option<String>,
    },
    /// Query the local metadata index of an `index` action.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// One object per line: `<bucket>/<key>`, size, eTag, version, last event, event time, principal.
    Ls {
        #[arg(long)]
        index: PathBuf,
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Totals: objects, bytes, deleted keys, per bucket.
    Stat {
        #[arg(long)]
        index: PathBuf,
    },
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    crate::log::set_json(args.log_format == LogFormat::Json);
    let config = || {
        args.config
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--config FILE is required (the agent's JSON config, see docs/agent.md)"))
    };
    match &args.command {
        Some(AgentCommand::Index { command }) => {
            let mut out = std::io::stdout().lock();
            match command {
                IndexCommand::Ls { index, bucket, prefix } => {
                    crate::actions::index::ls(index, bucket.as_deref(), prefix.as_deref(), &mut out)?;
                }
                IndexCommand::Stat { index } => crate::actions::index::stat(index, &mut out)?,
            }
            Ok(())
        }
        Some(AgentCommand::SelfTest { source }) => crate::agent::self_test_cli(&config()?, source.as_deref()).await,
        None => crate::agent::run_agent(&config()?, args.listen.as_deref()).await,
    }
}
