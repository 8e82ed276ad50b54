//! The agent's JSON config file.
//!
//! Compatible with the keys of the Jibe agent's `jibe-config.json` (so an
//! existing file keeps working) plus Herald's own keys for actions and
//! concurrency. Parsed by hand from a `serde_json::Value` rather than with
//! derived `Deserialize`, because an operator needs to be told which key of
//! which source is wrong, and a misspelt key must not be silently ignored.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Queue name a source polls when it names neither `queue_name` nor `queue_url`.
pub const DEFAULT_QUEUE_NAME: &str = "jibe-source-activity";

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Default target of `http` actions (the metadata service to resync).
    pub endpoint: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
    /// `bucket/prefix` that periodic reports are written into.
    pub upload_folder: Option<String>,
    /// Where spools live by default (relative paths resolve against the config file's folder).
    pub state_dir: PathBuf,
    pub report_interval_seconds: u64,
    pub aws_credentials_file: Option<PathBuf>,
    pub aws_config_file: Option<PathBuf>,
    pub sources: Vec<SourceConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Sqs,
    Webhook,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    /// Shown in log lines as the first path element (the seed's provider).
    pub provider: String,
    pub flavor: Flavor,
    pub sqs_profile: Option<String>,
    pub aws_profile: Option<String>,
    pub sqs_endpoint_url: Option<String>,
    pub aws_endpoint_url: Option<String>,
    pub queue_name: String,
    pub queue_url: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    pub aws_region: Option<String>,
    pub skip_principal_id: Option<String>,
    pub self_test_folder: Option<String>,
    pub self_test_enabled: bool,
    pub self_test_timeout_seconds: u64,
    /// Long-poll wait of one ReceiveMessage (capped at SQS's 20 s).
    pub poll_interval_seconds: u64,
    pub max_messages: i32,
    /// How long a failed message stays invisible before it is retried.
    pub retry_delay_seconds: i32,
    /// Changes processed at once.
    pub workers: usize,
    pub listen: Option<String>,
    /// Public URL of the webhook as the publisher was given it (the
    /// handshake signs it); default: `http://<Host header><path>`.
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// Accept unsigned events on a non-loopback address (no `secret`).
    pub insecure_no_signature: bool,
    /// Limits of the webhook listener.
    pub webhook_limits: WebhookLimits,
    pub spool_dir: PathBuf,
    pub actions: Vec<ActionConfig>,
}

/// The webhook listener's bounds: what one hostile client can make it hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookLimits {
    /// Largest POST body; larger ones are answered 413 before they are read.
    pub max_body_bytes: usize,
    /// Connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Signatures remembered to refuse replays; beyond it events are answered 503.
    pub replay_cache_entries: usize,
}

impl Default for WebhookLimits {
    fn default() -> WebhookLimits {
        WebhookLimits {
            max_body_bytes: 1 << 20,
            max_connections: 256,
            replay_cache_entries: 200_000,
        }
    }
}

#[derive(Debug, Clone)]
pub enum ActionConfig {
    Index {
        path: PathBuf,
    },
    Mirror(MirrorConfig),
    Http {
        url: String,
        login: Option<String>,
        password: Option<String>,
        retries: u32,
        timeout_seconds: u64,
    },
    Exec {
        command: PathBuf,
        timeout_seconds: u64,
    },
}

impl ActionConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ActionConfig::Index { .. } => "index",
            ActionConfig::Mirror(_) => "mirror",
            ActionConfig::Http { .. } => "http",
            ActionConfig::Exec { .. } => "exec",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MirrorConfig {
    pub endpoint_url: Option<String>,
    pub bucket: String,
    pub prefix: String,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_region: Option<String>,
    pub aws_profile: Option<String>,
    pub multipart_threshold_bytes: u64,
    pub part_size_bytes: u64,
}

const TOP_KEYS: &[&str] = &[
    "endpoint",
    "login",
    "password",
    "upload_folder",
    "flavor",
    "sources",
    "state_dir",
    "workers",
    "report_interval_seconds",
    "aws_credentials_file",
    "aws_config_file",
];

