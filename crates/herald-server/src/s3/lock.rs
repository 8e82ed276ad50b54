//! Object Lock: the bucket's configuration, and each version's retention
//! and legal hold (the rules are in `herald_model::lock`, applied by the
//! store inside its write transactions).
//!
//! Who may call these was decided by the access hook (the bucket owner,
//! or a policy granting `s3:PutObjectRetention` and friends; ACLs grant
//! none of them). Bypassing `GOVERNANCE` retention also needs
//! `s3:BypassGovernanceRetention`, asked separately ([`may_bypass`]).

use herald_model::lock::{
    self, BucketLockConfig, DefaultRetention, LockError, ObjectLock, RetentionMode, RetentionPeriod,
};
use herald_store::{BucketRecord, ObjectVersion, StoreError};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::{HeraldS3, StoreResultExt, ok, s3_err, ts};

fn lock_err(e: LockError) -> s3s::S3Error {
    s3_err(StoreError::lock(e))
}

fn ms_of(t: &Timestamp) -> i64 {
    (time::OffsetDateTime::from(t.clone()).unix_timestamp_nanos() / 1_000_000) as i64
}

/// The Object Lock headers of a write (`x-amz-object-lock-mode`,
/// `-retain-until-date`, `-legal-hold` on PutObject, CopyObject and
/// CreateMultipartUpload).
pub(crate) struct LockHeaders<'a> {
    pub mode: Option<&'a ObjectLockMode>,
    pub until: Option<&'a Timestamp>,
    pub legal_hold: Option<&'a ObjectLockLegalHoldStatus>,
}

/// The [`LockHeaders`] of an s3s input that has the three fields.
macro_rules! lock_headers {
    ($input:expr) => {
        $crate::s3::lock::LockHeaders {
            mode: $input.object_lock_mode.as_ref(),
            until: $input.object_lock_retain_until_date.as_ref(),
            legal_hold: $input.object_lock_legal_hold_status.as_ref(),
        }
    };
}
pub(crate) use lock_headers;

/// The lock a new version's request asks for. Setting one needs the
/// permissions that set it on an existing version
/// (`s3:PutObjectRetention`, `s3:PutObjectLegalHold`), as in S3: a writer
/// allowed only `s3:PutObject` cannot make its upload undeletable for the
/// bucket's owner. The bucket's default retention fills in later, in the
/// store, when the request sets none.
pub(crate) fn requested<T>(
    s3: &HeraldS3,
    req: &S3Request<T>,
    h: LockHeaders<'_>,
    bucket: &str,
    key: &str,
) -> S3Result<ObjectLock> {
    let lock = parse_requested(h)?;
    let needs = [
        (lock.retention.is_some(), "PutObjectRetention"),
        (lock.legal_hold.is_some(), "PutObjectLegalHold"),
    ];
    for (asked, op) in needs {
        if asked && !super::access::also_allowed(s3, req, op, bucket, Some(key), None) {
            return Err(s3s::s3_error!(
                AccessDenied,
                "Access Denied: setting Object Lock on a write needs s3:{op}"
            ));
        }
    }
    Ok(lock)
}

fn parse_requested(h: LockHeaders<'_>) -> S3Result<ObjectLock> {
    let LockHeaders {
        mode,
        until,
        legal_hold,
    } = h;
    let retention = lock::requested_retention(mode.map(|m| m.as_str()), until.map(ms_of), now_ms())
        // A header (not XML) that does not parse is an invalid argument.
        .map_err(|e| match e {
            LockError::Malformed(m) => lock_err(LockError::InvalidArgument(m)),
            other => lock_err(other),
        })?;
    let legal_hold = match legal_hold {
        None => None,
        Some(s) => Some(lock::parse_legal_hold(s.as_str()).map_err(|_| {
            lock_err(LockError::InvalidArgument(format!(
                "x-amz-object-lock-legal-hold must be ON or OFF, not {:?}",
                s.as_str()
            )))
        })?),
    };
    Ok(ObjectLock { retention, legal_hold })
}

fn now_ms() -> i64 {
    herald_store::now_ms()
}

/// The Object Lock fields of GET and HEAD answers.
pub(crate) struct LockFields {
    pub mode: Option<ObjectLockMode>,
    pub retain_until: Option<Timestamp>,
    pub legal_hold: Option<ObjectLockLegalHoldStatus>,
}

