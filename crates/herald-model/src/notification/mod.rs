//! Bucket notification configurations: the XML of
//! `PUT/GET /{bucket}?notification`, its filters, and matching an object
//! operation against them.
//!
//! Ceph RGW is the reference for the wire format (see
//! `shared/reference/ceph-rgw/wire-topics.txt`): its key/metadata/tag
//! filters, its output element order (`Id`, `Topic`, `Filter`, `Event`*)
//! and its error codes (`MalformedXML` for an empty configuration,
//! `InvalidArgument` for an unknown event). `QueueConfiguration` is
//! accepted as AWS defines it so SQS-style clients work too.
//!
//! The parsed form derives serde so the metadata DB can store it as JSON
//! ([`serialize_json`] / [`deserialize_json`]) without re-parsing XML on
//! every object write.
//!
//! Split by concern: `model` holds the parsed types and the matching of
//! an event against them, `tree` the bounded XML reader, `parse` the
//! document checks, `render` the XML out. This file keeps the limits,
//! the error type and the JSON storage form they all share.

mod model;
mod parse;
mod render;
mod tree;

#[cfg(test)]
mod tests;

pub use model::{
    ContentTypeFilter, ContentTypeRule, DEFAULT_CONTENT_TYPE, Filter, FilterRule, KeyFilter, KeyRegex, MatchedTarget,
    NotificationConfiguration, ObjectFacts, QueueConfiguration, SizeRange, TargetKind, TopicConfiguration, media_type,
};
pub use parse::{parse_notification_configuration, parse_notification_configuration_with};
pub use render::render_notification_configuration;

/// Prefix of the `<S3Key>` rule names that carry Herald's size and
/// content-type rules (`herald-size-greater-than`, `herald-size-less-than`,
/// `herald-content-type`, `herald-content-type-prefix`): the AWS SDKs and
/// CLI can send and read only `Filter.Key.FilterRules`, and do not check
/// rule names.
pub const KEY_FORM_PREFIX: &str = "herald-";

/// Namespace put on the root of rendered configurations. Ceph omits it;
/// the AWS SDKs accept the document either way, and some strict XML
/// clients want it.
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Largest regex source accepted in a key filter. A regex is compiled once
/// per configuration but evaluated on every write, so pathological ones
/// are refused up front.
pub const MAX_REGEX_LEN: usize = 1024;

/// Compiled-program size cap for key filter regexes (bytes), for the same
/// reason as [`MAX_REGEX_LEN`].
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Deepest element nesting accepted. A valid configuration is 5 deep
/// (`NotificationConfiguration/TopicConfiguration/Filter/S3Key/FilterRule/
/// Name`); the cap stops a hostile body from building a tree so deep that
/// dropping it overflows the stack.
const MAX_XML_DEPTH: usize = 16;

/// Most elements in one document. 100 configurations (the default quota
/// per bucket) with every filter part filled take about 5,000; the cap
/// keeps a 1 MiB body of `<a/>` from becoming 250,000 tree nodes.
pub const MAX_XML_ELEMENTS: usize = 10_000;

/// Longest text of one element, in bytes. The longest legitimate texts are
/// a key prefix (S3 keys are at most 1,024 bytes) and a regex
/// ([`MAX_REGEX_LEN`]).
pub const MAX_XML_TEXT_BYTES: usize = 4096;

/// Most topic plus queue configurations in one document. Above the
/// per-bucket quota an operator may set; the cap bounds the work (ids,
/// regexes) one request can ask for whatever the quota is.
pub const MAX_CONFIGURATIONS: usize = 1000;

/// Most `<FilterRule>`s in one filter part (`S3Key`, `S3Metadata`,
/// `S3Tags`). S3 objects carry at most 10 tags; key filters have at most
/// three rules (prefix, suffix, regex). Duplicate detection is quadratic
/// in this number.
pub const MAX_FILTER_RULES: usize = 10;

/// Why a configuration was refused. The variants are the S3 error codes
/// the server should answer with (see [`ConfigError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The body is not a well-formed configuration document.
    #[error("malformed notification configuration: {0}")]
    MalformedXml(String),
    /// The document is well-formed but asks for something invalid or
    /// unsupported.
    #[error("invalid notification configuration: {0}")]
    InvalidArgument(String),
}

impl ConfigError {
    /// The S3 error code for the response (`MalformedXML` /
    /// `InvalidArgument`).
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::MalformedXml(_) => "MalformedXML",
            ConfigError::InvalidArgument(_) => "InvalidArgument",
        }
    }
}

fn malformed(msg: impl Into<String>) -> ConfigError {
    ConfigError::MalformedXml(msg.into())
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::InvalidArgument(msg.into())
}

/// Stores a parsed configuration as JSON for the metadata DB.
pub fn serialize_json(cfg: &NotificationConfiguration) -> Vec<u8> {
    // Only strings, vectors and derive-generated structs: cannot fail.
    serde_json::to_vec(cfg).expect("notification configuration serializes")
}

/// Loads a configuration stored by [`serialize_json`]. Regexes are
/// recompiled, so a corrupt entry is an error rather than a panic later.
pub fn deserialize_json(bytes: &[u8]) -> Result<NotificationConfiguration, serde_json::Error> {
    serde_json::from_slice(bytes)
}
