//! The query protocol of older CLIs and SDKs: form-encoded `Action=<Op>`
//! parameters (in a POST body, or rarely a GET query string) in, XML out.
//!
//! Parameters are flattened (`Attribute.1.Name`, `MessageAttribute.2.Value.
//! StringValue`, `SendMessageBatchRequestEntry.3.Id`); [`to_input`] folds
//! them into the JSON-protocol request document so the operations are
//! shared, and [`to_xml`] unfolds an operation's JSON answer into the
//! query-protocol XML, with the element names the old SQS model used.

use std::fmt::Write;

use bytes::Bytes;
use herald_queue::QueueEngine;
use herald_store::Store;
use http::{HeaderValue, Request, Response, StatusCode};
use s3s::Body;
use serde_json::{Map, Value};

use super::{ACTIONS, Ctx, SqsError};
use crate::front::RequestMeta;

/// The namespace of every SQS query-protocol document.
pub const NS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Handles one query-protocol request whose body has been read.
pub async fn handle(
    engine: &QueueEngine,
    store: &Store,
    req: Request<()>,
    body: Bytes,
    meta: RequestMeta,
) -> Response<Body> {
    let mut params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    if let Some(q) = req.uri().query() {
        params.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
    }
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let result = run(engine, store, &req, &body, &meta, &action, &params).await;
    match result {
        Ok(v) => xml_response(StatusCode::OK, to_xml(&action, &v, &meta.request_id), &meta.request_id),
        Err(e) => {
            super::log_error(&e, &action);
            error(&e, &meta.request_id)
        }
    }
}

async fn run(
    engine: &QueueEngine,
    store: &Store,
    req: &Request<()>,
    body: &[u8],
    meta: &RequestMeta,
    action: &str,
    params: &[(String, String)],
) -> Result<Value, SqsError> {
    let user = super::authenticate(store, req, body)?;
    if action.is_empty() {
        return Err(SqsError::common(
            "MissingAction",
            "The request must contain the parameter Action.",
            StatusCode::BAD_REQUEST,
        ));
    }
    if !ACTIONS.contains(&action) {
        return Err(SqsError::common(
            "InvalidAction",
            format!("The action {action} is not valid for this endpoint."),
            StatusCode::BAD_REQUEST,
        ));
    }
    let ctx = Ctx {
        engine,
        user,
        base_url: super::base_url(req, meta),
        path_queue: super::path_queue(req.uri().path()),
    };
    super::call(&ctx, action, &to_input(action, params)).await
}

// ---------------------------------------------------------------------------
// Flattened parameters -> JSON request document.

/// A parameter tree: `a.1.b=x` becomes `a -> 1 -> b -> "x"`.
#[derive(Debug, Default)]
struct Node {
    value: Option<String>,
    children: Vec<(String, Node)>,
}

impl Node {
    fn insert(&mut self, path: &[&str], value: String) {
        match path.split_first() {
            None => self.value = Some(value),
            Some((head, rest)) => {
                let idx = match self.children.iter().position(|(k, _)| k == head) {
                    Some(i) => i,
                    None => {
                        self.children.push(((*head).to_owned(), Node::default()));
                        self.children.len() - 1
                    }
                };
                self.children[idx].1.insert(rest, value);
            }
        }
    }

    /// Children in member order (`.1`, `.2`, ... `.10`), as lists and
    /// flattened maps are numbered from 1.
    fn members(&self) -> Vec<&Node> {
        let mut v: Vec<(u64, &Node)> = self
            .children
            .iter()
            .filter_map(|(k, n)| k.parse::<u64>().ok().map(|i| (i, n)))
            .collect();
        v.sort_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, n)| n).collect()
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|(k, _)| k == name).map(|(_, n)| n)
    }
}

/// Flattened map parameters: query name -> (JSON name, key member, value member).
fn map_rule(name: &str, action: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match name {
        "Attribute" => ("Attributes", "Name", "Value"),
        // CreateQueue's tag map is spelled `tags` in the JSON model.
        "Tag" if action == "CreateQueue" => ("tags", "Key", "Value"),
        "Tag" => ("Tags", "Key", "Value"),
        "MessageAttribute" => ("MessageAttributes", "Name", "Value"),
        "MessageSystemAttribute" => ("MessageSystemAttributes", "Name", "Value"),
        _ => return None,
    })
}

/// Flattened list parameters: query member name -> JSON list name.
fn list_rule(name: &str) -> Option<&'static str> {
    Some(match name {
        "AttributeName" => "AttributeNames",
        "MessageSystemAttributeName" => "MessageSystemAttributeNames",
        "MessageAttributeName" => "MessageAttributeNames",
        "TagKey" => "TagKeys",
        "StringListValue" => "StringListValues",
        "BinaryListValue" => "BinaryListValues",
        _ => return None,
    })
}

