//! Queue attributes: validation, normalization and defaults.
//!
//! Attribute values are stored normalized (integers without leading zeros,
//! booleans lower-case, RedrivePolicy re-serialized) so that CreateQueue's
//! "same attributes" idempotency check is a plain string comparison.

use std::collections::BTreeMap;

use crate::QueueError;

/// Attributes a client may set (and that are stored in the queue metadata).
pub(crate) const SETTABLE: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "Policy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
];

/// Read-only attributes computed at GetQueueAttributes time.
pub(crate) const COMPUTED: &[&str] = &[
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
];

/// Attributes that an empty value removes instead of setting.
const REMOVABLE: &[&str] = &["RedrivePolicy", "RedriveAllowPolicy", "Policy", "KmsMasterKeyId"];

pub(crate) fn defaults(fifo: bool) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = [
        ("DelaySeconds", "0"),
        ("MaximumMessageSize", "262144"),
        ("MessageRetentionPeriod", "345600"),
        ("ReceiveMessageWaitTimeSeconds", "0"),
        ("VisibilityTimeout", "30"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if fifo {
        for (k, v) in [
            ("FifoQueue", "true"),
            ("ContentBasedDeduplication", "false"),
            ("DeduplicationScope", "queue"),
            ("FifoThroughputLimit", "perQueue"),
        ] {
            m.insert(k.into(), v.into());
        }
    }
    m
}

fn bad_value(name: &str) -> QueueError {
    QueueError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."))
}

fn int(name: &str, v: &str, lo: u32, hi: u32) -> Result<String, QueueError> {
    match v.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n.to_string()),
        _ => Err(bad_value(name)),
    }
}

fn boolean(name: &str, v: &str) -> Result<bool, QueueError> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad_value(name)),
    }
}

/// Largest JSON attribute (`Policy`, `RedrivePolicy`, `RedriveAllowPolicy`):
/// SQS's policy size quota. Within it serde_json's 128-level nesting limit
/// is the only depth a document can reach, so parsing stays shallow.
pub(crate) const MAX_POLICY_BYTES: usize = 8192;

fn json_object(name: &str, v: &str) -> Result<serde_json::Map<String, serde_json::Value>, QueueError> {
    if v.len() > MAX_POLICY_BYTES {
        return Err(QueueError::InvalidAttributeValue(format!(
            "Invalid value for the parameter {name}: longer than {MAX_POLICY_BYTES} bytes."
        )));
    }
    match serde_json::from_str::<serde_json::Value>(v) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(bad_value(name)),
    }
}

/// What validating a RedrivePolicy needs to know of its dead-letter target.
#[derive(Clone, Debug)]
pub(crate) struct DlqTarget {
    pub fifo: bool,
    /// The target's RedriveAllowPolicy, if it has one.
    pub allow_policy: Option<String>,
}

/// The queue whose attributes are being validated: its type and its ARN
/// (which a dead-letter target's RedriveAllowPolicy may name).
pub(crate) struct Source<'a> {
    pub fifo: bool,
    pub arn: &'a str,
}

/// Validates and normalizes `attrs` for the queue `src`. Removable
/// attributes given as "" stay "" (meaning "remove"). `dlq` resolves a
/// dead-letter target ARN among the caller's own queues: `None` both when
/// it does not exist and when it belongs to someone else, so the answer
/// never tells another tenant's queues apart from missing ones.
pub(crate) fn normalize(
    src: &Source<'_>,
    attrs: &BTreeMap<String, String>,
    dlq: &dyn Fn(&str) -> Option<DlqTarget>,
) -> Result<BTreeMap<String, String>, QueueError> {
    let fifo = src.fifo;
    let mut out = BTreeMap::new();
    for (name, v) in attrs {
        let n = name.as_str();
        let norm = match n {
            "DelaySeconds" => int(n, v, 0, 900)?,
            "MaximumMessageSize" => int(n, v, 1024, 262_144)?,
            "MessageRetentionPeriod" => int(n, v, 60, 1_209_600)?,
            "ReceiveMessageWaitTimeSeconds" => int(n, v, 0, 20)?,
            "VisibilityTimeout" => int(n, v, 0, 43_200)?,
            "KmsDataKeyReusePeriodSeconds" => int(n, v, 60, 86_400)?,
            "SqsManagedSseEnabled" => boolean(n, v)?.to_string(),
            "FifoQueue" => {
                if boolean(n, v)? != fifo {
                    return Err(bad_value(n));
                }
                if !fifo {
                    // "false" on a standard queue is accepted and not stored,
                    // as standard queues do not report FifoQueue.
                    continue;
                }
                "true".into()
            }
            "ContentBasedDeduplication" | "DeduplicationScope" | "FifoThroughputLimit" if !fifo => {
                return Err(QueueError::InvalidAttributeName(format!("Unknown Attribute {n}.")));
            }
            "ContentBasedDeduplication" => boolean(n, v)?.to_string(),
            "DeduplicationScope" => match v.as_str() {
                "queue" | "messageGroup" => v.clone(),
                _ => return Err(bad_value(n)),
            },
            "FifoThroughputLimit" => match v.as_str() {
                "perQueue" | "perMessageGroupId" => v.clone(),
                _ => return Err(bad_value(n)),
            },
            _ if REMOVABLE.contains(&n) && v.is_empty() => String::new(),
            "RedrivePolicy" => redrive_policy(src, v, dlq)?,
            "RedriveAllowPolicy" => redrive_allow_policy(v)?,
            "Policy" => {
                queue_policy(v)?;
                v.clone()
            }
            "KmsMasterKeyId" => v.clone(),
            _ => {
                return Err(QueueError::InvalidAttributeName(format!("Unknown Attribute {n}.")));
            }
        };
        out.insert(name.clone(), norm);
    }
    Ok(out)
}

