//! S3 Object Lock: write-once-read-many protection of object versions.
//!
//! A bucket with Object Lock keeps every version it holds from being
//! removed while a *retention period* runs or a *legal hold* is on. The
//! rules of what may be changed or deleted live here, free of I/O, so the
//! store applies them inside its write transactions and they are tested on
//! their own:
//!
//! - `COMPLIANCE` retention can only be extended, by anyone, never
//!   shortened, removed or turned into `GOVERNANCE` before it ends;
//! - `GOVERNANCE` retention behaves the same unless the request bypasses it
//!   (`x-amz-bypass-governance-retention: true` from a caller allowed
//!   `s3:BypassGovernanceRetention`);
//! - a legal hold refuses every permanent delete until it is turned off;
//! - a delete that only adds a delete marker is always allowed: the
//!   protected version stays readable by id.

use serde::{Deserialize, Serialize};

/// The longest default retention S3 accepts, in days (100 years).
pub const MAX_RETENTION_DAYS: i64 = 36_500;
/// The longest default retention S3 accepts, in years.
pub const MAX_RETENTION_YEARS: i64 = 100;

const DAY_MS: i64 = 86_400_000;

/// How strictly a retention period protects a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionMode {
    Governance,
    Compliance,
}

impl RetentionMode {
    /// The wire name, which S3 matches exactly (upper case only).
    pub fn parse(s: &str) -> Option<RetentionMode> {
        match s {
            "GOVERNANCE" => Some(RetentionMode::Governance),
            "COMPLIANCE" => Some(RetentionMode::Compliance),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }
}

/// The length of a bucket's default retention: days or years, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    Days(u32),
    Years(u32),
}

impl RetentionPeriod {
    /// A period from the XML's `Days`/`Years`; `Err` names S3's error code
    /// (`MalformedXML` for both or neither, `InvalidRetentionPeriod` for a
    /// value out of 1..=max).
    pub fn from_parts(days: Option<i64>, years: Option<i64>) -> Result<RetentionPeriod, LockError> {
        match (days, years) {
            (Some(_), Some(_)) | (None, None) => Err(LockError::Malformed(
                "a default retention has either Days or Years".into(),
            )),
            (Some(d), None) if (1..=MAX_RETENTION_DAYS).contains(&d) => Ok(RetentionPeriod::Days(d as u32)),
            (None, Some(y)) if (1..=MAX_RETENTION_YEARS).contains(&y) => Ok(RetentionPeriod::Years(y as u32)),
            _ => Err(LockError::InvalidPeriod),
        }
    }

    /// When a version written at `from_ms` stops being protected. A year
    /// is 365 days, as Ceph counts it.
    pub fn until(self, from_ms: i64) -> i64 {
        let days = match self {
            RetentionPeriod::Days(d) => i64::from(d),
            RetentionPeriod::Years(y) => i64::from(y) * 365,
        };
        from_ms.saturating_add(days * DAY_MS)
    }
}

/// The retention every new version of a bucket gets unless its request
/// sets one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    pub period: RetentionPeriod,
}

/// A bucket's Object Lock configuration. Its presence on a bucket means
/// Object Lock is enabled, which cannot be undone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketLockConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

/// One version's retention: its mode and the instant (ms) it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: RetentionMode,
    pub until_ms: i64,
}

impl Retention {
    fn active(&self, now_ms: i64) -> bool {
        self.until_ms > now_ms
    }
}

/// The protection of one object version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// `None` until a legal hold was first set, on or off (GetObjectLegalHold
    /// then answers that there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<bool>,
}

/// Why a lock refuses a change; each maps to one S3 error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// 400 `MalformedXML`.
    #[error("{0}")]
    Malformed(String),
    /// 400 `InvalidRetentionPeriod`.
    #[error(
        "Default retention period must be a positive integer value of at most {MAX_RETENTION_DAYS} days or {MAX_RETENTION_YEARS} years"
    )]
    InvalidPeriod,
    /// 400 `InvalidArgument`.
    #[error("{0}")]
    InvalidArgument(String),
    /// 403 `AccessDenied`: the version is protected.
    #[error("{0}")]
    Protected(&'static str),
}

impl ObjectLock {
    /// Whether there is nothing to record.
    pub fn is_empty(&self) -> bool {
        self.retention.is_none() && self.legal_hold.is_none()
    }

    /// Whether anything protects the version at `now_ms`.
    pub fn protects(&self, now_ms: i64) -> bool {
        self.legal_hold == Some(true) || self.retention.is_some_and(|r| r.active(now_ms))
    }