/// Which lock fields a reader may see: S3 shows the retention only to
/// callers allowed `s3:GetObjectRetention`, the legal hold to those allowed
/// `s3:GetObjectLegalHold` (a reader of the bytes is not necessarily one).
#[derive(Clone, Copy, Default)]
pub(crate) struct LockVisibility {
    retention: bool,
    legal_hold: bool,
}

/// Decided only in buckets with Object Lock (no cost anywhere else).
pub(crate) fn visibility<T>(
    s3: &HeraldS3,
    req: &S3Request<T>,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> LockVisibility {
    let locked = req
        .extensions
        .get::<super::access::Granted>()
        .and_then(|g| g.bucket.as_ref())
        .is_some_and(|b| b.object_lock.is_some());
    if !locked {
        return LockVisibility::default();
    }
    let may = |op| super::access::also_allowed(s3, req, op, bucket, Some(key), version_id);
    LockVisibility {
        retention: may("GetObjectRetention"),
        legal_hold: may("GetObjectLegalHold"),
    }
}

pub(crate) fn fields(v: &ObjectVersion, shown: LockVisibility) -> LockFields {
    let r = v.lock.retention.filter(|_| shown.retention);
    LockFields {
        mode: r.map(|r| ObjectLockMode::from(r.mode.as_str().to_owned())),
        retain_until: r.map(|r| ts(r.until_ms)),
        legal_hold: v
            .lock
            .legal_hold
            .filter(|_| shown.legal_hold)
            .map(|on| ObjectLockLegalHoldStatus::from(if on { "ON" } else { "OFF" }.to_owned())),
    }
}

/// Whether the request asks to bypass `GOVERNANCE` retention and its
/// caller may (`s3:BypassGovernanceRetention`); a request that asks
/// without the permission is treated as one that did not ask, so a locked
/// version stays locked (AccessDenied from the lock, as S3).
pub(crate) fn may_bypass<T>(
    s3: &HeraldS3,
    req: &S3Request<T>,
    asked: Option<bool>,
    bucket: &str,
    key: Option<&str>,
) -> bool {
    asked == Some(true) && super::access::also_allowed(s3, req, "BypassGovernanceRetention", bucket, key, None)
}

/// A bucket's Object Lock configuration from its XML form.
fn parse_config(c: &ObjectLockConfiguration) -> Result<BucketLockConfig, LockError> {
    if c.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some(ObjectLockEnabled::ENABLED) {
        return Err(LockError::Malformed("ObjectLockEnabled must be Enabled".into()));
    }
    let Some(rule) = &c.rule else {
        return Ok(BucketLockConfig::default());
    };
    let Some(d) = &rule.default_retention else {
        return Err(LockError::Malformed("a Rule needs a DefaultRetention".into()));
    };
    let mode = d
        .mode
        .as_ref()
        .and_then(|m| RetentionMode::parse(m.as_str()))
        .ok_or_else(|| LockError::Malformed("DefaultRetention needs a Mode, GOVERNANCE or COMPLIANCE".into()))?;
    let period = RetentionPeriod::from_parts(d.days.map(i64::from), d.years.map(i64::from))?;
    Ok(BucketLockConfig {
        default_retention: Some(DefaultRetention { mode, period }),
    })
}

fn config_dto(c: &BucketLockConfig) -> ObjectLockConfiguration {
    ObjectLockConfiguration {
        object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
        rule: c.default_retention.map(|d| ObjectLockRule {
            default_retention: Some(s3s::dto::DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(d.mode.as_str().to_owned())),
                days: match d.period {
                    RetentionPeriod::Days(n) => Some(n as i32),
                    RetentionPeriod::Years(_) => None,
                },
                years: match d.period {
                    RetentionPeriod::Years(n) => Some(n as i32),
                    RetentionPeriod::Days(_) => None,
                },
            }),
        }),
    }
}

/// The settings CreateBucket's `x-amz-bucket-object-lock-enabled` gives a
/// new bucket: Object Lock on (no default retention) and versioning on.
pub(crate) fn enable_at_creation(rec: &mut BucketRecord) {
    rec.object_lock = Some(BucketLockConfig::default());
    rec.versioning = herald_model::VersioningState::Enabled;
}

