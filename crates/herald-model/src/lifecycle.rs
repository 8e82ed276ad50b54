//! Bucket lifecycle rules (Put/GetBucketLifecycleConfiguration) and the
//! pure decision the lifecycle worker takes for one object: which of its
//! versions have expired under which rule.
//!
//! Herald has one storage class, so only expiration exists: of the current
//! version (`Expiration`: `Days`, `Date`, `ExpiredObjectDeleteMarker`), of
//! noncurrent versions (`NoncurrentVersionExpiration`) and of multipart
//! uploads never completed (`AbortIncompleteMultipartUpload`). Transitions
//! are refused when the configuration is put (see the server's
//! `s3::lifecycle`), never silently kept.

use serde::{Deserialize, Serialize};

/// Rules per configuration (S3's limit).
pub const MAX_RULES: usize = 1000;
/// Longest rule id (S3's limit).
pub const MAX_ID_LEN: usize = 255;
/// Longest prefix a filter may name (S3's key limit).
pub const MAX_PREFIX_LEN: usize = 1024;
/// Tags an `And` filter may name (S3 allows an object 10 tags, so a rule
/// asking for more could never match).
pub const MAX_FILTER_TAGS: usize = 10;
/// Highest `NewerNoncurrentVersions` (S3's limit).
pub const MAX_NEWER_NONCURRENT: u32 = 100;
/// Highest day count a rule may name (about 270 years); keeps every
/// computed time far from overflow.
pub const MAX_DAYS: u32 = 100_000;

/// Milliseconds of a real day (the length of a lifecycle day unless the
/// server is told otherwise, see [`LifecycleClock`]).
pub const DAY_MS: i64 = 86_400_000;

/// A bucket's lifecycle configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfiguration {
    pub rules: Vec<LifecycleRule>,
}

/// One `<Rule>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    #[serde(default)]
    pub filter: LifecycleFilter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// `AbortIncompleteMultipartUpload/DaysAfterInitiation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_upload_days: Option<u32>,
}

/// Which objects a rule applies to: all of its parts must hold. How the
/// filter was written (`Prefix` at the rule's top level, `Filter/Prefix`,
/// `Filter/Tag`, `Filter/And`) is kept so GET returns the same shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleFilter {
    #[serde(default)]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
    #[serde(default)]
    pub shape: FilterShape,
}

/// How a filter was written, for GET to answer in the same shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterShape {
    /// The deprecated `<Prefix>` directly in the rule.
    RulePrefix,
    /// `<Filter>` with one element.
    #[default]
    Single,
    /// An empty `<Filter/>` (every object).
    Empty,
    /// `<Filter><And>…</And></Filter>`.
    And,
}

/// `<Expiration>` of current versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// Days after the version was written.
    Days(u32),
    /// From this instant (midnight UTC, in ms since the epoch) on.
    Date(i64),
    /// Only remove a delete marker left with no version under it.
    ExpiredObjectDeleteMarker,
}

/// `<NoncurrentVersionExpiration>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days after a version stopped being current.
    pub days: u32,
    /// How many of the newest noncurrent versions are kept whatever their age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_versions: Option<u32>,
}

/// Why a configuration is refused, as the S3 error code to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("{0}")]
    MalformedXml(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    NotImplemented(String),
}

impl LifecycleConfiguration {
    /// Checks the whole configuration as S3 does before storing it.
    pub fn validate(&self) -> Result<(), LifecycleError> {
        use LifecycleError::*;
        if self.rules.is_empty() {
            return Err(MalformedXml("a lifecycle configuration needs at least one Rule".into()));
        }
        if self.rules.len() > MAX_RULES {
            return Err(MalformedXml(format!(
                "a lifecycle configuration has at most {MAX_RULES} rules"
            )));
        }
        let mut ids = std::collections::HashSet::new();
        for rule in &self.rules {
            if !ids.insert(rule.id.as_str()) {
                return Err(InvalidArgument(format!(
                    "Rule ID must be unique. Found same ID for more than one rule: {:?}",
                    rule.id
                )));
            }
            rule.validate()?;
        }
        Ok(())
    }

    /// The enabled rules whose filter's prefix `key` starts with (what the
    /// worker reads each object against).
    pub fn enabled(&self) -> impl Iterator<Item = &LifecycleRule> {
        self.rules.iter().filter(|r| r.enabled)
    }
}