    /// Refuses a permanent delete of the version while it is protected.
    pub fn check_delete(&self, now_ms: i64, bypass_governance: bool) -> Result<(), LockError> {
        if self.legal_hold == Some(true) {
            return Err(LockError::Protected(
                "Access Denied: the object version is under a legal hold",
            ));
        }
        match self.retention {
            Some(r) if r.active(now_ms) && r.mode == RetentionMode::Compliance => Err(LockError::Protected(
                "Access Denied: the object version is locked in COMPLIANCE mode",
            )),
            Some(r) if r.active(now_ms) && !bypass_governance => Err(LockError::Protected(
                "Access Denied: the object version is locked in GOVERNANCE mode",
            )),
            _ => Ok(()),
        }
    }

    /// Replaces the retention with `new` (`None` removes it), if the
    /// current one allows it: an active one may only be extended in the
    /// same mode, or (`GOVERNANCE`, bypassed) changed in any way.
    pub fn set_retention(
        &mut self,
        new: Option<Retention>,
        now_ms: i64,
        bypass_governance: bool,
    ) -> Result<(), LockError> {
        if let Some(cur) = self.retention.filter(|r| r.active(now_ms)) {
            let extends = new.is_some_and(|n| n.mode == cur.mode && n.until_ms >= cur.until_ms);
            let bypassed = cur.mode == RetentionMode::Governance && bypass_governance;
            if !extends && !bypassed {
                return Err(LockError::Protected(match cur.mode {
                    RetentionMode::Compliance => {
                        "Access Denied: COMPLIANCE retention can only be extended, not shortened, removed or changed"
                    }
                    RetentionMode::Governance => {
                        "Access Denied: shortening, removing or changing GOVERNANCE retention needs x-amz-bypass-governance-retention"
                    }
                }));
            }
        }
        self.retention = new;
        Ok(())
    }

    /// The lock a new version gets: the one its request set, else the
    /// bucket's default retention counted from `written_ms`.
    pub fn for_new_version(requested: ObjectLock, bucket: &BucketLockConfig, written_ms: i64) -> ObjectLock {
        let mut lock = requested;
        if lock.retention.is_none()
            && let Some(d) = bucket.default_retention
        {
            lock.retention = Some(Retention {
                mode: d.mode,
                until_ms: d.period.until(written_ms),
            });
        }
        lock
    }
}

/// The latest retain-until date a request may set: 200 years ahead (S3
/// documents no limit and Ceph's own tests lock until 2140; without one a
/// tenant could lock its bytes past any operator's horizon).
pub const MAX_RETAIN_AHEAD_MS: i64 = 2 * MAX_RETENTION_YEARS * 365 * DAY_MS;

/// The retention a request sets on a new version or an existing one:
/// mode and date together or neither, a date in the future, at most
/// [`MAX_RETAIN_AHEAD_MS`] ahead.
pub fn requested_retention(
    mode: Option<&str>,
    until_ms: Option<i64>,
    now_ms: i64,
) -> Result<Option<Retention>, LockError> {
    match (mode, until_ms) {
        (None, None) => Ok(None),
        (Some(m), Some(until_ms)) => {
            let mode =
                RetentionMode::parse(m).ok_or_else(|| LockError::Malformed(format!("unknown retention mode {m:?}")))?;
            if until_ms <= now_ms {
                return Err(LockError::InvalidArgument(
                    "The retain until date must be in the future!".into(),
                ));
            }
            if until_ms - now_ms > MAX_RETAIN_AHEAD_MS {
                return Err(LockError::InvalidArgument(format!(
                    "The retain until date must be at most {} years in the future",
                    2 * MAX_RETENTION_YEARS
                )));
            }
            Ok(Some(Retention { mode, until_ms }))
        }
        _ => Err(LockError::InvalidArgument(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied".into(),
        )),
    }
}

