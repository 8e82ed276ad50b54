//! `herald user create|list|rm`: through the running server's admin socket,
//! or directly on the data dir when no server runs.

use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;
use herald_model::AccessKey;
use herald_server::admin::{AdminRequest, AdminResponse};

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
    /// Remove a user (refused while it owns buckets).
    Rm {
        name: String,
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
            data_dir,
        } => {
            let key = match (access_key, secret_key) {
                (Some(a), Some(s)) => Some(AccessKey {
                    access_key_id: a,
                    secret_access_key: s,
                }),
                _ => None,
            };
            match send(&data_dir, AdminRequest::CreateUser { name, key }).await? {
                AdminResponse::User { user } => {
                    println!("user: {}", user.name);
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
                        let created = time::OffsetDateTime::from_unix_timestamp(u.created_ms / 1000)
                            .map(|t| {
                                t.format(&time::format_description::well_known::Rfc3339)
                                    .unwrap_or_default()
                            })
                            .unwrap_or_default();
                        println!("{:<24} {:<24} {}", u.name, keys.join(","), created);
                    }
                }
                Ok(())
            }
            other => unexpected(other),
        },
        UserCommand::Rm { name, data_dir } => {
            match send(&data_dir, AdminRequest::RemoveUser { name: name.clone() }).await? {
                AdminResponse::Done => {
                    println!("removed user {name}");
                    Ok(())
                }
                other => unexpected(other),
            }
        }
    }
}

fn unexpected(r: AdminResponse) -> anyhow::Result<()> {
    bail!("unexpected answer from the server: {r:?}")
}
