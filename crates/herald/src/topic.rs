//! `herald topic list|get|rm|stats|dump|replay`, like `radosgw-admin
//! topic ...`: JSON on stdout.

use std::path::PathBuf;

use crate::admin::{AdminContext, AdminRequest, AdminResponse, TopicName};
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
    /// Push a persistent topic's events of a time range again (those still
    /// pending and those its `retention` keeps), each marked
    /// `x-herald-replay: true`; waits for the end and prints the outcome.
    /// Needs the running server.
    Replay {
        #[command(flatten)]
        topic: TopicArgs,
        /// From: RFC 3339 (2026-12-07T10:00:00Z), seconds since the epoch, or an age (15m, 2h, 7d).
        #[arg(long)]
        since: String,
        /// Until (same forms; default: now).
        #[arg(long)]
        until: Option<String>,
        /// Push there instead of the topic's endpoint (checked like a push-endpoint).
        #[arg(long)]
        endpoint: Option<String>,
        /// At most this many events per second (default: as fast as the endpoint takes them).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        rate: Option<u32>,
        /// Print the replay's start and return without waiting.
        #[arg(long)]
        no_wait: bool,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Stop a topic's running replay (its status then says `cancelled`).
    CancelReplay {
        #[command(flatten)]
        topic: TopicArgs,
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
        TopicCommand::Replay {
            topic,
            since,
            until,
            endpoint,
            rate,
            no_wait,
            data_dir,
        } => {
            let req = AdminRequest::TopicReplay {
                topic: topic.into(),
                since,
                until,
                endpoint,
                rate,
            };
            return replay(req, no_wait, &data_dir).await;
        }
        TopicCommand::List { tenant, data_dir } => (data_dir, AdminRequest::ListTopics { tenant }),
        TopicCommand::Get { topic, data_dir } => (data_dir, AdminRequest::GetTopic { topic: topic.into() }),
        TopicCommand::Rm { topic, data_dir } => (data_dir, AdminRequest::RemoveTopic { topic: topic.into() }),
        TopicCommand::Stats { topic, data_dir } => (data_dir, AdminRequest::TopicStats { topic: topic.into() }),
        TopicCommand::CancelReplay { topic, data_dir } => {
            (data_dir, AdminRequest::TopicReplayCancel { topic: topic.into() })
        }
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

/// `herald topic replay`: starts the replay on the running server, then
/// (unless `no_wait`) follows it to its end, progress on stderr, the final
/// status as JSON on stdout; fails unless it ends `done`.
async fn replay(start: AdminRequest, no_wait: bool, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let AdminRequest::TopicReplay { topic, .. } = &start else {
        unreachable!("a replay request");
    };
    let topic = topic.clone();
    let AdminResponse::Json { value: started } = crate::admin_client::send(data_dir, start).await? else {
        anyhow::bail!("unexpected answer from the server");
    };
    if no_wait {
        println!("{}", serde_json::to_string_pretty(&started)?);
        return Ok(());
    }
    let id = started["id"].as_str().unwrap_or_default().to_owned();
    let text = |k: &str| started[k].as_str().unwrap_or_default().to_owned();
    eprintln!(
        "replay {id}: up to {} events of {} from {} to {} to {}",
        started["estimated"],
        text("topic"),
        text("since"),
        text("until"),
        text("endpoint")
    );
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let req = AdminRequest::TopicReplays { topic: topic.clone() };
        let AdminResponse::Json { value } = crate::admin_client::send(data_dir, req).await? else {
            anyhow::bail!("unexpected answer from the server");
        };
        let Some(status) = value
            .as_array()
            .and_then(|all| all.iter().find(|s| s["id"] == id.as_str()))
        else {
            anyhow::bail!("replay {id} is gone (the topic was deleted or the server restarted)");
        };
        if status["state"] == "running" {
            eprintln!(
                "replay {id}: {} read, {} delivered, {} failed",
                status["read"], status["delivered"], status["failed"]
            );
            continue;
        }
        println!("{}", serde_json::to_string_pretty(status)?);
        if status["state"] != "done" || status["failed"].as_u64().unwrap_or(0) > 0 {
            anyhow::bail!("replay {id} ended {} with {} failed", status["state"], status["failed"]);
        }
        return Ok(());
    }
}

/// The admin side of `TopicReplay` and `TopicReplays`.
pub async fn execute_replay(ctx: &AdminContext, req: AdminRequest) -> Result<AdminResponse, String> {
    let Some(n) = &ctx.notifier else {
        return Err(
            "a replay needs the running server (it pushes the events): start `herald serve` on this data dir".into(),
        );
    };
    let which = match &req {
        AdminRequest::TopicReplay { topic, .. }
        | AdminRequest::TopicReplays { topic }
        | AdminRequest::TopicReplayCancel { topic } => topic.clone(),
        _ => unreachable!("dispatched by admin::execute"),
    };
    let Some(t) = crate::admin::find_topic(&ctx.store, &which)? else {
        return Ok(crate::admin::missing_topic(&which.name));
    };
    if let AdminRequest::TopicReplayCancel { .. } = req {
        if !n.cancel_replay(&t.arn) {
            return Err(format!("no replay of {} is running", t.arn));
        }
        return Ok(AdminResponse::Done);
    }
    let AdminRequest::TopicReplay {
        since,
        until,
        endpoint,
        rate,
        ..
    } = req
    else {
        let all = serde_json::to_value(n.replays(&t.arn)).map_err(|e| e.to_string())?;
        return Ok(AdminResponse::Json { value: all });
    };
    use herald_server::notify::replay::{ReplayRequest, parse_time};
    let since = parse_time(&since).map_err(|e| format!("--since: {e}"))?;
    let until = match until {
        Some(u) => parse_time(&u).map_err(|e| format!("--until: {e}"))?,
        None => std::time::SystemTime::now(),
    };
    if let Some(ep) = &endpoint {
        // The operator's outbound policy holds for the operator too.
        let mut attrs = t.attributes.clone();
        attrs.insert("push-endpoint".into(), ep.clone());
        herald_server::notify::topic::validate_attribute("push-endpoint", ep)?;
        herald_endpoints::check(ep, &attrs, &t.arn, n.policy().clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    let status = n
        .start_replay(
            &t.arn,
            ReplayRequest {
                since,
                until,
                endpoint,
                rate,
            },
        )
        .map_err(|e| e.to_string())?;
    Ok(AdminResponse::Json {
        value: serde_json::to_value(status).map_err(|e| e.to_string())?,
    })
}
