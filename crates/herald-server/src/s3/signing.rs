//! Signature rules `s3s` does not enforce, checked on the request head
//! before `s3s` sees it.
//!
//! - SigV2 (`Authorization: AWS key:sig`, presigned `?AWSAccessKeyId=&
//!   Signature=&Expires=`) is refused unless the operator allows it: its
//!   HMAC-SHA1 is weak and `s3s` never looks at the request date, so a
//!   captured request could be replayed forever. When allowed, its `Date`
//!   (or `x-amz-date`) must be within [`MAX_CLOCK_SKEW`] of the server
//!   clock, and a presigned URL may not live longer than seven days.
//! - SigV4 presigned URLs may not live longer than seven days
//!   (`X-Amz-Expires` at most 604800, as AWS).
//!
//! `s3s` itself checks SigV4 header signatures against the same 15-minute
//! skew (configured in `front.rs` from [`MAX_CLOCK_SKEW`]) and presigned
//! URLs against their expiry.

use http::StatusCode;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

pub use herald_sigv4::{MAX_CLOCK_SKEW, MAX_PRESIGNED_EXPIRES_SECS};

/// IMF-fixdate, the `Date` header form SigV2 clients send.
const HTTP_DATE: &[BorrowedFormatItem<'static>] =
    format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
/// The same with a numeric zone, as some SigV2 signers write it.
const HTTP_DATE_NUMERIC: &[BorrowedFormatItem<'static>] =
    format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000");
/// ISO 8601 basic, the `x-amz-date` form.
const AMZ_DATE: &[BorrowedFormatItem<'static>] = format_description!("[year][month][day]T[hour][minute][second]Z");

/// Why a request was refused: an S3 error code, message and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// How a request is signed, as far as the head tells.
#[derive(Debug, PartialEq, Eq)]
enum Scheme {
    V2Header,
    V2Presigned,
    V4Presigned,
    Other,
}

fn scheme(headers: &http::HeaderMap, query: &[(String, String)]) -> Scheme {
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    if has("X-Amz-Signature") {
        Scheme::V4Presigned
    } else if has("Signature") {
        // What `s3s` takes for a SigV2 presigned URL.
        Scheme::V2Presigned
    } else if headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS ") && !v.starts_with("AWS4-"))
    {
        Scheme::V2Header
    } else {
        Scheme::Other
    }
}

/// Checks the head of an S3 request against the rules above.
pub fn check(
    headers: &http::HeaderMap,
    uri: &http::Uri,
    allow_sigv2: bool,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match scheme(headers, &query) {
        Scheme::V4Presigned => check_v4_expires(param("X-Amz-Expires")),
        Scheme::V2Presigned | Scheme::V2Header if !allow_sigv2 => Err(sigv2_disabled()),
        Scheme::V2Presigned => check_v2_expires(param("Expires"), now),
        Scheme::V2Header => check_v2_date(headers, now),
        Scheme::Other => Ok(()),
    }
}

/// The refusal of any SigV2 request while SigV2 is off.
pub fn sigv2_disabled() -> Refusal {
    Refusal {
        status: StatusCode::FORBIDDEN,
        code: "AccessDenied",
        message: "SigV2 is disabled on this server; sign requests with AWS Signature Version 4 (AWS4-HMAC-SHA256)"
            .to_owned(),
    }
}

fn query_error(message: String) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code: "AuthorizationQueryParametersError",
        message,
    }
}

/// `X-Amz-Expires`: a number of seconds, at most seven days. (`s3s`
/// checks that the URL has not expired; the cap is ours.)
fn check_v4_expires(expires: Option<&str>) -> Result<(), Refusal> {
    let Some(expires) = expires else {
        // `s3s` reports the missing parameter itself.
        return Ok(());
    };
    match expires.parse::<i64>() {
        Ok(secs) if secs < 0 => Err(query_error("X-Amz-Expires must be non-negative".to_owned())),
        Ok(secs) if secs > MAX_PRESIGNED_EXPIRES_SECS => Err(query_error(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
        ))),
        Ok(_) => Ok(()),
        Err(_) => Err(query_error("X-Amz-Expires should be a number".to_owned())),
    }
}

/// SigV2 `Expires`: an absolute epoch time, at most seven days (plus the
/// clock-skew allowance) ahead.
fn check_v2_expires(expires: Option<&str>, now: OffsetDateTime) -> Result<(), Refusal> {
    let Some(expires) = expires else {
        return Ok(());
    };
    let latest = now.unix_timestamp() + MAX_PRESIGNED_EXPIRES_SECS + MAX_CLOCK_SKEW.whole_seconds();
    match expires.parse::<i64>() {
        Ok(at) if at > latest => Err(query_error(format!(
            "Expires must be at most a week ({MAX_PRESIGNED_EXPIRES_SECS} seconds) from now"
        ))),
        Ok(_) => Ok(()),
        Err(_) => Err(query_error("Expires should be a number".to_owned())),
    }
}

