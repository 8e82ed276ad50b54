//! The admin socket: how `herald user ...` reaches a running server.
//!
//! The metadata database can be open in one process only, so while the
//! server runs, the command line sends its request over a Unix socket in
//! the data dir (mode 0600: only the data dir's owner can administer). When
//! no server answers, the command line opens the store itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use herald_model::{AccessKey, SshKey, User};
use std::sync::Arc;

use herald_log::DeliveryLog;
use herald_queue::QueueEngine;
use herald_store::{Store, TopicRecord};

use herald_server::notify::Notifier;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// File name of the socket inside the data dir.
pub const SOCKET_NAME: &str = "admin.sock";

/// A request on the admin socket (one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    CreateUser {
        name: String,
        key: Option<AccessKey>,
        #[serde(default, flatten)]
        profile: herald_model::UserProfile,
    },
    ListUsers,
    /// Refused while the user owns buckets, topics or queues, unless
    /// `purge` (which deletes them, with their objects and queued events).
    RemoveUser {
        name: String,
        #[serde(default)]
        purge: bool,
    },
    /// `key`: one OpenSSH public key line (parsed by the server).
    AddSshKey {
        name: String,
        key: String,
    },
    ListSshKeys {
        name: String,
    },
    RemoveSshKey {
        name: String,
        fingerprint: String,
    },
    ListTopics {
        #[serde(default)]
        tenant: Option<String>,
    },
    GetTopic {
        #[serde(flatten)]
        topic: TopicName,
    },
    RemoveTopic {
        #[serde(flatten)]
        topic: TopicName,
    },
    TopicStats {
        #[serde(flatten)]
        topic: TopicName,
    },
    TopicDump {
        #[serde(flatten)]
        topic: TopicName,
        limit: usize,
    },
    /// Starts a replay (needs the running server: it pushes).
    TopicReplay {
        #[serde(flatten)]
        topic: TopicName,
        since: String,
        until: Option<String>,
        endpoint: Option<String>,
        #[serde(default)]
        rate: Option<u32>,
    },
    /// The topic's replays, newest last.
    TopicReplays {
        #[serde(flatten)]
        topic: TopicName,
    },
    /// Stops the topic's running replay.
    TopicReplayCancel {
        #[serde(flatten)]
        topic: TopicName,
    },
    ListQueues,
    QueueStats {
        name: String,
        user: Option<String>,
    },
    PurgeQueue {
        name: String,
        user: Option<String>,
    },
    ListNotifications {
        bucket: String,
    },
    GetNotification {
        bucket: String,
        id: String,
    },
    /// Without `id`, every configuration of the bucket.
    RemoveNotification {
        bucket: String,
        id: Option<String>,
    },
    ListLifecycle,
    /// Without `bucket`, every bucket with lifecycle rules.
    ProcessLifecycle {
        bucket: Option<String>,
    },
}

/// The answer (one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AdminResponse {
    User {
        user: User,
    },
    Users {
        users: Vec<User>,
    },
    SshKeys {
        keys: Vec<SshKey>,
    },
    Done,
    Json {
        value: serde_json::Value,
    },
    Error {
        message: String,
    },
    /// The thing asked for does not exist (the command exits with 2).
    NotFound {
        message: String,
    },
}

/// What admin requests act on. `notifier` is the running server's (so a
/// removed topic stops delivering at once); the command line, working on a
/// stopped server's data dir, has only the store and the log.
#[derive(Clone)]
pub struct AdminContext {
    pub store: Store,
    pub log: Option<DeliveryLog>,
    pub notifier: Option<Arc<Notifier>>,
    pub queues: Option<QueueEngine>,
    /// The running server's lifecycle worker (a pass needs its notifier).
    pub lifecycle: Option<Arc<herald_lifecycle::LifecycleWorker>>,
}

/// Carries out a request (used by the socket server and, when no server
/// runs, by the command line directly).
pub async fn execute(ctx: &AdminContext, req: AdminRequest) -> AdminResponse {
    use AdminRequest as R;
    let result = match req {
        R::CreateUser { .. } | R::ListUsers | R::RemoveUser { .. } => user_request(ctx, req).await,
        R::AddSshKey { .. } | R::ListSshKeys { .. } | R::RemoveSshKey { .. } => ssh_key_request(ctx, req).await,
        R::ListTopics { .. }
        | R::GetTopic { .. }
        | R::RemoveTopic { .. }
        | R::TopicStats { .. }
        | R::TopicDump { .. } => topic_request(ctx, req).await,
        R::TopicReplay { .. } | R::TopicReplays { .. } | R::TopicReplayCancel { .. } => {
            crate::topic::execute_replay(ctx, req).await
        }
        R::ListQueues | R::QueueStats { .. } | R::PurgeQueue { .. } => queue_request(ctx, req).await,
        R::ListNotifications { .. } | R::GetNotification { .. } | R::RemoveNotification { .. } => {
            crate::notification::execute(ctx, req).await
        }
        R::ListLifecycle | R::ProcessLifecycle { .. } => crate::lifecycle::execute(ctx, req).await,
    };
    result.unwrap_or_else(|message| AdminResponse::Error { message })
}