fn node_value(node: &Node, action: &str) -> Value {
    if node.children.is_empty() {
        Value::String(node.value.clone().unwrap_or_default())
    } else {
        Value::Object(node_struct(node, action))
    }
}

fn node_struct(node: &Node, action: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, child) in &node.children {
        if let Some((json_name, key_member, value_member)) = map_rule(name, action) {
            let mut map = Map::new();
            for entry in child.members() {
                if let Some(key) = entry.child(key_member).and_then(|k| k.value.clone()) {
                    let value = entry
                        .child(value_member)
                        .map(|v| node_value(v, action))
                        .unwrap_or(Value::Null);
                    map.insert(key, value);
                }
            }
            out.insert(json_name.to_owned(), Value::Object(map));
        } else if let Some(json_name) = list_rule(name) {
            let list: Vec<Value> = if child.children.is_empty() {
                // `AttributeName=All` without an index, as some old clients send.
                child.value.iter().cloned().map(Value::String).collect()
            } else {
                child.members().into_iter().map(|n| node_value(n, action)).collect()
            };
            out.insert(json_name.to_owned(), Value::Array(list));
        } else if name.ends_with("BatchRequestEntry") {
            let list = child
                .members()
                .into_iter()
                .map(|n| Value::Object(node_struct(n, action)))
                .collect();
            out.insert("Entries".to_owned(), Value::Array(list));
        } else {
            out.insert(name.clone(), node_value(child, action));
        }
    }
    out
}

/// Folds query parameters into the JSON-protocol request document. Scalars
/// stay strings; the operations' readers accept numeric strings.
pub(crate) fn to_input(action: &str, params: &[(String, String)]) -> Value {
    let mut root = Node::default();
    for (k, v) in params {
        if k == "Action" || k == "Version" || k.starts_with("X-Amz-") || k.is_empty() {
            continue;
        }
        let path: Vec<&str> = k.split('.').collect();
        root.insert(&path, v.clone());
    }
    Value::Object(node_struct(&root, action))
}

// ---------------------------------------------------------------------------
// JSON answer -> XML.

/// Escapes text for XML content. `\r` is written as a character reference
/// because XML parsers otherwise normalise it away, and message bodies must
/// come back byte for byte.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => esc(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => esc(&other.to_string()),
    }
}

/// Writes the members of a JSON object as query-protocol XML. Maps and
/// lists are flattened, with the member names of the SQS query model.
fn write_struct(out: &mut String, action: &str, obj: &Map<String, Value>) {
    for (name, v) in obj {
        match (name.as_str(), v) {
            ("Attributes" | "Tags" | "MessageAttributes", Value::Object(m)) => {
                let (elem, key, value) = match name.as_str() {
                    "Attributes" => ("Attribute", "Name", "Value"),
                    "Tags" => ("Tag", "Key", "Value"),
                    _ => ("MessageAttribute", "Name", "Value"),
                };
                for (k, val) in m {
                    let _ = write!(out, "<{elem}><{key}>{}</{key}><{value}>", esc(k));
                    match val {
                        Value::Object(inner) => write_struct(out, action, inner),
                        other => out.push_str(&scalar(other)),
                    }
                    let _ = write!(out, "</{value}></{elem}>");
                }
            }
            (_, Value::Array(items)) => {
                let elem = match name.as_str() {
                    "QueueUrls" => "QueueUrl".to_owned(),
                    "Messages" => "Message".to_owned(),
                    "Failed" => "BatchResultErrorEntry".to_owned(),
                    "Successful" => format!("{action}ResultEntry"),
                    "StringListValues" => "StringListValue".to_owned(),
                    "BinaryListValues" => "BinaryListValue".to_owned(),
                    other => other.to_owned(),
                };
                for item in items {
                    let _ = write!(out, "<{elem}>");
                    match item {
                        Value::Object(inner) => write_struct(out, action, inner),
                        other => out.push_str(&scalar(other)),
                    }
                    let _ = write!(out, "</{elem}>");
                }
            }
            (_, Value::Object(inner)) => {
                let _ = write!(out, "<{name}>");
                write_struct(out, action, inner);
                let _ = write!(out, "</{name}>");
            }
            (_, other) => {
                let _ = write!(out, "<{name}>{}</{name}>", scalar(other));
            }
        }
    }
}

