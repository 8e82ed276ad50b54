//! The one shape every API error has, and the documents that carry it.
//!
//! S3, SNS and SQS spell errors differently on the wire (S3's `<Error>`,
//! the query protocol's `<ErrorResponse>`, SQS's JSON `__type` with its
//! `x-amzn-query-error` header), but each is a code clients match on, an
//! HTTP status, a message, and whose fault it was. Every API's error type
//! implements [`ApiError`]; the renderers below turn any of them into its
//! document, so each wire format (and its escaping) is written once.

use http::{HeaderValue, Response, StatusCode};
use s3s::Body;

/// What every API's error answers with.
pub trait ApiError {
    /// The code clients match on (the query-protocol code for SQS).
    fn code(&self) -> &str;
    fn status(&self) -> StatusCode;
    fn message(&self) -> &str;
    /// The client's fault (`Sender`) rather than ours (`Receiver`).
    fn sender_fault(&self) -> bool {
        !self.status().is_server_error()
    }
}

/// An error Herald answers itself in S3's format, outside s3s (signature
/// pre-checks, body limits, overload).
#[derive(Debug, Clone)]
pub struct S3WireError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError for S3WireError {
    fn code(&self) -> &str {
        self.code
    }
    fn status(&self) -> StatusCode {
        self.status
    }
    fn message(&self) -> &str {
        &self.message
    }
}

impl ApiError for s3s::S3Error {
    fn code(&self) -> &str {
        s3s::S3Error::code(self).as_str()
    }
    fn status(&self) -> StatusCode {
        self.status_code()
            .or_else(|| s3s::S3Error::code(self).status_code())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn message(&self) -> &str {
        s3s::S3Error::message(self).unwrap_or("")
    }
}

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

/// S3's error document: `<Error><Code>…</Code><Message>…</Message></Error>`.
pub fn s3_response(e: &dyn ApiError) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
        esc(e.code()),
        esc(e.message())
    );
    xml_response(e.status(), body, "application/xml")
}

/// The AWS query protocol's error document (SNS, and SQS's query
/// protocol): `<ErrorResponse xmlns=…><Error><Type>Sender|Receiver</Type>
/// <Code/><Message/></Error><RequestId/></ErrorResponse>`. `sqs` adds what
/// SQS's answers have and SNS's do not: the XML declaration and an empty
/// `<Detail/>`.
pub fn query_body(e: &dyn ApiError, namespace: &str, request_id: &str, sqs: bool) -> String {
    format!(
        "{}<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message>{}</Error><RequestId>{}</RequestId></ErrorResponse>",
        if sqs { "<?xml version=\"1.0\"?>" } else { "" },
        if e.sender_fault() { "Sender" } else { "Receiver" },
        esc(e.code()),
        esc(e.message()),
        if sqs { "<Detail/>" } else { "" },
        esc(request_id)
    )
}

/// `<code>;<fault>`: the `x-amzn-query-error` header of AWS's JSON
/// protocols for services that kept their query-protocol codes.
pub fn query_error_header(e: &dyn ApiError) -> String {
    format!("{};{}", e.code(), if e.sender_fault() { "Sender" } else { "Receiver" })
}

pub(crate) fn xml_response(status: StatusCode, body: String, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_escape_what_they_carry() {
        let e = S3WireError {
            status: StatusCode::FORBIDDEN,
            code: "AccessDenied",
            message: "bucket <a&b>".into(),
        };
        let body = query_body(&e, "ns", "r<1>", true);
        assert_eq!(
            body,
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"ns\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>bucket &lt;a&amp;b&gt;</Message><Detail/></Error><RequestId>r&lt;1&gt;</RequestId></ErrorResponse>"
        );
        assert!(!query_body(&e, "ns", "r", false).contains("Detail"));
        assert_eq!(query_error_header(&e), "AccessDenied;Sender");
        let r = s3_response(&e);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let internal = S3WireError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalError",
            message: String::new(),
        };
        assert_eq!(query_error_header(&internal), "InternalError;Receiver");
        let s3 = s3s::S3Error::with_message(s3s::S3ErrorCode::NoSuchKey, "gone");
        assert_eq!((ApiError::code(&s3), ApiError::message(&s3)), ("NoSuchKey", "gone"));
    }
}