/// A legal hold status from the wire (`ON`/`OFF`, exactly).
pub fn parse_legal_hold(s: &str) -> Result<bool, LockError> {
    match s {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        other => Err(LockError::Malformed(format!("unknown legal hold status {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn ret(mode: RetentionMode, until_ms: i64) -> Option<Retention> {
        Some(Retention { mode, until_ms })
    }

    #[test]
    fn periods_are_days_or_years_within_limits() {
        assert_eq!(RetentionPeriod::from_parts(Some(1), None), Ok(RetentionPeriod::Days(1)));
        assert_eq!(
            RetentionPeriod::from_parts(None, Some(100)),
            Ok(RetentionPeriod::Years(100))
        );
        assert!(matches!(
            RetentionPeriod::from_parts(Some(1), Some(1)),
            Err(LockError::Malformed(_))
        ));
        assert!(matches!(
            RetentionPeriod::from_parts(None, None),
            Err(LockError::Malformed(_))
        ));
        assert_eq!(
            RetentionPeriod::from_parts(Some(0), None),
            Err(LockError::InvalidPeriod)
        );
        assert_eq!(
            RetentionPeriod::from_parts(None, Some(-1)),
            Err(LockError::InvalidPeriod)
        );
        assert_eq!(
            RetentionPeriod::from_parts(Some(36_501), None),
            Err(LockError::InvalidPeriod)
        );
        assert_eq!(RetentionPeriod::Years(1).until(0), 365 * DAY_MS);
    }

    #[test]
    fn modes_are_upper_case_only() {
        assert_eq!(RetentionMode::parse("GOVERNANCE"), Some(RetentionMode::Governance));
        assert_eq!(RetentionMode::parse("governance"), None);
        assert_eq!(parse_legal_hold("ON"), Ok(true));
        assert!(parse_legal_hold("on").is_err());
    }

    #[test]
    fn deletes_wait_for_retention_and_legal_hold() {
        let gov = ObjectLock {
            retention: ret(RetentionMode::Governance, NOW + 1),
            legal_hold: None,
        };
        assert!(gov.check_delete(NOW, false).is_err());
        assert!(gov.check_delete(NOW, true).is_ok());
        assert!(
            gov.check_delete(NOW + 1, false).is_ok(),
            "expired retention protects nothing"
        );
        let comp = ObjectLock {
            retention: ret(RetentionMode::Compliance, NOW + 1),
            legal_hold: None,
        };
        assert!(comp.check_delete(NOW, true).is_err(), "no bypass for COMPLIANCE");
        let held = ObjectLock {
            retention: None,
            legal_hold: Some(true),
        };
        assert!(held.check_delete(NOW, true).is_err());
        assert!(held.protects(NOW));
        let released = ObjectLock {
            retention: None,
            legal_hold: Some(false),
        };
        assert!(released.check_delete(NOW, false).is_ok());
    }

    #[test]
    fn retention_changes_follow_the_mode() {
        let mut l = ObjectLock {
            retention: ret(RetentionMode::Compliance, NOW + 10),
            legal_hold: None,
        };
        assert!(
            l.set_retention(ret(RetentionMode::Compliance, NOW + 5), NOW, true)
                .is_err()
        );
        assert!(
            l.set_retention(ret(RetentionMode::Governance, NOW + 50), NOW, true)
                .is_err()
        );
        assert!(l.set_retention(None, NOW, true).is_err());
        l.set_retention(ret(RetentionMode::Compliance, NOW + 20), NOW, false)
            .unwrap();
        assert_eq!(l.retention, ret(RetentionMode::Compliance, NOW + 20));

        let mut g = ObjectLock {
            retention: ret(RetentionMode::Governance, NOW + 10),
            legal_hold: None,
        };
        assert!(
            g.set_retention(ret(RetentionMode::Governance, NOW + 5), NOW, false)
                .is_err()
        );
        assert!(
            g.set_retention(ret(RetentionMode::Compliance, NOW + 50), NOW, false)
                .is_err()
        );
        g.set_retention(ret(RetentionMode::Governance, NOW + 5), NOW, true)
            .unwrap();
        g.set_retention(ret(RetentionMode::Compliance, NOW + 5), NOW, true)
            .unwrap();
        // Once it has run out, anything goes.
        g.set_retention(None, NOW + 5, false).unwrap();
        assert_eq!(g.retention, None);
    }

    #[test]
    fn new_versions_get_the_default_unless_they_ask() {
        let cfg = BucketLockConfig {
            default_retention: Some(DefaultRetention {
                mode: RetentionMode::Governance,
                period: RetentionPeriod::Days(2),
            }),
        };
        let got = ObjectLock::for_new_version(ObjectLock::default(), &cfg, NOW);
        assert_eq!(got.retention, ret(RetentionMode::Governance, NOW + 2 * DAY_MS));
        let asked = ObjectLock {
            retention: ret(RetentionMode::Compliance, NOW + 7),
            legal_hold: Some(true),
        };
        assert_eq!(ObjectLock::for_new_version(asked, &cfg, NOW), asked);
    }

    #[test]
    fn requests_need_mode_and_future_date_together() {
        assert_eq!(requested_retention(None, None, NOW), Ok(None));
        assert!(matches!(
            requested_retention(Some("GOVERNANCE"), None, NOW),
            Err(LockError::InvalidArgument(_))
        ));
        assert!(matches!(
            requested_retention(Some("GOVERNANCE"), Some(NOW), NOW),
            Err(LockError::InvalidArgument(_))
        ));
        assert!(matches!(
            requested_retention(Some("abc"), Some(NOW + 1), NOW),
            Err(LockError::Malformed(_))
        ));
        assert_eq!(
            requested_retention(Some("COMPLIANCE"), Some(NOW + 1), NOW),
            Ok(ret(RetentionMode::Compliance, NOW + 1))
        );
        assert!(requested_retention(Some("COMPLIANCE"), Some(NOW + MAX_RETAIN_AHEAD_MS), NOW).is_ok());
        assert!(matches!(
            requested_retention(Some("COMPLIANCE"), Some(NOW + MAX_RETAIN_AHEAD_MS + 1), NOW),
            Err(LockError::InvalidArgument(_))
        ));
    }
}