const SOURCE_KEYS: &[&str] = &[
    "name",
    "provider",
    "flavor",
    "sqs_profile",
    "aws_profile",
    "sqs_endpoint_url",
    "aws_endpoint_url",
    "queue_name",
    "queue_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region",
    "skip_principal_id",
    "self_test_folder",
    "self_test_enabled",
    "self_test_timeout_seconds",
    "poll_interval_seconds",
    "max_messages",
    "retry_delay_seconds",
    "workers",
    "listen",
    "url",
    "secret",
    "insecure_no_signature",
    "max_body_bytes",
    "max_connections",
    "replay_cache_entries",
    "spool_dir",
    "actions",
];

/// A config error: always names the file, the key and the reason.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: cannot read the config file: {e}", path.display())))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, &path.display().to_string(), &base)
}

/// Parses config text; `file` is used in messages, `base` resolves relative paths.
pub fn parse(text: &str, file: &str, base: &Path) -> Result<AgentConfig, ConfigError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ConfigError(format!(
            "{file}: not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let obj = value
        .as_object()
        .ok_or_else(|| ConfigError(format!("{file}: the top level must be a JSON object")))?;
    let p = Fields {
        file,
        path: String::new(),
        obj,
    };
    p.check_keys(TOP_KEYS)?;
    let resolve = |s: String| {
        let pb = PathBuf::from(s);
        if pb.is_absolute() { pb } else { base.join(pb) }
    };
    let state_dir = resolve(p.string("state_dir")?.unwrap_or_else(|| "herald-agent-state".into()));
    let endpoint = p.string("endpoint")?;
    let login = p.string("login")?;
    let password = p.string("password")?;
    let root_flavor = p.string("flavor")?;
    let workers = p.uint("workers")?.unwrap_or(8).max(1) as usize;
    let upload_folder = p.string("upload_folder")?;
    if let Some(u) = &upload_folder
        && u.trim_matches('/').is_empty()
    {
        return Err(p.err("upload_folder", "must be `bucket` or `bucket/prefix`"));
    }
    let sources_v = p
        .obj
        .get("sources")
        .ok_or_else(|| p.err("sources", "missing: list at least one source"))?;
    let sources_a = sources_v
        .as_array()
        .ok_or_else(|| p.err("sources", "must be a list of source objects"))?;
    if sources_a.is_empty() {
        return Err(p.err("sources", "is empty: list at least one source"));
    }
    let inherited = Inherited {
        state_dir: &state_dir,
        flavor: root_flavor,
        workers,
        endpoint: &endpoint,
        login: &login,
        password: &password,
        resolve: &resolve,
    };
    let mut sources: Vec<SourceConfig> = Vec::new();
    for (i, s) in sources_a.iter().enumerate() {
        let path = format!("sources[{i}]");
        let obj = s
            .as_object()
            .ok_or_else(|| ConfigError(format!("{file}: {path}: must be an object")))?;
        let f = Fields { file, path, obj };
        let source = parse_source(&f, &inherited)?;
        if sources.iter().any(|s| s.name == source.name) {
            return Err(f.err(
                "name",
                &format!("{:?} is used by another source; names must be unique", source.name),
            ));
        }
        sources.push(source);
    }
    Ok(AgentConfig {
        endpoint,
        login,
        password,
        upload_folder,
        state_dir,
        report_interval_seconds: p.uint("report_interval_seconds")?.unwrap_or(3600).max(1),
        aws_credentials_file: p.string("aws_credentials_file")?.map(resolve),
        aws_config_file: p.string("aws_config_file")?.map(resolve),
        sources,
    })
}

/// What a source inherits from the top level of the config.
struct Inherited<'a> {
    state_dir: &'a Path,
    flavor: Option<String>,
    workers: usize,
    endpoint: &'a Option<String>,
    login: &'a Option<String>,
    password: &'a Option<String>,
    /// Resolves a relative path against the config file's directory.
    resolve: &'a dyn Fn(String) -> PathBuf,
}

