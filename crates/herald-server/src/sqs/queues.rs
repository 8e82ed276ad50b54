//! Queue lifecycle, attributes and tags: CreateQueue, GetQueueUrl,
//! ListQueues, DeleteQueue, PurgeQueue, Get/SetQueueAttributes,
//! Tag/Untag/ListQueueTags.

use serde_json::{Map, Value, json};

use super::{Ctx, SqsError, int_param, required_str, str_param, string_list, string_map};

/// Most queue URLs ListQueues returns in one page (AWS's limit).
const MAX_LIST: usize = 1000;

pub(crate) async fn create_queue(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let name = required_str(input, "QueueName")?;
    let attributes = string_map(input, "Attributes")?;
    // The JSON model spells the tag map `tags`; accept `Tags` too, which
    // hand-written clients use.
    let mut tags = string_map(input, "tags")?;
    tags.extend(string_map(input, "Tags")?);
    let q = ctx.engine.create_queue(&ctx.user, name, attributes, tags).await?;
    Ok(json!({ "QueueUrl": ctx.queue_url(&q.owner, &q.name) }))
}

pub(crate) fn get_queue_url(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let name = required_str(input, "QueueName")?;
    if let Some(owner) = str_param(input, "QueueOwnerAWSAccountId")
        && owner != ctx.user
    {
        // Another owner's queue: found only where its policy lets the
        // caller in (GetQueueUrl); a missing queue reads the same.
        if !super::policy::allows(ctx, owner, name) {
            return Err(SqsError::access_denied(format!(
                "Access to the queues of {owner} is denied."
            )));
        }
        let q = ctx.engine.get_queue(owner, name)?;
        return Ok(json!({ "QueueUrl": ctx.queue_url(&q.owner, &q.name) }));
    }
    let q = ctx.engine.get_queue(&ctx.user, name)?;
    Ok(json!({ "QueueUrl": ctx.queue_url(&q.owner, &q.name) }))
}

/// Pages are ordered by queue name; the `NextToken` is the hex of the last
/// name returned, so a page boundary survives queues being created or
/// deleted between calls (a token is a position, not an offset).
pub(crate) fn list_queues(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let prefix = str_param(input, "QueueNamePrefix").unwrap_or("");
    let max = match int_param(input, "MaxResults")? {
        None => None,
        Some(n) if (1..=MAX_LIST as i64).contains(&n) => Some(n as usize),
        Some(n) => {
            return Err(SqsError::invalid_value(
                "MaxResults",
                n,
                "MaxResults must be an integer between 1 and 1000.",
            ));
        }
    };
    let after = match str_param(input, "NextToken") {
        Some(t) if !t.is_empty() => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| SqsError::invalid("Invalid NextToken value."))?,
        ),
        _ => None,
    };
    let mut names: Vec<String> = ctx
        .engine
        .list_queues(Some(&ctx.user), prefix)
        .into_iter()
        .map(|q| q.name)
        .collect();
    names.sort();
    if let Some(after) = &after {
        names.retain(|n| n > after);
    }
    let limit = max.unwrap_or(MAX_LIST);
    let truncated = names.len() > limit;
    names.truncate(limit);
    let mut out = Map::new();
    if !names.is_empty() {
        let urls: Vec<Value> = names
            .iter()
            .map(|n| Value::String(ctx.queue_url(&ctx.user, n)))
            .collect();
        out.insert("QueueUrls".into(), Value::Array(urls));
    }
    // AWS only paginates when the caller asked for pages (MaxResults).
    if truncated
        && max.is_some()
        && let Some(last) = names.last()
    {
        out.insert("NextToken".into(), Value::String(hex::encode(last)));
    }
    Ok(Value::Object(out))
}

pub(crate) async fn delete_queue(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    ctx.engine.delete_queue(&owner, &name).await?;
    Ok(json!({}))
}

pub(crate) async fn purge_queue(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    ctx.engine.purge_queue(&owner, &name).await?;
    Ok(json!({}))
}

pub(crate) fn get_queue_attributes(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let names = string_list(input, "AttributeNames")?;
    if names.is_empty() {
        // AWS returns no attributes when none are asked for; the queue must
        // still exist.
        ctx.engine.get_queue(&owner, &name)?;
        return Ok(json!({}));
    }
    let attrs = ctx.engine.get_attributes(&owner, &name, &names)?;
    if attrs.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Attributes": attrs }))
}

pub(crate) async fn set_queue_attributes(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    if input.get("Attributes").is_none() {
        return Err(SqsError::missing("Attributes"));
    }
    let attributes = string_map(input, "Attributes")?;
    ctx.engine.set_attributes(&owner, &name, attributes).await?;
    Ok(json!({}))
}

pub(crate) async fn tag_queue(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    if input.get("Tags").is_none() {
        return Err(SqsError::missing("Tags"));
    }
    let tags = string_map(input, "Tags")?;
    ctx.engine.tag_queue(&owner, &name, tags).await?;
    Ok(json!({}))
}

pub(crate) async fn untag_queue(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    if input.get("TagKeys").is_none() {
        return Err(SqsError::missing("TagKeys"));
    }
    let keys = string_list(input, "TagKeys")?;
    ctx.engine.untag_queue(&owner, &name, keys).await?;
    Ok(json!({}))
}

pub(crate) fn list_queue_tags(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let tags = ctx.engine.list_tags(&owner, &name)?;
    if tags.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Tags": tags }))
}