/// `<{Action}Response><{Action}Result>..</..><ResponseMetadata>..`; actions
/// with nothing to return have no `Result` element, as AWS sends them.
pub fn to_xml(action: &str, v: &Value, request_id: &str) -> String {
    let mut s = format!("<?xml version=\"1.0\"?><{action}Response xmlns=\"{NS}\">");
    if let Some(obj) = v.as_object()
        && (!obj.is_empty()
            || matches!(
                action,
                "ListQueues" | "ReceiveMessage" | "GetQueueAttributes" | "ListQueueTags"
            ))
    {
        let _ = write!(s, "<{action}Result>");
        write_struct(&mut s, action, obj);
        let _ = write!(s, "</{action}Result>");
    }
    let _ = write!(
        s,
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        esc(request_id)
    );
    s
}

fn xml_response(status: StatusCode, xml: String, request_id: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(xml));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Some(v) = super::request_id_header(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// The SQS query-protocol error document.
pub fn error(e: &SqsError, request_id: &str) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{NS}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>",
        if e.sender { "Sender" } else { "Receiver" },
        esc(&e.query_code),
        esc(&e.message),
        esc(request_id)
    );
    xml_response(e.status, xml, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn flattened_parameters_fold_into_the_json_shape() {
        let input = to_input(
            "SendMessageBatch",
            &params(&[
                ("Action", "SendMessageBatch"),
                ("QueueUrl", "http://h/root/q"),
                ("SendMessageBatchRequestEntry.2.Id", "b"),
                ("SendMessageBatchRequestEntry.2.MessageBody", "two"),
                ("SendMessageBatchRequestEntry.10.Id", "c"),
                ("SendMessageBatchRequestEntry.10.MessageBody", "ten"),
                ("SendMessageBatchRequestEntry.1.Id", "a"),
                ("SendMessageBatchRequestEntry.1.MessageBody", "one"),
                ("SendMessageBatchRequestEntry.1.DelaySeconds", "5"),
                ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "k"),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
                    "String",
                ),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue",
                    "v",
                ),
            ]),
        );
        assert_eq!(
            input,
            json!({
                "QueueUrl": "http://h/root/q",
                "Entries": [
                    {"Id": "a", "MessageBody": "one", "DelaySeconds": "5",
                     "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
                    {"Id": "b", "MessageBody": "two"},
                    {"Id": "c", "MessageBody": "ten"},
                ]
            })
        );
        let input = to_input(
            "CreateQueue",
            &params(&[
                ("QueueName", "q"),
                ("Attribute.1.Name", "VisibilityTimeout"),
                ("Attribute.1.Value", "40"),
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", "ops"),
            ]),
        );
        assert_eq!(
            input,
            json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "40"}, "tags": {"team": "ops"}})
        );
        let input = to_input(
            "ReceiveMessage",
            &params(&[
                ("AttributeName.1", "All"),
                ("MessageAttributeName.2", "b"),
                ("MessageAttributeName.1", "a"),
            ]),
        );
        assert_eq!(
            input,
            json!({"AttributeNames": ["All"], "MessageAttributeNames": ["a", "b"]})
        );
    }

    #[test]
    fn answers_unfold_into_query_xml() {
        let xml = to_xml(
            "ReceiveMessage",
            &json!({"Messages": [{"Body": "a<b\r", "Attributes": {"SentTimestamp": "1"},
                "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}]}),
            "RID",
        );
        assert!(xml.contains("<ReceiveMessageResult><Message>"), "{xml}");
        assert!(xml.contains("<Body>a&lt;b&#xD;</Body>"), "{xml}");
        assert!(
            xml.contains("<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>"),
            "{xml}"
        );
        assert!(
            xml.contains("<MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>"),
            "{xml}"
        );
        let xml = to_xml(
            "DeleteMessageBatch",
            &json!({"Successful": [{"Id": "a"}], "Failed": [{"Id": "b", "SenderFault": true, "Code": "ReceiptHandleIsInvalid"}]}),
            "RID",
        );
        assert!(
            xml.contains("<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"),
            "{xml}"
        );
        assert!(xml.contains("<BatchResultErrorEntry><Code>ReceiptHandleIsInvalid</Code><Id>b</Id><SenderFault>true</SenderFault></BatchResultErrorEntry>"), "{xml}");
        let xml = to_xml("DeleteQueue", &json!({}), "RID");
        assert_eq!(
            xml,
            format!(
                "<?xml version=\"1.0\"?><DeleteQueueResponse xmlns=\"{NS}\"><ResponseMetadata><RequestId>RID</RequestId></ResponseMetadata></DeleteQueueResponse>"
            )
        );
    }
}