/// Parses and checks one entry of `sources`.
fn parse_source(f: &Fields<'_>, inherited: &Inherited<'_>) -> Result<SourceConfig, ConfigError> {
    f.check_keys(SOURCE_KEYS)?;
    let name = f
        .string("name")?
        .ok_or_else(|| f.err("name", "missing: every source needs a unique name"))?;
    let flavor_s = f
        .string("flavor")?
        .or(inherited.flavor.clone())
        .unwrap_or_else(|| "SQS".into());
    let flavor = match flavor_s.to_ascii_lowercase().as_str() {
        "sqs" => Flavor::Sqs,
        "webhook" => Flavor::Webhook,
        _ => {
            return Err(f.err(
                "flavor",
                &format!("{flavor_s:?} is not a flavor: use \"SQS\" or \"webhook\" (inherited from the top level when not set)"),
            ));
        }
    };
    let listen = f.string("listen")?;
    if let Some(l) = &listen
        && l.parse::<std::net::SocketAddr>().is_err()
    {
        return Err(f.err("listen", &format!("{l:?} is not an address like 127.0.0.1:8090")));
    }
    let spool_dir = match f.string("spool_dir")? {
        Some(d) => (inherited.resolve)(d),
        None => inherited.state_dir.join("spool").join(sanitize(&name)),
    };
    let mut actions = Vec::new();
    if let Some(av) = f.obj.get("actions") {
        let arr = av
            .as_array()
            .ok_or_else(|| f.err("actions", "must be a list of action objects"))?;
        for (j, a) in arr.iter().enumerate() {
            let path = format!("{}.actions[{j}]", f.path);
            let obj = a
                .as_object()
                .ok_or_else(|| ConfigError(format!("{}: {path}: must be an object", f.file)))?;
            let af = Fields {
                file: f.file,
                path,
                obj,
            };
            actions.push(parse_action(
                &af,
                inherited.endpoint,
                inherited.login,
                inherited.password,
                inherited.resolve,
            )?);
        }
    }
    let source = SourceConfig {
        provider: f.string("provider")?.unwrap_or_else(|| name.clone()),
        name,
        flavor,
        sqs_profile: f.string("sqs_profile")?,
        aws_profile: f.string("aws_profile")?,
        sqs_endpoint_url: f.url("sqs_endpoint_url")?,
        aws_endpoint_url: f.url("aws_endpoint_url")?,
        queue_name: f.string("queue_name")?.unwrap_or_else(|| DEFAULT_QUEUE_NAME.into()),
        queue_url: f.url("queue_url")?,
        aws_access_key_id: f.string("aws_access_key_id")?,
        aws_secret_access_key: f.string("aws_secret_access_key")?,
        aws_session_token: f.string("aws_session_token")?,
        aws_region: f.string("aws_region")?,
        skip_principal_id: f.string("skip_principal_id")?,
        self_test_folder: f.string("self_test_folder")?,
        self_test_enabled: f.boolean("self_test_enabled")?.unwrap_or(false),
        self_test_timeout_seconds: f.uint("self_test_timeout_seconds")?.unwrap_or(60),
        poll_interval_seconds: f.uint("poll_interval_seconds")?.unwrap_or(20),
        max_messages: f.uint("max_messages")?.unwrap_or(10).clamp(1, 10) as i32,
        retry_delay_seconds: f.uint("retry_delay_seconds")?.unwrap_or(10).min(43_200) as i32,
        workers: f
            .uint("workers")?
            .map(|w| w.max(1) as usize)
            .unwrap_or(inherited.workers),
        listen,
        webhook_url: f.url("url")?,
        webhook_secret: f.string("secret")?,
        insecure_no_signature: f.boolean("insecure_no_signature")?.unwrap_or(false),
        webhook_limits: webhook_limits(f)?,
        spool_dir,
        actions,
    };
    if source.flavor == Flavor::Webhook && source.listen.is_none() {
        return Err(f.err(
            "listen",
            "missing: a webhook source needs an address to listen on (or pass --listen)",
        ));
    }
    if let Err(why) = check_webhook_exposure(&source) {
        return Err(f.err(why.key, &why.reason));
    }
    if source.self_test_enabled && source.self_test_folder.is_none() {
        return Err(f.err(
            "self_test_folder",
            "missing: self_test_enabled needs a `bucket/prefix` to write into",
        ));
    }
    if source.aws_access_key_id.is_some() != source.aws_secret_access_key.is_some() {
        return Err(f.err(
            "aws_secret_access_key",
            "aws_access_key_id and aws_secret_access_key must be given together",
        ));
    }
    Ok(source)
}

