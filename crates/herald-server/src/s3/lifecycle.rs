//! Put/Get/DeleteBucketLifecycleConfiguration: the wire shape of the
//! rules (`herald_model::lifecycle` has their meaning and checks; the
//! `herald-lifecycle` worker acts on them).
//!
//! Herald has one storage class, so a rule with `Transition` or
//! `NoncurrentVersionTransition` is refused (501 NotImplemented, naming
//! the reason) rather than stored and never acted on.

use herald_model::lifecycle::{
    Expiration, FilterShape, LifecycleConfiguration, LifecycleError, LifecycleFilter, LifecycleRule,
    NoncurrentExpiration,
};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::{HeraldS3, StoreResultExt, ok};

pub async fn put_bucket_lifecycle_configuration(
    s3: &HeraldS3,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let Some(doc) = req.input.lifecycle_configuration else {
        return Err(s3_error!(MalformedXML, "the request has no LifecycleConfiguration"));
    };
    let rules = doc
        .rules
        .into_iter()
        .map(rule_from_dto)
        .collect::<Result<Vec<_>, _>>()
        .map_err(lifecycle_err)?;
    let config = LifecycleConfiguration { rules };
    config.validate().map_err(lifecycle_err)?;
    s3.store.set_lifecycle(&bucket, Some(config)).await.s3()?;
    ok(PutBucketLifecycleConfigurationOutput::default())
}

pub async fn get_bucket_lifecycle_configuration(
    s3: &HeraldS3,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let Some(config) = s3.store.get_lifecycle(&bucket).s3()? else {
        return Err(s3_error!(
            NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist"
        ));
    };
    ok(GetBucketLifecycleConfigurationOutput {
        rules: Some(config.rules.iter().map(rule_to_dto).collect()),
        ..Default::default()
    })
}

pub async fn delete_bucket_lifecycle(
    s3: &HeraldS3,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    s3.store.set_lifecycle(&bucket, None).await.s3()?;
    let mut resp = S3Response::new(DeleteBucketLifecycleOutput::default());
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

fn lifecycle_err(e: LifecycleError) -> S3Error {
    let code = match &e {
        LifecycleError::MalformedXml(_) => S3ErrorCode::MalformedXML,
        LifecycleError::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
        LifecycleError::InvalidRequest(_) => S3ErrorCode::InvalidRequest,
        LifecycleError::NotImplemented(_) => S3ErrorCode::NotImplemented,
    };
    S3Error::with_message(code, e.to_string())
}

fn malformed(msg: impl Into<String>) -> LifecycleError {
    LifecycleError::MalformedXml(msg.into())
}

/// A wire integer that must be a count (days, versions, bytes).
fn count<T: TryFrom<i64>>(rule: &str, what: &str, n: i64) -> Result<T, LifecycleError> {
    T::try_from(n)
        .ok()
        .filter(|_| n >= 0)
        .ok_or_else(|| LifecycleError::InvalidArgument(format!("rule {rule:?}: {what} must not be negative")))
}

fn rule_from_dto(r: LifecycleRule_) -> Result<LifecycleRule, LifecycleError> {
    let id = r.id.filter(|s| !s.is_empty()).unwrap_or_else(|| {
        // S3 names an unnamed rule itself.
        let mut b = [0u8; 16];
        rand::fill(&mut b);
        hex::encode(b)
    });
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        other => {
            return Err(malformed(format!(
                "rule {id:?}: Status must be Enabled or Disabled, not {other:?}"
            )));
        }
    };
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
    {
        return Err(LifecycleError::NotImplemented(format!(
            "rule {id:?}: Herald has one storage class (STANDARD), so it has no lifecycle transitions; \
             remove Transition and NoncurrentVersionTransition"
        )));
    }
    let filter = filter_from_dto(&id, r.prefix, r.filter)?;
    let expiration = match r.expiration {
        None => None,
        Some(e) => match (e.days, e.date, e.expired_object_delete_marker) {
            (Some(_), Some(_), _) => return Err(malformed(format!("rule {id:?}: Expiration has both Days and Date"))),
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(LifecycleError::InvalidArgument(format!(
                    "rule {id:?}: ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy"
                )));
            }
            (Some(d), None, None) => Some(Expiration::Days(count(&id, "Days", i64::from(d))?)),
            (None, Some(date), None) => {
                let at = time::OffsetDateTime::from(date);
                let ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
                Some(Expiration::Date(ms))
            }
            (None, None, Some(true)) => Some(Expiration::ExpiredObjectDeleteMarker),
            (None, None, Some(false)) => None,
            (None, None, None) => return Err(malformed(format!("rule {id:?}: Expiration is empty"))),
        },
    };
    let noncurrent_expiration = match r.noncurrent_version_expiration {
        None => None,
        Some(n) => {
            let Some(days) = n.noncurrent_days else {
                return Err(malformed(format!(
                    "rule {id:?}: NoncurrentVersionExpiration needs NoncurrentDays"
                )));
            };
            Some(NoncurrentExpiration {
                days: count(&id, "NoncurrentDays", i64::from(days))?,
                newer_versions: n
                    .newer_noncurrent_versions
                    .map(|v| count(&id, "NewerNoncurrentVersions", i64::from(v)))
                    .transpose()?,
            })
        }
    };
    let abort_incomplete_upload_days = match r.abort_incomplete_multipart_upload {
        None => None,
        Some(a) => match a.days_after_initiation {
            Some(d) => Some(count(&id, "DaysAfterInitiation", i64::from(d))?),
            None => {
                return Err(malformed(format!(
                    "rule {id:?}: AbortIncompleteMultipartUpload needs DaysAfterInitiation"
                )));
            }
        },
    };
    Ok(LifecycleRule {
        id,
        enabled,
        filter,
        expiration,
        noncurrent_expiration,
        abort_incomplete_upload_days,
    })
}

