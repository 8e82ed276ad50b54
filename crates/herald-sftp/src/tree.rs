//! How buckets look as a file tree: `/` holds one directory per bucket the
//! user owns or may list ([`crate::access`]); inside a bucket, keys are split on `/`, common prefixes are
//! directories and objects are files.

use crate::access::Viewer;
use herald_store::{BucketRecord, ListEntry, ListParams, ObjectVersion, Store, StoreError};
use russh_sftp::protocol::{File, FileAttributes, StatusCode};
use russh_sftp::server::StatusReply;

/// Directory entries sent per READDIR answer (OpenSSH accepts messages up
/// to 256 KiB; a few hundred entries stay well below).
pub const ENTRIES_PER_READDIR: usize = 200;

/// What a path names.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // short-lived, one per request
pub enum Node {
    Root,
    /// A bucket or a common prefix inside it (`prefix` is empty or ends in `/`).
    Dir {
        bucket: BucketRecord,
        prefix: String,
    },
    File {
        bucket: String,
        key: String,
        version: ObjectVersion,
    },
}

/// Resolves `.` and `..` against `/` (the home directory) and drops empty
/// components, giving an absolute path without a trailing slash.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Finds what a path names for `viewer`. What they may neither list nor
/// read does not exist as far as they can tell.
pub fn resolve(store: &Store, viewer: &Viewer, path: &str) -> Result<Node, StatusReply> {
    let path = normalize(path);
    let rest = path.trim_start_matches('/');
    if rest.is_empty() {
        return Ok(Node::Root);
    }
    let (bucket_name, key) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(bucket) = store.get_bucket(bucket_name).map_err(failure)? else {
        return Err(no_such_file(&path));
    };
    if key.is_empty() {
        if !viewer.can_list(&bucket, "") {
            return Err(no_such_file(&path));
        }
        return Ok(Node::Dir {
            bucket,
            prefix: String::new(),
        });
    }
    match store.head_object(bucket_name, key, None) {
        Ok(_) if !viewer.can_read(&bucket, key) => {}
        Ok(version) => {
            return Ok(Node::File {
                bucket: bucket.name,
                key: key.to_owned(),
                version,
            });
        }
        Err(StoreError::NoSuchKey) => {}
        Err(e) => return Err(failure(e)),
    }
    let prefix = format!("{key}/");
    if !viewer.can_list(&bucket, &prefix) {
        return Err(no_such_file(&path));
    }
    let params = ListParams {
        prefix: prefix.clone(),
        delimiter: Some("/".into()),
        after: None,
        max_keys: 1,
    };
    if store
        .list_objects(&bucket.name, &params)
        .map_err(failure)?
        .entries
        .is_empty()
    {
        return Err(no_such_file(&path));
    }
    Ok(Node::Dir { bucket, prefix })
}

/// The attributes of a node, as `stat` returns them.
pub fn attrs(node: &Node, user: &str) -> FileAttributes {
    match node {
        Node::Root => dir_attrs(0, user),
        Node::Dir { bucket, .. } => dir_attrs(bucket.created_ms, user),
        Node::File { version, .. } => file_attrs(version, user),
    }
}

/// One page of a directory: its entries after `after` (a name as the
/// store lists it), and where the next page starts (`None`: no more).
pub fn list_page(
    store: &Store,
    user: &str,
    bucket: &BucketRecord,
    prefix: &str,
    after: Option<String>,
) -> Result<(Vec<File>, Option<String>), StatusReply> {
    let params = ListParams {
        prefix: prefix.to_owned(),
        delimiter: Some("/".into()),
        after,
        max_keys: ENTRIES_PER_READDIR,
    };
    let page = store.list_objects(&bucket.name, &params).map_err(failure)?;
    let next = match (page.is_truncated, page.entries.last()) {
        (true, Some(last)) => Some(last.name().to_owned()),
        _ => None,
    };
    let mut files = Vec::with_capacity(page.entries.len());
    for entry in &page.entries {
        let name = entry.name()[prefix.len()..].trim_end_matches('/');
        // Keys with empty segments (`a//b`, a folder marker `a/`) or
        // names a client would read as navigation cannot be files.
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            continue;
        }
        let attrs = match entry {
            ListEntry::Object { version, .. } => file_attrs(version, user),
            ListEntry::CommonPrefix(_) => dir_attrs(bucket.created_ms, user),
        };
        files.push(File::new(name, attrs));
    }
    Ok((files, next))
}

/// The root directory: the buckets the viewer owns or may list.
pub fn list_buckets(store: &Store, viewer: &Viewer) -> Result<Vec<File>, StatusReply> {
    Ok(store
        .list_buckets(None)
        .map_err(failure)?
        .iter()
        .filter(|b| viewer.can_list(b, ""))
        .map(|b| File::new(b.name.as_str(), dir_attrs(b.created_ms, &viewer.user)))
        .collect())
}

pub fn dir_attrs(created_ms: i64, user: &str) -> FileAttributes {
    FileAttributes {
        size: Some(0),
        uid: Some(0),
        user: Some(user.to_owned()),
        gid: Some(0),
        group: Some(user.to_owned()),
        permissions: Some(0o040_555),
        atime: Some(secs(created_ms)),
        mtime: Some(secs(created_ms)),
    }
}

pub fn file_attrs(version: &ObjectVersion, user: &str) -> FileAttributes {
    FileAttributes {
        size: Some(version.size),
        uid: Some(0),
        user: Some(user.to_owned()),
        gid: Some(0),
        group: Some(user.to_owned()),
        permissions: Some(0o100_444),
        atime: Some(secs(version.last_modified_ms)),
        mtime: Some(secs(version.last_modified_ms)),
    }
}

fn secs(ms: i64) -> u32 {
    u32::try_from(ms.max(0) / 1000).unwrap_or(u32::MAX)
}

pub fn no_such_file(path: &str) -> StatusReply {
    StatusCode::NoSuchFile.with_message(format!("{path}: no such file or directory"))
}

pub fn failure(e: impl std::fmt::Display) -> StatusReply {
    tracing::warn!(error = %e, "sftp request failed");
    StatusCode::Failure.with_message(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn paths_resolve_against_the_root() {
        assert_eq!(normalize("."), "/");
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("/b/main_stream/2026/"), "/b/main_stream/2026");
        assert_eq!(normalize("b/x/../y/./z"), "/b/y/z");
        assert_eq!(normalize("/../../b"), "/b");
        assert_eq!(normalize("a//b"), "/a/b");
    }
}