pub async fn put_object_lock_configuration(
    s3: &HeraldS3,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let Some(conf) = &req.input.object_lock_configuration else {
        return Err(lock_err(LockError::Malformed("missing ObjectLockConfiguration".into())));
    };
    let config = parse_config(conf).map_err(lock_err)?;
    s3.store
        .update_bucket_access(&bucket, move |rec| {
            // Enabling it later needs versioning on (S3); once enabled,
            // only the default retention changes.
            if rec.versioning != herald_model::VersioningState::Enabled {
                return Err(StoreError::invalid_bucket_state(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                ));
            }
            rec.object_lock = Some(config);
            Ok(())
        })
        .await
        .s3()?;
    ok(PutObjectLockConfigurationOutput::default())
}

pub async fn get_object_lock_configuration(
    s3: &HeraldS3,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let Some(config) = &bucket.object_lock else {
        return Err(s3s::s3_error!(
            ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket"
        ));
    };
    ok(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(config_dto(config)),
    })
}

pub async fn put_object_retention(
    s3: &HeraldS3,
    req: S3Request<PutObjectRetentionInput>,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let bypass = may_bypass(
        s3,
        &req,
        req.input.bypass_governance_retention,
        &req.input.bucket,
        Some(&req.input.key),
    );
    let input = req.input;
    // An empty <Retention/> removes the retention (where the rules allow).
    let r = input.retention.unwrap_or_default();
    let new = lock::requested_retention(
        r.mode.as_ref().map(|m| m.as_str()),
        r.retain_until_date.as_ref().map(ms_of),
        now_ms(),
    )
    .map_err(lock_err)?;
    s3.store
        .update_object_lock(&bucket, &input.key, input.version_id.as_deref(), move |l, now| {
            l.set_retention(new, now, bypass)
        })
        .await
        .s3()?;
    ok(PutObjectRetentionOutput::default())
}

pub async fn get_object_retention(
    s3: &HeraldS3,
    req: S3Request<GetObjectRetentionInput>,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let v = locked_version(s3, &bucket, &req.input.key, req.input.version_id.as_deref())?;
    let Some(r) = v.lock.retention else {
        return Err(no_lock_configuration());
    };
    ok(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from(r.mode.as_str().to_owned())),
            retain_until_date: Some(ts(r.until_ms)),
        }),
    })
}

pub async fn put_object_legal_hold(
    s3: &HeraldS3,
    req: S3Request<PutObjectLegalHoldInput>,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let input = req.input;
    let status = input
        .legal_hold
        .as_ref()
        .and_then(|h| h.status.as_ref())
        .ok_or_else(|| lock_err(LockError::Malformed("LegalHold needs a Status".into())))?;
    let on = lock::parse_legal_hold(status.as_str()).map_err(lock_err)?;
    s3.store
        .update_object_lock(&bucket, &input.key, input.version_id.as_deref(), move |l, _| {
            l.legal_hold = Some(on);
            Ok(())
        })
        .await
        .s3()?;
    ok(PutObjectLegalHoldOutput::default())
}

pub async fn get_object_legal_hold(
    s3: &HeraldS3,
    req: S3Request<GetObjectLegalHoldInput>,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let v = locked_version(s3, &bucket, &req.input.key, req.input.version_id.as_deref())?;
    let Some(on) = v.lock.legal_hold else {
        return Err(no_lock_configuration());
    };
    ok(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold {
            status: Some(ObjectLockLegalHoldStatus::from(
                if on { "ON" } else { "OFF" }.to_owned(),
            )),
        }),
    })
}

/// The version a Get{Retention,LegalHold} reads, in a bucket with Object
/// Lock (`InvalidRequest` otherwise, as S3).
fn locked_version(
    s3: &HeraldS3,
    bucket: &BucketRecord,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<ObjectVersion> {
    if bucket.object_lock.is_none() {
        return Err(s3_err(StoreError::object_lock_not_enabled()));
    }
    s3.store.head_object(&bucket.name, key, version_id).s3()
}

fn no_lock_configuration() -> s3s::S3Error {
    s3s::s3_error!(
        NoSuchObjectLockConfiguration,
        "The specified object does not have a ObjectLock configuration"
    )
}
