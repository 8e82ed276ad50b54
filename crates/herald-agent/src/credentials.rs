//! Credentials and region for a source or an action, from the config file
//! or from AWS-format `credentials` / `config` files read here.
//!
//! The agent never asks the cloud metadata service or any other implicit
//! provider: on a machine that happens to have an instance role it would
//! otherwise act with the wrong identity, and on one without it would hang
//! on timeouts. Everything it uses is written down somewhere an operator
//! can see.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

/// Explicit access for one client.
#[derive(Clone)]
pub struct AwsAccess {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    pub region: String,
}

impl std::fmt::Debug for AwsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AwsAccess({}, region {})", self.access_key, self.region)
    }
}

/// Where the profile files are.
#[derive(Debug, Clone)]
pub struct ProfileFiles {
    pub credentials: PathBuf,
    pub config: PathBuf,
}

impl ProfileFiles {
    /// The paths from the config file, else `AWS_SHARED_CREDENTIALS_FILE` /
    /// `AWS_CONFIG_FILE`, else `~/.aws/credentials` and `~/.aws/config`.
    pub fn new(credentials: Option<&Path>, config: Option<&Path>) -> ProfileFiles {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        let pick = |given: Option<&Path>, env: &str, default: &str| {
            given
                .map(Path::to_path_buf)
                .or_else(|| std::env::var_os(env).map(PathBuf::from))
                .unwrap_or_else(|| home.join(".aws").join(default))
        };
        ProfileFiles {
            credentials: pick(credentials, "AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            config: pick(config, "AWS_CONFIG_FILE", "config"),
        }
    }
}

/// What a config section says explicitly.
pub struct Explicit<'a> {
    pub access_key: Option<&'a str>,
    pub secret_key: Option<&'a str>,
    pub session_token: Option<&'a str>,
    pub region: Option<&'a str>,
    /// Profile names to try in order (the first one given wins).
    pub profiles: Vec<Option<&'a str>>,
}

/// Resolves access; `who` names the source or action in errors.
pub fn resolve(who: &str, explicit: &Explicit<'_>, files: &ProfileFiles) -> Result<AwsAccess, String> {
    let profile = explicit.profiles.iter().flatten().next().copied().unwrap_or("default");
    let creds = parse_ini(&files.credentials);
    let conf = parse_ini(&files.config);
    let conf_section = if profile == "default" {
        "default".to_string()
    } else {
        format!("profile {profile}")
    };
    let from_profile = |key: &str| {
        creds
            .get(profile)
            .and_then(|s| s.get(key))
            .or_else(|| conf.get(&conf_section).and_then(|s| s.get(key)))
            .cloned()
    };
    let (access_key, secret_key, session_token) = match (explicit.access_key, explicit.secret_key) {
        (Some(a), Some(s)) => (a.to_string(), s.to_string(), explicit.session_token.map(String::from)),
        _ => match (from_profile("aws_access_key_id"), from_profile("aws_secret_access_key")) {
            (Some(a), Some(s)) => (a, s, from_profile("aws_session_token")),
            _ => {
                return Err(format!(
                    "{who}: no credentials: aws_access_key_id/aws_secret_access_key are not set and profile {profile:?} \
                     has none in {} or {} (the agent never asks the cloud metadata service)",
                    files.credentials.display(),
                    files.config.display()
                ));
            }
        },
    };
    let region = explicit
        .region
        .map(String::from)
        .or_else(|| conf.get(&conf_section).and_then(|s| s.get("region")).cloned())
        .or_else(|| creds.get(profile).and_then(|s| s.get("region")).cloned())
        .ok_or_else(|| {
            format!(
                "{who}: no region: set aws_region, or `region` for profile {profile:?} in {}",
                files.config.display()
            )
        })?;
    Ok(AwsAccess {
        access_key,
        secret_key,
        session_token,
        region,
    })
}

/// `[section]` → key → value; a missing or unreadable file is empty.
fn parse_ini(path: &Path) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.split_whitespace().collect::<Vec<_>>().join(" ");
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

fn credentials(a: &AwsAccess) -> Credentials {
    Credentials::new(
        &a.access_key,
        &a.secret_key,
        a.session_token.clone(),
        None,
        "herald-agent-config",
    )
}

/// An S3 client with exactly this access (path-style, as S3-compatible
/// stores expect).
pub fn s3_client(a: &AwsAccess, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(a.region.clone()))
        .credentials_provider(credentials(a))
        .force_path_style(true);
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// An SQS client with exactly this access.
pub fn sqs_client(a: &AwsAccess, endpoint: Option<&str>) -> aws_sdk_sqs::Client {
    let mut b = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(a.region.clone()))
        .credentials_provider(credentials(a));
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    aws_sdk_sqs::Client::from_conf(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_come_from_both_files_as_the_cli_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("aws_credentials");
        let conf = dir.path().join("aws_config");
        std::fs::write(
            &creds,
            "[Cloudian]\naws_access_key_id = 00f6\naws_secret_access_key = +Rr/t\n",
        )
        .unwrap();
        std::fs::write(&conf, "[profile Cloudian]\nregion = region1\n").unwrap();
        let files = ProfileFiles::new(Some(&creds), Some(&conf));
        let e = Explicit {
            access_key: None,
            secret_key: None,
            session_token: None,
            region: None,
            profiles: vec![None, Some("Cloudian")],
        };
        let a = resolve("source 'x'", &e, &files).unwrap();
        assert_eq!(
            (a.access_key.as_str(), a.secret_key.as_str(), a.region.as_str()),
            ("00f6", "+Rr/t", "region1")
        );
        let e = Explicit { profiles: vec![], ..e };
        let err = resolve("source 'x'", &e, &files).unwrap_err();
        assert!(
            err.starts_with("source 'x': no credentials") && err.contains("\"default\""),
            "{err}"
        );
    }
}
