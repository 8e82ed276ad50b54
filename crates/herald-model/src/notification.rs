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

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::fmt::Write as _;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

use crate::event::{EventPattern, EventType};

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

/// A bucket's whole notification configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationConfiguration {
    pub topics: Vec<TopicConfiguration>,
    pub queues: Vec<QueueConfiguration>,
}

/// A `<TopicConfiguration>`: events delivered to an SNS-style topic (the
/// only kind Ceph has; its HTTP/AMQP/Kafka endpoints hang off topics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfiguration {
    /// Unique within the bucket; it is the record's `configurationId`.
    pub id: String,
    pub topic_arn: String,
    /// Empty means every event.
    pub events: Vec<EventPattern>,
    pub filter: Filter,
}

/// A `<QueueConfiguration>`: events delivered to an SQS-style queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfiguration {
    /// Unique within the bucket; it is the record's `configurationId`.
    pub id: String,
    pub queue_arn: String,
    /// Empty means every event.
    pub events: Vec<EventPattern>,
    pub filter: Filter,
}

/// Whether a configuration entry targets a topic or a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    Topic,
    Queue,
}

/// One configuration entry selected for an event, as the dispatcher needs
/// it: where to send, and what `configurationId` to put in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedTarget<'a> {
    pub kind: TargetKind,
    pub id: &'a str,
    pub arn: &'a str,
}

/// `<Filter>`: all of its parts must hold for an event to be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub key: KeyFilter,
    /// Ceph's `<S3Metadata>`: names are lowercase without `x-amz-meta-`.
    pub metadata: Vec<FilterRule>,
    /// Ceph's `<S3Tags>`: names and values compare exactly.
    pub tags: Vec<FilterRule>,
}

/// `<S3Key>`: rules on the object key. Each present rule must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFilter {
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    /// Ceph extension; must match the *whole* key (Ceph uses
    /// `std::regex_match`, not a search).
    pub regex: Option<KeyRegex>,
}

/// A name/value filter rule, as in `<FilterRule>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FilterRule {
    pub name: String,
    pub value: String,
}

impl FilterRule {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        FilterRule {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A compiled key-filter regex that remembers its source, so it can be
/// rendered back, compared and stored as the text the user sent.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyRegex {
    source: String,
    /// `source` anchored at both ends, for whole-key matching.
    compiled: regex::Regex,
}

impl KeyRegex {
    /// Compiles a key regex; an invalid or oversized one is
    /// `InvalidArgument`.
    pub fn new(source: &str) -> Result<KeyRegex, ConfigError> {
        if source.len() > MAX_REGEX_LEN {
            return Err(invalid(format!("key filter regex longer than {MAX_REGEX_LEN} bytes")));
        }
        let compiled = regex::RegexBuilder::new(&format!(r"\A(?:{source})\z"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| invalid(format!("invalid key filter regex {source:?}: {e}")))?;
        Ok(KeyRegex {
            source: source.to_owned(),
            compiled,
        })
    }

    /// The regex as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole key matches.
    pub fn is_match(&self, key: &str) -> bool {
        self.compiled.is_match(key)
    }
}

impl PartialEq for KeyRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for KeyRegex {}

impl fmt::Debug for KeyRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyRegex").field(&self.source).finish()
    }
}

impl From<KeyRegex> for String {
    fn from(r: KeyRegex) -> String {
        r.source
    }
}

impl TryFrom<String> for KeyRegex {
    type Error = ConfigError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        KeyRegex::new(&s)
    }
}

impl KeyFilter {
    pub fn is_empty(&self) -> bool {
        self.prefix.is_none() && self.suffix.is_none() && self.regex.is_none()
    }

    /// Whether the (decoded, not URL-encoded) key passes every rule.
    pub fn matches(&self, key: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
            && self.regex.as_ref().is_none_or(|r| r.is_match(key))
    }
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.key.is_empty() && self.metadata.is_empty() && self.tags.is_empty()
    }

    /// Whether an object passes the filter.
    ///
    /// `key` is the decoded key; `metadata` holds user metadata with
    /// lowercase names *without* `x-amz-meta-`; `tags` the object's tags.
    /// Every metadata/tag rule must find an equal pair (AND, as Ceph does).
    pub fn matches(&self, key: &str, metadata: &[(String, String)], tags: &[(String, String)]) -> bool {
        let has = |pairs: &[(String, String)], r: &FilterRule| pairs.iter().any(|(n, v)| *n == r.name && *v == r.value);
        self.key.matches(key)
            && self.metadata.iter().all(|r| has(metadata, r))
            && self.tags.iter().all(|r| has(tags, r))
    }
}

/// Shared by topic and queue configurations: the event list (empty = all)
/// and then the filter.
fn wants(
    events: &[EventPattern],
    filter: &Filter,
    ev: EventType,
    key: &str,
    metadata: &[(String, String)],
    tags: &[(String, String)],
) -> bool {
    (events.is_empty() || events.iter().any(|p| p.matches(ev))) && filter.matches(key, metadata, tags)
}

impl TopicConfiguration {
    /// Whether this configuration sends `ev` for the given object.
    pub fn wants(&self, ev: EventType, key: &str, metadata: &[(String, String)], tags: &[(String, String)]) -> bool {
        wants(&self.events, &self.filter, ev, key, metadata, tags)
    }
}

