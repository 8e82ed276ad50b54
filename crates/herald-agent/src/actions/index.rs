//! `index`: a local SQLite table of every object in the watched buckets.
//!
//! Each row keeps the highest sequencer seen for its key, and deletions
//! stay as tombstones carrying theirs, so duplicate and out-of-order
//! events are harmless: an event older than the row is simply not applied.
//! One writer thread owns the connection and commits whatever requests
//! are waiting in one transaction (group commit): durability (fsync) before
//! a message is deleted from its queue, without one fsync per change.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::event::{Change, Op};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER,
    etag TEXT,
    version_id TEXT,
    sequencer TEXT,
    seq_key TEXT NOT NULL,
    last_event TEXT NOT NULL,
    event_time TEXT,
    principal TEXT,
    source TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID";

struct Req {
    source: String,
    change: Change,
    reply: oneshot::Sender<Result<bool, String>>,
}

/// Handle to the writer thread of one index file.
pub struct Index {
    path: PathBuf,
    tx: mpsc::Sender<Req>,
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed change survives power loss before the source
    // forgets the event.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute(SCHEMA, [])?;
    Ok(conn)
}

impl Index {
    pub fn open(path: &Path) -> Result<Index, String> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| format!("index {}: {e}", path.display()))?;
        }
        let mut conn = open_conn(path).map_err(|e| format!("index {}: {e}", path.display()))?;
        let (tx, rx) = mpsc::channel::<Req>();
        std::thread::Builder::new()
            .name("agent-index".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < 1024 {
                        match rx.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    let results = write_batch(&mut conn, &batch);
                    for (req, res) in batch.into_iter().zip(results) {
                        let _ = req.reply.send(res);
                    }
                }
            })
            .map_err(|e| format!("index writer thread: {e}"))?;
        Ok(Index {
            path: path.to_path_buf(),
            tx,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies one change; `Ok(false)` when it was older than what the
    /// index holds (or a duplicate).
    pub async fn apply(&self, source: &str, change: &Change) -> Result<bool, String> {
        if change.op == Op::Other {
            return Ok(false);
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Req {
                source: source.to_string(),
                change: change.clone(),
                reply,
            })
            .map_err(|_| "index writer stopped".to_string())?;
        rx.await.map_err(|_| "index writer stopped".to_string())?
    }
}

fn write_batch(conn: &mut Connection, batch: &[Req]) -> Vec<Result<bool, String>> {
    let run = |conn: &mut Connection| -> rusqlite::Result<Vec<bool>> {
        let tx = conn.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        for r in batch {
            out.push(apply_one(&tx, &r.source, &r.change)?);
        }
        tx.commit()?;
        Ok(out)
    };
    match run(conn) {
        Ok(v) => v.into_iter().map(Ok).collect(),
        Err(e) => batch.iter().map(|_| Err(format!("index write failed: {e}"))).collect(),
    }
}

fn apply_one(tx: &rusqlite::Transaction<'_>, source: &str, c: &Change) -> rusqlite::Result<bool> {
    let deleted = c.op == Op::Delete;
    // Permanently deleting one version of a versioned object leaves the
    // current one in place: only a delete of the indexed version counts.
    if deleted
        && c.event_name == "s3:ObjectRemoved:Delete"
        && let Some(v) = &c.version_id
    {
        let current: Option<Option<String>> = tx
            .query_row(
                "SELECT version_id FROM objects WHERE bucket = ?1 AND key = ?2 AND deleted = 0",
                params![c.bucket, c.key],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(Some(cur)) = current
            && !cur.is_empty()
            && cur != *v
        {
            return Ok(false);
        }
    }
    let event_time = c
        .event_time
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (size, etag) = if deleted {
        (None, None)
    } else {
        (c.size.map(|s| s as i64), c.etag.clone())
    };
    let n = tx.execute(
        "INSERT INTO objects (bucket, key, size, etag, version_id, sequencer, seq_key, last_event,
                              event_time, principal, source, deleted, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (bucket, key) DO UPDATE SET
            size = excluded.size, etag = excluded.etag, version_id = excluded.version_id,
            sequencer = excluded.sequencer, seq_key = excluded.seq_key, last_event = excluded.last_event,
            event_time = excluded.event_time, principal = excluded.principal, source = excluded.source,
            deleted = excluded.deleted, updated_at = excluded.updated_at
         WHERE excluded.seq_key > objects.seq_key OR excluded.seq_key = ''",
        params![
            c.bucket,
            c.key,
            size,
            etag,
            c.version_id,
            c.sequencer,
            c.sequencer_key(),
            c.event_name,
            event_time,
            c.principal,
            source,
            deleted,
            now
        ],
    )?;
    Ok(n > 0)
}

/// `herald agent index ls`: one object per line, `<bucket>/<key>` then
/// size, eTag, version, last event, event time and principal, tab-separated.
pub fn ls(path: &Path, bucket: Option<&str>, prefix: Option<&str>, out: &mut dyn Write) -> anyhow::Result<u64> {
    let conn = open_readonly(path)?;
    let mut stmt = conn.prepare(
        "SELECT bucket, key, size, etag, version_id, last_event, event_time, principal FROM objects
         WHERE deleted = 0 AND (?1 IS NULL OR bucket = ?1) AND (?2 IS NULL OR substr(key, 1, length(?2)) = ?2)
         ORDER BY bucket, key",
    )?;
    let mut rows = stmt.query(params![bucket, prefix])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let s = |i: usize| -> rusqlite::Result<String> { Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default()) };
        let size: Option<i64> = r.get(2)?;
        writeln!(
            out,
            "{}/{}\t{}\t{}\t{}\t{}\t{}\t{}",
            s(0)?,
            s(1)?,
            size.unwrap_or(0),
            s(3)?,
            s(4)?,
            s(5)?,
            s(6)?,
            s(7)?
        )?;
        n += 1;
    }
    Ok(n)
}