/// The limits a queue's `Policy` is parsed under (SQS's 8 KiB, `sqs:`
/// actions only).
pub const QUEUE_POLICY_LIMITS: herald_policy::Limits = herald_policy::Limits {
    max_bytes: MAX_POLICY_BYTES,
    services: &["sqs"],
    ..herald_policy::Limits::DEFAULT
};

/// A queue `Policy` as the access checks will read it: refused now, with
/// the parser's reason, rather than granting nothing later.
fn queue_policy(v: &str) -> Result<herald_policy::Policy, QueueError> {
    herald_policy::Policy::parse(v, &QUEUE_POLICY_LIMITS)
        .map_err(|e| QueueError::InvalidAttributeValue(format!("Invalid value for the parameter Policy. Reason: {e}.")))
}

fn redrive_policy(src: &Source<'_>, v: &str, dlq: &dyn Fn(&str) -> Option<DlqTarget>) -> Result<String, QueueError> {
    let n = "RedrivePolicy";
    let m = json_object(n, v)?;
    let arn = match m.get("deadLetterTargetArn") {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => {
            return Err(QueueError::InvalidAttributeValue(
                "Value for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: deadLetterTargetArn.".into(),
            ));
        }
    };
    // AWS accepts maxReceiveCount as a number or as a numeric string.
    let count = match m.get("maxReceiveCount") {
        Some(serde_json::Value::Number(x)) => x.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse::<u64>().ok(),
        _ => None,
    };
    let count = match count {
        Some(c) if (1..=1000).contains(&c) => c,
        _ => {
            return Err(QueueError::InvalidAttributeValue(
                "Value for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: must be an integer from 1 to 1000.".into(),
            ));
        }
    };
    match dlq(&arn) {
        None => Err(QueueError::InvalidAttributeValue(format!(
            "Value for parameter RedrivePolicy is invalid. Reason: Dead-letter target does not exist: {arn}."
        ))),
        Some(t) if t.fifo != src.fifo => Err(QueueError::InvalidAttributeValue(
            "Value for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be of the same type as the source queue.".into(),
        )),
        Some(t) if !redrive_allowed(t.allow_policy.as_deref(), src.arn) => {
            Err(QueueError::InvalidAttributeValue(format!(
                "Value for parameter RedrivePolicy is invalid. Reason: The RedriveAllowPolicy of {arn} does not allow this queue as a source."
            )))
        }
        Some(_) => Ok(serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": count,
        })
        .to_string()),
    }
}

/// Most source queues a `byQueue` RedriveAllowPolicy may name (AWS's limit).
const MAX_SOURCE_QUEUE_ARNS: usize = 10;

fn bad_allow_policy(reason: &str) -> QueueError {
    QueueError::InvalidAttributeValue(format!(
        "Value for parameter RedriveAllowPolicy is invalid. Reason: {reason}"
    ))
}