/// The webhook limits of a source, each at least 1 (0 would refuse everything).
fn webhook_limits(f: &Fields<'_>) -> Result<WebhookLimits, ConfigError> {
    let d = WebhookLimits::default();
    let get = |key: &str, default: usize, max: usize| -> Result<usize, ConfigError> {
        match f.uint(key)? {
            None => Ok(default),
            Some(0) => Err(f.err(key, "must be at least 1")),
            Some(n) if n > max as u64 => Err(f.err(key, &format!("must be at most {max}"))),
            Some(n) => Ok(n as usize),
        }
    };
    Ok(WebhookLimits {
        // The event parser refuses larger messages anyway.
        max_body_bytes: get("max_body_bytes", d.max_body_bytes, crate::event::MAX_MESSAGE_BYTES)?,
        max_connections: get("max_connections", d.max_connections, 65_536)?,
        replay_cache_entries: get("replay_cache_entries", d.replay_cache_entries, 10_000_000)?,
    })
}

/// Why a webhook source may not start as configured: the key to fix and the reason.
#[derive(Debug)]
pub struct Exposure {
    pub key: &'static str,
    pub reason: String,
}

/// A webhook without `secret` takes any POST as an event, so it may only
/// listen where nobody else can reach it (loopback), unless the operator
/// says `insecure_no_signature` explicitly. Checked again after
/// `herald agent --listen` replaces the address.
pub fn check_webhook_exposure(src: &SourceConfig) -> Result<(), Exposure> {
    if src.flavor != Flavor::Webhook {
        return Ok(());
    }
    if src.webhook_secret.is_some() && src.insecure_no_signature {
        return Err(Exposure {
            key: "insecure_no_signature",
            reason: "cannot be true together with `secret`: events are either signed or not".into(),
        });
    }
    let Some(addr) = src
        .listen
        .as_deref()
        .and_then(|l| l.parse::<std::net::SocketAddr>().ok())
    else {
        return Ok(());
    };
    if src.webhook_secret.is_some() || src.insecure_no_signature || addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(Exposure {
        key: "secret",
        reason: format!(
            "missing: the webhook listens on {addr}, which is not a loopback address, and without a \
             secret anyone who reaches it can push forged events into the actions; set `secret` to \
             the topic's push-secret, or set \"insecure_no_signature\": true to accept unsigned events"
        ),
    })
}

