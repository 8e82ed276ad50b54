//! The parsed configuration (what the metadata DB stores) and the
//! matching of one object event against it: the part the write path runs
//! on every object operation, kept apart from the XML handling.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ConfigError, MAX_REGEX_LEN, REGEX_SIZE_LIMIT, invalid};
use crate::event::{EventPattern, EventType};

/// What configuration entries match an object on, as known before the
/// change commits: its key, user metadata, tags and Content-Type. (Its
/// size may be known only at the commit, so size rules are decided then:
/// see [`MatchedTarget::size`].)
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectFacts<'a> {
    /// The decoded key.
    pub key: &'a str,
    /// User metadata, lowercase names without `x-amz-meta-`.
    pub metadata: &'a [(String, String)],
    pub tags: &'a [(String, String)],
    /// The object's Content-Type as stored; `None` is S3's default
    /// (`binary/octet-stream`), as GET reports it.
    pub content_type: Option<&'a str>,
}

impl<'a> ObjectFacts<'a> {
    /// An object known only by its key.
    pub fn key(key: &'a str) -> ObjectFacts<'a> {
        ObjectFacts {
            key,
            ..ObjectFacts::default()
        }
    }
}

/// The Content-Type S3 reports for an object stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

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
    /// The name the record carries: the event's, or its alias's when only
    /// that is selected (see [`NotificationConfiguration::matching_either`]).
    pub event: EventType,
    /// The entry's size rule, which the caller checks against the size the
    /// record reports once the change is committed (a streamed PUT's size
    /// is known only then).
    pub size: SizeRange,
}

/// `<Filter>`: all of its parts must hold for an event to be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub key: KeyFilter,
    /// Ceph's `<S3Metadata>`: names are lowercase without `x-amz-meta-`.
    pub metadata: Vec<FilterRule>,
    /// Ceph's `<S3Tags>`: names and values compare exactly.
    pub tags: Vec<FilterRule>,
    /// Herald's `<HeraldObjectSize>`: bounds on the object's size.
    #[serde(default, skip_serializing_if = "SizeRange::is_empty")]
    pub size: SizeRange,
    /// Herald's `<HeraldContentType>`: the media types wanted.
    #[serde(default, skip_serializing_if = "ContentTypeFilter::is_empty")]
    pub content_type: ContentTypeFilter,
    /// The size and content-type rules came as `<S3Key>` rules
    /// ([`super::KEY_FORM_PREFIX`]), the form AWS clients use: they are
    /// shown back the same way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_key_form: bool,
}

/// `<HeraldObjectSize>`: the object's size in bytes must be strictly
/// greater than `greater_than` and strictly less than `less_than` (the
/// bounds of S3 lifecycle's `ObjectSizeGreaterThan`/`ObjectSizeLessThan`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub less_than: Option<u64>,
}

impl SizeRange {
    pub fn is_empty(&self) -> bool {
        self.greater_than.is_none() && self.less_than.is_none()
    }

    /// Whether an object of `size` bytes passes.
    pub fn admits(&self, size: u64) -> bool {
        self.greater_than.is_none_or(|g| size > g) && self.less_than.is_none_or(|l| size < l)
    }
}

/// `<HeraldContentType>`: the object's media type (its Content-Type without
/// parameters, compared case-insensitively) must equal one of the `equals`
/// rules or start with one of the `prefix` rules: any rule suffices, so
/// "images or PDFs" is one filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentTypeFilter {
    pub rules: Vec<ContentTypeRule>,
}

/// One `<HeraldContentType>` rule; values are stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentTypeRule {
    Equals(String),
    Prefix(String),
}

impl ContentTypeRule {
    /// The rule's `<Name>` in XML and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            ContentTypeRule::Equals(_) => "equals",
            ContentTypeRule::Prefix(_) => "prefix",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            ContentTypeRule::Equals(v) | ContentTypeRule::Prefix(v) => v,
        }
    }
}

impl ContentTypeFilter {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether an object with this Content-Type (`None`: stored without
    /// one, which S3 reports as [`DEFAULT_CONTENT_TYPE`]) passes.
    pub fn matches(&self, content_type: Option<&str>) -> bool {
        if self.rules.is_empty() {
            return true;
        }
        let media = media_type(content_type.unwrap_or(DEFAULT_CONTENT_TYPE));
        self.rules.iter().any(|r| match r {
            ContentTypeRule::Equals(v) => media == *v,
            ContentTypeRule::Prefix(p) => media.starts_with(p.as_str()),
        })
    }
}

/// A Content-Type's media type: parameters (`; charset=...`) cut, blanks
/// trimmed, lowercase.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
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
        self.key.is_empty()
            && self.metadata.is_empty()
            && self.tags.is_empty()
            && self.size.is_empty()
            && self.content_type.is_empty()
    }

    /// Whether an object passes the filter, all but its size rule (which
    /// is decided at the commit: [`MatchedTarget::size`]).
    ///
    /// Every part must hold; every metadata/tag rule must find an equal
    /// pair (AND, as Ceph does).
    pub fn matches(&self, facts: &ObjectFacts<'_>) -> bool {
        let has = |pairs: &[(String, String)], r: &FilterRule| pairs.iter().any(|(n, v)| *n == r.name && *v == r.value);
        self.key.matches(facts.key)
            && self.metadata.iter().all(|r| has(facts.metadata, r))
            && self.tags.iter().all(|r| has(facts.tags, r))
            && self.content_type.matches(facts.content_type)
    }
}

/// Shared by topic and queue configurations: the event list (empty = all)
/// and then the filter.
fn wants(events: &[EventPattern], filter: &Filter, ev: EventType, facts: &ObjectFacts<'_>) -> bool {
    let selected = if events.is_empty() {
        !ev.explicit_only()
    } else {
        events.iter().any(|p| p.matches(ev))
    };
    selected && filter.matches(facts)
}