/// A SigV2 header-signed request's date: `x-amz-date` when present (it
/// then is the signed date), else `Date`; within [`MAX_CLOCK_SKEW`].
fn check_v2_date(headers: &http::HeaderMap, now: OffsetDateTime) -> Result<(), Refusal> {
    let value = headers
        .get("x-amz-date")
        .or_else(|| headers.get(http::header::DATE))
        .and_then(|v| v.to_str().ok());
    let Some(date) = value.and_then(parse_date) else {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            code: "AccessDenied",
            message: "AWS authentication requires a valid Date or x-amz-date header".to_owned(),
        });
    };
    if (now - date).abs() > MAX_CLOCK_SKEW {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            code: "RequestTimeTooSkewed",
            message: format!(
                "The difference between the request time and the current time is too large (more than {} minutes).",
                MAX_CLOCK_SKEW.whole_minutes()
            ),
        });
    }
    Ok(())
}

fn parse_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    [HTTP_DATE, HTTP_DATE_NUMERIC, AMZ_DATE]
        .iter()
        .find_map(|f| PrimitiveDateTime::parse(s, f).ok())
        .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        // 2026-12-02T19:00:00Z
        OffsetDateTime::from_unix_timestamp(1_796_238_000).unwrap()
    }

    fn check_with(headers: &[(&str, &str)], uri: &str, allow: bool) -> Result<(), Refusal> {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        check(&map, &uri.parse().unwrap(), allow, now())
    }

    #[test]
    fn sigv2_is_refused_unless_allowed() {
        let auth = [
            ("authorization", "AWS AKID:c2ln"),
            ("date", "Wed, 02 Dec 2026 19:00:00 GMT"),
        ];
        assert_eq!(check_with(&auth, "/b/k", false).unwrap_err().code, "AccessDenied");
        assert_eq!(check_with(&auth, "/b/k", true), Ok(()));
        let presigned = "/b/k?AWSAccessKeyId=AKID&Expires=1796238600&Signature=c2ln";
        assert_eq!(check_with(&[], presigned, false).unwrap_err().code, "AccessDenied");
        assert_eq!(check_with(&[], presigned, true), Ok(()));
    }

    #[test]
    fn an_old_sigv2_date_is_too_skewed() {
        let old = [
            ("authorization", "AWS AKID:c2ln"),
            ("date", "Mon, 01 Jan 2001 00:00:00 GMT"),
        ];
        assert_eq!(check_with(&old, "/", true).unwrap_err().code, "RequestTimeTooSkewed");
        // x-amz-date, when present, is the date that counts.
        let amz = [
            ("authorization", "AWS AKID:c2ln"),
            ("date", "Wed, 02 Dec 2026 19:00:00 GMT"),
            ("x-amz-date", "Mon, 01 Jan 2001 00:00:00 GMT"),
        ];
        assert_eq!(check_with(&amz, "/", true).unwrap_err().code, "RequestTimeTooSkewed");
        let fresh = [("authorization", "AWS AKID:c2ln"), ("x-amz-date", "20261202T191000Z")];
        assert_eq!(check_with(&fresh, "/", true), Ok(()));
        let none = [("authorization", "AWS AKID:c2ln")];
        assert_eq!(check_with(&none, "/", true).unwrap_err().code, "AccessDenied");
    }

    #[test]
    fn presigned_urls_live_a_week_at_most() {
        let v4 = |e: &str| format!("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={e}&X-Amz-Signature=00");
        assert_eq!(
            check_with(&[], &v4("999999999"), false).unwrap_err().code,
            "AuthorizationQueryParametersError"
        );
        assert_eq!(check_with(&[], &v4("604800"), false), Ok(()));
        assert!(check_with(&[], &v4("-1"), false).is_err());
        assert!(check_with(&[], &v4("x"), false).is_err());
        let v2 = "/b/k?AWSAccessKeyId=AKID&Expires=4102444800&Signature=c2ln";
        assert_eq!(
            check_with(&[], v2, true).unwrap_err().code,
            "AuthorizationQueryParametersError"
        );
    }

    #[test]
    fn sigv4_headers_pass_through() {
        let v4 = [("authorization", "AWS4-HMAC-SHA256 Credential=a/b/c/s3/aws4_request")];
        assert_eq!(check_with(&v4, "/", false), Ok(()));
        assert_eq!(check_with(&[], "/", false), Ok(()));
    }
}
