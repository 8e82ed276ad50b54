//! Request documents and answer parsing for the SQS operations the bench
//! uses, in the AWS JSON 1.0 protocol. Pure functions over bytes, so the wire
//! format is unit-tested without a server.

use serde::{Deserialize, Serialize};

use crate::s3::OpError;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueueName<'a> {
    queue_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueueUrl<'a> {
    queue_url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetAttributes<'a> {
    queue_url: &'a str,
    attribute_names: &'a [&'a str],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendBatch<'a> {
    queue_url: &'a str,
    entries: Vec<SendEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendEntry<'a> {
    id: String,
    message_body: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Receive<'a> {
    queue_url: &'a str,
    max_number_of_messages: u32,
    wait_time_seconds: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteBatch<'a> {
    queue_url: &'a str,
    entries: Vec<DeleteEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteEntry<'a> {
    id: String,
    receipt_handle: &'a str,
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("SQS requests serialize")
}

/// `CreateQueue {"QueueName": name}`.
pub fn create_queue(name: &str) -> Vec<u8> {
    to_json(&QueueName { queue_name: name })
}

/// `PurgeQueue` / `DeleteQueue` `{"QueueUrl": url}`.
pub fn queue_url(url: &str) -> Vec<u8> {
    to_json(&QueueUrl { queue_url: url })
}

/// `GetQueueAttributes {"QueueUrl": url, "AttributeNames": names}`.
pub fn get_queue_attributes(url: &str, names: &[&str]) -> Vec<u8> {
    to_json(&GetAttributes {
        queue_url: url,
        attribute_names: names,
    })
}

/// `SendMessageBatch`; entry `i` gets `"Id": "i"`, so the answer's ids
/// index into `bodies`.
pub fn send_message_batch(url: &str, bodies: &[String]) -> Vec<u8> {
    to_json(&SendBatch {
        queue_url: url,
        entries: bodies
            .iter()
            .enumerate()
            .map(|(i, body)| SendEntry {
                id: i.to_string(),
                message_body: body,
            })
            .collect(),
    })
}

/// `ReceiveMessage` of up to `max` messages, long-polling `wait_seconds`.
pub fn receive_message(url: &str, max: u32, wait_seconds: u32) -> Vec<u8> {
    to_json(&Receive {
        queue_url: url,
        max_number_of_messages: max,
        wait_time_seconds: wait_seconds,
    })
}