impl LifecycleRule {
    fn validate(&self) -> Result<(), LifecycleError> {
        use LifecycleError::*;
        let id = &self.id;
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(InvalidArgument(format!(
                "the rule ID must be 1 to {MAX_ID_LEN} characters long"
            )));
        }
        if self.expiration.is_none()
            && self.noncurrent_expiration.is_none()
            && self.abort_incomplete_upload_days.is_none()
        {
            return Err(InvalidRequest(format!(
                "rule {id:?}: at least one action needs to be specified in a rule"
            )));
        }
        let f = &self.filter;
        if f.prefix.len() > MAX_PREFIX_LEN {
            return Err(InvalidArgument(format!(
                "rule {id:?}: the prefix is longer than {MAX_PREFIX_LEN} bytes"
            )));
        }
        if f.tags.len() > MAX_FILTER_TAGS {
            return Err(InvalidArgument(format!(
                "rule {id:?}: a filter names at most {MAX_FILTER_TAGS} tags"
            )));
        }
        let mut keys = std::collections::HashSet::new();
        for (k, v) in &f.tags {
            if k.is_empty() || k.len() > 128 || v.len() > 256 {
                return Err(InvalidArgument(format!(
                    "rule {id:?}: a tag key is 1 to 128 characters, a value at most 256"
                )));
            }
            if !keys.insert(k.as_str()) {
                return Err(InvalidArgument(format!(
                    "rule {id:?}: duplicate tag key {k:?} in the filter"
                )));
            }
        }
        if let (Some(gt), Some(lt)) = (f.size_greater_than, f.size_less_than)
            && gt >= lt
        {
            return Err(InvalidArgument(format!(
                "rule {id:?}: ObjectSizeGreaterThan must be less than ObjectSizeLessThan"
            )));
        }
        match self.expiration {
            Some(Expiration::Days(d)) => positive_days(id, "Expiration", d)?,
            Some(Expiration::Date(ms)) if ms.rem_euclid(DAY_MS) != 0 => {
                return Err(InvalidArgument(format!("rule {id:?}: 'Date' must be at midnight GMT")));
            }
            Some(Expiration::ExpiredObjectDeleteMarker) if !f.tags.is_empty() => {
                return Err(InvalidArgument(format!(
                    "rule {id:?}: ExpiredObjectDeleteMarker cannot be specified with a tag-based filter"
                )));
            }
            _ => {}
        }
        if let Some(n) = &self.noncurrent_expiration {
            positive_days(id, "NoncurrentVersionExpiration", n.days)?;
            if n.newer_versions.is_some_and(|v| v == 0 || v > MAX_NEWER_NONCURRENT) {
                return Err(InvalidArgument(format!(
                    "rule {id:?}: NewerNoncurrentVersions must be 1 to {MAX_NEWER_NONCURRENT}"
                )));
            }
        }
        if let Some(d) = self.abort_incomplete_upload_days {
            positive_days(id, "AbortIncompleteMultipartUpload", d)?;
            if !f.tags.is_empty() || f.size_greater_than.is_some() || f.size_less_than.is_some() {
                return Err(InvalidRequest(format!(
                    "rule {id:?}: AbortIncompleteMultipartUpload cannot be specified with Tags or object size filters"
                )));
            }
        }
        Ok(())
    }

    /// Whether the rule's filter selects an object version (delete markers
    /// have no tags nor size: like Ceph, the tag and size parts of a
    /// filter do not hold them back).
    pub fn selects(&self, key: &str, size: u64, tags: &[(String, String)], delete_marker: bool) -> bool {
        let f = &self.filter;
        if !key.starts_with(f.prefix.as_str()) {
            return false;
        }
        if delete_marker {
            return true;
        }
        let tags_ok = f
            .tags
            .iter()
            .all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && tv == v));
        tags_ok && f.size_greater_than.is_none_or(|gt| size > gt) && f.size_less_than.is_none_or(|lt| size < lt)
    }
}

fn positive_days(id: &str, action: &str, days: u32) -> Result<(), LifecycleError> {
    if days == 0 || days > MAX_DAYS {
        return Err(LifecycleError::InvalidArgument(format!(
            "rule {id:?}: 'Days' for {action} action must be a positive integer (at most {MAX_DAYS})"
        )));
    }
    Ok(())
}

/// How long a lifecycle day is. A real day counts as S3 counts: days are
/// added to the version's time and the result rounded up to the next
/// midnight UTC. A shortened day (`--lifecycle-day-secs`, for tests and
/// demos, like Ceph's `rgw_lc_debug_interval`) is added without rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleClock {
    pub day_ms: i64,
}

impl Default for LifecycleClock {
    fn default() -> Self {
        LifecycleClock { day_ms: DAY_MS }
    }
}

