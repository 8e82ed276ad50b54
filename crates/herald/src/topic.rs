//! `herald topic list|get|rm|stats|dump`, like `radosgw-admin topic ...`:
//! JSON on stdout.

use std::path::PathBuf;

use crate::admin::{AdminRequest, TopicName};
use clap::Subcommand;

use crate::admin_client::send_and_print;
use crate::config::DEFAULT_DATA_DIR;

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// List every topic of every user.
    List {
        /// Only the topics under this ARN account (a tenant with `serve --compat ceph`).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Show one topic (exits with 2 when there is none).
    Get {
        #[command(flatten)]
        topic: TopicArgs,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Remove a topic and drop its queued events.
    Rm {
        #[command(flatten)]
        topic: TopicArgs,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Queue statistics of a persistent topic: entries, bytes, oldest age, retries.
    Stats {
        #[command(flatten)]
        topic: TopicArgs,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Print the events queued for a persistent topic, oldest first.
    Dump {
        #[command(flatten)]
        topic: TopicArgs,
        /// At most this many events.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

/// Which topic a command is about.
#[derive(Debug, clap::Args)]
pub struct TopicArgs {
    name: String,
    /// The topic's owner, when several topics have that name.
    #[arg(long)]
    user: Option<String>,
    /// The topic's ARN account (its tenant with `serve --compat ceph`), when several topics have that name.
    #[arg(long)]
    tenant: Option<String>,
}

impl From<TopicArgs> for TopicName {
    fn from(a: TopicArgs) -> TopicName {
        TopicName {
            name: a.name,
            user: a.user,
            tenant: a.tenant,
        }
    }
}

pub async fn run(cmd: TopicCommand) -> anyhow::Result<()> {
    let (data_dir, req) = match cmd {
        TopicCommand::List { tenant, data_dir } => (data_dir, AdminRequest::ListTopics { tenant }),
        TopicCommand::Get { topic, data_dir } => (data_dir, AdminRequest::GetTopic { topic: topic.into() }),
        TopicCommand::Rm { topic, data_dir } => (data_dir, AdminRequest::RemoveTopic { topic: topic.into() }),
        TopicCommand::Stats { topic, data_dir } => (data_dir, AdminRequest::TopicStats { topic: topic.into() }),
        TopicCommand::Dump { topic, limit, data_dir } => (
            data_dir,
            AdminRequest::TopicDump {
                topic: topic.into(),
                limit,
            },
        ),
    };
    send_and_print(&data_dir, req).await
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List every queue of every user.
    List {
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Messages visible, in flight and delayed, bytes, age of the oldest.
    Stats {
        name: String,
        /// The queue's owner, when several users have a queue of that name.
        #[arg(long)]
        user: Option<String>,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Delete every message of a queue.
    Purge {
        name: String,
        #[arg(long)]
        user: Option<String>,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

pub async fn run_queue(cmd: QueueCommand) -> anyhow::Result<()> {
    let (data_dir, req) = match cmd {
        QueueCommand::List { data_dir } => (data_dir, AdminRequest::ListQueues),
        QueueCommand::Stats { name, user, data_dir } => (data_dir, AdminRequest::QueueStats { name, user }),
        QueueCommand::Purge { name, user, data_dir } => (data_dir, AdminRequest::PurgeQueue { name, user }),
    };
    send_and_print(&data_dir, req).await
}