/// Validates a RedriveAllowPolicy (AWS semantics): `redrivePermission` is
/// `allowAll`, `denyAll` or `byQueue`; `sourceQueueArns` (1 to 10 ARNs) is
/// required with `byQueue` and refused otherwise. Stored re-serialized.
fn redrive_allow_policy(v: &str) -> Result<String, QueueError> {
    let m = json_object("RedriveAllowPolicy", v)?;
    if let Some(k) = m.keys().find(|k| *k != "redrivePermission" && *k != "sourceQueueArns") {
        return Err(bad_allow_policy(&format!("Unknown field {k}.")));
    }
    let permission = match m.get("redrivePermission") {
        Some(serde_json::Value::String(p)) if ["allowAll", "denyAll", "byQueue"].contains(&p.as_str()) => p.clone(),
        _ => {
            return Err(bad_allow_policy(
                "redrivePermission must be one of allowAll, denyAll, byQueue.",
            ));
        }
    };
    let arns: Option<Vec<String>> = match m.get("sourceQueueArns") {
        None => None,
        Some(serde_json::Value::Array(a)) => Some(
            a.iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad_allow_policy("sourceQueueArns must be a list of queue ARNs."))?,
        ),
        Some(_) => return Err(bad_allow_policy("sourceQueueArns must be a list of queue ARNs.")),
    };
    match (permission.as_str(), arns) {
        ("byQueue", Some(a)) if (1..=MAX_SOURCE_QUEUE_ARNS).contains(&a.len()) => Ok(serde_json::json!({
            "redrivePermission": permission,
            "sourceQueueArns": a,
        })
        .to_string()),
        ("byQueue", _) => Err(bad_allow_policy(&format!(
            "byQueue needs sourceQueueArns with 1 to {MAX_SOURCE_QUEUE_ARNS} queue ARNs."
        ))),
        (_, Some(_)) => Err(bad_allow_policy(
            "sourceQueueArns is only allowed with redrivePermission byQueue.",
        )),
        (_, None) => Ok(serde_json::json!({ "redrivePermission": permission }).to_string()),
    }
}

/// Whether a dead-letter target whose RedriveAllowPolicy is `policy` (as
/// stored, normalized) accepts messages from `source_arn`. No policy, as in
/// AWS, means `allowAll` (among the owner's own queues: other owners'
/// queues are never targets). A policy stored unvalidated by an older
/// version that does not parse denies (fail closed).
pub(crate) fn redrive_allowed(policy: Option<&str>, source_arn: &str) -> bool {
    let Some(policy) = policy else { return true };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(policy) else {
        return false;
    };
    match v.get("redrivePermission").and_then(|p| p.as_str()) {
        Some("allowAll") => true,
        Some("byQueue") => v
            .get("sourceQueueArns")
            .and_then(|a| a.as_array())
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(source_arn))),
        _ => false,
    }
}

