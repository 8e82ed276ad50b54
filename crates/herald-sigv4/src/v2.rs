//! AWS Signature Version 2 (`Authorization: AWS <key>:<signature>`), for
//! the SNS topic API when the operator allows SigV2 (`--allow-sigv2`), as
//! Ceph accepts it there (its own notification suite signs GetTopic and
//! ListTopics that way). S3's SigV2 is checked by `s3s`.
//!
//! The string to sign is S3's: method, `Content-MD5`, `Content-Type`, the
//! date, the `x-amz-*` headers and the path, one per line. The HMAC-SHA1
//! is weak and covers neither the body nor the query, so the request
//! time must be within [`MAX_CLOCK_SKEW`] (a captured request is not good
//! for long) and the whole scheme stays off unless asked for.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha1::Sha1;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::{
    HTTP_DATE_FORMAT, MAX_AUTHORIZATION_BYTES, MAX_CLOCK_SKEW, SigV4Error, SignedRequest, Verified, malformed,
};

/// `Date` as some SigV2 signers write it (numeric zone instead of `GMT`).
const HTTP_DATE_NUMERIC: &[BorrowedFormatItem<'static>] =
    format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000");
/// `x-amz-date` in ISO 8601 basic form.
const AMZ_DATE: &[BorrowedFormatItem<'static>] = format_description!("[year][month][day]T[hour][minute][second]Z");

/// Whether the request claims SigV2 (`Authorization: AWS key:sig`).
pub fn is_sigv2(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS ") && !v.starts_with("AWS4-"))
}

/// Verifies a SigV2 header signature for `service` (reported back in
/// [`Verified`], with no region: SigV2 has none).
pub fn verify_v2(
    req: &SignedRequest<'_>,
    lookup: impl Fn(&str) -> Option<String>,
    service: &str,
    now: OffsetDateTime,
) -> Result<Verified, SigV4Error> {
    let value = req
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(SigV4Error::Missing)?;
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(malformed(format!(
            "Authorization header is longer than {MAX_AUTHORIZATION_BYTES} bytes"
        )));
    }
    let value = value
        .to_str()
        .map_err(|_| malformed("Authorization header is not ASCII"))?;
    let (access_key, signature) = value
        .strip_prefix("AWS ")
        .and_then(|rest| rest.rsplit_once(':'))
        .filter(|(k, s)| !k.is_empty() && !s.is_empty())
        .ok_or_else(|| malformed("Authorization header must be AWS <access key>:<signature>"))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| malformed("the SigV2 signature is not base64"))?;
    check_date(req.headers, now)?;
    let secret = lookup(access_key).ok_or(SigV4Error::UnknownAccessKey)?;
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(string_to_sign(req).as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| SigV4Error::SignatureMismatch)?;
    Ok(Verified {
        access_key: access_key.to_owned(),
        region: String::new(),
        service: service.to_owned(),
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// S3's SigV2 string to sign. With `x-amz-date` the `Date` line is empty
/// (the date is signed among the `x-amz-*` headers instead).
fn string_to_sign(req: &SignedRequest<'_>) -> String {
    let mut amz: Vec<(String, String)> = Vec::new();
    for name in req.headers.keys() {
        let lower = name.as_str().to_ascii_lowercase();
        if lower.starts_with("x-amz-") {
            let values: Vec<&str> = req
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::trim)
                .collect();
            amz.push((lower, values.join(",")));
        }
    }
    amz.sort();
    let date = if req.headers.contains_key("x-amz-date") {
        ""
    } else {
        header(req.headers, "date")
    };
    let mut s = format!(
        "{}\n{}\n{}\n{}\n",
        req.method.as_str(),
        header(req.headers, "content-md5"),
        header(req.headers, "content-type"),
        date
    );
    for (k, v) in amz {
        s.push_str(&k);
        s.push(':');
        s.push_str(&v);
        s.push('\n');
    }
    s.push_str(req.uri.path());
    s
}

/// The request time (`x-amz-date`, else `Date`) within [`MAX_CLOCK_SKEW`].
fn check_date(headers: &HeaderMap, now: OffsetDateTime) -> Result<(), SigV4Error> {
    let raw = match header(headers, "x-amz-date") {
        "" => header(headers, "date"),
        amz => amz,
    };
    if raw.is_empty() {
        return Err(malformed("a SigV2 request needs a Date or x-amz-date header"));
    }
    let parsed = [HTTP_DATE_FORMAT, HTTP_DATE_NUMERIC, AMZ_DATE]
        .iter()
        .find_map(|f| time::PrimitiveDateTime::parse(raw, f).ok())
        .ok_or_else(|| malformed(format!("unreadable request date {raw:?}")))?
        .assume_utc();
    if (parsed - now).abs() > MAX_CLOCK_SKEW {
        return Err(SigV4Error::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, Method, Uri};

    /// Signs as Ceph's suite does (`POST\n\n<type>\n<date>\n/`), with
    /// Python's hmac + base64, here by hand.
    fn signed(secret: &str, date: &str) -> HeaderMap {
        let sts = format!("POST\n\napplication/x-www-form-urlencoded; charset=utf-8\n{date}\n/");
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(sts.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("AWS AK:{sig}")).unwrap(),
        );
        h.insert("date", HeaderValue::from_str(date).unwrap());
        h.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        h
    }

    fn check(headers: &HeaderMap, now: OffsetDateTime) -> Result<Verified, SigV4Error> {
        let uri: Uri = "/".parse().unwrap();
        let req = SignedRequest {
            method: &Method::POST,
            uri: &uri,
            headers,
            body: b"Action=ListTopics",
        };
        verify_v2(&req, |k| (k == "AK").then(|| "SECRET".to_owned()), "sns", now)
    }

    #[test]
    fn accepts_the_suites_signature_and_refuses_others() {
        let now = time::macros::datetime!(2026-12-07 10:00:00 UTC);
        let date = "Mon, 07 Dec 2026 10:00:00 +0000";
        let h = signed("SECRET", date);
        assert!(is_sigv2(&h));
        assert_eq!(check(&h, now).unwrap().access_key, "AK");
        // Wrong secret, unknown key, stale date, tampered header.
        assert_eq!(check(&signed("OTHER", date), now), Err(SigV4Error::SignatureMismatch));
        let mut unknown = h.clone();
        let auth = unknown["authorization"].to_str().unwrap().replace("AWS AK:", "AWS BK:");
        unknown.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        assert_eq!(check(&unknown, now), Err(SigV4Error::UnknownAccessKey));
        let later = now + time::Duration::minutes(16);
        assert_eq!(check(&h, later), Err(SigV4Error::Expired));
        let mut tampered = h.clone();
        tampered.insert("content-type", HeaderValue::from_static("text/plain"));
        assert_eq!(check(&tampered, now), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn malformed_headers_are_told_apart() {
        let now = time::macros::datetime!(2026-12-07 10:00:00 UTC);
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("AWS no-colon"));
        assert!(matches!(check(&h, now), Err(SigV4Error::Malformed(_))));
        h.insert("authorization", HeaderValue::from_static("AWS AK:!!notbase64"));
        assert!(matches!(check(&h, now), Err(SigV4Error::Malformed(_))));
        h.insert("authorization", HeaderValue::from_static("AWS AK:c2ln"));
        assert!(matches!(check(&h, now), Err(SigV4Error::Malformed(_))), "no date");
        assert!(!is_sigv2(&{
            let mut v4 = HeaderMap::new();
            v4.insert(
                "authorization",
                HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=x"),
            );
            v4
        }));
    }
}