type Answer = Result<AdminResponse, String>;

async fn user_request(ctx: &AdminContext, req: AdminRequest) -> Answer {
    let store = &ctx.store;
    match req {
        AdminRequest::CreateUser { name, key, profile } => {
            check_no_leftovers(ctx, &name)?;
            let user = store
                .create_user(&name, key, profile)
                .await
                .map_err(|e| e.to_string())?;
            Ok(AdminResponse::User { user })
        }
        AdminRequest::ListUsers => store
            .list_users()
            .map(|users| AdminResponse::Users { users })
            .map_err(|e| e.to_string()),
        AdminRequest::RemoveUser { name, purge } => remove_user(ctx, &name, purge).await.map(|()| AdminResponse::Done),
        _ => unreachable!("dispatched by execute"),
    }
}

async fn ssh_key_request(ctx: &AdminContext, req: AdminRequest) -> Answer {
    let store = &ctx.store;
    let done = match req {
        AdminRequest::AddSshKey { name, key } => {
            let key = SshKey::parse(&key, herald_store::records::now_ms())?;
            store
                .add_ssh_key(&name, key.clone())
                .await
                .map(|()| AdminResponse::SshKeys { keys: vec![key] })
        }
        AdminRequest::ListSshKeys { name } => store.list_ssh_keys(&name).map(|keys| AdminResponse::SshKeys { keys }),
        AdminRequest::RemoveSshKey { name, fingerprint } => store
            .remove_ssh_key(&name, &fingerprint)
            .await
            .map(|()| AdminResponse::Done),
        _ => unreachable!("dispatched by execute"),
    };
    done.map_err(|e| e.to_string())
}

async fn topic_request(ctx: &AdminContext, req: AdminRequest) -> Answer {
    let store = &ctx.store;
    let log = || {
        ctx.log
            .as_ref()
            .ok_or_else(|| "the delivery log is not available".to_owned())
    };
    match req {
        AdminRequest::ListTopics { tenant } => {
            let mut topics = store.list_topics(None).map_err(|e| e.to_string())?;
            if let Some(tenant) = tenant {
                topics.retain(|t| t.account() == tenant);
            }
            let subscribed = subscribed_buckets(store)?;
            Ok(AdminResponse::Json {
                value: serde_json::Value::Array(topics.iter().map(|t| topic_json(t, &subscribed)).collect()),
            })
        }
        AdminRequest::GetTopic { topic } => {
            let Some(t) = find_topic(store, &topic)? else {
                return Ok(missing_topic(&topic.name));
            };
            let subscribed = subscribed_buckets(store)?;
            Ok(AdminResponse::Json {
                value: topic_json(&t, &subscribed),
            })
        }
        AdminRequest::RemoveTopic { topic } => {
            let Some(t) = find_topic(store, &topic)? else {
                return Ok(missing_topic(&topic.name));
            };
            store
                .delete_topic(t.account(), &t.name, herald_store::TopicExpectation::Any)
                .await
                .map_err(|e| e.to_string())?;
            match (&ctx.notifier, &ctx.log) {
                (Some(n), _) => n.remove_topic(&t.arn),
                (None, Some(log)) => log.remove_topic(&t.arn),
                (None, None) => {}
            }
            Ok(AdminResponse::Done)
        }
        AdminRequest::TopicStats { topic } => {
            let Some(t) = find_topic(store, &topic)? else {
                return Ok(missing_topic(&topic.name));
            };
            let s = log()?.stats(&t.arn);
            Ok(AdminResponse::Json {
                // radosgw-admin's shape first (Herald writes an event in
                // its change's commit, so no reservation is ever pending
                // between requests), then Herald's own figures.
                value: serde_json::json!({
                    "Topic Stats": {"Reservations": 0, "Size": s.bytes, "Entries": s.entries},
                    "topic": t.name,
                    "user": t.owner,
                    "arn": t.arn,
                    "entries": s.entries,
                    "bytes": s.bytes,
                    "oldest_age_seconds": s.oldest_age.map(|d| d.as_secs_f64()),
                    "retries": s.total_retries,
                    "retried_entries": s.retried_entries,
                    "in_flight": s.leased,
                    "retained_entries": s.retained_entries,
                    "retained_bytes": s.retained_bytes,
                    "oldest_retained_age_seconds": s.oldest_retained_age.map(|d| d.as_secs_f64()),
                }),
            })
        }
        AdminRequest::TopicDump { topic, limit } => {
            let Some(t) = find_topic(store, &topic)? else {
                return Ok(missing_topic(&topic.name));
            };
            let entries: Vec<serde_json::Value> = log()?.dump(&t.arn, limit).into_iter().map(dump_json).collect();
            Ok(AdminResponse::Json {
                value: serde_json::Value::Array(entries),
            })
        }
        _ => unreachable!("dispatched by execute"),
    }
}