impl QueueConfiguration {
    /// Whether this configuration sends `ev` for the given object.
    pub fn wants(&self, ev: EventType, key: &str, metadata: &[(String, String)], tags: &[(String, String)]) -> bool {
        wants(&self.events, &self.filter, ev, key, metadata, tags)
    }
}

impl NotificationConfiguration {
    /// No topic or queue at all (what a bucket without notifications has).
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty() && self.queues.is_empty()
    }

    /// Every entry that wants the event, topics first, in document order.
    /// One event yields one record per entry (each with its own
    /// `configurationId`), as in AWS and Ceph.
    pub fn matching(
        &self,
        ev: EventType,
        key: &str,
        metadata: &[(String, String)],
        tags: &[(String, String)],
    ) -> Vec<MatchedTarget<'_>> {
        let topics = self
            .topics
            .iter()
            .filter(|t| t.wants(ev, key, metadata, tags))
            .map(|t| MatchedTarget {
                kind: TargetKind::Topic,
                id: &t.id,
                arn: &t.topic_arn,
            });
        let queues = self
            .queues
            .iter()
            .filter(|q| q.wants(ev, key, metadata, tags))
            .map(|q| MatchedTarget {
                kind: TargetKind::Queue,
                id: &q.id,
                arn: &q.queue_arn,
            });
        topics.chain(queues).collect()
    }
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

// ---------------------------------------------------------------------------
// XML in
// ---------------------------------------------------------------------------

/// A minimal element tree: the configuration is small, and walking a tree
/// makes "missing", "duplicate" and "unexpected" element checks simple.
#[derive(Debug, Default)]
struct Node {
    /// Local name (namespace prefixes dropped: the AWS SDKs never send
    /// them, but a prefixed document is still the same document).
    name: String,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn children_named<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s Node> + use<'s, 'n> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of a leaf child that may appear at most once.
    fn opt_leaf<'s>(&'s self, name: &str) -> Result<Option<&'s str>, ConfigError> {
        let mut it = self.children_named(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(malformed(format!("<{name}> appears more than once in <{}>", self.name)));
        }
        first.map(|n| n.leaf_text()).transpose()
    }

    fn leaf_text(&self) -> Result<&str, ConfigError> {
        if !self.children.is_empty() {
            return Err(malformed(format!("<{}> must contain only text", self.name)));
        }
        Ok(&self.text)
    }
}

fn parse_tree(xml: &[u8]) -> Result<Node, ConfigError> {
    let text = std::str::from_utf8(xml).map_err(|_| malformed("body is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let xml_err = |e: &dyn fmt::Display| malformed(format!("not well-formed XML: {e}"));

    fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) -> Result<(), ConfigError> {
        if let Some(parent) = stack.last_mut() {
            parent.children.push(node);
        } else if root.is_none() {
            *root = Some(node);
        } else {
            return Err(malformed("more than one root element"));
        }
        Ok(())
    }
    fn push_text(stack: &mut [Node], s: &str) -> Result<(), ConfigError> {
        match stack.last_mut() {
            Some(top) if top.text.len() + s.len() > MAX_XML_TEXT_BYTES => {
                return Err(malformed(format!(
                    "the text of <{}> is longer than {MAX_XML_TEXT_BYTES} bytes",
                    top.name
                )));
            }
            Some(top) => top.text.push_str(s),
            None if s.trim().is_empty() => {}
            None => return Err(malformed("text outside the root element")),
        }
        Ok(())
    }
    fn local_name(raw: &[u8]) -> Result<String, ConfigError> {
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| malformed("element name is not UTF-8"))
    }

    let mut elements = 0usize;
    let mut count_element = || {
        elements += 1;
        if elements > MAX_XML_ELEMENTS {
            return Err(malformed(format!("more than {MAX_XML_ELEMENTS} elements")));
        }
        Ok(())
    };
    loop {
        match reader.read_event().map_err(|e| xml_err(&e))? {
            Event::Start(s) => {
                count_element()?;
                if root.is_some() && stack.is_empty() {
                    return Err(malformed("more than one root element"));
                }
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(malformed("elements nested too deeply"));
                }
                stack.push(Node {
                    name: local_name(s.local_name().as_ref())?,
                    ..Node::default()
                });
            }
            Event::Empty(s) => {
                count_element()?;
                let node = Node {
                    name: local_name(s.local_name().as_ref())?,
                    ..Node::default()
                };
                attach(&mut stack, &mut root, node)?;
            }
            Event::End(_) => {
                // quick-xml has already checked the name matches.
                let node = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                attach(&mut stack, &mut root, node)?;
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| xml_err(&e))?;
                push_text(&mut stack, &s)?;
            }
            Event::CData(c) => {
                let s = c.decode().map_err(|e| xml_err(&e))?;
                push_text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = match r.resolve_char_ref().map_err(|e| xml_err(&e))? {
                    Some(ch) => Cow::Owned(ch.to_string()),
                    None => {
                        let name = r.decode().map_err(|e| xml_err(&e))?;
                        let s = quick_xml::escape::resolve_xml_entity(&name)
                            .ok_or_else(|| malformed(format!("unknown entity &{name};")))?;
                        Cow::Borrowed(s)
                    }
                };
                push_text(&mut stack, &resolved)?;
            }
            // A DTD could declare entities; S3 bodies never carry one.
            Event::DocType(_) => return Err(malformed("DOCTYPE is not allowed")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unexpected end of document"));
    }
    root.ok_or_else(|| malformed("empty document"))
}

