//! SigV4-signed raw requests (SNS query API, S3 requests the SDK cannot
//! express such as Ceph extensions), a small SNS client, XML helpers.

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::SystemTime;

use crate::*;

// ---------------------------------------------------------------------------
// SigV4-signed raw requests.

/// Who signs a raw request, for which service, and where it goes.
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    pub addr: SocketAddr,
    /// "s3", "sns" or "sqs".
    pub service: &'a str,
    pub access: &'a str,
    pub secret: &'a str,
}

/// Send `method target` to the server signed with SigV4 (by AWS's own
/// signer) as `signer` says.
pub fn signed_request(
    signer: Signer<'_>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let (addr, service) = (signer.addr, signer.service);
    let out = signed_headers(signer, method, target, headers, body);
    let refs: Vec<(&str, &str)> = out.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    raw_request(addr, method, target, &refs, body)
        .unwrap_or_else(|e| panic!("{method} {target} ({service}) failed: {e}"))
}

/// The headers of `method target` signed with SigV4 as `signer` says
/// (`host` included).
pub fn signed_headers(
    signer: Signer<'_>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let Signer {
        addr,
        service,
        access,
        secret,
    } = signer;
    let identity = aws_credential_types::Credentials::new(access, secret, None, None, "tests").into();
    let mut settings = SigningSettings::default();
    if service == "s3" {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(crate::REGION)
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = format!("http://{addr}{target}");
    let host = addr.to_string();
    let mut all: Vec<(String, String)> = vec![("host".into(), host)];
    for (k, v) in headers {
        all.push((k.to_string(), v.to_string()));
    }
    let signable = SignableRequest::new(
        method,
        &uri,
        all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instr, _) = sign(signable, &params).unwrap().into_parts();
    let mut out: Vec<(String, String)> = all.clone();
    for (k, v) in instr.headers() {
        out.push((k.to_string(), v.to_string()));
    }
    out
}

// ---------------------------------------------------------------------------
// XML helpers (flat, enough for SNS / S3 answers).

pub fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Texts of every `<tag>...</tag>` (not nested), unescaped. `<tag/>` gives "".
pub fn xml_all(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let empty = format!("<{tag}/>");
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let a = rest.find(&open);
        let e = rest.find(&empty);
        match (a, e) {
            (Some(i), Some(j)) if j < i => {
                out.push(String::new());
                rest = &rest[j + empty.len()..];
            }
            (None, Some(j)) => {
                out.push(String::new());
                rest = &rest[j + empty.len()..];
            }
            (Some(i), _) => {
                let after = &rest[i + open.len()..];
                let Some(k) = after.find(&close) else { break };
                out.push(xml_unescape(&after[..k]));
                rest = &after[k + close.len()..];
            }
            (None, None) => break,
        }
    }
    out
}

pub fn xml_first(body: &str, tag: &str) -> Option<String> {
    xml_all(body, tag).into_iter().next()
}

/// Raw (escaped) inner XML of each `<tag>...</tag>`.
pub fn xml_blocks(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(k) = after.find(&close) else { break };
        out.push(after[..k].to_string());
        rest = &after[k + close.len()..];
    }
    out
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

// ---------------------------------------------------------------------------
// SNS client.

#[derive(Debug)]
pub struct SnsError {
    pub status: u16,
    pub code: String,
    pub body: String,
}

pub struct Sns {
    pub addr: SocketAddr,
    pub access: String,
    pub secret: String,
}

impl Sns {
    pub fn new(srv: &TestServer, access: &str, secret: &str) -> Sns {
        Sns {
            addr: srv.addr(),
            access: access.into(),
            secret: secret.into(),
        }
    }

    pub fn root(srv: &TestServer) -> Sns {
        Sns::new(srv, crate::ROOT_ACCESS_KEY, crate::ROOT_SECRET_KEY)
    }

    /// POST / with the form `Action=...&Version=2010-03-31&params`.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> RawResponse {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair("Action", action);
        ser.append_pair("Version", "2010-03-31");
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        let body = ser.finish();
        signed_request(
            Signer {
                addr: self.addr,
                service: "sns",
                access: &self.access,
                secret: &self.secret,
            },
            "POST",
            "/",
            &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
            body.as_bytes(),
        )
    }

    fn result(&self, r: RawResponse) -> Result<String, SnsError> {
        let body = r.body_str();
        if r.status == 200 {
            Ok(body)
        } else {
            Err(SnsError {
                status: r.status,
                code: xml_first(&body, "Code").unwrap_or_default(),
                body,
            })
        }
    }

    pub fn try_create_topic(&self, name: &str, attrs: &[(&str, &str)]) -> Result<String, SnsError> {
        let mut params: Vec<(String, String)> = vec![("Name".into(), name.into())];
        for (i, (k, v)) in attrs.iter().enumerate() {
            params.push((format!("Attributes.entry.{}.key", i + 1), k.to_string()));
            params.push((format!("Attributes.entry.{}.value", i + 1), v.to_string()));
        }
        let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = self.result(self.call("CreateTopic", &refs))?;
        Ok(xml_first(&body, "TopicArn").unwrap_or_default())
    }

    /// CreateTopic; panics on failure; returns the ARN.
    pub fn create_topic(&self, name: &str, attrs: &[(&str, &str)]) -> String {
        match self.try_create_topic(name, attrs) {
            Ok(arn) => {
                assert!(!arn.is_empty(), "CreateTopic {name} answered no TopicArn");
                arn
            }
            Err(e) => panic!("CreateTopic {name} {attrs:?} failed: {e:?}"),
        }
    }

    pub fn get_topic_attributes(&self, arn: &str) -> Result<HashMap<String, String>, SnsError> {
        let body = self.result(self.call("GetTopicAttributes", &[("TopicArn", arn)]))?;
        let mut m = HashMap::new();
        for entry in xml_blocks(&body, "entry") {
            let k = xml_first(&entry, "key").unwrap_or_default();
            let v = xml_first(&entry, "value").unwrap_or_default();
            m.insert(k, v);
        }
        Ok(m)
    }

    pub fn list_topic_arns(&self) -> Vec<String> {
        let body = self
            .result(self.call("ListTopics", &[]))
            .unwrap_or_else(|e| panic!("ListTopics failed: {e:?}"));
        xml_all(&body, "TopicArn")
    }

    pub fn delete_topic(&self, arn: &str) -> Result<(), SnsError> {
        self.result(self.call("DeleteTopic", &[("TopicArn", arn)])).map(|_| ())
    }

    pub fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<(), SnsError> {
        self.result(self.call(
            "SetTopicAttributes",
            &[("TopicArn", arn), ("AttributeName", name), ("AttributeValue", value)],
        ))
        .map(|_| ())
    }
}
