//! Queue policies (AWS semantics): the `Policy` attribute lets other users
//! act on a queue. The owner is always allowed; another user is allowed an
//! action when the policy allows `sqs:<Action>` on the queue's ARN for them
//! and denies it nowhere. Managing the queue (attributes, deletion, tags)
//! stays its owner's, as on AWS, whatever a policy says.
//!
//! AddPermission and RemovePermission edit the `Policy` attribute: one
//! statement per `Label`, as AWS writes them.

use herald_notify::policy::queue_policy;
use herald_queue::QueueError;

use super::{Ctx, SqsError, required_str, string_list};
use crate::grants;

/// Actions only a queue's owner may take.
const OWNER_ONLY: &[&str] = &[
    "SetQueueAttributes",
    "DeleteQueue",
    "TagQueue",
    "UntagQueue",
    "AddPermission",
    "RemovePermission",
];

/// Whether the caller of `ctx`, who does not own `owner/name`, may take
/// `ctx.action` on it. A queue that does not exist allows nothing (and
/// says nothing about existing).
pub(crate) fn allows(ctx: &Ctx<'_>, owner: &str, name: &str) -> bool {
    if OWNER_ONLY.contains(&ctx.action.as_str()) {
        return false;
    }
    let Ok(q) = ctx.engine.get_queue(owner, name) else {
        return false;
    };
    let Some(policy) = queue_policy(&q) else {
        return false;
    };
    // AWS checks the batch actions as their single form.
    let action = format!("sqs:{}", ctx.action.strip_suffix("Batch").unwrap_or(&ctx.action));
    grants::user_allowed(
        &policy,
        &ctx.user,
        &action,
        &q.arn,
        &grants::caller_context(&ctx.user, &ctx.conn),
    )
}

/// The actions AddPermission may grant (AWS's list; `*` is all of them).
/// Batch forms are granted by their single form, as they are checked.
const GRANTABLE: &[&str] = &[
    "*",
    "SendMessage",
    "ReceiveMessage",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ListQueueTags",
];

/// At most this many accounts and actions in one AddPermission (AWS's
/// limits are 7 statements' worth; these bound the request).
const MAX_PERMISSION_MEMBERS: usize = 20;

/// A `Label`: 1 to 80 letters, digits, hyphens and underscores.
fn label(input: &serde_json::Value) -> Result<&str, SqsError> {
    let label = required_str(input, "Label")?;
    let ok = (1..=80).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(SqsError::invalid_value(
            "Label",
            label,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    Ok(label)
}

/// The `Statement` list of a stored policy (a single statement object
/// becomes a one-element list), or an empty one.
fn statements(current: Option<&str>) -> Result<(serde_json::Value, Vec<serde_json::Value>), QueueError> {
    let Some(text) = current else {
        return Ok((serde_json::json!({ "Version": "2012-10-17" }), Vec::new()));
    };
    let mut doc: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| QueueError::InvalidParameterValue(format!("The queue's Policy does not parse: {e}")))?;
    let list = match doc.get_mut("Statement").map(serde_json::Value::take) {
        Some(serde_json::Value::Array(a)) => a,
        Some(serde_json::Value::Null) | None => Vec::new(),
        Some(one) => vec![one],
    };
    Ok((doc, list))
}

fn has_sid(statements: &[serde_json::Value], sid: &str) -> bool {
    statements
        .iter()
        .any(|s| s.get("Sid").and_then(|v| v.as_str()) == Some(sid))
}

/// AddPermission: a statement `Sid = Label` allowing the named accounts
/// (Herald users) the named actions on this queue, added to its `Policy`.
pub(crate) async fn add_permission(ctx: &Ctx<'_>, input: &serde_json::Value) -> Result<serde_json::Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let label = label(input)?.to_owned();
    let accounts = string_list(input, "AWSAccountIds")?;
    let actions = string_list(input, "Actions")?;
    if accounts.is_empty() {
        return Err(SqsError::missing("AWSAccountIds"));
    }
    if actions.is_empty() {
        return Err(SqsError::missing("Actions"));
    }
    if accounts.len() > MAX_PERMISSION_MEMBERS || actions.len() > MAX_PERMISSION_MEMBERS {
        return Err(SqsError::invalid(format!(
            "At most {MAX_PERMISSION_MEMBERS} AWSAccountIds and {MAX_PERMISSION_MEMBERS} Actions per AddPermission."
        )));
    }
    for a in &accounts {
        if !herald_model::user::valid_user_name(a) {
            return Err(SqsError::invalid_value(
                "AWSAccountId",
                a,
                "Not a valid account id (a Herald user name).",
            ));
        }
    }
    let mut granted = Vec::with_capacity(actions.len());
    for a in &actions {
        let single = a.strip_suffix("Batch").unwrap_or(a);
        if !GRANTABLE.contains(&single) {
            return Err(SqsError::invalid_value(
                "ActionName",
                a,
                "Only the queue's message and read actions can be granted.",
            ));
        }
        granted.push(format!("SQS:{single}"));
    }
    let principals: Vec<String> = accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")).collect();
    let arn = ctx.engine.get_queue(&owner, &name)?.arn;
    ctx.engine
        .update_attribute(&owner, &name, "Policy", |current| {
            let (mut doc, mut list) = statements(current)?;
            if has_sid(&list, &label) {
                return Err(QueueError::InvalidParameterValue(format!(
                    "Value {label} for parameter Label is invalid. Reason: Already exists."
                )));
            }
            if doc.get("Id").is_none() {
                doc["Id"] = serde_json::Value::String(format!("{arn}/SQSDefaultPolicy"));
            }
            list.push(serde_json::json!({
                "Sid": label,
                "Effect": "Allow",
                "Principal": { "AWS": principals },
                "Action": granted,
                "Resource": arn,
            }));
            doc["Statement"] = serde_json::Value::Array(list);
            Ok(doc.to_string())
        })
        .await?;
    tracing::info!(queue = %name, owner = %owner, label = %label, "queue permission added");
    Ok(serde_json::json!({}))
}

/// RemovePermission: drops the statement `Sid = Label`; the last one
/// removes the `Policy` attribute.
pub(crate) async fn remove_permission(ctx: &Ctx<'_>, input: &serde_json::Value) -> Result<serde_json::Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let label = label(input)?.to_owned();
    ctx.engine
        .update_attribute(&owner, &name, "Policy", |current| {
            let (mut doc, mut list) = statements(current)?;
            if !has_sid(&list, &label) {
                return Err(QueueError::InvalidParameterValue(format!(
                    "Value {label} for parameter Label is invalid. Reason: can't find label."
                )));
            }
            list.retain(|s| s.get("Sid").and_then(|v| v.as_str()) != Some(label.as_str()));
            if list.is_empty() {
                return Ok(String::new());
            }
            doc["Statement"] = serde_json::Value::Array(list);
            Ok(doc.to_string())
        })
        .await?;
    tracing::info!(queue = %name, owner = %owner, label = %label, "queue permission removed");
    Ok(serde_json::json!({}))
}