impl LifecycleClock {
    /// When something that started at `since_ms` is `days` days old.
    pub fn after(&self, since_ms: i64, days: u32) -> i64 {
        let at = since_ms.saturating_add(i64::from(days).saturating_mul(self.day_ms));
        if self.day_ms == DAY_MS {
            // Up to the next midnight (an instant already at midnight stays).
            at.saturating_add(DAY_MS - 1).div_euclid(DAY_MS).saturating_mul(DAY_MS)
        } else {
            at
        }
    }
}

/// One version of an object as the lifecycle decision needs it.
#[derive(Debug, Clone)]
pub struct VersionFacts<'a> {
    pub version_id: &'a str,
    pub seq: u64,
    pub delete_marker: bool,
    pub last_modified_ms: i64,
    pub size: u64,
    pub tags: &'a [(String, String)],
}

/// What expires of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expire {
    /// The current version expired: removed (unversioned bucket) or hidden
    /// under a new delete marker (versioned or suspended bucket).
    Current { seq: u64 },
    /// The current version is a delete marker with nothing under it: removed.
    DeleteMarker { version_id: String, seq: u64 },
    /// A noncurrent version (or delete marker) expired: removed for good.
    Noncurrent { version_id: String, seq: u64 },
}

/// Decides what expires of one object, whose versions are given newest
/// first, at `now_ms`. Noncurrent versions come first in the answer, then
/// the current one, so acting in order never makes a version noncurrent
/// before its own expiry was decided.
pub fn expired(
    config: &LifecycleConfiguration,
    clock: LifecycleClock,
    key: &str,
    versions: &[VersionFacts<'_>],
    now_ms: i64,
) -> Vec<Expire> {
    let mut out = Vec::new();
    let Some(current) = versions.first() else {
        return out;
    };
    // Noncurrent versions: each became noncurrent when the next newer one
    // was written; counted newest first for NewerNoncurrentVersions.
    for (i, v) in versions.iter().enumerate().skip(1) {
        let since = versions[i - 1].last_modified_ms;
        let rank = u32::try_from(i).unwrap_or(u32::MAX);
        let expires = config.enabled().any(|r| {
            let Some(n) = r.noncurrent_expiration else { return false };
            r.selects(key, v.size, v.tags, v.delete_marker)
                && n.newer_versions.is_none_or(|keep| rank > keep)
                && now_ms >= clock.after(since, n.days)
        });
        if expires {
            out.push(Expire::Noncurrent {
                version_id: v.version_id.to_owned(),
                seq: v.seq,
            });
        }
    }
    if current.delete_marker {
        // A delete marker is "expired" once no version remains under it
        // (counting those expiring now, if all of them go: the worker
        // drops this when one of them is held back): at once with
        // ExpiredObjectDeleteMarker; with an Expiration by days or date,
        // which S3 says removes them too, once the marker itself is that
        // old, or the date has come.
        let alone = versions.len() == 1 + out.len();
        let expires = alone
            && config.enabled().any(|r| {
                r.selects(key, 0, &[], true)
                    && match r.expiration {
                        Some(Expiration::ExpiredObjectDeleteMarker) => true,
                        Some(Expiration::Days(d)) => now_ms >= clock.after(current.last_modified_ms, d),
                        Some(Expiration::Date(at)) => now_ms >= at,
                        None => false,
                    }
            });
        if expires {
            out.push(Expire::DeleteMarker {
                version_id: current.version_id.to_owned(),
                seq: current.seq,
            });
        }
        return out;
    }
    let expires = config.enabled().any(|r| {
        r.selects(key, current.size, current.tags, false)
            && match r.expiration {
                Some(Expiration::Days(d)) => now_ms >= clock.after(current.last_modified_ms, d),
                Some(Expiration::Date(at)) => now_ms >= at,
                Some(Expiration::ExpiredObjectDeleteMarker) | None => false,
            }
    });
    if expires {
        out.push(Expire::Current { seq: current.seq });
    }
    out
}

/// Whether a multipart upload started at `initiated_ms` for `key` is to be
/// aborted at `now_ms`.
pub fn upload_expired(
    config: &LifecycleConfiguration,
    clock: LifecycleClock,
    key: &str,
    initiated_ms: i64,
    now_ms: i64,
) -> bool {
    config.enabled().any(|r| {
        r.abort_incomplete_upload_days
            .is_some_and(|d| key.starts_with(r.filter.prefix.as_str()) && now_ms >= clock.after(initiated_ms, d))
    })
}

#[cfg(test)]
mod tests;
