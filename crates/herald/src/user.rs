//! `herald user create|list|rm|add-key|keys|rm-key`: through the running server's admin socket,
//! or directly on the data dir when no server runs.

use std::path::PathBuf;

use crate::admin::{AdminRequest, AdminResponse};
use anyhow::{Context, bail};
use clap::Subcommand;
use herald_model::AccessKey;

use crate::admin_client::send;

use crate::config::DEFAULT_DATA_DIR;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints its access key pair (generated unless given).
    Create {
        name: String,
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
        /// The user's e-mail address, by which S3 ACL grants can name it
        /// (`x-amz-grant-read: emailAddress="..."`).
        #[arg(long)]
        email: Option<String>,
        /// The name S3 shows as the user's `DisplayName` (default: NAME).
        #[arg(long)]
        display_name: Option<String>,
        /// The S3 canonical user id (`Owner`/`Grantee` `ID`, `id="..."`
        /// grants); default: NAME. Set it to keep ids clients already know.
        #[arg(long)]
        canonical_id: Option<String>,
        /// Allow a name (or canonical id) a removed user had: objects it
        /// wrote in other users' buckets and ACL grants to it then belong
        /// to the new user.
        #[arg(long)]
        reuse_name: bool,
        /// Ceph's tenant: with `serve --compat ceph`, the account of the
        /// user's topic ARNs, shared with the tenant's other users.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// List users and their access key ids.
    List {
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Print JSON (includes secrets; for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Remove a user (refused while it owns buckets, topics or queues).
    Rm {
        name: String,
        /// Also delete everything the user owns: topics (with their queued
        /// events), queues (with their messages), buckets (with every object).
        #[arg(long)]
        purge: bool,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Register an SSH public key (OpenSSH `.pub` file) for SFTP logins; at most 8 per user.
    AddKey {
        name: String,
        keyfile: PathBuf,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// List a user's SSH keys.
    Keys {
        name: String,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Remove one SSH key of a user, by fingerprint (as `herald user keys` shows it).
    RmKey {
        name: String,
        fingerprint: String,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

pub async fn run(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            name,
            access_key,
            secret_key,
            email,
            display_name,
            canonical_id,
            reuse_name,
            tenant,
            data_dir,
        } => {
            let key = match (access_key, secret_key) {
                (Some(a), Some(s)) => Some(AccessKey {
                    access_key_id: a,
                    secret_access_key: s,
                }),
                _ => None,
            };
            match send(
                &data_dir,
                AdminRequest::CreateUser {
                    name,
                    key,
                    profile: herald_model::UserProfile {
                        email,
                        display_name,
                        canonical_id,
                        tenant,
                        reuse_name,
                    },
                },
            )
            .await?
            {
                AdminResponse::User { user } => {
                    println!("user: {}", user.name);
                    if let Some(t) = &user.tenant {
                        println!("tenant: {t}");
                    }
                    for k in &user.keys {
                        println!("access key: {}", k.access_key_id);
                        println!("secret key: {}", k.secret_access_key);
                    }
                    Ok(())
                }
                other => unexpected(other),
            }
        }
        UserCommand::List { data_dir, json } => match send(&data_dir, AdminRequest::ListUsers).await? {
            AdminResponse::Users { users } => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&users)?);
                } else {
                    println!("{:<24} {:<24} CREATED", "NAME", "ACCESS KEYS");
                    for u in users {
                        let keys: Vec<&str> = u.keys.iter().map(|k| k.access_key_id.as_str()).collect();
                        println!("{:<24} {:<24} {}", u.name, keys.join(","), rfc3339(u.created_ms));
                    }
                }
                Ok(())
            }
            other => unexpected(other),
        },
        UserCommand::Rm { name, purge, data_dir } => {
            let req = AdminRequest::RemoveUser {
                name: name.clone(),
                purge,
            };
            match send(&data_dir, req).await? {
                AdminResponse::Done => {
                    println!("removed user {name}");
                    Ok(())
                }
                other => unexpected(other),
            }
        }
        ssh @ (UserCommand::AddKey { .. } | UserCommand::Keys { .. } | UserCommand::RmKey { .. }) => {
            run_ssh_key(ssh).await
        }
    }
}

async fn run_ssh_key(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::AddKey {
            name,
            keyfile,
            data_dir,
        } => {
            let text = std::fs::read_to_string(&keyfile)
                .with_context(|| format!("cannot read the key file {}", keyfile.display()))?;
            if text.trim_start().starts_with("-----BEGIN") {
                bail!(
                    "{} is a private key; give the public key (the .pub file)",
                    keyfile.display()
                );
            }
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            let [line] = lines[..] else {
                bail!(
                    "{} holds {} keys; give a file with exactly one OpenSSH public key",
                    keyfile.display(),
                    lines.len()
                );
            };
            let req = AdminRequest::AddSshKey {
                name: name.clone(),
                key: line.to_owned(),
            };
            match send(&data_dir, req).await? {
                AdminResponse::SshKeys { keys } => {
                    for k in keys {
                        println!("added SSH key {} ({}) for user {name}", k.fingerprint, k.algorithm);
                    }
                    Ok(())
                }
                other => unexpected(other),
            }
        }
        UserCommand::Keys { name, data_dir } => match send(&data_dir, AdminRequest::ListSshKeys { name }).await? {
            AdminResponse::SshKeys { keys } => {
                println!("{:<51} {:<20} {:<20} COMMENT", "FINGERPRINT", "TYPE", "ADDED");
                for k in keys {
                    println!(
                        "{:<51} {:<20} {:<20} {}",
                        k.fingerprint,
                        k.algorithm,
                        rfc3339(k.added_ms),
                        k.comment
                    );
                }
                Ok(())
            }
            other => unexpected(other),
        },
        UserCommand::RmKey {
            name,
            fingerprint,
            data_dir,
        } => {
            let req = AdminRequest::RemoveSshKey {
                name: name.clone(),
                fingerprint: fingerprint.clone(),
            };
            match send(&data_dir, req).await? {
                AdminResponse::Done => {
                    println!("removed SSH key {fingerprint} of user {name}");
                    Ok(())
                }
                other => unexpected(other),
            }
        }
        other => bail!("not an SSH key command: {other:?}"),
    }
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn unexpected(r: AdminResponse) -> anyhow::Result<()> {
    bail!("unexpected answer from the server: {r:?}")
}
