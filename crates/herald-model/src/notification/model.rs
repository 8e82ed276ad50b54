//! The parsed configuration (what the metadata DB stores) and the
//! matching of one object event against it: the part the write path runs
//! on every object operation, kept apart from the XML handling.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ConfigError, MAX_REGEX_LEN, REGEX_SIZE_LIMIT, invalid};
use crate::event::{EventPattern, EventType};

/// What entries match an object on: its key, user metadata and tags.
type ObjectFacts<'a> = (&'a str, &'a [(String, String)], &'a [(String, String)]);

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
    let selected = if events.is_empty() {
        !ev.explicit_only()
    } else {
        events.iter().any(|p| p.matches(ev))
    };
    selected && filter.matches(key, metadata, tags)
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
    pub fn matching(
        &self,
        ev: EventType,
        key: &str,
        metadata: &[(String, String)],
        tags: &[(String, String)],
    ) -> Vec<MatchedTarget<'_>> {
        self.matching_either(ev, None, key, metadata, tags)
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
        key: &str,
        metadata: &[(String, String)],
        tags: &[(String, String)],
    ) -> Vec<MatchedTarget<'_>> {
        self.matching_names(ev, alias, (key, metadata, tags), false)
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
        key: &str,
        metadata: &[(String, String)],
        tags: &[(String, String)],
    ) -> Vec<MatchedTarget<'_>> {
        self.matching_names(ev, alias, (key, metadata, tags), true)
    }

    /// Both of the above (`ObjectFacts`: the key, its metadata and tags):
    /// topic entries take the first name they select
    /// (Ceph's first), or with `each_name_on_topics` every one; queue
    /// entries take the first (AWS's first).
    fn matching_names(
        &self,
        ev: EventType,
        alias: Option<EventType>,
        (key, metadata, tags): ObjectFacts<'_>,
        each_name_on_topics: bool,
    ) -> Vec<MatchedTarget<'_>> {
        let topic_names = [Some(ev), alias];
        let queue_names = match alias {
            Some(a) => [Some(a), Some(ev)],
            None => [Some(ev), None],
        };
        let mut out = Vec::new();
        for t in &self.topics {
            let wanted = topic_names
                .into_iter()
                .flatten()
                .filter(|e| t.wants(*e, key, metadata, tags));
            let take = if each_name_on_topics { 2 } else { 1 };
            out.extend(wanted.take(take).map(|event| MatchedTarget {
                kind: TargetKind::Topic,
                id: &t.id,
                arn: &t.topic_arn,
                event,
            }));
        }
        for q in &self.queues {
            if let Some(event) = queue_names
                .into_iter()
                .flatten()
                .find(|e| q.wants(*e, key, metadata, tags))
            {
                out.push(MatchedTarget {
                    kind: TargetKind::Queue,
                    id: &q.id,
                    arn: &q.queue_arn,
                    event,
                });
            }
        }
        out
    }
}