/// `herald agent index stat`: totals and per-bucket counts.
pub fn stat(path: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let conn = open_readonly(path)?;
    let (objects, bytes, tombstones, last): (i64, i64, i64, Option<i64>) = conn.query_row(
        "SELECT COALESCE(SUM(deleted = 0), 0), COALESCE(SUM(CASE WHEN deleted = 0 THEN size ELSE 0 END), 0),
                COALESCE(SUM(deleted), 0), MAX(updated_at) FROM objects",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    writeln!(out, "index: {}", path.display())?;
    writeln!(out, "objects: {objects}")?;
    writeln!(out, "bytes: {bytes}")?;
    writeln!(out, "deleted: {tombstones}")?;
    if let Some(t) = last.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        && let Ok(s) = t.format(&time::format_description::well_known::Rfc3339)
    {
        writeln!(out, "last_update: {s}")?;
    }
    let mut stmt = conn.prepare(
        "SELECT bucket, SUM(deleted = 0), COALESCE(SUM(CASE WHEN deleted = 0 THEN size ELSE 0 END), 0)
         FROM objects GROUP BY bucket ORDER BY bucket",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (b, n, sz): (String, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        writeln!(out, "bucket {b}: objects {n}, bytes {sz}")?;
    }
    Ok(())
}

fn open_readonly(path: &Path) -> anyhow::Result<Connection> {
    if !path.exists() {
        anyhow::bail!(
            "{}: no such index (the agent creates it on its first change)",
            path.display()
        );
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse;

    fn change(name: &str, key: &str, etag: &str, seq: &str) -> Change {
        let body = format!(
            r#"{{"Records":[{{"eventName":"{name}","s3":{{"bucket":{{"name":"b"}},"object":{{"key":"{key}","size":3,"eTag":"{etag}","sequencer":"{seq}"}}}}}}]}}"#
        );
        match parse(body.as_bytes()).unwrap() {
            crate::event::Message::Changes(mut c) => c.remove(0),
            _ => unreachable!(),
        }
    }

    #[tokio::test]
    async fn highest_sequencer_wins_whatever_the_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.sqlite");
        let idx = Index::open(&path).unwrap();
        let put1 = change("ObjectCreated:Put", "k", "e1", "0A");
        let put2 = change("ObjectCreated:Put", "k", "e2", "0B");
        let del = change("ObjectRemoved:Delete", "gone", "", "0C");
        let put_gone = change("ObjectCreated:Put", "gone", "e0", "09");
        assert!(idx.apply("s", &put2).await.unwrap());
        assert!(!idx.apply("s", &put1).await.unwrap(), "older event must not apply");
        assert!(!idx.apply("s", &put2).await.unwrap(), "duplicate must not apply");
        assert!(idx.apply("s", &del).await.unwrap());
        assert!(
            !idx.apply("s", &put_gone).await.unwrap(),
            "a create older than the delete stays deleted"
        );
        let mut out = Vec::new();
        assert_eq!(ls(&path, None, None, &mut out).unwrap(), 1);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("b/k\t3\te2\t"), "{text}");
        let mut out = Vec::new();
        stat(&path, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("objects: 1\n") && text.contains("deleted: 1\n"), "{text}");
    }
}
