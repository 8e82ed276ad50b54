//! Listing objects and object versions, with prefix, delimiter and
//! pagination, in UTF-8 binary order as S3 lists them.

use redb::ReadTransaction;

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::records::{ObjectRecord, ObjectVersion};
use crate::tables::{BUCKETS, OBJECTS};

/// A listing request.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List strictly after this key or common prefix (marker, start-after,
    /// or a decoded continuation token).
    pub after: Option<String>,
    pub max_keys: usize,
}

/// One line of a listing.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // short-lived, built once per listed key
pub enum ListEntry {
    Object { key: String, version: ObjectVersion },
    CommonPrefix(String),
}

impl ListEntry {
    /// The key or prefix: what the next page starts after.
    pub fn name(&self) -> &str {
        match self {
            ListEntry::Object { key, .. } => key,
            ListEntry::CommonPrefix(p) => p,
        }
    }
}

/// A page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    pub is_truncated: bool,
}

/// One line of a version listing.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // short-lived, built once per listed version
pub enum VersionEntry {
    Version {
        key: String,
        version: ObjectVersion,
        is_latest: bool,
    },
    CommonPrefix(String),
}

/// A page of a version listing.
#[derive(Debug, Clone, Default)]
pub struct VersionPage {
    pub entries: Vec<VersionEntry>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

/// The smallest string greater than every string that starts with `p`
/// (valid UTF-8 never contains the bytes after U+10FFFF's encoding).
fn past_prefix(p: &str) -> String {
    format!("{p}\u{10FFFF}")
}

/// Walks the keys of a bucket under `prefix` after `after`, folding keys
/// into common prefixes, and calls `visit` for each key or prefix until it
/// returns false.
fn walk(
    txn: &ReadTransaction,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    mut visit: impl FnMut(WalkItem<'_>) -> StoreResult<bool>,
) -> StoreResult<()> {
    let objects = txn.open_table(OBJECTS)?;
    let mut start = match after {
        Some(a) if a >= prefix => a.to_owned(),
        _ => prefix.to_owned(),
    };
    let delimiter = delimiter.filter(|d| !d.is_empty());
    'outer: loop {
        let mut iter = objects.range((bucket, start.as_str())..)?;
        for row in iter.by_ref() {
            let (k, v) = row?;
            let (b, key) = k.value();
            if b != bucket || !key.starts_with(prefix) {
                break 'outer;
            }
            if after.is_some_and(|a| key <= a) {
                continue;
            }
            if let Some(d) = delimiter
                && let Some(pos) = key[prefix.len()..].find(d)
            {
                let cp = &key[..prefix.len() + pos + d.len()];
                let next = past_prefix(cp);
                if after.is_none_or(|a| !a.starts_with(cp)) && !visit(WalkItem::Prefix(cp))? {
                    break 'outer;
                }
                // Skip every other key under this common prefix.
                start = next;
                continue 'outer;
            }
            let rec: ObjectRecord = serde_json::from_slice(v.value())?;
            if !visit(WalkItem::Key(key, rec))? {
                break 'outer;
            }
        }
        break;
    }
    Ok(())
}

enum WalkItem<'a> {
    Key(&'a str, ObjectRecord),
    Prefix(&'a str),
}

impl Store {
    fn read_bucket_txn(&self, bucket: &str) -> StoreResult<ReadTransaction> {
        let txn = self.db().begin_read()?;
        if txn.open_table(BUCKETS)?.get(bucket)?.is_none() {
            return Err(StoreError::NoSuchBucket);
        }
        Ok(txn)
    }

    /// Lists the current (non-deleted) objects of a bucket.
    pub fn list_objects(&self, bucket: &str, params: &ListParams) -> StoreResult<ListPage> {
        let txn = self.read_bucket_txn(bucket)?;
        let mut page = ListPage::default();
        if params.max_keys == 0 {
            return Ok(page);
        }
        walk(
            &txn,
            bucket,
            &params.prefix,
            params.delimiter.as_deref(),
            params.after.as_deref(),
            |item| {
                let entry = match item {
                    WalkItem::Prefix(p) => ListEntry::CommonPrefix(p.to_owned()),
                    WalkItem::Key(key, mut rec) => {
                        if rec.latest().is_none_or(|v| v.delete_marker) {
                            return Ok(true);
                        }
                        ListEntry::Object {
                            key: key.to_owned(),
                            version: rec.versions.swap_remove(0),
                        }
                    }
                };
                if page.entries.len() == params.max_keys {
                    page.is_truncated = true;
                    return Ok(false);
                }
                page.entries.push(entry);
                Ok(true)
            },
        )?;
        Ok(page)
    }

    /// Lists every version and delete marker of a bucket.
    pub fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_id_marker: Option<&str>,
        max_keys: usize,
    ) -> StoreResult<VersionPage> {
        let txn = self.read_bucket_txn(bucket)?;
        let mut page = VersionPage::default();
        if max_keys == 0 {
            return Ok(page);
        }
        // With a version-id marker, the marker key itself is resumed inside.
        let resume_key = key_marker.filter(|_| version_id_marker.is_some_and(|v| !v.is_empty()));
        let after = match resume_key {
            Some(k) => {
                // Start just before the marker key so walk() yields it.
                let mut prev = k.to_owned();
                prev.pop();
                Some(prev).filter(|p| !p.is_empty() || !k.is_empty())
            }
            None => key_marker.map(str::to_owned),
        };
        let mut last: Option<(String, Option<String>)> = None;
        walk(&txn, bucket, prefix, delimiter, after.as_deref(), |item| {
            match item {
                WalkItem::Prefix(p) => {
                    if resume_key.is_some_and(|k| p <= k) && key_marker.is_some_and(|k| k.starts_with(p)) {
                        return Ok(true);
                    }
                    if page.entries.len() == max_keys {
                        page.is_truncated = true;
                        return Ok(false);
                    }
                    page.entries.push(VersionEntry::CommonPrefix(p.to_owned()));
                    last = Some((p.to_owned(), None));
                }
                WalkItem::Key(key, rec) => {
                    if let Some(k) = key_marker
                        && key < k
                    {
                        return Ok(true);
                    }
                    let mut skipping = resume_key == Some(key);
                    if key_marker == Some(key) && !skipping {
                        return Ok(true);
                    }
                    for (i, version) in rec.versions.into_iter().enumerate() {
                        if skipping {
                            if Some(version.version_id.as_str()) == version_id_marker {
                                skipping = false;
                            }
                            continue;
                        }
                        if page.entries.len() == max_keys {
                            page.is_truncated = true;
                            return Ok(false);
                        }
                        last = Some((key.to_owned(), Some(version.version_id.clone())));
                        page.entries.push(VersionEntry::Version {
                            key: key.to_owned(),
                            version,
                            is_latest: i == 0,
                        });
                    }
                }
            }
            Ok(true)
        })?;
        if page.is_truncated
            && let Some((k, v)) = last
        {
            page.next_key_marker = Some(k);
            page.next_version_id_marker = v;
        }
        Ok(page)
    }
}