/// Parses the body of `PUT /{bucket}?notification`.
///
/// Errors follow Ceph: a document that is not XML, has another root, has
/// no configuration at all, or lacks a destination ARN is `MalformedXML`;
/// well-formed but unacceptable content (unknown event, bad regex,
/// duplicate rule or Id, `CloudFunctionConfiguration`) is
/// `InvalidArgument`. Entries without `<Id>` get `notif-<n>`.
///
/// An empty configuration is refused rather than taken as "remove all":
/// that is what Ceph does (wire capture); removal is `DELETE ?notification`.
pub fn parse_notification_configuration(xml: &[u8]) -> Result<NotificationConfiguration, ConfigError> {
    let root = parse_tree(xml)?;
    if root.name != "NotificationConfiguration" {
        return Err(malformed(format!(
            "root element must be <NotificationConfiguration>, not <{}>",
            root.name
        )));
    }
    // Ids as given (None = to be generated), in document order per kind.
    let mut topics: Vec<(Option<String>, TopicConfiguration)> = Vec::new();
    let mut queues: Vec<(Option<String>, QueueConfiguration)> = Vec::new();
    let configurations = root
        .children
        .iter()
        .filter(|c| c.name.ends_with("Configuration"))
        .count();
    if configurations > MAX_CONFIGURATIONS {
        return Err(invalid(format!(
            "more than {MAX_CONFIGURATIONS} configurations in one document"
        )));
    }
    for child in &root.children {
        match child.name.as_str() {
            "TopicConfiguration" => {
                let e = parse_entry(child, "Topic")?;
                topics.push((
                    e.id,
                    TopicConfiguration {
                        id: String::new(),
                        topic_arn: e.arn,
                        events: e.events,
                        filter: e.filter,
                    },
                ));
            }
            "QueueConfiguration" => {
                let e = parse_entry(child, "Queue")?;
                queues.push((
                    e.id,
                    QueueConfiguration {
                        id: String::new(),
                        queue_arn: e.arn,
                        events: e.events,
                        filter: e.filter,
                    },
                ));
            }
            "CloudFunctionConfiguration" | "LambdaFunctionConfiguration" | "EventBridgeConfiguration" => {
                return Err(invalid(format!("<{}> is not supported", child.name)));
            }
            other => {
                return Err(malformed(format!(
                    "unexpected element <{other}> in <NotificationConfiguration>"
                )));
            }
        }
    }
    if topics.is_empty() && queues.is_empty() {
        return Err(malformed(
            "no TopicConfiguration or QueueConfiguration in the configuration",
        ));
    }

    let mut used: HashSet<String> = HashSet::new();
    let given = topics
        .iter()
        .map(|(id, _)| id)
        .chain(queues.iter().map(|(id, _)| id))
        .flatten();
    for id in given {
        if !used.insert(id.clone()) {
            return Err(invalid(format!("duplicate configuration Id {id:?}")));
        }
    }
    let mut next = 0usize;
    let mut generate = |used: &mut HashSet<String>| loop {
        next += 1;
        let candidate = format!("notif-{next}");
        if used.insert(candidate.clone()) {
            return candidate;
        }
    };
    let topics = topics
        .into_iter()
        .map(|(id, mut t)| {
            t.id = id.unwrap_or_else(|| generate(&mut used));
            t
        })
        .collect();
    let queues = queues
        .into_iter()
        .map(|(id, mut q)| {
            q.id = id.unwrap_or_else(|| generate(&mut used));
            q
        })
        .collect();
    Ok(NotificationConfiguration { topics, queues })
}

/// The parts common to topic and queue entries.
struct Entry {
    id: Option<String>,
    arn: String,
    events: Vec<EventPattern>,
    filter: Filter,
}

fn parse_entry(node: &Node, arn_element: &str) -> Result<Entry, ConfigError> {
    for c in &node.children {
        if !matches!(c.name.as_str(), "Id" | "Event" | "Filter") && c.name != arn_element {
            return Err(malformed(format!("unexpected element <{}> in <{}>", c.name, node.name)));
        }
    }
    let id = node
        .opt_leaf("Id")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let arn = node
        .opt_leaf(arn_element)?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed(format!("<{}> has no <{arn_element}>", node.name)))?
        .to_owned();
    let mut events: Vec<EventPattern> = Vec::new();
    for ev in node.children_named("Event") {
        let p = EventPattern::parse(ev.leaf_text()?.trim())?;
        // A repeated event is harmless; keep the first so output is tidy.
        if !events.contains(&p) {
            events.push(p);
        }
    }
    let mut filters = node.children_named("Filter");
    let filter = match filters.next() {
        Some(f) => parse_filter(f)?,
        None => Filter::default(),
    };
    if filters.next().is_some() {
        return Err(malformed(format!("<Filter> appears more than once in <{}>", node.name)));
    }
    Ok(Entry {
        id,
        arn,
        events,
        filter,
    })
}

fn parse_filter(node: &Node) -> Result<Filter, ConfigError> {
    let mut filter = Filter::default();
    let mut seen: HashSet<&str> = HashSet::new();
    for part in &node.children {
        if !seen.insert(part.name.as_str()) {
            return Err(malformed(format!("<{}> appears more than once in <Filter>", part.name)));
        }
        match part.name.as_str() {
            "S3Key" => filter.key = parse_key_filter(part)?,
            "S3Metadata" => {
                filter.metadata = parse_pair_rules(part, |name| {
                    let lower = name.to_ascii_lowercase();
                    match lower.strip_prefix("x-amz-meta-") {
                        Some(rest) => rest.to_owned(),
                        None => lower,
                    }
                })?;
            }
            "S3Tags" => filter.tags = parse_pair_rules(part, str::to_owned)?,
            other => {
                return Err(malformed(format!("unexpected element <{other}> in <Filter>")));
            }
        }
    }
    Ok(filter)
}

