//! Message operations: SendMessage(Batch), ReceiveMessage,
//! DeleteMessage(Batch), ChangeMessageVisibility(Batch).
//!
//! The batch envelope rules (1-10 entries, distinct well-formed ids, total
//! payload) are checked here, before the engine sees anything, so a
//! malformed batch changes nothing. A failure of one well-formed entry is
//! reported in `Failed` and the other entries still take effect, as in AWS.

use std::collections::{BTreeMap, HashSet};

use herald_queue::{MessageAttributeValue, QueueError, ReceiveRequest, ReceivedMessage, SendRequest, SendResult};
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use super::{
    Ctx, MAX_BATCH_ENTRIES, MAX_BATCH_PAYLOAD, SqsError, b64_decode, b64_encode, int_in, required_str, str_param,
    string_list,
};

/// Longest visibility timeout AWS accepts (12 hours).
const MAX_VISIBILITY: i64 = 43_200;
/// Longest long poll AWS accepts.
const MAX_WAIT: i64 = 20;
/// Longest per-message delay AWS accepts (15 minutes).
const MAX_DELAY: i64 = 900;
/// Most message attributes on one message.
const MAX_MESSAGE_ATTRIBUTES: usize = 10;

// ---------------------------------------------------------------------------
// Sending.

pub(crate) async fn send_message(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let req = parse_send(input)?;
    let mut results = ctx.engine.send(&owner, &name, vec![req]).await?;
    let result = match results.pop() {
        Some(r) => r?,
        None => {
            return Err(SqsError::internal(
                "the queue engine returned no result for the message",
            ));
        }
    };
    let mut out = Map::new();
    send_result_fields(&mut out, result);
    Ok(Value::Object(out))
}