/// One queued event as `herald topic dump` shows it.
fn dump_json(e: herald_log::DumpEntry) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "key": e.key,
        "attempts": e.attempts,
        "enqueued": unix_secs(e.enqueued),
        "next_attempt": unix_secs(e.next_attempt),
        "event": serde_json::from_slice::<serde_json::Value>(&e.payload)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&e.payload).into_owned())),
    })
}

async fn queue_request(ctx: &AdminContext, req: AdminRequest) -> Answer {
    match req {
        AdminRequest::ListQueues => {
            let q = ctx
                .queues
                .as_ref()
                .ok_or_else(|| "the queue service is not available".to_owned())?;
            Ok(AdminResponse::Json {
                value: serde_json::Value::Array(
                    q.list_queues(None, "")
                        .iter()
                        .map(|i| serde_json::json!({"user": i.owner, "name": i.name, "arn": i.arn, "fifo": i.fifo}))
                        .collect(),
                ),
            })
        }
        AdminRequest::QueueStats { name, user } => {
            let (q, info) = find_queue(ctx, &name, user.as_deref())?;
            let s = q.stats(&info.owner, &info.name).map_err(|e| e.to_string())?;
            Ok(AdminResponse::Json {
                value: serde_json::json!({
                    "queue": info.name,
                    "user": info.owner,
                    "arn": info.arn,
                    "visible": s.visible,
                    "in_flight": s.in_flight,
                    "delayed": s.delayed,
                    "bytes": s.bytes,
                    "oldest_age_seconds": s.oldest_age.map(|d| d.as_secs_f64()),
                }),
            })
        }
        AdminRequest::PurgeQueue { name, user } => {
            let (q, info) = find_queue(ctx, &name, user.as_deref())?;
            q.purge_queue(&info.owner, &info.name)
                .await
                .map_err(|e| e.to_string())?;
            Ok(AdminResponse::Done)
        }
        _ => unreachable!("dispatched by execute"),
    }
}

/// What a user owns: the resources `herald user rm` refuses to orphan.
struct Owned {
    buckets: Vec<String>,
    topics: Vec<TopicRecord>,
    queues: Vec<String>,
}

impl Owned {
    fn of(ctx: &AdminContext, user: &str) -> Result<Owned, String> {
        let buckets = ctx.store.list_buckets(Some(user)).map_err(|e| e.to_string())?;
        let topics = ctx.store.list_topics(Some(user)).map_err(|e| e.to_string())?;
        let queues = ctx
            .queues
            .as_ref()
            .map_or_else(Vec::new, |q| q.list_queues(Some(user), ""));
        Ok(Owned {
            buckets: buckets.into_iter().map(|b| b.name).collect(),
            topics,
            queues: queues.into_iter().map(|q| q.name).collect(),
        })
    }

    fn is_empty(&self) -> bool {
        self.buckets.is_empty() && self.topics.is_empty() && self.queues.is_empty()
    }

    fn describe(&self) -> String {
        format!(
            "{} bucket(s), {} topic(s) and {} queue(s)",
            self.buckets.len(),
            self.topics.len(),
            self.queues.len()
        )
    }
}