/// Reads the `<FilterRule>`s of a filter part as (name, value) pairs.
fn filter_rules(node: &Node) -> Result<Vec<(&str, &str)>, ConfigError> {
    if node.children.len() > MAX_FILTER_RULES {
        return Err(invalid(format!(
            "more than {MAX_FILTER_RULES} filter rules in <{}>",
            node.name
        )));
    }
    node.children
        .iter()
        .map(|rule| {
            if rule.name != "FilterRule" {
                return Err(malformed(format!(
                    "unexpected element <{}> in <{}>",
                    rule.name, node.name
                )));
            }
            if let Some(c) = rule.children.iter().find(|c| c.name != "Name" && c.name != "Value") {
                return Err(malformed(format!("unexpected element <{}> in <FilterRule>", c.name)));
            }
            let name = rule
                .opt_leaf("Name")?
                .ok_or_else(|| malformed("<FilterRule> has no <Name>"))?
                .trim();
            // Values are kept verbatim: a prefix may legitimately end in a
            // space. A missing <Value> is malformed, an empty one is "".
            let value = rule
                .opt_leaf("Value")?
                .ok_or_else(|| malformed("<FilterRule> has no <Value>"))?;
            Ok((name, value))
        })
        .collect()
}

fn parse_key_filter(node: &Node) -> Result<KeyFilter, ConfigError> {
    let mut key = KeyFilter::default();
    for (name, value) in filter_rules(node)? {
        // AWS documents lowercase but accepts "Prefix"/"Suffix".
        let lname = name.to_ascii_lowercase();
        let slot_taken = match lname.as_str() {
            "prefix" => key.prefix.replace(value.to_owned()).is_some(),
            "suffix" => key.suffix.replace(value.to_owned()).is_some(),
            "regex" => key.regex.replace(KeyRegex::new(value)?).is_some(),
            _ => return Err(invalid(format!("unknown key filter rule name {name:?}"))),
        };
        if slot_taken {
            return Err(invalid(format!("duplicate {lname} key filter rule")));
        }
    }
    Ok(key)
}