/// s3s's rule type, named apart from the model's.
type LifecycleRule_ = s3s::dto::LifecycleRule;

fn tag_pair(id: &str, t: Tag) -> Result<(String, String), LifecycleError> {
    match (t.key, t.value) {
        (Some(k), v) => Ok((k, v.unwrap_or_default())),
        (None, _) => Err(malformed(format!("rule {id:?}: a Tag needs a Key"))),
    }
}

fn filter_from_dto(
    id: &str,
    rule_prefix: Option<String>,
    filter: Option<LifecycleRuleFilter>,
) -> Result<LifecycleFilter, LifecycleError> {
    let f = match (rule_prefix, filter) {
        (Some(_), Some(_)) => {
            return Err(malformed(format!(
                "rule {id:?}: a rule has either Prefix or Filter, not both"
            )));
        }
        (Some(prefix), None) => {
            return Ok(LifecycleFilter {
                prefix,
                shape: FilterShape::RulePrefix,
                ..Default::default()
            });
        }
        // AWS: "Filter is required if the rule does not contain a Prefix".
        (None, None) => {
            return Err(malformed(format!("rule {id:?}: a rule needs a Filter (or a Prefix)")));
        }
        (None, Some(f)) => f,
    };
    let parts = usize::from(f.and.is_some())
        + usize::from(f.prefix.is_some())
        + usize::from(f.tag.is_some())
        + usize::from(f.object_size_greater_than.is_some())
        + usize::from(f.object_size_less_than.is_some());
    if parts > 1 {
        return Err(malformed(format!(
            "rule {id:?}: a Filter holds one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan; use And to combine them"
        )));
    }
    if parts == 0 {
        return Ok(LifecycleFilter {
            shape: FilterShape::Empty,
            ..Default::default()
        });
    }
    let size = |what: &str, n: Option<i64>| n.map(|n| count::<u64>(id, what, n)).transpose();
    if let Some(and) = f.and {
        let tags = and
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| tag_pair(id, t))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(LifecycleFilter {
            prefix: and.prefix.unwrap_or_default(),
            tags,
            size_greater_than: size("ObjectSizeGreaterThan", and.object_size_greater_than)?,
            size_less_than: size("ObjectSizeLessThan", and.object_size_less_than)?,
            shape: FilterShape::And,
        });
    }
    Ok(LifecycleFilter {
        prefix: f.prefix.unwrap_or_default(),
        tags: f.tag.map(|t| tag_pair(id, t)).transpose()?.into_iter().collect(),
        size_greater_than: size("ObjectSizeGreaterThan", f.object_size_greater_than)?,
        size_less_than: size("ObjectSizeLessThan", f.object_size_less_than)?,
        shape: FilterShape::Single,
    })
}

fn rule_to_dto(r: &LifecycleRule) -> LifecycleRule_ {
    let f = &r.filter;
    let signed = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let tag = |(k, v): &(String, String)| Tag {
        key: Some(k.clone()),
        value: Some(v.clone()),
    };
    let (prefix, filter) = match f.shape {
        FilterShape::RulePrefix => (Some(f.prefix.clone()), None),
        FilterShape::Empty => (None, Some(LifecycleRuleFilter::default())),
        FilterShape::And => (
            None,
            Some(LifecycleRuleFilter {
                and: Some(LifecycleRuleAndOperator {
                    prefix: (!f.prefix.is_empty()).then(|| f.prefix.clone()),
                    tags: (!f.tags.is_empty()).then(|| f.tags.iter().map(tag).collect()),
                    object_size_greater_than: signed(f.size_greater_than),
                    object_size_less_than: signed(f.size_less_than),
                }),
                ..Default::default()
            }),
        ),
        FilterShape::Single => {
            let has_other = !f.tags.is_empty() || f.size_greater_than.is_some() || f.size_less_than.is_some();
            (
                None,
                Some(LifecycleRuleFilter {
                    prefix: (!has_other).then(|| f.prefix.clone()),
                    tag: f.tags.first().map(tag),
                    object_size_greater_than: signed(f.size_greater_than),
                    object_size_less_than: signed(f.size_less_than),
                    ..Default::default()
                }),
            )
        }
    };
    let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
    LifecycleRule_ {
        id: Some(r.id.clone()),
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        prefix,
        filter,
        expiration: r.expiration.map(|e| match e {
            Expiration::Days(d) => LifecycleExpiration {
                days: Some(days(d)),
                ..Default::default()
            },
            Expiration::Date(ms) => LifecycleExpiration {
                date: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                    .ok()
                    .map(Timestamp::from),
                ..Default::default()
            },
            Expiration::ExpiredObjectDeleteMarker => LifecycleExpiration {
                expired_object_delete_marker: Some(true),
                ..Default::default()
            },
        }),
        noncurrent_version_expiration: r.noncurrent_expiration.map(|n| NoncurrentVersionExpiration {
            noncurrent_days: Some(days(n.days)),
            newer_noncurrent_versions: n.newer_versions.map(days),
        }),
        abort_incomplete_multipart_upload: r.abort_incomplete_upload_days.map(|d| AbortIncompleteMultipartUpload {
            days_after_initiation: Some(days(d)),
        }),
        noncurrent_version_transitions: None,
        transitions: None,
    }
}
