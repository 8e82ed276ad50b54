//! SNS query-protocol responses: XML in the shapes Ceph RGW sends (see the
//! wire captures), wrapped so botocore and the AWS CLI parse them.

use std::fmt::Write;

pub const NS: &str = "https://sns.amazonaws.com/doc/2010-03-31/";

/// Escapes text for XML content.
pub use crate::error::esc;

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
