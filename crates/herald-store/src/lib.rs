//! Herald's embedded object store.
//!
//! Object bytes live in files (see [`blob`]), everything else (users,
//! buckets, object versions, multipart uploads) in one redb database whose
//! writes go through a group committer (see [`commit`]). The store knows
//! objects and nothing of events: it reports, for every change, what the
//! notifier needs (the new version, its sequence number), and leaves the
//! rest to its callers.

pub mod blob;
mod buckets;
mod commit;
mod deletes;
pub mod error;
mod intents;
pub mod journal;
mod lifecycle;
mod list;
mod multipart;
mod objects;
mod policies;
mod quota;
mod reader;
pub mod records;
pub(crate) mod shared;
mod ssh_keys;
mod tables;
mod topics;
mod users;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use redb::{Database, ReadableTable};

pub use blob::BlobDir;
pub use deletes::{DeleteConditions, DeleteOutcome};
pub use error::{StoreError, StoreResult};
pub use intents::{Intent, IntentKey, IntentKind, SettledChange};
pub use journal::{EventEntry, EventJournal, EventRenderer, StagedChange, Txn, WrittenEvents};
pub use lifecycle::{AbortOutcome, LifecycleBucket, LifecycleRun};
pub use list::{ListEntry, ListPage, ListParams, VersionEntry, VersionPage};
pub use multipart::{CompletedPart, NewUpload, PartChecks, PartList, UploadList, UploadRef};
pub use objects::{CopySource, CopyTarget, ETagCondition, ObjectBody, PutOptions, WriteOutcome, WritePreconditions};
pub use policies::BucketPolicyRecord;
pub use quota::Quotas;
pub use reader::ObjectReader;
pub use records::{
    BucketRecord, ChecksumSlot, ObjectAccess, ObjectMeta, ObjectVersion, PartRecord, Segment, TopicRecord,
    UploadRecord, now_ms,
};
pub use shared::{
    LOST_RACE, MAX_SHARED_ROW_BYTES, SharedChange, SharedSink, SharedTable, parse_shared_key, shared_change_of,
};
pub use topics::TopicExpectation;

use commit::Committer;

/// Bytes of metadata pages redb may cache in memory. The B-tree's inner
/// pages of even a million-object store fit; leaf pages come from the OS
/// page cache, which does not count against the process. (redb's default,
/// 1 GiB, made RSS grow with the store; 64 MiB left a server with 1M
/// pending events at 205 MiB, over the 200 MB goal.)
const METADATA_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// A handle to an open store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    blobs: BlobDir,
    committer: Committer,
    /// access key id -> (user name, secret), kept in memory because every
    /// request needs it before anything else happens.
    keys: RwLock<HashMap<String, (String, String)>>,
    dir: PathBuf,
    /// Per-user limits (see [`quota`]).
    quotas: RwLock<Quotas>,
    /// Told of writes to the tables a cluster shares (see [`shared`]).
    shared_sink: std::sync::OnceLock<Arc<dyn SharedSink>>,
    /// See [`Store::lock_shared_writes`].
    shared_writes: tokio::sync::Mutex<()>,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    ///
    /// Only one process can hold a store open: redb locks its file. Blobs
    /// left behind by a crash are removed in the background.
    pub fn open(dir: &Path) -> StoreResult<Store> {
        // The data dir and the database (every user's secret key) are the
        // owner's alone, and created so: no window in which another local
        // user could open them.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(dir)?;
        let blobs = BlobDir::open(dir.join("blobs"))?;
        let db_file = std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
            0o600,
        )
        .open(dir.join("meta.redb"))?;
        // redb caches pages in the process (1 GiB by default), which would
        // make RSS grow with the metadata; the OS page cache already keeps
        // hot pages, so a modest cache of our own is enough.
        let db = redb::Builder::new()
            .set_cache_size(METADATA_CACHE_BYTES)
            .create_file(db_file)?;
        tables::create_all(&db)?;
        quota::rebuild(&db)?;
        let db = Arc::new(db);
        let store = Store {
            inner: Arc::new(Inner {
                committer: Committer::start(db.clone()),
                db,
                blobs,
                keys: RwLock::new(HashMap::new()),
                dir: dir.to_path_buf(),
                quotas: RwLock::new(Quotas::default()),
                shared_sink: std::sync::OnceLock::new(),
                shared_writes: tokio::sync::Mutex::new(()),
            }),
        };
        store.reload_keys()?;
        Ok(store)
    }

    /// Sets the per-user limits (until then, [`Quotas::default`]).
    pub fn set_quotas(&self, quotas: Quotas) {
        *self.inner.quotas.write().expect("quotas lock") = quotas;
    }

    /// The per-user limits in force.
    pub fn quotas(&self) -> Quotas {
        self.inner.quotas.read().expect("quotas lock").clone()
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Removes blob files that no record references (left by a crash
    /// between writing a blob and committing its metadata). Blobs newer
    /// than the call are kept, so it is safe while the server runs.
    pub fn collect_garbage(&self) -> StoreResult<usize> {
        let started = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
        let mut referenced = std::collections::HashSet::new();
        let txn = self.inner.db.begin_read()?;
        let objects = txn.open_table(tables::OBJECTS)?;
        for row in objects.iter()? {
            let (_, v) = row?;
            let rec: records::ObjectRecord = serde_json::from_slice(v.value())?;
            for ver in rec.versions {
                referenced.extend(ver.segments.into_iter().map(|s| s.blob));
            }
        }
        let parts = txn.open_table(tables::PARTS)?;
        for row in parts.iter()? {
            let (_, v) = row?;
            let part: PartRecord = serde_json::from_slice(v.value())?;
            referenced.insert(part.blob);
        }
        drop(txn);
        Ok(self.inner.blobs.collect_garbage(&referenced, started)?)
    }

    fn db(&self) -> &Database {
        &self.inner.db
    }

    fn blobs(&self) -> &BlobDir {
        &self.inner.blobs
    }

    async fn write<R, F>(&self, new_blobs: Vec<String>, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Txn<'_>) -> StoreResult<commit::Applied<R>> + Send + 'static,
    {
        self.inner.committer.write(&self.inner.blobs, new_blobs, f).await
    }

    /// Attaches the journal that every change's events are written to, in
    /// the change's own group commit (see [`journal`]). Set once, before
    /// the first write that has events.
    pub fn set_journal(&self, journal: std::sync::Arc<dyn EventJournal>) {
        let same_fs = same_file_system(self.inner.blobs.root(), journal.dir());
        self.inner.committer.set_journal(journal, same_fs);
    }
}

/// Whether two paths are on one file system (so one syncfs covers both).
fn same_file_system(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

/// A random id of `n` hex digits (upload ids, bucket ids, version ids).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}