fn parse_action(
    f: &Fields<'_>,
    endpoint: &Option<String>,
    login: &Option<String>,
    password: &Option<String>,
    resolve: &dyn Fn(String) -> PathBuf,
) -> Result<ActionConfig, ConfigError> {
    let kind = f
        .string("type")?
        .ok_or_else(|| f.err("type", "missing: one of index, mirror, http, exec"))?;
    match kind.as_str() {
        "index" => {
            f.check_keys(&["type", "path"])?;
            let path = f.string("path")?.unwrap_or_else(|| "agent-index.sqlite".into());
            Ok(ActionConfig::Index { path: resolve(path) })
        }
        "mirror" => {
            f.check_keys(&[
                "type",
                "endpoint_url",
                "bucket",
                "prefix",
                "aws_access_key_id",
                "aws_secret_access_key",
                "aws_region",
                "aws_profile",
                "multipart_threshold_bytes",
                "part_size_bytes",
            ])?;
            let bucket = f
                .string("bucket")?
                .ok_or_else(|| f.err("bucket", "missing: the bucket to mirror into"))?;
            let part_size = f.uint("part_size_bytes")?.unwrap_or(8 << 20);
            if part_size < 5 << 20 {
                return Err(f.err("part_size_bytes", "must be at least 5242880 (S3's smallest part)"));
            }
            let cfg = MirrorConfig {
                endpoint_url: f.url("endpoint_url")?,
                bucket,
                prefix: f.string("prefix")?.unwrap_or_default(),
                aws_access_key_id: f.string("aws_access_key_id")?,
                aws_secret_access_key: f.string("aws_secret_access_key")?,
                aws_region: f.string("aws_region")?,
                aws_profile: f.string("aws_profile")?,
                multipart_threshold_bytes: f.uint("multipart_threshold_bytes")?.unwrap_or(16 << 20),
                part_size_bytes: part_size,
            };
            if cfg.aws_access_key_id.is_some() != cfg.aws_secret_access_key.is_some() {
                return Err(f.err(
                    "aws_secret_access_key",
                    "aws_access_key_id and aws_secret_access_key must be given together",
                ));
            }
            Ok(ActionConfig::Mirror(cfg))
        }
        "http" => {
            f.check_keys(&["type", "url", "login", "password", "retries", "timeout_seconds"])?;
            let url = f
                .url("url")?
                .or(endpoint.clone())
                .ok_or_else(|| f.err("url", "missing: give the action a url or set the top-level `endpoint`"))?;
            Ok(ActionConfig::Http {
                url,
                login: f.string("login")?.or(login.clone()),
                password: f.string("password")?.or(password.clone()),
                retries: f.uint("retries")?.unwrap_or(3) as u32,
                timeout_seconds: f.uint("timeout_seconds")?.unwrap_or(10).max(1),
            })
        }
        "exec" => {
            f.check_keys(&["type", "command", "timeout_seconds"])?;
            let command = f
                .string("command")?
                .ok_or_else(|| f.err("command", "missing: the script to run"))?;
            Ok(ActionConfig::Exec {
                command: resolve(command),
                timeout_seconds: f.uint("timeout_seconds")?.unwrap_or(30).max(1),
            })
        }
        other => Err(f.err(
            "type",
            &format!(
                "{other:?} is not an action type{}: use index, mirror, http or exec",
                suggest(other, &["index", "mirror", "http", "exec"])
            ),
        )),
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

struct Fields<'a> {
    file: &'a str,
    path: String,
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn err(&self, key: &str, reason: &str) -> ConfigError {
        if self.path.is_empty() {
            ConfigError(format!("{}: {key}: {reason}", self.file))
        } else {
            ConfigError(format!("{}: {}.{key}: {reason}", self.file, self.path))
        }
    }

    fn check_keys(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        for k in self.obj.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(self.err(k, &format!("unknown key{}", suggest(k, allowed))));
            }
        }
        Ok(())
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(key, &format!("must be a string, got {other}"))),
        }
    }

    fn url(&self, key: &str) -> Result<Option<String>, ConfigError> {
        let v = self.string(key)?;
        if let Some(u) = &v
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(self.err(key, &format!("{u:?} is not an http:// or https:// URL")));
        }
        Ok(v)
    }

    fn uint(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(other) => Err(self.err(key, &format!("must be a whole number >= 0, got {other}"))),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.err(key, &format!("must be true or false, got {other}"))),
        }
    }
}