/// Applies normalized changes to an effective attribute map ("" removes).
pub(crate) fn merge(into: &mut BTreeMap<String, String>, changes: BTreeMap<String, String>) {
    for (k, v) in changes {
        if v.is_empty() {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}

/// Parsed form of the attributes the engine acts on.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub delay_s: u32,
    pub max_size: u32,
    pub retention_s: u32,
    pub wait_s: u32,
    pub visibility_s: u32,
    /// (dead-letter target ARN, maxReceiveCount)
    pub redrive: Option<(String, u32)>,
    pub content_dedup: bool,
    pub dedup_per_group: bool,
}

impl Settings {
    pub(crate) fn from_attributes(a: &BTreeMap<String, String>) -> Settings {
        let num = |k: &str, d: u32| a.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        let redrive = a.get("RedrivePolicy").and_then(|v| {
            let m: serde_json::Value = serde_json::from_str(v).ok()?;
            Some((
                m.get("deadLetterTargetArn")?.as_str()?.to_string(),
                m.get("maxReceiveCount")?.as_u64()? as u32,
            ))
        });
        Settings {
            delay_s: num("DelaySeconds", 0),
            max_size: num("MaximumMessageSize", 262_144),
            retention_s: num("MessageRetentionPeriod", 345_600),
            wait_s: num("ReceiveMessageWaitTimeSeconds", 0),
            visibility_s: num("VisibilityTimeout", 30),
            redrive,
            content_dedup: a.get("ContentBasedDeduplication").is_some_and(|v| v == "true"),
            dedup_per_group: a.get("DeduplicationScope").is_some_and(|v| v == "messageGroup"),
        }
    }
}

/// Queue names: 1-80 of `[A-Za-z0-9_-]`, plus the `.fifo` suffix for FIFO
/// queues (which counts towards the 80).
pub(crate) fn valid_queue_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !base.is_empty()
        && name.len() <= 80
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn normalizes_and_validates() {
        let none = |_: &str| None;
        let std_src = Source {
            fifo: false,
            arn: "arn:aws:sqs:r:o:s",
        };
        let fifo_src = Source {
            fifo: true,
            arn: "arn:aws:sqs:r:o:s.fifo",
        };
        let n = normalize(&std_src, &map(&[("VisibilityTimeout", "060")]), &none).unwrap();
        assert_eq!(n["VisibilityTimeout"], "60");
        assert!(matches!(
            normalize(&std_src, &map(&[("VisibilityTimeout", "43201")]), &none),
            Err(QueueError::InvalidAttributeValue(_))
        ));
        assert!(matches!(
            normalize(&std_src, &map(&[("Bogus", "1")]), &none),
            Err(QueueError::InvalidAttributeName(_))
        ));
        assert!(matches!(
            normalize(&std_src, &map(&[("ContentBasedDeduplication", "true")]), &none),
            Err(QueueError::InvalidAttributeName(_))
        ));
        assert!(matches!(
            normalize(
                &std_src,
                &map(&[("RedrivePolicy", r#"{"deadLetterTargetArn":"x","maxReceiveCount":3}"#)]),
                &none
            ),
            Err(QueueError::InvalidAttributeValue(_))
        ));
        let std_q = |_: &str| {
            Some(DlqTarget {
                fifo: false,
                allow_policy: None,
            })
        };
        let n = normalize(
            &std_src,
            &map(&[(
                "RedrivePolicy",
                r#"{"maxReceiveCount":"3","deadLetterTargetArn":"arn:aws:sqs:r:o:d"}"#,
            )]),
            &std_q,
        )
        .unwrap();
        assert_eq!(
            n["RedrivePolicy"],
            r#"{"deadLetterTargetArn":"arn:aws:sqs:r:o:d","maxReceiveCount":3}"#
        );
        assert!(
            normalize(
                &fifo_src,
                &map(&[("RedrivePolicy", r#"{"maxReceiveCount":3,"deadLetterTargetArn":"a"}"#)]),
                &std_q
            )
            .is_err()
        );
    }

    #[test]
    fn json_attributes_are_capped_at_the_policy_quota() {
        let src = Source {
            fifo: false,
            arn: "arn:aws:sqs:us-east-1:u:q",
        };
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_POLICY_BYTES));
        let err = normalize(&src, &map(&[("Policy", &big)]), &|_| None).unwrap_err();
        assert!(format!("{err:?}").contains("8192"), "{err:?}");
        let deep = format!("{}{}", "[".repeat(4000), "]".repeat(4000));
        assert!(normalize(&src, &map(&[("Policy", &deep)]), &|_| None).is_err());
        assert!(
            normalize(&src, &map(&[("Policy", "{}")]), &|_| None).is_err(),
            "no Statement"
        );
        let ok = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}"#;
        assert!(normalize(&src, &map(&[("Policy", ok)]), &|_| None).is_ok());
    }

    #[test]
    fn redrive_allow_policies() {
        let src = Source {
            fifo: false,
            arn: "arn:aws:sqs:r:o:src",
        };
        let norm = |v: &str| normalize(&src, &map(&[("RedriveAllowPolicy", v)]), &|_| None);
        for bad in [
            r#"{"redrivePermission":"sometimes"}"#,
            r#"{"redrivePermission":"byQueue"}"#,
            r#"{"redrivePermission":"byQueue","sourceQueueArns":[]}"#,
            r#"{"redrivePermission":"allowAll","sourceQueueArns":["a"]}"#,
            r#"{"redrivePermission":"byQueue","sourceQueueArns":["1","2","3","4","5","6","7","8","9","10","11"]}"#,
            r#"{"redrivePermission":"allowAll","extra":1}"#,
        ] {
            assert!(matches!(norm(bad), Err(QueueError::InvalidAttributeValue(_))), "{bad}");
        }
        let by = norm(r#"{"sourceQueueArns":["arn:aws:sqs:r:o:src"],"redrivePermission":"byQueue"}"#).unwrap();
        let by = &by["RedriveAllowPolicy"];
        assert!(redrive_allowed(Some(by), "arn:aws:sqs:r:o:src"));
        assert!(!redrive_allowed(Some(by), "arn:aws:sqs:r:o:other"));
        assert!(!redrive_allowed(Some(r#"{"redrivePermission":"denyAll"}"#), src.arn));
        assert!(redrive_allowed(Some(r#"{"redrivePermission":"allowAll"}"#), src.arn));
        assert!(redrive_allowed(None, src.arn));
        // A target that denies the source refuses the RedrivePolicy.
        let deny = |_: &str| {
            Some(DlqTarget {
                fifo: false,
                allow_policy: Some(r#"{"redrivePermission":"denyAll"}"#.into()),
            })
        };
        let rp = r#"{"deadLetterTargetArn":"arn:aws:sqs:r:o:d","maxReceiveCount":3}"#;
        assert!(matches!(
            normalize(&src, &map(&[("RedrivePolicy", rp)]), &deny),
            Err(QueueError::InvalidAttributeValue(_))
        ));
    }

    #[test]
    fn names() {
        assert!(valid_queue_name("a-b_C9"));
        assert!(valid_queue_name("q.fifo"));
        assert!(!valid_queue_name(".fifo"));
        assert!(!valid_queue_name("a.b"));
        assert!(!valid_queue_name(&"a".repeat(81)));
        assert!(valid_queue_name(&"a".repeat(80)));
    }
}
