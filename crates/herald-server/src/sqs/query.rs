//! The query protocol of older CLIs and SDKs: form-encoded `Action=<Op>`
//! parameters (in a POST body, or rarely a GET query string) in, XML out.
//!
//! Parameters are flattened (`Attribute.1.Name`, `MessageAttribute.2.Value.
//! StringValue`, `SendMessageBatchRequestEntry.3.Id`);
//! [`herald_model::query`] checks them against its limits and folds them
//! into the JSON-protocol request document so the operations are shared, and [`to_xml`] unfolds an operation's JSON answer into the
//! query-protocol XML, with the element names the old SQS model used.

use std::fmt::Write;

use bytes::Bytes;
use herald_model::query::{ParamError, Params, sqs_input};
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
    // Limits first, before authentication and before anything is built
    // from the names: this is what stops a 200,000-segment name.
    let params = match Params::parse(&body, req.uri().query()) {
        Ok(p) => p,
        Err(e) => return error(&param_error(&e), &meta.request_id),
    };
    let action = params.get("Action").unwrap_or_default().to_owned();
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
    params: &Params,
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
        action: action.to_owned(),
        conn: meta.conn,
    };
    super::call(&ctx, action, &sqs_input(action, params)).await
}

/// A parameter limit broken: AWS's 400 with the code the limit calls for.
fn param_error(e: &ParamError) -> SqsError {
    SqsError::common(e.code(), e.message(), StatusCode::BAD_REQUEST)
}

// ---------------------------------------------------------------------------
// JSON answer -> XML.

pub use crate::error::esc;

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
    xml_response(e.status, crate::error::query_body(e, NS, request_id, true), request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