/// ` (did you mean "x"?)` for the closest allowed name, if any is close.
fn suggest(given: &str, allowed: &[&str]) -> String {
    let best = allowed
        .iter()
        .map(|a| (levenshtein(&given.to_ascii_lowercase(), a), *a))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, a)) if d <= given.len().max(3) / 2 => format!(" (did you mean {a:?}?)"),
        _ => format!(" (valid keys: {})", allowed.join(", ")),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue's example config, as written.
    const ISSUE_EXAMPLE: &str = include_str!("../testdata/issue-example.json");

    #[test]
    fn the_issue_example_parses_with_inherited_values() {
        let c = parse(ISSUE_EXAMPLE, "agent.json", Path::new("/etc/herald")).unwrap();
        let s = &c.sources[0];
        assert_eq!(s.flavor, Flavor::Sqs);
        assert_eq!(s.actions.len(), 4);
        match &s.actions[2] {
            ActionConfig::Http { url, login, .. } => {
                assert_eq!(url, "http://127.0.0.1:8080/resync");
                assert_eq!(login.as_deref(), Some("admin@company"));
            }
            other => panic!("{other:?}"),
        }
        match &s.actions[0] {
            ActionConfig::Index { path } => assert_eq!(path, Path::new("/etc/herald/agent-index.sqlite")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_keys_name_the_closest_valid_one() {
        let bad = ISSUE_EXAMPLE.replace("\"queue_name\"", "\"queue_nme\"");
        let e = parse(&bad, "agent.json", Path::new(".")).unwrap_err().0;
        assert_eq!(
            e,
            "agent.json: sources[0].queue_nme: unknown key (did you mean \"queue_name\"?)"
        );
        let bad = ISSUE_EXAMPLE.replace("\"timeout_seconds\": 30", "\"timeout\": 30");
        let e = parse(&bad, "agent.json", Path::new(".")).unwrap_err().0;
        assert!(
            e.starts_with("agent.json: sources[0].actions[3].timeout: unknown key"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_and_values_name_file_key_and_reason() {
        let bad = ISSUE_EXAMPLE.replace("\"self_test_enabled\": false", "\"self_test_enabled\": \"no\"");
        let e = parse(&bad, "a.json", Path::new(".")).unwrap_err().0;
        assert_eq!(
            e,
            "a.json: sources[0].self_test_enabled: must be true or false, got \"no\""
        );
        let bad = ISSUE_EXAMPLE.replace("\"flavor\": \"SQS\"", "\"flavor\": \"kafka\"");
        let e = parse(&bad, "a.json", Path::new(".")).unwrap_err().0;
        assert!(e.contains("sources[0].flavor: \"kafka\" is not a flavor"), "{e}");
        let e = parse("{\"sources\": []}", "a.json", Path::new(".")).unwrap_err().0;
        assert_eq!(e, "a.json: sources: is empty: list at least one source");
    }

    fn webhook(listen: &str, extra: &str) -> Result<AgentConfig, ConfigError> {
        let text = format!(r#"{{"sources": [{{"name": "h", "flavor": "webhook", "listen": "{listen}"{extra}}}]}}"#);
        parse(&text, "a.json", Path::new("."))
    }

    #[test]
    fn an_unsigned_webhook_listens_only_on_loopback_unless_told_otherwise() {
        for listen in ["0.0.0.0:8090", "[::]:8090", "192.0.2.1:8090", "[::ffff:192.0.2.1]:8090"] {
            let e = webhook(listen, "").unwrap_err().0;
            assert!(
                e.starts_with("a.json: sources[0].secret: missing: the webhook listens on"),
                "{e}"
            );
            assert!(e.contains("insecure_no_signature"), "{e}");
        }
        for listen in ["127.0.0.1:8090", "127.9.9.9:1", "[::1]:8090", "[::ffff:127.0.0.1]:8090"] {
            webhook(listen, "").unwrap();
        }
        webhook("0.0.0.0:8090", r#", "secret": "s""#).unwrap();
        let c = webhook("0.0.0.0:8090", r#", "insecure_no_signature": true"#).unwrap();
        assert!(c.sources[0].insecure_no_signature);
        let e = webhook("127.0.0.1:1", r#", "secret": "s", "insecure_no_signature": true"#)
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("a.json: sources[0].insecure_no_signature: cannot be true"),
            "{e}"
        );
        // The closest-name suggestion still works for the new key.
        let e = webhook("127.0.0.1:1", r#", "insecure_no_signatur": true"#)
            .unwrap_err()
            .0;
        assert!(e.contains("(did you mean \"insecure_no_signature\"?)"), "{e}");
    }

    #[test]
    fn webhook_limits_have_defaults_and_refuse_zero() {
        let c = webhook("127.0.0.1:1", "").unwrap();
        assert_eq!(c.sources[0].webhook_limits, WebhookLimits::default());
        let c = webhook("127.0.0.1:1", r#", "max_body_bytes": 4096, "max_connections": 2"#).unwrap();
        assert_eq!(c.sources[0].webhook_limits.max_body_bytes, 4096);
        assert_eq!(c.sources[0].webhook_limits.max_connections, 2);
        let e = webhook("127.0.0.1:1", r#", "replay_cache_entries": 0"#).unwrap_err().0;
        assert_eq!(e, "a.json: sources[0].replay_cache_entries: must be at least 1");
        let e = webhook("127.0.0.1:1", r#", "max_body_bytes": 1048577"#).unwrap_err().0;
        assert_eq!(e, "a.json: sources[0].max_body_bytes: must be at most 1048576");
    }
}