/// Metadata and tag rules: names normalised by `norm`, each name at most
/// once (two values for one name could never both match).
fn parse_pair_rules(node: &Node, norm: impl Fn(&str) -> String) -> Result<Vec<FilterRule>, ConfigError> {
    let mut out: Vec<FilterRule> = Vec::new();
    for (name, value) in filter_rules(node)? {
        let name = norm(name);
        if name.is_empty() {
            return Err(invalid(format!("empty rule name in <{}>", node.name)));
        }
        if out.iter().any(|r| r.name == name) {
            return Err(invalid(format!("duplicate rule {name:?} in <{}>", node.name)));
        }
        out.push(FilterRule::new(name, value));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// XML out
// ---------------------------------------------------------------------------

/// Renders the body of `GET /{bucket}?notification`, in Ceph's element
/// order. Returns a document with no `<?xml?>` declaration, as Ceph does.
pub fn render_notification_configuration(cfg: &NotificationConfiguration) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(out, "<NotificationConfiguration xmlns=\"{S3_XMLNS}\">");
    for t in &cfg.topics {
        render_entry(
            &mut out,
            "TopicConfiguration",
            "Topic",
            &t.id,
            &t.topic_arn,
            &t.events,
            &t.filter,
        );
    }
    for q in &cfg.queues {
        render_entry(
            &mut out,
            "QueueConfiguration",
            "Queue",
            &q.id,
            &q.queue_arn,
            &q.events,
            &q.filter,
        );
    }
    out.push_str("</NotificationConfiguration>");
    out
}

fn leaf(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", quick_xml::escape::escape(text));
}

fn rule(out: &mut String, name: &str, value: &str) {
    out.push_str("<FilterRule>");
    leaf(out, "Name", name);
    leaf(out, "Value", value);
    out.push_str("</FilterRule>");
}

fn render_entry(
    out: &mut String,
    element: &str,
    arn_element: &str,
    id: &str,
    arn: &str,
    events: &[EventPattern],
    filter: &Filter,
) {
    let _ = write!(out, "<{element}>");
    leaf(out, "Id", id);
    leaf(out, arn_element, arn);
    if !filter.is_empty() {
        out.push_str("<Filter>");
        let k = &filter.key;
        if !k.is_empty() {
            out.push_str("<S3Key>");
            if let Some(p) = &k.prefix {
                rule(out, "prefix", p);
            }
            if let Some(s) = &k.suffix {
                rule(out, "suffix", s);
            }
            if let Some(r) = &k.regex {
                rule(out, "regex", r.as_str());
            }
            out.push_str("</S3Key>");
        }
        if !filter.metadata.is_empty() {
            out.push_str("<S3Metadata>");
            for r in &filter.metadata {
                // Shown the way Ceph users write them (the header name).
                rule(out, &format!("x-amz-meta-{}", r.name), &r.value);
            }
            out.push_str("</S3Metadata>");
        }
        if !filter.tags.is_empty() {
            out.push_str("<S3Tags>");
            for r in &filter.tags {
                rule(out, &r.name, &r.value);
            }
            out.push_str("</S3Tags>");
        }
        out.push_str("</Filter>");
    }
    for e in events {
        leaf(out, "Event", e.as_str());
    }
    let _ = write!(out, "</{element}>");
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIRE_PUT: &str = r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TopicConfiguration><Id>wire-notif</Id><Topic>arn:aws:sns:default::wire-topic</Topic><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>img/</Value></FilterRule><FilterRule><Name>suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter></TopicConfiguration></NotificationConfiguration>"#;
    const WIRE_GET: &str = r#"<NotificationConfiguration><TopicConfiguration><Id>wire-notif</Id><Topic>arn:aws:sns:default::wire-topic</Topic><Filter><S3Key><FilterRule><Name>prefix</Name><Value>img/</Value></FilterRule><FilterRule><Name>suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter><Event>s3:ObjectCreated:*</Event></TopicConfiguration></NotificationConfiguration>"#;

    fn parse(s: &str) -> Result<NotificationConfiguration, ConfigError> {
        parse_notification_configuration(s.as_bytes())
    }

    fn is_malformed(r: Result<NotificationConfiguration, ConfigError>) -> bool {
        matches!(r, Err(ConfigError::MalformedXml(_)))
    }

    fn is_invalid(r: Result<NotificationConfiguration, ConfigError>) -> bool {
        matches!(r, Err(ConfigError::InvalidArgument(_)))
    }

    fn topic_xml(inner: &str) -> String {
        format!(
            "<NotificationConfiguration><TopicConfiguration><Id>t</Id><Topic>arn:aws:sns:default::t</Topic>{inner}</TopicConfiguration></NotificationConfiguration>"
        )
    }

    #[test]
    fn parses_the_wire_capture() {
        let cfg = parse(WIRE_PUT).unwrap();
        assert_eq!(cfg.queues, vec![]);
        assert_eq!(cfg.topics.len(), 1);
        let t = &cfg.topics[0];
        assert_eq!(t.id, "wire-notif");
        assert_eq!(t.topic_arn, "arn:aws:sns:default::wire-topic");
        assert_eq!(t.events, vec![EventPattern::parse("s3:ObjectCreated:*").unwrap()]);
        assert_eq!(t.filter.key.prefix.as_deref(), Some("img/"));
        assert_eq!(t.filter.key.suffix.as_deref(), Some(".jpg"));
        assert!(t.filter.key.regex.is_none());
    }

    #[test]
    fn renders_like_ceph_plus_xmlns() {
        let cfg = parse(WIRE_PUT).unwrap();
        let out = render_notification_configuration(&cfg);
        let expected = WIRE_GET.replacen(
            "<NotificationConfiguration>",
            &format!("<NotificationConfiguration xmlns=\"{S3_XMLNS}\">"),
            1,
        );
        assert_eq!(out, expected);
        // Ceph's own output (no xmlns) parses to the same thing.
        assert_eq!(parse(WIRE_GET).unwrap(), cfg);
    }

    #[test]
    fn empty_configuration_is_malformed_like_ceph() {
        assert!(is_malformed(parse(
            r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/" />"#
        )));
        assert!(is_malformed(parse(
            "<NotificationConfiguration></NotificationConfiguration>"
        )));
    }

    #[test]
    fn not_xml_or_wrong_root_is_malformed() {
        for bad in [
            "",
            "not xml",
            "<NotificationConfiguration>",
            "<NotificationConfiguration><TopicConfiguration></NotificationConfiguration>",
            "<Foo/>",
            "<NotificationConfiguration/><NotificationConfiguration/>",
            "<!DOCTYPE x [<!ENTITY a 'b'>]><NotificationConfiguration/>",
            "<NotificationConfiguration><TopicConfiguration><Id>&bogus;</Id></TopicConfiguration></NotificationConfiguration>",
            "junk<NotificationConfiguration/>",
        ] {
            assert!(is_malformed(parse(bad)), "{bad:?}");
        }
        assert!(is_malformed(parse_notification_configuration(b"\xff\xfe<a/>")));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let deep = "<a>".repeat(100_000) + &"</a>".repeat(100_000);
        let xml = format!("<NotificationConfiguration>{deep}</NotificationConfiguration>");
        assert!(is_malformed(parse(&xml)));
    }

    #[test]
    fn element_text_configuration_and_rule_counts_are_capped() {
        let many = "<a/>".repeat(MAX_XML_ELEMENTS);
        let xml = format!("<NotificationConfiguration>{many}</NotificationConfiguration>");
        let e = parse(&xml).unwrap_err();
        assert!(e.to_string().contains("more than 10000 elements"), "{e}");

        let long = "x".repeat(MAX_XML_TEXT_BYTES + 1);
        let e = parse(&topic_xml(&format!("<Id>{long}</Id>"))).unwrap_err();
        assert!(e.to_string().contains("longer than 4096 bytes"), "{e}");
        // Entity references count too.
        let refs = "&amp;".repeat(MAX_XML_TEXT_BYTES + 1);
        assert!(is_malformed(parse(&topic_xml(&format!("<Id>{refs}</Id>")))));

        let one = "<TopicConfiguration><Topic>arn:aws:sns:us-east-1:u:t</Topic></TopicConfiguration>";
        let xml = format!(
            "<NotificationConfiguration>{}</NotificationConfiguration>",
            one.repeat(MAX_CONFIGURATIONS + 1)
        );
        let e = parse(&xml).unwrap_err();
        assert_eq!(e.code(), "InvalidArgument");
        assert!(e.to_string().contains("more than 1000 configurations"), "{e}");

        let rules: String = (0..=MAX_FILTER_RULES)
            .map(|i| format!("<FilterRule><Name>k{i}</Name><Value>v</Value></FilterRule>"))
            .collect();
        let e = parse(&topic_xml(&format!("<Filter><S3Tags>{rules}</S3Tags></Filter>"))).unwrap_err();
        assert!(e.to_string().contains("more than 10 filter rules in <S3Tags>"), "{e}");
    }

    #[test]
    fn missing_arn_is_malformed() {
        assert!(is_malformed(parse(
            "<NotificationConfiguration><TopicConfiguration><Id>x</Id></TopicConfiguration></NotificationConfiguration>"
        )));
        assert!(is_malformed(parse(
            "<NotificationConfiguration><TopicConfiguration><Topic> </Topic></TopicConfiguration></NotificationConfiguration>"
        )));
        assert!(is_malformed(parse(
            "<NotificationConfiguration><QueueConfiguration><Id>x</Id><Topic>arn</Topic></QueueConfiguration></NotificationConfiguration>"
        )));
    }

    #[test]
    fn unknown_event_is_invalid_argument() {
        // The capture: s3:NoSuchEvent -> 400 InvalidArgument.
        let r = parse(&topic_xml("<Event>s3:NoSuchEvent</Event>"));
        assert!(is_invalid(r.clone()));
        assert_eq!(r.unwrap_err().code(), "InvalidArgument");
    }

    #[test]
    fn cloud_function_is_not_supported() {
        let r = parse(
            "<NotificationConfiguration><CloudFunctionConfiguration><Id>x</Id><CloudFunction>arn:aws:lambda:x</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration></NotificationConfiguration>",
        );
        let e = r.unwrap_err();
        assert_eq!(e.code(), "InvalidArgument");
        assert!(e.to_string().contains("not supported"), "{e}");
    }

    #[test]
    fn no_event_means_all_events() {
        let cfg = parse(&topic_xml("")).unwrap();
        let t = &cfg.topics[0];
        assert!(t.events.is_empty());
        for e in EventType::ALL {
            assert!(t.wants(e, "any", &[], &[]), "{e}");
        }
    }

    #[test]
    fn events_without_prefix_and_duplicates() {
        let cfg = parse(&topic_xml(
            "<Event>ObjectRemoved:Delete</Event><Event>s3:ObjectRemoved:Delete</Event><Event> s3:ObjectTagging:* </Event>",
        ))
        .unwrap();
        let names: Vec<_> = cfg.topics[0].events.iter().map(|e| e.as_str()).collect();
        assert_eq!(names, ["s3:ObjectRemoved:Delete", "s3:ObjectTagging:*"]);
    }

    #[test]
    fn generated_ids_are_unique() {
        let xml = "<NotificationConfiguration>\
            <TopicConfiguration><Topic>a</Topic></TopicConfiguration>\
            <TopicConfiguration><Id>notif-2</Id><Topic>b</Topic></TopicConfiguration>\
            <QueueConfiguration><Queue>c</Queue></QueueConfiguration>\
            <TopicConfiguration><Id></Id><Topic>d</Topic></TopicConfiguration>\
            </NotificationConfiguration>";
        let cfg = parse(xml).unwrap();
        let topic_ids: Vec<_> = cfg.topics.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(topic_ids, ["notif-1", "notif-2", "notif-3"]);
        assert_eq!(cfg.queues[0].id, "notif-4");
        // Deterministic.
        assert_eq!(parse(xml).unwrap(), cfg);
    }

    #[test]
    fn duplicate_ids_are_invalid() {
        let xml = "<NotificationConfiguration>\
            <TopicConfiguration><Id>same</Id><Topic>a</Topic></TopicConfiguration>\
            <QueueConfiguration><Id>same</Id><Queue>b</Queue></QueueConfiguration>\
            </NotificationConfiguration>";
        assert!(is_invalid(parse(xml)));
    }

    #[test]
    fn key_filter_rules() {
        let cfg = parse(&topic_xml(
            "<Filter><S3Key><FilterRule><Name>Prefix</Name><Value>img/</Value></FilterRule><FilterRule><Name>SUFFIX</Name><Value>.jpg</Value></FilterRule><FilterRule><Name>regex</Name><Value>img/[a-z]+\\.jpg</Value></FilterRule></S3Key></Filter>",
        ))
        .unwrap();
        let k = &cfg.topics[0].filter.key;
        assert_eq!(k.prefix.as_deref(), Some("img/"));
        assert_eq!(k.suffix.as_deref(), Some(".jpg"));
        assert_eq!(k.regex.as_ref().unwrap().as_str(), "img/[a-z]+\\.jpg");
        assert!(k.matches("img/cat.jpg"));
        assert!(!k.matches("img/Cat.jpg"), "regex must hold too");
        assert!(!k.matches("img/cat.png"), "suffix must hold");
        assert!(!k.matches("doc/img/cat.jpg"), "prefix must hold");
    }

    #[test]
    fn regex_matches_the_whole_key() {
        let r = KeyRegex::new("[0-9]+").unwrap();
        assert!(r.is_match("123"));
        assert!(!r.is_match("a123"));
        assert!(!r.is_match("123a"));
        // Alternation stays inside the anchors.
        let r = KeyRegex::new("a|b").unwrap();
        assert!(r.is_match("a") && r.is_match("b"));
        assert!(!r.is_match("ab"));
    }

    #[test]
    fn bad_key_rules_are_invalid() {
        let rule = |n: &str, v: &str| format!("<FilterRule><Name>{n}</Name><Value>{v}</Value></FilterRule>");
        let key = |rules: String| topic_xml(&format!("<Filter><S3Key>{rules}</S3Key></Filter>"));
        assert!(is_invalid(parse(&key(rule("regex", "a(")))));
        assert!(is_invalid(parse(&key(rule("regex", &"a".repeat(MAX_REGEX_LEN + 1))))));
        assert!(is_invalid(parse(&key(rule("prefix", "a") + &rule("Prefix", "b")))));
        assert!(is_invalid(parse(&key(rule("suffix", "a") + &rule("suffix", "a")))));
        assert!(is_invalid(parse(&key(rule("regex", "a") + &rule("regex", "b")))));
        assert!(is_invalid(parse(&key(rule("contains", "a")))));
        // Structure errors are malformed.
        assert!(is_malformed(parse(&key(
            "<FilterRule><Value>a</Value></FilterRule>".into()
        ))));
        assert!(is_malformed(parse(&key(
            "<FilterRule><Name>prefix</Name></FilterRule>".into()
        ))));
        assert!(is_malformed(parse(&key("<Rule/>".into()))));
    }

    #[test]
    fn metadata_and_tag_rules() {
        let cfg = parse(&topic_xml(
            "<Filter><S3Metadata><FilterRule><Name>x-amz-meta-Color</Name><Value>red</Value></FilterRule><FilterRule><Name>size</Name><Value>L</Value></FilterRule></S3Metadata><S3Tags><FilterRule><Name>team</Name><Value>ops</Value></FilterRule></S3Tags></Filter>",
        ))
        .unwrap();
        let f = &cfg.topics[0].filter;
        assert_eq!(
            f.metadata,
            vec![FilterRule::new("color", "red"), FilterRule::new("size", "L")]
        );
        assert_eq!(f.tags, vec![FilterRule::new("team", "ops")]);
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
        };
        let md = pairs(&[("color", "red"), ("size", "L"), ("other", "x")]);
        let tags = pairs(&[("team", "ops")]);
        assert!(f.matches("k", &md, &tags));
        assert!(!f.matches("k", &md, &[]), "tag missing");
        assert!(
            !f.matches("k", &pairs(&[("color", "red")]), &tags),
            "one metadata rule missing"
        );
        assert!(
            !f.matches("k", &pairs(&[("color", "Red"), ("size", "L")]), &tags),
            "values exact"
        );
        assert!(!f.matches("k", &md, &pairs(&[("Team", "ops")])), "tag names exact");
    }

    #[test]
    fn duplicate_metadata_rules_are_invalid() {
        let xml = topic_xml(
            "<Filter><S3Metadata><FilterRule><Name>x-amz-meta-a</Name><Value>1</Value></FilterRule><FilterRule><Name>A</Name><Value>2</Value></FilterRule></S3Metadata></Filter>",
        );
        assert!(is_invalid(parse(&xml)));
        let xml = topic_xml(
            "<Filter><S3Metadata><FilterRule><Name>x-amz-meta-</Name><Value>1</Value></FilterRule></S3Metadata></Filter>",
        );
        assert!(is_invalid(parse(&xml)));
    }

    #[test]
    fn unexpected_elements_are_malformed() {
        assert!(is_malformed(parse(&topic_xml("<Bogus/>"))));
        assert!(is_malformed(parse(&topic_xml("<Id>again</Id>"))));
        assert!(is_malformed(parse(&topic_xml("<Filter/><Filter/>"))));
        assert!(is_malformed(parse(&topic_xml("<Filter><S3Key/><S3Key/></Filter>"))));
        assert!(is_malformed(parse(&topic_xml("<Filter><S3Prefix/></Filter>"))));
        assert!(is_malformed(parse(&topic_xml("<Event><x/></Event>"))));
        assert!(is_malformed(parse(
            "<NotificationConfiguration><Other/></NotificationConfiguration>"
        )));
    }

    #[test]
    fn wants_combines_events_and_filter() {
        let cfg = parse(&topic_xml(
            "<Event>s3:ObjectCreated:Put</Event><Event>s3:ObjectRemoved:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>logs/</Value></FilterRule></S3Key></Filter>",
        ))
        .unwrap();
        let t = &cfg.topics[0];
        assert!(t.wants(EventType::ObjectCreatedPut, "logs/a", &[], &[]));
        assert!(t.wants(EventType::ObjectRemovedDeleteMarkerCreated, "logs/a", &[], &[]));
        assert!(!t.wants(EventType::ObjectCreatedCopy, "logs/a", &[], &[]));
        assert!(!t.wants(EventType::ObjectCreatedPut, "img/a", &[], &[]));
    }

    #[test]
    fn matching_lists_topics_then_queues() {
        let cfg = parse(
            "<NotificationConfiguration>\
             <QueueConfiguration><Id>q</Id><Queue>arn:aws:sqs:r:1:q</Queue></QueueConfiguration>\
             <TopicConfiguration><Id>t1</Id><Topic>arn:t1</Topic><Event>s3:ObjectRemoved:*</Event></TopicConfiguration>\
             <TopicConfiguration><Id>t2</Id><Topic>arn:t2</Topic></TopicConfiguration>\
             </NotificationConfiguration>",
        )
        .unwrap();
        let m = cfg.matching(EventType::ObjectCreatedPut, "k", &[], &[]);
        assert_eq!(
            m,
            vec![
                MatchedTarget {
                    kind: TargetKind::Topic,
                    id: "t2",
                    arn: "arn:t2"
                },
                MatchedTarget {
                    kind: TargetKind::Queue,
                    id: "q",
                    arn: "arn:aws:sqs:r:1:q"
                },
            ]
        );
        assert!(!cfg.is_empty());
        assert!(NotificationConfiguration::default().is_empty());
    }

    fn rich_config() -> NotificationConfiguration {
        parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <!-- pretty-printed, with escapes -->
            <NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <TopicConfiguration>
                <Id>a&amp;b &lt;1&gt;</Id>
                <Topic>arn:aws:sns:default::t&#x31;</Topic>
                <Event>s3:ObjectCreated:*</Event>
                <Event>s3:ObjectTagging:Put</Event>
                <Filter>
                  <S3Key>
                    <FilterRule><Name>regex</Name><Value>(a|b)&amp;"c'.*</Value></FilterRule>
                    <FilterRule><Name>suffix</Name><Value><![CDATA[<x>]]></Value></FilterRule>
                    <FilterRule><Name>prefix</Name><Value> sp </Value></FilterRule>
                  </S3Key>
                  <S3Tags><FilterRule><Name>t&amp;</Name><Value>v"</Value></FilterRule></S3Tags>
                  <S3Metadata><FilterRule><Name>color</Name><Value>red</Value></FilterRule></S3Metadata>
                </Filter>
              </TopicConfiguration>
              <QueueConfiguration>
                <Queue>arn:aws:sqs:us-east-1:123:q</Queue>
                <Event>s3:ObjectRemoved:DeleteMarkerCreated</Event>
                <Filter><S3Key><FilterRule><Name>prefix</Name><Value></Value></FilterRule></S3Key></Filter>
              </QueueConfiguration>
              <QueueConfiguration><Id>plain</Id><Queue>arn:q2</Queue></QueueConfiguration>
            </NotificationConfiguration>"#,
        )
        .unwrap()
    }

    #[test]
    fn escapes_and_whitespace() {
        let cfg = rich_config();
        let t = &cfg.topics[0];
        assert_eq!(t.id, "a&b <1>");
        assert_eq!(t.topic_arn, "arn:aws:sns:default::t1");
        assert_eq!(t.filter.key.regex.as_ref().unwrap().as_str(), "(a|b)&\"c'.*");
        assert_eq!(t.filter.key.suffix.as_deref(), Some("<x>"));
        assert_eq!(t.filter.key.prefix.as_deref(), Some(" sp "), "values are verbatim");
        assert_eq!(t.filter.tags, vec![FilterRule::new("t&", "v\"")]);
        assert_eq!(cfg.queues[0].id, "notif-1");
        assert_eq!(cfg.queues[0].filter.key.prefix.as_deref(), Some(""));
    }

    #[test]
    fn round_trip_xml() {
        let cfg = rich_config();
        let xml = render_notification_configuration(&cfg);
        assert_eq!(parse(&xml).unwrap(), cfg, "{xml}");
        // Rendering is stable and ordered prefix, suffix, regex.
        assert_eq!(render_notification_configuration(&parse(&xml).unwrap()), xml);
        assert!(xml.contains(
            "<S3Key><FilterRule><Name>prefix</Name><Value> sp </Value></FilterRule><FilterRule><Name>suffix</Name><Value>&lt;x&gt;</Value></FilterRule><FilterRule><Name>regex</Name>"
        ), "{xml}");
        assert!(xml.contains(
            "<S3Metadata><FilterRule><Name>x-amz-meta-color</Name><Value>red</Value></FilterRule></S3Metadata><S3Tags>"
        ), "{xml}");
        // No Filter element when there is none.
        assert!(
            xml.contains("<QueueConfiguration><Id>plain</Id><Queue>arn:q2</Queue></QueueConfiguration>"),
            "{xml}"
        );
    }

    #[test]
    fn round_trip_json() {
        let cfg = rich_config();
        let bytes = serialize_json(&cfg);
        let back = deserialize_json(&bytes).unwrap();
        assert_eq!(back, cfg);
        // The regex is usable after loading, not just equal.
        let r = back.topics[0].filter.key.regex.as_ref().unwrap();
        assert!(r.is_match("a&\"c'zzz"));
        // Stored as source strings.
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["topics"][0]["filter"]["key"]["regex"], "(a|b)&\"c'.*");
        assert_eq!(v["topics"][0]["events"][0], "s3:ObjectCreated:*");
        // A corrupt regex in the store is an error, not a panic.
        let bad = String::from_utf8(bytes).unwrap().replace("(a|b)", "(a|b");
        assert!(deserialize_json(bad.as_bytes()).is_err());
    }

    #[test]
    fn error_codes() {
        assert_eq!(ConfigError::MalformedXml(String::new()).code(), "MalformedXML");
        assert_eq!(ConfigError::InvalidArgument(String::new()).code(), "InvalidArgument");
    }
}
