//! Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus. Who may call
//! them was decided by the access hook ([`super::access`]); here a policy
//! is validated (parsed under S3's limits, every `Resource` inside this
//! bucket) before it is stored, and the decision cache is updated.

use std::sync::Arc;

use herald_policy::Policy;
use s3s::dto::{
    DeleteBucketPolicyInput, DeleteBucketPolicyOutput, GetBucketPolicyInput, GetBucketPolicyOutput,
    GetBucketPolicyStatusInput, GetBucketPolicyStatusOutput, PolicyStatus, PutBucketPolicyInput, PutBucketPolicyOutput,
};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::access::BUCKET_POLICY_LIMITS;
use super::{HeraldS3, StoreResultExt, ok};

/// Whether every resource a policy names can lie in `bucket`: a bucket
/// policy speaks of its own bucket only, so a resource that can never
/// name this bucket or an object in it (another bucket, another service)
/// is refused. A wildcard that covers this bucket among others
/// (`arn:aws:s3:::*`, as Ceph accepts) is harmless: the policy is only
/// ever asked about this bucket.
fn resources_in_bucket(text: &str, bucket: &str) -> Result<(), String> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let own = format!("arn:aws:s3:::{bucket}");
    for st in &statements {
        let res = st.get("Resource").or_else(|| st.get("NotResource"));
        let list: Vec<&str> = match res {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => vec![],
        };
        for r in list {
            let inside = r == own
                || r.strip_prefix(own.as_str()).is_some_and(|rest| rest.starts_with('/'))
                || covers_bucket(r, bucket);
            if !inside {
                return Err(format!("Policy has invalid resource: {r:?} is not in bucket {bucket}"));
            }
        }
    }
    Ok(())
}

/// Whether the S3 ARN pattern `r` (`*` and `?` wildcards) can match the
/// bucket `bucket` or some object in it.
fn covers_bucket(r: &str, bucket: &str) -> bool {
    let Some(path) = r.strip_prefix("arn:aws:s3:::") else {
        return false;
    };
    let pattern: Vec<char> = path.chars().collect();
    let whole = wildcard_states(&pattern, bucket.chars());
    let inside = wildcard_states(&pattern, bucket.chars().chain(['/']));
    whole.last().copied().unwrap_or(false) || inside.iter().any(|&s| s)
}

/// The positions of `pattern` that reading `text` can reach (`*` any run,
/// `?` one character), as a set: linear in pattern × text, no backtracking.
/// Position `pattern.len()` reached means a whole match; any position
/// reached means some continuation of `text` can still match.
fn wildcard_states(pattern: &[char], text: impl Iterator<Item = char>) -> Vec<bool> {
    let close = |states: &mut Vec<bool>| {
        for i in 0..pattern.len() {
            if states[i] && pattern[i] == '*' {
                states[i + 1] = true;
            }
        }
    };
    let mut states = vec![false; pattern.len() + 1];
    states[0] = true;
    close(&mut states);
    for c in text {
        let mut next = vec![false; pattern.len() + 1];
        for i in 0..pattern.len() {
            if !states[i] {
                continue;
            }
            match pattern[i] {
                '*' => next[i] = true,
                '?' => next[i + 1] = true,
                p if p == c => next[i + 1] = true,
                _ => {}
            }
        }
        close(&mut next);
        states = next;
    }
    states
}

pub async fn put_bucket_policy(
    s3: &HeraldS3,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let input = req.input;
    let bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    let policy = Policy::parse(&input.policy, &BUCKET_POLICY_LIMITS).map_err(|e| s3_error!(MalformedPolicy, "{e}"))?;
    resources_in_bucket(&input.policy, &input.bucket).map_err(|e| s3_error!(MalformedPolicy, "{e}"))?;
    if s3.objects_upstream && policy.mentions_key_prefix("s3:ExistingObjectTag/") {
        // Object tags live upstream in gateway mode: such a statement could
        // not be evaluated (requests it governs would all be refused).
        return Err(s3_error!(
            MalformedPolicy,
            "s3:ExistingObjectTag conditions are not available in gateway mode"
        ));
    }
    if bucket.public_access().block_public_policy && policy.is_public() {
        return Err(super::s3_err(herald_store::StoreError::public_policy_blocked()));
    }
    s3.store
        .set_bucket_policy(&bucket, Some(input.policy.clone()), policy.is_public())
        .await
        .s3()?;
    s3.policies.set(&bucket, Some(Arc::new(policy)));
    tracing::info!(bucket = %input.bucket, "bucket policy set");
    ok(PutBucketPolicyOutput {})
}

pub async fn get_bucket_policy(
    s3: &HeraldS3,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    match s3.store.get_bucket_policy(&bucket).s3()? {
        Some(row) => ok(GetBucketPolicyOutput { policy: Some(row.text) }),
        None => Err(s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")),
    }
}

pub async fn delete_bucket_policy(
    s3: &HeraldS3,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    s3.store.set_bucket_policy(&bucket, None, false).await.s3()?;
    s3.policies.set(&bucket, None);
    tracing::info!(bucket = %req.input.bucket, "bucket policy deleted");
    let mut resp = S3Response::new(DeleteBucketPolicyOutput {});
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

pub async fn get_bucket_policy_status(
    s3: &HeraldS3,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    // Ceph's answer, which its test suite holds S3 clients to: public when
    // the policy or the bucket ACL is (AWS would ignore the ACL and answer
    // NoSuchBucketPolicy without a policy).
    let policy_public = match s3.store.get_bucket_policy(&bucket).s3()? {
        Some(row) => Policy::parse(&row.text, &BUCKET_POLICY_LIMITS)
            .map(|p| p.is_public())
            .unwrap_or(false),
        None => false,
    };
    let acl_public = bucket.acls_enabled()
        && !bucket.public_access().ignore_public_acls
        && bucket.acl.as_ref().is_some_and(|a| a.is_public());
    let public = policy_public || acl_public;
    ok(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(public),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_must_stay_in_the_bucket() {
        let p = |r: &str| {
            format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":{r}}}]}}"#)
        };
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::b/*""#), "b").is_ok());
        assert!(resources_in_bucket(&p(r#"["arn:aws:s3:::b","arn:aws:s3:::b/x/*"]"#), "b").is_ok());
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::bb/*""#), "b").is_err());
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::other""#), "b").is_err());
        assert!(resources_in_bucket(&p(r#""arn:aws:sqs:::b""#), "b").is_err());
        assert!(resources_in_bucket(&p(r#""*""#), "b").is_err());
        // Wildcards that cover this bucket (among others) are accepted.
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::*""#), "b").is_ok());
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::*/*""#), "b").is_ok());
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::b?""#), "bb").is_ok());
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::logs-*/x""#), "logs-2026").is_ok());
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::logs-*""#), "data").is_err());
        // A `*` may run across the bucket's `/` into its keys.
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::a*z""#), "a").is_ok());
        assert!(resources_in_bucket(&p(r#""arn:aws:s3:::ab?""#), "a").is_err());
    }
}
