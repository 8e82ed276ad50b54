//! The admin socket: how `herald user ...` reaches a running server.
//!
//! The metadata database can be open in one process only, so while the
//! server runs, the command line sends its request over a Unix socket in
//! the data dir (mode 0600: only the data dir's owner can administer). When
//! no server answers, the command line opens the store itself.

use std::path::{Path, PathBuf};

use herald_model::{AccessKey, User};
use herald_store::Store;
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
    },
    ListUsers,
    RemoveUser {
        name: String,
    },
}

/// The answer (one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AdminResponse {
    User { user: User },
    Users { users: Vec<User> },
    Done,
    Error { message: String },
}

/// Carries out a request against a store (used by the socket server and,
/// when no server runs, by the command line directly).
pub async fn execute(store: &Store, req: AdminRequest) -> AdminResponse {
    let result = match req {
        AdminRequest::CreateUser { name, key } => store
            .create_user(&name, key)
            .await
            .map(|user| AdminResponse::User { user }),
        AdminRequest::ListUsers => store
            .list_users()
            .map(|users| AdminResponse::Users { users }),
        AdminRequest::RemoveUser { name } => {
            store.remove_user(&name).await.map(|()| AdminResponse::Done)
        }
    };
    result.unwrap_or_else(|e| AdminResponse::Error {
        message: e.to_string(),
    })
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Serves the admin socket until the task is dropped.
pub async fn serve(store: Store, data_dir: PathBuf) -> std::io::Result<()> {
    let path = socket_path(&data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(store, stream).await {
                tracing::warn!(error = %e, "admin socket connection failed");
            }
        });
    }
}

async fn handle(store: Store, stream: UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let response = match serde_json::from_str::<AdminRequest>(&line) {
            Ok(req) => {
                tracing::info!(request = ?redact(&req), "admin request");
                execute(&store, req).await
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
        AdminRequest::RemoveUser { name } => format!("remove_user {name}"),
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
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(std::io::Error::other)
}