impl TopicConfiguration {
    /// Whether this configuration sends `ev` for the given object (its
    /// size rule aside: see [`Filter::matches`]).
    pub fn wants(&self, ev: EventType, facts: &ObjectFacts<'_>) -> bool {
        wants(&self.events, &self.filter, ev, facts)
    }
}

impl QueueConfiguration {
    /// Whether this configuration sends `ev` for the given object (its
    /// size rule aside: see [`Filter::matches`]).
    pub fn wants(&self, ev: EventType, facts: &ObjectFacts<'_>) -> bool {
        wants(&self.events, &self.filter, ev, facts)
    }
}

impl NotificationConfiguration {
    /// No topic or queue at all (what a bucket without notifications has).
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty() && self.queues.is_empty()
    }

    /// The entries with `Id` `id` (Ceph's `GET ?notification=<id>`).
    pub fn only(&self, id: &str) -> NotificationConfiguration {
        self.filtered(|entry| entry == id)
    }

    /// Everything but the entries with `Id` `id` (Ceph's
    /// `DELETE ?notification=<id>`, `herald notification rm --id`).
    pub fn without(&self, id: &str) -> NotificationConfiguration {
        self.filtered(|entry| entry != id)
    }

    /// An `Id` two entries share (topic or queue alike), if any.
    pub fn duplicate_id(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::new();
        self.topics
            .iter()
            .map(|t| t.id.as_str())
            .chain(self.queues.iter().map(|q| q.id.as_str()))
            .find(|id| !seen.insert(*id))
    }

    /// This configuration with `new`'s entries added, each replacing the
    /// entry of its `Id` where there is one (in place) and appended where
    /// there is none: Ceph's `PUT ?notification`, which never removes an
    /// entry the request does not name.
    pub fn merged_by_id(&self, new: NotificationConfiguration) -> NotificationConfiguration {
        fn merge<T: Clone>(current: &[T], new: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
            let mut out: Vec<T> = current.to_vec();
            for entry in new {
                match out.iter_mut().find(|e| id(e) == id(&entry)) {
                    Some(slot) => *slot = entry,
                    None => out.push(entry),
                }
            }
            out
        }
        NotificationConfiguration {
            topics: merge(&self.topics, new.topics, |t| &t.id),
            queues: merge(&self.queues, new.queues, |q| &q.id),
        }
    }

    fn filtered(&self, keep: impl Fn(&str) -> bool) -> NotificationConfiguration {
        NotificationConfiguration {
            topics: self.topics.iter().filter(|t| keep(&t.id)).cloned().collect(),
            queues: self.queues.iter().filter(|q| keep(&q.id)).cloned().collect(),
        }
    }

    /// Every entry that wants the event, topics first, in document order.
    /// One event yields one record per entry (each with its own
    /// `configurationId`), as in AWS and Ceph.
    pub fn matching(&self, ev: EventType, facts: &ObjectFacts<'_>) -> Vec<MatchedTarget<'_>> {
        self.matching_either(ev, None, facts)
    }

    /// [`matching`](Self::matching) for an event that goes by two names
    /// (a lifecycle expiration: Ceph's `ev`, AWS's `alias`): an entry that
    /// selects either gets one record, named as it asked. An entry that
    /// selects both (or every event) gets the name of its kind's world:
    /// Ceph's for topics, AWS's for queues (SQS is where AWS sends them).
    pub fn matching_either(
        &self,
        ev: EventType,
        alias: Option<EventType>,
        facts: &ObjectFacts<'_>,
    ) -> Vec<MatchedTarget<'_>> {
        self.matching_names(ev, alias, facts, false)
    }

    /// Ceph's way with an event that goes by two names: a topic entry gets
    /// one record for each name it selects (both, for an entry that
    /// selects every event), as Ceph's lifecycle publishes every name of
    /// an expiration. Queue entries as in
    /// [`matching_either`](Self::matching_either).
    pub fn matching_each_name(
        &self,
        ev: EventType,
        alias: Option<EventType>,
        facts: &ObjectFacts<'_>,
    ) -> Vec<MatchedTarget<'_>> {
        self.matching_names(ev, alias, facts, true)
    }

    /// Both of the above: topic entries take the first name they select
    /// (Ceph's first), or with `each_name_on_topics` every one; queue
    /// entries take the first (AWS's first).
    fn matching_names(
        &self,
        ev: EventType,
        alias: Option<EventType>,
        facts: &ObjectFacts<'_>,
        each_name_on_topics: bool,
    ) -> Vec<MatchedTarget<'_>> {
        let topic_names = [Some(ev), alias];
        let queue_names = match alias {
            Some(a) => [Some(a), Some(ev)],
            None => [Some(ev), None],
        };
        let mut out = Vec::new();
        for t in &self.topics {
            let wanted = topic_names.into_iter().flatten().filter(|e| t.wants(*e, facts));
            let take = if each_name_on_topics { 2 } else { 1 };
            out.extend(wanted.take(take).map(|event| MatchedTarget {
                kind: TargetKind::Topic,
                id: &t.id,
                arn: &t.topic_arn,
                event,
                size: t.filter.size,
            }));
        }
        for q in &self.queues {
            if let Some(event) = queue_names.into_iter().flatten().find(|e| q.wants(*e, facts)) {
                out.push(MatchedTarget {
                    kind: TargetKind::Queue,
                    id: &q.id,
                    arn: &q.queue_arn,
                    event,
                    size: q.filter.size,
                });
            }
        }
        out
    }
}
