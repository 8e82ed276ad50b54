//! SNS query-protocol responses: XML in the shapes Ceph RGW sends (see the
//! wire captures), wrapped so botocore and the AWS CLI parse them.

use std::fmt::Write;

pub const NS: &str = "https://sns.amazonaws.com/doc/2010-03-31/";

/// Escapes text for XML content.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<{Action}Response><{Action}Result>{result}</..><ResponseMetadata>..`
pub fn response(action: &str, result: Option<&str>, request_id: &str) -> String {
    let mut s = format!("<{action}Response xmlns=\"{NS}\">");
    if let Some(r) = result {
        let _ = write!(s, "<{action}Result>{r}</{action}Result>");
    }
    let _ = write!(
        s,
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        esc(request_id)
    );
    s
}

/// The AWS query-protocol error document.
pub fn error(code: &str, message: &str, sender_fault: bool, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{NS}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        if sender_fault { "Sender" } else { "Receiver" },
        esc(code),
        esc(message),
        esc(request_id)
    )
}