pub(crate) async fn send_message_batch(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let entries = batch_entries(input)?;
    let mut failed = Vec::new();
    let mut ok_ids = Vec::new();
    let mut requests = Vec::new();
    let mut total = 0usize;
    for (id, entry) in &entries {
        match parse_send(entry) {
            Ok(req) => {
                total += payload_size(&req);
                ok_ids.push(id.clone());
                requests.push(req);
            }
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    if total > MAX_BATCH_PAYLOAD {
        return Err(SqsError::modeled(
            "BatchRequestTooLong",
            "AWS.SimpleQueueService.BatchRequestTooLong",
            format!("Batch requests cannot be longer than {MAX_BATCH_PAYLOAD} bytes. You have sent {total} bytes."),
        ));
    }
    let mut successful = Vec::new();
    if !requests.is_empty() {
        let results = ctx.engine.send(&owner, &name, requests).await?;
        for (id, r) in ok_ids.iter().zip(results) {
            match r {
                Ok(res) => {
                    let mut m = Map::new();
                    m.insert("Id".into(), Value::String(id.clone()));
                    send_result_fields(&mut m, res);
                    successful.push(Value::Object(m));
                }
                Err(e) => failed.push(failed_entry(id, &SqsError::from(e))),
            }
        }
    }
    Ok(batch_answer(successful, failed, &entries))
}

fn send_result_fields(out: &mut Map<String, Value>, r: SendResult) {
    out.insert("MessageId".into(), Value::String(r.message_id));
    out.insert("MD5OfMessageBody".into(), Value::String(r.md5_of_body));
    if let Some(m) = r.md5_of_attributes {
        out.insert("MD5OfMessageAttributes".into(), Value::String(m));
    }
    if let Some(m) = r.md5_of_system_attributes {
        out.insert("MD5OfMessageSystemAttributes".into(), Value::String(m));
    }
    if let Some(s) = r.sequence_number {
        out.insert("SequenceNumber".into(), Value::String(s));
    }
}

/// A SendMessage input (or batch entry) as the engine takes it. Message
/// size against the queue's `MaximumMessageSize` is the engine's check: it
/// knows the queue's setting.
fn parse_send(input: &Value) -> Result<SendRequest, SqsError> {
    let body = required_str(input, "MessageBody")?;
    if body.is_empty() {
        return Err(SqsError::invalid_value("MessageBody", "''", "Empty message."));
    }
    let delay_seconds = int_in(input, "DelaySeconds", 0, MAX_DELAY)?;
    Ok(SendRequest {
        body: body.to_owned(),
        delay_seconds,
        attributes: parse_message_attributes(input, "MessageAttributes")?,
        system_attributes: parse_message_attributes(input, "MessageSystemAttributes")?,
        group_id: str_param(input, "MessageGroupId").map(str::to_owned),
        deduplication_id: str_param(input, "MessageDeduplicationId").map(str::to_owned),
    })
}

/// What a message counts against the batch limit: its body and its
/// message attributes' names, types and values (as AWS counts them).
fn payload_size(req: &SendRequest) -> usize {
    req.body.len()
        + req
            .attributes
            .iter()
            .map(|(k, v)| {
                k.len()
                    + v.data_type.len()
                    + v.string_value.as_ref().map_or(0, String::len)
                    + v.binary_value.as_ref().map_or(0, Vec::len)
            })
            .sum::<usize>()
}

fn valid_attribute_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

fn parse_message_attributes(input: &Value, field: &str) -> Result<BTreeMap<String, MessageAttributeValue>, SqsError> {
    let mut out = BTreeMap::new();
    let map = match input.get(field) {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(SqsError::invalid(format!("{field} must be a map."))),
    };
    if field == "MessageAttributes" && map.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(SqsError::invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
            map.len()
        )));
    }
    for (name, v) in map {
        if field == "MessageAttributes" && !valid_attribute_name(name) {
            return Err(SqsError::invalid(format!(
                "Message attribute name '{name}' is invalid."
            )));
        }
        let data_type = v.get("DataType").and_then(Value::as_str).unwrap_or("");
        if data_type.is_empty() {
            return Err(SqsError::invalid(format!(
                "The message attribute '{name}' must contain non-empty message attribute type."
            )));
        }
        let base = data_type.split('.').next().unwrap_or("");
        let string_value = v.get("StringValue").and_then(Value::as_str).map(str::to_owned);
        let binary_value = match v.get("BinaryValue").and_then(Value::as_str) {
            Some(b) => Some(b64_decode(b).ok_or_else(|| {
                SqsError::invalid(format!(
                    "The message attribute '{name}' has an invalid base64 binary value."
                ))
            })?),
            None => None,
        };
        let ok = match base {
            "String" | "Number" => string_value.as_deref().is_some_and(|s| !s.is_empty()),
            "Binary" => binary_value.as_ref().is_some_and(|b| !b.is_empty()),
            _ => {
                return Err(SqsError::invalid(format!(
                    "The type of message attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
                )));
            }
        };
        if !ok {
            return Err(SqsError::invalid(format!(
                "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
            )));
        }
        out.insert(
            name.clone(),
            MessageAttributeValue {
                data_type: data_type.to_owned(),
                string_value: if base == "Binary" { None } else { string_value },
                binary_value: if base == "Binary" { binary_value } else { None },
            },
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Receiving.

pub(crate) async fn receive_message(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let max_messages = int_in(input, "MaxNumberOfMessages", 1, MAX_BATCH_ENTRIES as i64)?.unwrap_or(1);
    let visibility_timeout = int_in(input, "VisibilityTimeout", 0, MAX_VISIBILITY)?;
    let wait_time = int_in(input, "WaitTimeSeconds", 0, MAX_WAIT)?;
    // `AttributeNames` is deprecated in favour of
    // `MessageSystemAttributeNames`; clients send either, so both count.
    let mut system_names = string_list(input, "AttributeNames")?;
    system_names.extend(string_list(input, "MessageSystemAttributeNames")?);
    let attribute_names = string_list(input, "MessageAttributeNames")?;
    let messages = ctx
        .engine
        .receive(
            &owner,
            &name,
            ReceiveRequest {
                max_messages,
                visibility_timeout,
                wait_time,
            },
        )
        .await?;
    if messages.is_empty() {
        return Ok(json!({}));
    }
    let list: Vec<Value> = messages
        .into_iter()
        .map(|m| message_json(m, &system_names, &attribute_names))
        .collect();
    Ok(json!({ "Messages": list }))
}

/// Whether an attribute was asked for: `All`, `.*`, an exact name, or a
/// prefix wildcard `foo.*` (matching `foo.bar`, as AWS documents).
fn wanted(requested: &[String], name: &str) -> bool {
    requested.iter().any(|r| {
        r == "All"
            || r == ".*"
            || r == name
            || r.strip_suffix(".*")
                .is_some_and(|prefix| name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')))
    })
}

fn message_json(m: ReceivedMessage, system_names: &[String], attribute_names: &[String]) -> Value {
    let mut out = Map::new();
    out.insert("MessageId".into(), Value::String(m.message_id));
    out.insert("ReceiptHandle".into(), Value::String(m.receipt_handle));
    out.insert("MD5OfBody".into(), Value::String(m.md5_of_body));
    out.insert("Body".into(), Value::String(m.body));
    let attrs: Map<String, Value> = m
        .attributes
        .into_iter()
        .filter(|(k, _)| wanted(system_names, k))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if !attrs.is_empty() {
        out.insert("Attributes".into(), Value::Object(attrs));
    }
    let selected: BTreeMap<String, MessageAttributeValue> = m
        .message_attributes
        .into_iter()
        .filter(|(k, _)| wanted(attribute_names, k))
        .collect();
    if !selected.is_empty() {
        // The digest covers exactly the attributes returned, so a client
        // that verifies it (the Java SDK does) agrees with us even when it
        // asked for a subset.
        out.insert(
            "MD5OfMessageAttributes".into(),
            Value::String(md5_of_message_attributes(&selected)),
        );
        let map: Map<String, Value> = selected
            .into_iter()
            .map(|(k, v)| {
                let mut a = Map::new();
                if let Some(s) = v.string_value {
                    a.insert("StringValue".into(), Value::String(s));
                }
                if let Some(b) = v.binary_value {
                    a.insert("BinaryValue".into(), Value::String(b64_encode(&b)));
                }
                a.insert("DataType".into(), Value::String(v.data_type));
                (k, Value::Object(a))
            })
            .collect();
        out.insert("MessageAttributes".into(), Value::Object(map));
    }
    Value::Object(out)
}

/// AWS's digest of message attributes: for each attribute in name order,
/// length-prefixed (u32 big-endian) name and data type, a transport byte
/// (1 string, 2 binary), then the length-prefixed value.
pub(crate) fn md5_of_message_attributes(attrs: &BTreeMap<String, MessageAttributeValue>) -> String {
    fn put(h: &mut Md5, bytes: &[u8]) {
        h.update((bytes.len() as u32).to_be_bytes());
        h.update(bytes);
    }
    let mut h = Md5::new();
    for (name, v) in attrs {
        put(&mut h, name.as_bytes());
        put(&mut h, v.data_type.as_bytes());
        if let Some(b) = &v.binary_value {
            h.update([2u8]);
            put(&mut h, b);
        } else {
            h.update([1u8]);
            put(&mut h, v.string_value.as_deref().unwrap_or("").as_bytes());
        }
    }
    hex::encode(h.finalize())
}

// ---------------------------------------------------------------------------
// Deleting and changing visibility.

pub(crate) async fn delete_message(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let handle = required_str(input, "ReceiptHandle")?.to_owned();
    let mut results = ctx.engine.delete(&owner, &name, &[handle]).await?;
    match results.pop() {
        Some(r) => r?,
        None => {
            return Err(SqsError::internal(
                "the queue engine returned no result for the receipt handle",
            ));
        }
    }
    Ok(json!({}))
}

pub(crate) async fn delete_message_batch(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let entries = batch_entries(input)?;
    let mut failed = Vec::new();
    let mut ids = Vec::new();
    let mut handles = Vec::new();
    for (id, entry) in &entries {
        match required_str(entry, "ReceiptHandle") {
            Ok(h) => {
                ids.push(id.clone());
                handles.push(h.to_owned());
            }
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    let mut successful = Vec::new();
    if !handles.is_empty() {
        let results = ctx.engine.delete(&owner, &name, &handles).await?;
        for (id, r) in ids.iter().zip(results) {
            match r {
                Ok(()) => successful.push(json!({ "Id": id })),
                Err(e) => failed.push(failed_entry(id, &SqsError::from(e))),
            }
        }
    }
    Ok(batch_answer(successful, failed, &entries))
}

fn visibility_timeout(input: &Value) -> Result<u32, SqsError> {
    int_in(input, "VisibilityTimeout", 0, MAX_VISIBILITY)?.ok_or_else(|| SqsError::missing("VisibilityTimeout"))
}

pub(crate) async fn change_message_visibility(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let handle = required_str(input, "ReceiptHandle")?;
    let timeout = visibility_timeout(input)?;
    ctx.engine.change_visibility(&owner, &name, handle, timeout).await?;
    Ok(json!({}))
}

pub(crate) async fn change_message_visibility_batch(ctx: &Ctx<'_>, input: &Value) -> Result<Value, SqsError> {
    let (owner, name) = ctx.queue(input)?;
    let entries = batch_entries(input)?;
    // A missing queue fails the whole request, not each entry.
    ctx.engine.get_queue(&owner, &name)?;
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (id, entry) in &entries {
        let parsed = required_str(entry, "ReceiptHandle").and_then(|h| Ok((h, visibility_timeout(entry)?)));
        let result = match parsed {
            Ok((handle, timeout)) => match ctx.engine.change_visibility(&owner, &name, handle, timeout).await {
                Err(QueueError::QueueDoesNotExist) => return Err(SqsError::queue_does_not_exist()),
                r => r.map_err(SqsError::from),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    Ok(batch_answer(successful, failed, &entries))
}

// ---------------------------------------------------------------------------
// Batch envelope.

fn valid_batch_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 80 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The entries of a batch request with their ids, after the checks that
/// reject the whole request (AWS's order: empty, too many, bad id,
/// duplicate id).
fn batch_entries(input: &Value) -> Result<Vec<(String, Value)>, SqsError> {
    let entries = match input.get("Entries") {
        None | Some(Value::Null) => return Err(super::empty_batch()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(SqsError::invalid("Entries must be a list.")),
    };
    if entries.is_empty() {
        return Err(super::empty_batch());
    }
    if entries.len() > MAX_BATCH_ENTRIES {
        return Err(super::too_many_entries());
    }
    let mut out = Vec::with_capacity(entries.len());
    let mut seen = HashSet::new();
    for e in entries {
        let id = e.get("Id").and_then(Value::as_str).unwrap_or("");
        if !valid_batch_id(id) {
            return Err(super::invalid_batch_id());
        }
        out.push((id.to_owned(), e.clone()));
    }
    for (id, _) in &out {
        if !seen.insert(id.as_str()) {
            return Err(super::ids_not_distinct());
        }
    }
    Ok(out)
}

fn failed_entry(id: &str, e: &SqsError) -> Value {
    json!({ "Id": id, "SenderFault": e.sender, "Code": e.query_code, "Message": e.message })
}

/// `Successful` and `Failed`, both always present (the model requires
/// them), each in request order.
fn batch_answer(mut successful: Vec<Value>, mut failed: Vec<Value>, entries: &[(String, Value)]) -> Value {
    let pos = |v: &Value| {
        let id = v.get("Id").and_then(Value::as_str).unwrap_or("");
        entries.iter().position(|(e, _)| e == id).unwrap_or(usize::MAX)
    };
    successful.sort_by_key(pos);
    failed.sort_by_key(pos);
    json!({ "Successful": successful, "Failed": failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_name_wildcards() {
        let req = vec!["foo.*".to_owned(), "exact".to_owned()];
        assert!(wanted(&req, "foo.bar"));
        assert!(!wanted(&req, "foobar"));
        assert!(!wanted(&req, "foo"));
        assert!(wanted(&req, "exact"));
        assert!(!wanted(&req, "other"));
        assert!(wanted(&["All".to_owned()], "x"));
        assert!(wanted(&[".*".to_owned()], "x"));
        assert!(!wanted(&[], "x"));
    }

    #[test]
    fn message_attribute_digest_matches_aws() {
        // The byte layout of the SQS developer guide, spelled out by hand
        // rather than through the function under test.
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "k".to_owned(),
            MessageAttributeValue {
                data_type: "String".into(),
                string_value: Some("v".into()),
                binary_value: None,
            },
        );
        let mut expected = Vec::new();
        for part in [&b"k"[..], b"String"] {
            expected.extend_from_slice(&(part.len() as u32).to_be_bytes());
            expected.extend_from_slice(part);
        }
        expected.push(1);
        expected.extend_from_slice(&1u32.to_be_bytes());
        expected.push(b'v');
        assert_eq!(md5_of_message_attributes(&attrs), hex::encode(Md5::digest(&expected)));
    }

    #[test]
    fn batch_envelope_rules() {
        let many: Vec<Value> = (0..11).map(|i| json!({"Id": format!("e{i}")})).collect();
        assert_eq!(
            batch_entries(&json!({"Entries": many})).unwrap_err().query_code,
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
        );
        assert_eq!(
            batch_entries(&json!({"Entries": []})).unwrap_err().query_code,
            "AWS.SimpleQueueService.EmptyBatchRequest"
        );
        assert_eq!(
            batch_entries(&json!({"Entries": [{"Id": "a b"}]}))
                .unwrap_err()
                .query_code,
            "AWS.SimpleQueueService.InvalidBatchEntryId"
        );
        assert_eq!(
            batch_entries(&json!({"Entries": [{"Id": "a"}, {"Id": "a"}]}))
                .unwrap_err()
                .query_code,
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
        );
        assert_eq!(batch_entries(&json!({"Entries": [{"Id": "a-_1"}]})).unwrap().len(), 1);
    }
}