/// `herald user rm [--purge]`. Without `purge`, refused while the user
/// owns anything: a topic or queue left behind would belong to the next
/// user created with the same name (ARNs name the owner). With `purge`,
/// deletes the user's topics (and their delivery logs), queues (and their
/// messages), and buckets (and every object), then the user. The store
/// re-checks buckets and topics in the transaction that removes the user,
/// so one created meanwhile makes the removal fail rather than orphan it.
async fn remove_user(ctx: &AdminContext, name: &str, purge: bool) -> Result<(), String> {
    if ctx.store.get_user(name).map_err(|e| e.to_string())?.is_none() {
        return Err(herald_store::StoreError::NoSuchUser(name.to_owned()).to_string());
    }
    let owned = Owned::of(ctx, name)?;
    if !owned.is_empty() && !purge {
        return Err(format!(
            "user {name} still owns {}; delete them first, or remove everything with --purge",
            owned.describe()
        ));
    }
    for t in &owned.topics {
        ctx.store
            .delete_topic(t.account(), &t.name, herald_store::TopicExpectation::Any)
            .await
            .map_err(|e| e.to_string())?;
        match (&ctx.notifier, &ctx.log) {
            (Some(n), _) => n.remove_topic(&t.arn),
            (None, Some(log)) => log.remove_topic(&t.arn),
            (None, None) => {}
        }
    }
    if let Some(q) = &ctx.queues {
        for queue in &owned.queues {
            q.delete_queue(name, queue).await.map_err(|e| e.to_string())?;
        }
    }
    for b in &owned.buckets {
        // As DeleteBucket (see `Notifier::lock_config_writes`).
        let changing = match &ctx.notifier {
            Some(n) => Some(n.lock_config_writes().await),
            None => None,
        };
        ctx.store.purge_bucket(b).await.map_err(|e| e.to_string())?;
        if let Some(n) = &ctx.notifier {
            n.set_config(b, None);
        }
        drop(changing);
    }
    if purge && !owned.is_empty() {
        tracing::info!(user = name, removed = %owned.describe(), "purged the user's resources");
    }
    ctx.store.remove_user(name).await.map_err(|e| e.to_string())
}

/// Refuses to create a user whose name still owns topics or queues (left
/// by an older version's `user rm`): the new user would inherit them.
fn check_no_leftovers(ctx: &AdminContext, name: &str) -> Result<(), String> {
    let owned = Owned::of(ctx, name)?;
    if owned.topics.is_empty() && owned.queues.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} left by a removed user named {name} still exist; remove them first or choose another name",
        owned.describe()
    ))
}

fn unix_secs(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A queue by name, optionally of one user; ambiguous names need `--user`.
fn find_queue<'a>(
    ctx: &'a AdminContext,
    name: &str,
    user: Option<&str>,
) -> Result<(&'a QueueEngine, herald_queue::QueueInfo), String> {
    let q = ctx.queues.as_ref().ok_or("the queue service is not available")?;
    let found: Vec<_> = q.list_queues(user, "").into_iter().filter(|i| i.name == name).collect();
    match found.len() {
        0 => Err(format!("no queue named {name:?}")),
        1 => Ok((q, found.into_iter().next().expect("one queue"))),
        n => Err(format!("{n} users have a queue named {name:?}; choose one with --user")),
    }
}

/// The answer for a topic that does not exist: its own kind, so the
/// command exits with status 2 (radosgw-admin's ENOENT).
pub(crate) fn missing_topic(name: &str) -> AdminResponse {
    AdminResponse::NotFound {
        message: format!("no topic named {name:?}"),
    }
}

/// How the topic commands name a topic: by name, narrowed to one owner
/// (`--user`) or one ARN account (`--tenant`: the tenant in Ceph mode)
/// where several topics share the name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicName {
    pub name: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
}

/// The topic `which` names (`None`: there is none); ambiguous names need
/// `--user` or `--tenant`.
pub(crate) fn find_topic(store: &Store, which: &TopicName) -> Result<Option<TopicRecord>, String> {
    let found: Vec<TopicRecord> = store
        .list_topics(which.user.as_deref())
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|t| t.name == which.name)
        .filter(|t| which.tenant.as_deref().is_none_or(|tenant| t.account() == tenant))
        .collect();
    match found.len() {
        0 | 1 => Ok(found.into_iter().next()),
        n => Err(format!(
            "{n} topics are named {:?}; choose one with --user or --tenant",
            which.name
        )),
    }
}

/// Topic ARN → the buckets whose notification configurations name it.
fn subscribed_buckets(store: &Store) -> Result<HashMap<String, Vec<String>>, String> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (bucket, bytes) in store.all_notification_configs().map_err(|e| e.to_string())? {
        let Ok(cfg) = herald_model::notification::deserialize_json(&bytes) else {
            tracing::warn!(bucket = %bucket, "unreadable notification configuration skipped");
            continue;
        };
        for t in &cfg.topics {
            let buckets = out.entry(t.topic_arn.clone()).or_default();
            if !buckets.contains(&bucket) {
                buckets.push(bucket.clone());
            }
        }
    }
    Ok(out)
}