/// `DeleteMessageBatch`; entry `i` gets `"Id": "i"`, like
/// [`send_message_batch`].
pub fn delete_message_batch<'a>(url: &str, handles: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    to_json(&DeleteBatch {
        queue_url: url,
        entries: handles
            .into_iter()
            .enumerate()
            .map(|(i, handle)| DeleteEntry {
                id: i.to_string(),
                receipt_handle: handle,
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateQueueAnswer {
    queue_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributesAnswer {
    #[serde(default)]
    attributes: std::collections::HashMap<String, String>,
}

/// A received message; fields the bench does not need are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    #[serde(default)]
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveAnswer {
    /// Absent (not just empty) when no message arrived.
    #[serde(default)]
    messages: Vec<Message>,
}

/// The common answer of both batch operations.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchResult {
    /// Indices (the request entry ids) that succeeded.
    pub successful: Vec<usize>,
    /// Failed entries: index (if the id was ours) and the error code.
    pub failed: Vec<(Option<usize>, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchAnswer {
    #[serde(default)]
    successful: Vec<BatchEntry>,
    #[serde(default)]
    failed: Vec<BatchFailure>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchEntry {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchFailure {
    id: String,
    #[serde(default)]
    code: String,
}

fn parse<'a, T: Deserialize<'a>>(operation: &str, body: &'a [u8]) -> Result<T, OpError> {
    serde_json::from_slice(body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        OpError::Protocol(format!("{operation} answer is not the expected JSON ({e}): {start}"))
    })
}

/// The `QueueUrl` of a CreateQueue answer.
pub fn parse_create_queue(body: &[u8]) -> Result<String, OpError> {
    let answer: CreateQueueAnswer = parse("CreateQueue", body)?;
    if answer.queue_url.is_empty() {
        return Err(OpError::Protocol("CreateQueue answered an empty QueueUrl".into()));
    }
    Ok(answer.queue_url)
}

/// The `Attributes.QueueArn` of a GetQueueAttributes answer.
pub fn parse_queue_arn(body: &[u8]) -> Result<String, OpError> {
    let answer: AttributesAnswer = parse("GetQueueAttributes", body)?;
    match answer.attributes.get("QueueArn") {
        Some(arn) if !arn.is_empty() => Ok(arn.clone()),
        _ => Err(OpError::Protocol(
            "GetQueueAttributes answered no QueueArn attribute".into(),
        )),
    }
}

/// The messages of a ReceiveMessage answer (none when `Messages` is absent).
pub fn parse_receive(body: &[u8]) -> Result<Vec<Message>, OpError> {
    Ok(parse::<ReceiveAnswer>("ReceiveMessage", body)?.messages)
}

/// The `Successful`/`Failed` lists of a SendMessageBatch or
/// DeleteMessageBatch answer for a request of `entries` entries. Ids the
/// request did not use are an error; entries the answer does not mention
/// at all are reported as failed with code `NotInAnswer`.
pub fn parse_batch(operation: &str, body: &[u8], entries: usize) -> Result<BatchResult, OpError> {
    let answer: BatchAnswer = parse(operation, body)?;
    let index = |id: &str| id.parse::<usize>().ok().filter(|&i| i < entries);
    let mut seen = vec![false; entries];
    let mut result = BatchResult::default();
    for entry in answer.successful {
        let i = index(&entry.id)
            .ok_or_else(|| OpError::Protocol(format!("{operation} answered unknown entry id {:?}", entry.id)))?;
        if std::mem::replace(&mut seen[i], true) {
            return Err(OpError::Protocol(format!("{operation} answered entry id {i} twice")));
        }
        result.successful.push(i);
    }
    for failure in answer.failed {
        let i = index(&failure.id);
        if let Some(i) = i {
            seen[i] = true;
        }
        result.failed.push((i, failure.code));
    }
    for (i, seen) in seen.iter().enumerate() {
        if !seen {
            result.failed.push((Some(i), "NotInAnswer".into()));
        }
    }
    Ok(result)
}

/// `__type: message` of an SQS JSON error body, with the `__type` namespace
/// (`com.amazonaws.sqs#`) removed; `None` if `body` is not one.
pub fn error_summary(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let kind = value.get("__type")?.as_str()?;
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let message = value
        .get("message")
        .or_else(|| value.get("Message"))
        .and_then(|m| m.as_str())
        .unwrap_or("");
    Some(if message.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {message}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn value(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn request_documents() {
        assert_eq!(value(&create_queue("q")), json!({"QueueName": "q"}));
        assert_eq!(value(&queue_url("http://h/1/q")), json!({"QueueUrl": "http://h/1/q"}));
        assert_eq!(
            value(&get_queue_attributes("http://h/1/q", &["QueueArn"])),
            json!({"QueueUrl": "http://h/1/q", "AttributeNames": ["QueueArn"]})
        );
        assert_eq!(
            value(&send_message_batch("u", &["a\"b".into(), "c".into()])),
            json!({"QueueUrl": "u", "Entries": [
                {"Id": "0", "MessageBody": "a\"b"},
                {"Id": "1", "MessageBody": "c"},
            ]})
        );
        assert_eq!(
            value(&receive_message("u", 10, 1)),
            json!({"QueueUrl": "u", "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1})
        );
        assert_eq!(
            value(&delete_message_batch("u", ["h0", "h1"])),
            json!({"QueueUrl": "u", "Entries": [
                {"Id": "0", "ReceiptHandle": "h0"},
                {"Id": "1", "ReceiptHandle": "h1"},
            ]})
        );
    }

    #[test]
    fn parses_answers() {
        assert_eq!(
            parse_create_queue(br#"{"QueueUrl":"http://127.0.0.1:9310/000000000000/q"}"#).unwrap(),
            "http://127.0.0.1:9310/000000000000/q"
        );
        assert!(parse_create_queue(b"{}").is_err());
        assert!(parse_create_queue(br#"{"QueueUrl":""}"#).is_err());

        assert_eq!(
            parse_queue_arn(br#"{"Attributes":{"QueueArn":"arn:aws:sqs:us-east-1:root:q"}}"#).unwrap(),
            "arn:aws:sqs:us-east-1:root:q"
        );
        for bad in [
            &b"{}"[..],
            br#"{"Attributes":{}}"#,
            br#"{"Attributes":{"QueueArn":""}}"#,
            b"<x/>",
        ] {
            assert!(parse_queue_arn(bad).is_err());
        }

        assert_eq!(parse_receive(b"{}").unwrap(), vec![]);
        assert_eq!(parse_receive(br#"{"Messages":[]}"#).unwrap(), vec![]);
        let messages = parse_receive(
            br#"{"Messages":[{"MessageId":"m1","ReceiptHandle":"r1","Body":"hello",
                "MD5OfBody":"5d41402abc4b2a76b9719d911017c592","Attributes":{}}]}"#,
        )
        .unwrap();
        assert_eq!(
            messages,
            vec![Message {
                message_id: "m1".into(),
                receipt_handle: "r1".into(),
                body: "hello".into(),
                md5_of_body: "5d41402abc4b2a76b9719d911017c592".into(),
            }]
        );
        let err = parse_receive(b"<xml/>").unwrap_err().to_string();
        assert!(err.contains("ReceiveMessage answer is not the expected JSON"), "{err}");
    }

    #[test]
    fn parses_batch_results() {
        let r = parse_batch(
            "DeleteMessageBatch",
            br#"{"Successful":[{"Id":"0"},{"Id":"2"}],
                 "Failed":[{"Id":"1","Code":"ReceiptHandleIsInvalid","SenderFault":true}]}"#,
            3,
        )
        .unwrap();
        assert_eq!(r.successful, [0, 2]);
        assert_eq!(r.failed, [(Some(1), "ReceiptHandleIsInvalid".to_owned())]);

        // Entries the answer forgets are failures too.
        let r = parse_batch("SendMessageBatch", br#"{"Successful":[{"Id":"1","MessageId":"x"}]}"#, 2).unwrap();
        assert_eq!(r.successful, [1]);
        assert_eq!(r.failed, [(Some(0), "NotInAnswer".to_owned())]);

        for bad in [
            &br#"{"Successful":[{"Id":"5"}]}"#[..],
            br#"{"Successful":[{"Id":"0"},{"Id":"0"}]}"#,
            b"not json",
        ] {
            assert!(parse_batch("SendMessageBatch", bad, 2).is_err());
        }
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_summary(r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no such queue"}"#).as_deref(),
            Some("QueueDoesNotExist: no such queue")
        );
        assert_eq!(
            error_summary(r#"{"__type":"UnknownOperationException"}"#).as_deref(),
            Some("UnknownOperationException")
        );
        assert_eq!(error_summary("<Error/>"), None);
    }
}
