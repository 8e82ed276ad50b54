//! `herald notification list|get|rm --bucket B [--id ID]`, like
//! `radosgw-admin notification ...`: a bucket's notification
//! configurations as JSON (`{"notifications": [...]}` for `list`, one
//! entry for `get`), and their removal by the operator, whoever owns the
//! bucket. The admin socket (mode 0600) is the only way in, so this is the
//! data dir owner's tool, as radosgw-admin is the cluster admin's.

use std::path::PathBuf;

use clap::Subcommand;
use herald_model::notification::{self, Filter, FilterRule, NotificationConfiguration};
use serde_json::{Value, json};

use crate::admin::{AdminContext, AdminRequest, AdminResponse};
use crate::admin_client::send_and_print;
use crate::config::DEFAULT_DATA_DIR;

#[derive(Debug, Subcommand)]
pub enum NotificationCommand {
    /// Every notification configuration of a bucket (topics and queues).
    List {
        #[arg(long)]
        bucket: String,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// One notification configuration, by its id.
    Get {
        #[arg(long)]
        bucket: String,
        /// The configuration's `Id` (radosgw-admin's `--notification-id`).
        #[arg(long, alias = "notification-id")]
        id: String,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Remove one notification configuration, or, without `--id`, all of
    /// the bucket's. Events already queued for its topics stay queued.
    Rm {
        #[arg(long)]
        bucket: String,
        #[arg(long, alias = "notification-id")]
        id: Option<String>,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

pub async fn run(cmd: NotificationCommand) -> anyhow::Result<()> {
    let (data_dir, req) = match cmd {
        NotificationCommand::List { bucket, data_dir } => (data_dir, AdminRequest::ListNotifications { bucket }),
        NotificationCommand::Get { bucket, id, data_dir } => (data_dir, AdminRequest::GetNotification { bucket, id }),
        NotificationCommand::Rm { bucket, id, data_dir } => (data_dir, AdminRequest::RemoveNotification { bucket, id }),
    };
    send_and_print(&data_dir, req).await
}

/// Carries out a notification request on the admin socket (or directly on
/// a stopped server's data dir).
pub(crate) async fn execute(ctx: &AdminContext, req: AdminRequest) -> Result<AdminResponse, String> {
    match req {
        AdminRequest::ListNotifications { bucket } => {
            let cfg = load(ctx, &bucket)?.1;
            Ok(AdminResponse::Json {
                value: json!({ "notifications": entries(&cfg) }),
            })
        }
        AdminRequest::GetNotification { bucket, id } => {
            let cfg = load(ctx, &bucket)?.1;
            entries(&cfg)
                .into_iter()
                .find(|e| e["Id"] == id.as_str())
                .map(|value| AdminResponse::Json { value })
                .ok_or_else(|| format!("bucket {bucket:?} has no notification {id:?}"))
        }
        AdminRequest::RemoveNotification { bucket, id } => {
            // As the S3 API's changes do (see `Notifier::lock_config_writes`).
            let _changing = match &ctx.notifier {
                Some(n) => Some(n.lock_config_writes().await),
                None => None,
            };
            let (bucket_id, kept) = match &id {
                Some(id) => {
                    let (bucket_id, cfg) = load(ctx, &bucket)?;
                    let kept = cfg.without(id);
                    if kept == cfg {
                        return Err(format!("bucket {bucket:?} has no notification {id:?}"));
                    }
                    (bucket_id, kept)
                }
                // Removing all needs no parse: a configuration stored
                // unreadable can still be removed.
                None => (bucket_record(ctx, &bucket)?.id, NotificationConfiguration::default()),
            };
            let stored = (!kept.is_empty()).then(|| notification::serialize_json(&kept));
            ctx.store
                .set_notification_config(&bucket, Some(&bucket_id), stored)
                .await
                .map_err(|e| e.to_string())?;
            // The running server matches events against its cached copy.
            if let Some(n) = &ctx.notifier {
                n.set_config(&bucket, Some(kept));
            }
            Ok(AdminResponse::Done)
        }
        _ => unreachable!("dispatched by admin::execute"),
    }
}

/// The bucket's id (so a removal never lands on a bucket re-created under
/// the name meanwhile) and its configuration (empty when it has none).
fn load(ctx: &AdminContext, bucket: &str) -> Result<(String, NotificationConfiguration), String> {
    let record = bucket_record(ctx, bucket)?;
    let cfg = match ctx.store.get_notification_config(bucket).map_err(|e| e.to_string())? {
        Some(bytes) => notification::deserialize_json(&bytes)
            .map_err(|e| format!("the stored configuration of {bucket:?} is unreadable: {e}"))?,
        None => NotificationConfiguration::default(),
    };
    Ok((record.id, cfg))
}

fn bucket_record(ctx: &AdminContext, bucket: &str) -> Result<herald_store::BucketRecord, String> {
    ctx.store
        .get_bucket(bucket)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no bucket named {bucket:?}"))
}

/// Each configuration as radosgw-admin prints it: `Id`, `TopicArn` (or, for
/// Herald's queue configurations, `QueueArn`), `Events`, `Filter`.
fn entries(cfg: &NotificationConfiguration) -> Vec<Value> {
    let topics = cfg.topics.iter().map(|t| {
        json!({
            "Id": t.id,
            "TopicArn": t.topic_arn,
            "Events": t.events.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            "Filter": filter_json(&t.filter),
        })
    });
    let queues = cfg.queues.iter().map(|q| {
        json!({
            "Id": q.id,
            "QueueArn": q.queue_arn,
            "Events": q.events.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            "Filter": filter_json(&q.filter),
        })
    });
    topics.chain(queues).collect()
}

/// `<Filter>` in JSON: `S3Key`, `S3Metadata`, `S3Tags`,
/// `HeraldObjectSize`, `HeraldContentType`, each a list of `FilterRule`s,
/// present only when it has rules.
fn filter_json(f: &Filter) -> Value {
    let mut out = serde_json::Map::new();
    let key: Vec<FilterRule> = [
        ("prefix", f.key.prefix.clone()),
        ("suffix", f.key.suffix.clone()),
        ("regex", f.key.regex.as_ref().map(|r| r.as_str().to_owned())),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| FilterRule::new(name, v)))
    .collect();
    // Metadata names as GET ?notification shows them (with the prefix).
    let metadata: Vec<FilterRule> = f
        .metadata
        .iter()
        .map(|r| FilterRule::new(format!("x-amz-meta-{}", r.name), r.value.clone()))
        .collect();
    // Herald's size and content-type rules, in the parts GET ?notification
    // shows (Ceph's JSON has no place for them).
    let size: Vec<FilterRule> = [("greater-than", f.size.greater_than), ("less-than", f.size.less_than)]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| FilterRule::new(name, v.to_string())))
        .collect();
    let content_type: Vec<FilterRule> = f
        .content_type
        .rules
        .iter()
        .map(|r| FilterRule::new(r.name(), r.value()))
        .collect();
    for (name, rules) in [
        ("S3Key", &key),
        ("S3Metadata", &metadata),
        ("S3Tags", &f.tags),
        ("HeraldObjectSize", &size),
        ("HeraldContentType", &content_type),
    ] {
        if !rules.is_empty() {
            let rules: Vec<Value> = rules
                .iter()
                .map(|r| json!({ "Name": r.name, "Value": r.value }))
                .collect();
            out.insert(name.to_owned(), json!({ "FilterRule": rules }));
        }
    }
    Value::Object(out)
}