/// A topic as `radosgw-admin topic get` prints it (secrets removed), with
/// the buckets subscribed to it and, when persistent, the name of its
/// queue (the delivery log `herald topic stats|dump` read).
fn topic_json(t: &TopicRecord, subscribed: &HashMap<String, Vec<String>>) -> serde_json::Value {
    let a = &t.attributes;
    let ep = a.get("push-endpoint").cloned().unwrap_or_default();
    let persistent = a.get("persistent").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    // Ceph names a tenant's user `tenant$user` and a topic's queue
    // `tenant:topic` (the bare names without a tenant); the ARN's account
    // is the tenant in Ceph mode, the owner itself in AWS mode.
    let account = t.account();
    let owner = if account.is_empty() || account == t.owner {
        t.owner.clone()
    } else {
        format!("{account}${}", t.owner)
    };
    let queue = if account.is_empty() {
        t.name.clone()
    } else {
        format!("{account}:{}", t.name)
    };
    serde_json::json!({
        "user": t.owner,
        "owner": owner,
        "name": t.name,
        "dest": {
            "push_endpoint": herald_endpoints::redact(&ep),
            "push_endpoint_args": herald_server::notify::topic::shown_endpoint_args(t),
            "push_endpoint_topic": t.name,
            "stored_secret": herald_server::notify::topic::has_stored_secret(t),
            "persistent": persistent,
            "persistent_queue": if persistent { queue.as_str() } else { "" },
            "time_to_live": a.get("time_to_live").cloned().unwrap_or_else(|| "0".into()),
            "max_retries": a.get("max_retries").cloned().unwrap_or_else(|| "0".into()),
            "retry_sleep_duration": a.get("retry_sleep_duration").cloned().unwrap_or_else(|| "1".into()),
        },
        "arn": t.arn,
        "opaqueData": a.get("OpaqueData").cloned().unwrap_or_default(),
        "subscription": if t.subscription.is_empty() { "none" } else { &t.subscription },
        "subscribed_buckets": subscribed.get(&t.arn).cloned().unwrap_or_default(),
    })
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Serves the admin socket until the task is dropped.
///
/// The socket is bound inside the data dir, which is made owner-only
/// (0700) first: connecting needs search permission on the directory, so
/// no other local user can reach the socket at any moment, even before
/// its own mode is narrowed to 0600.
pub async fn serve(ctx: AdminContext, data_dir: PathBuf) -> std::io::Result<()> {
    let path = socket_path(&data_dir);
    owner_only_dir(&data_dir)?;
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let ctx = ctx.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(ctx, stream).await {
                tracing::warn!(error = %e, "admin socket connection failed");
            }
        });
    }
}

/// Makes `dir` owner-only (0700) if it is not already.
fn owner_only_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "data dir was open to other users; now 0700");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

async fn handle(ctx: AdminContext, stream: UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let response = match serde_json::from_str::<AdminRequest>(&line) {
            Ok(req) => {
                tracing::info!(request = ?redact(&req), "admin request");
                execute(&ctx, req).await
            }
            Err(e) => AdminResponse::Error {
                message: format!("bad admin request: {e}"),
            },
        };
        let mut out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
        out.push(b'\n');
        write.write_all(&out).await?;
    }
    Ok(())
}

/// The request without secrets, for the log.
fn redact(req: &AdminRequest) -> String {
    match req {
        AdminRequest::CreateUser { name, .. } => format!("create_user {name}"),
        AdminRequest::ListUsers => "list_users".into(),
        AdminRequest::RemoveUser { name, purge } => format!("remove_user {name} purge={purge}"),
        AdminRequest::TopicReplay {
            topic,
            since,
            until,
            endpoint,
            ..
        } => format!(
            // Log form: no credentials, and no query (a webhook's token).
            "topic_replay {topic:?} since={since} until={until:?} endpoint={:?}",
            endpoint.as_deref().map(herald_endpoints::log_form)
        ),
        other => format!("{other:?}"),
    }
}

/// Sends a request to a running server. `Ok(None)` means no server is
/// listening on this data dir.
pub async fn call(data_dir: &Path, req: &AdminRequest) -> std::io::Result<Option<AdminResponse>> {
    let stream = match UnixStream::connect(socket_path(data_dir)).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    let mut lines = BufReader::new(read).lines();
    let answer = lines
        .next_line()
        .await?
        .ok_or_else(|| std::io::Error::other("server closed the admin socket without answering"))?;
    serde_json::from_str(&answer).map(Some).map_err(std::io::Error::other)
}
