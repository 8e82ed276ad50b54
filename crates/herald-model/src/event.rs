//! S3 event types: the ones Herald emits, and the patterns a bucket
//! notification configuration selects them with.
//!
//! Two spellings exist on the wire. Configurations (`<Event>` elements) use
//! the `s3:`-prefixed form (`s3:ObjectCreated:Put`, `s3:ObjectCreated:*`),
//! while event records carry the bare form (`ObjectCreated:Put`) in
//! `eventName` — both AWS and Ceph RGW do this, so both are exposed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::notification::ConfigError;

/// An event Herald emits for an object operation.
///
/// Only the operations Herald performs are listed; AWS's transition,
/// replication, restore and ACL events never happen here, so a
/// configuration asking for them is refused rather than silently idle.
/// The `ObjectAccessed` reads are MinIO's: sent only to configurations that
/// name them (see [`EventType::explicit_only`]). A lifecycle expiration
/// goes by two names, Ceph's (`ObjectLifecycle:Expiration:*`) and AWS's
/// (`LifecycleExpiration:*`): see [`EventType::lifecycle_alias`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// `PutObject`.
    ObjectCreatedPut,
    /// Browser-form `POST` upload (Ceph also emits it for
    /// `CreateMultipartUpload`).
    ObjectCreatedPost,
    /// `CopyObject`.
    ObjectCreatedCopy,
    /// `CompleteMultipartUpload`.
    ObjectCreatedCompleteMultipartUpload,
    /// An object (or a specific version) was deleted.
    ObjectRemovedDelete,
    /// A delete on a versioned bucket created a delete marker.
    ObjectRemovedDeleteMarkerCreated,
    /// `PutObjectTagging`.
    ObjectTaggingPut,
    /// `DeleteObjectTagging`.
    ObjectTaggingDelete,
    /// A successful `GetObject` (MinIO's `s3:ObjectAccessed:Get`).
    ObjectAccessedGet,
    /// A successful `HeadObject` (MinIO's `s3:ObjectAccessed:Head`).
    ObjectAccessedHead,
    /// Ceph: the lifecycle expired a current version.
    ObjectLifecycleExpirationCurrent,
    /// Ceph: the lifecycle removed a noncurrent version.
    ObjectLifecycleExpirationNonCurrent,
    /// Ceph: the lifecycle removed an expired delete marker.
    ObjectLifecycleExpirationDeleteMarker,
    /// Ceph: the lifecycle aborted an incomplete multipart upload.
    ObjectLifecycleExpirationAbortMultipartUpload,
    /// AWS: the lifecycle deleted an object or a version for good.
    LifecycleExpirationDelete,
    /// AWS: the lifecycle expired a versioned object's current version,
    /// creating a delete marker.
    LifecycleExpirationDeleteMarkerCreated,
}

/// The family an event belongs to; what the `:*` wildcards select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventCategory {
    ObjectCreated,
    ObjectRemoved,
    ObjectTagging,
    ObjectAccessed,
    /// Ceph's lifecycle events (`s3:ObjectLifecycle:*`).
    ObjectLifecycle,
    /// The expirations among them (`s3:ObjectLifecycle:Expiration:*`;
    /// Herald has no transitions, so the same set).
    ObjectLifecycleExpiration,
    /// AWS's lifecycle expiration events (`s3:LifecycleExpiration:*`).
    LifecycleExpiration,
}

impl EventCategory {
    /// Every category, in the order configurations list them.
    pub const ALL: [EventCategory; 7] = [
        EventCategory::ObjectCreated,
        EventCategory::ObjectRemoved,
        EventCategory::ObjectTagging,
        EventCategory::ObjectAccessed,
        EventCategory::ObjectLifecycle,
        EventCategory::ObjectLifecycleExpiration,
        EventCategory::LifecycleExpiration,
    ];

    /// Whether the category's wildcard selects `ev` (`s3:ObjectLifecycle:*`
    /// holds the narrower `s3:ObjectLifecycle:Expiration:*`).
    pub fn contains(self, ev: EventType) -> bool {
        let own = ev.category();
        own == self || (self == EventCategory::ObjectLifecycle && own == EventCategory::ObjectLifecycleExpiration)
    }

    /// The category name without prefix, e.g. `ObjectCreated`.
    pub fn name(self) -> &'static str {
        match self {
            EventCategory::ObjectCreated => "ObjectCreated",
            EventCategory::ObjectRemoved => "ObjectRemoved",
            EventCategory::ObjectTagging => "ObjectTagging",
            EventCategory::ObjectAccessed => "ObjectAccessed",
            EventCategory::ObjectLifecycle => "ObjectLifecycle",
            EventCategory::ObjectLifecycleExpiration => "ObjectLifecycle:Expiration",
            EventCategory::LifecycleExpiration => "LifecycleExpiration",
        }
    }

    /// The canonical wildcard pattern for this category, e.g.
    /// `s3:ObjectCreated:*`.
    pub fn s3_wildcard(self) -> &'static str {
        match self {
            EventCategory::ObjectCreated => "s3:ObjectCreated:*",
            EventCategory::ObjectRemoved => "s3:ObjectRemoved:*",
            EventCategory::ObjectTagging => "s3:ObjectTagging:*",
            EventCategory::ObjectAccessed => "s3:ObjectAccessed:*",
            EventCategory::ObjectLifecycle => "s3:ObjectLifecycle:*",
            EventCategory::ObjectLifecycleExpiration => "s3:ObjectLifecycle:Expiration:*",
            EventCategory::LifecycleExpiration => "s3:LifecycleExpiration:*",
        }
    }
}

impl EventType {
    /// Every event type Herald emits.
    pub const ALL: [EventType; 16] = [
        EventType::ObjectCreatedPut,
        EventType::ObjectCreatedPost,
        EventType::ObjectCreatedCopy,
        EventType::ObjectCreatedCompleteMultipartUpload,
        EventType::ObjectRemovedDelete,
        EventType::ObjectRemovedDeleteMarkerCreated,
        EventType::ObjectTaggingPut,
        EventType::ObjectTaggingDelete,
        EventType::ObjectAccessedGet,
        EventType::ObjectAccessedHead,
        EventType::ObjectLifecycleExpirationCurrent,
        EventType::ObjectLifecycleExpirationNonCurrent,
        EventType::ObjectLifecycleExpirationDeleteMarker,
        EventType::ObjectLifecycleExpirationAbortMultipartUpload,
        EventType::LifecycleExpirationDelete,
        EventType::LifecycleExpirationDeleteMarkerCreated,
    ];

    /// Reads are sent only to configurations that ask for them by name or
    /// with `s3:ObjectAccessed:*`, never to one with no `<Event>` (which
    /// means every change): a configuration written before Herald had them
    /// must not start receiving an event per GET.
    pub fn explicit_only(self) -> bool {
        self.category() == EventCategory::ObjectAccessed
    }

    /// Whether the event says an object or version went away (AWS's
    /// records then carry no size nor ETag).
    pub fn removes_object(self) -> bool {
        matches!(
            self.category(),
            EventCategory::ObjectRemoved
                | EventCategory::ObjectLifecycleExpiration
                | EventCategory::LifecycleExpiration
        )
    }

    /// Ceph emits each lifecycle expiration under two names, its own and
    /// AWS's, and a configuration gets the record if it selects either
    /// (Ceph's `rgw_lc.cc` passes both to its publisher). This is the AWS
    /// name of a Ceph lifecycle event: `LifecycleExpiration:Delete` when
    /// the object or version is gone for good, `…:DeleteMarkerCreated`
    /// for a current version hidden under a new delete marker (given as
    /// `marker_created`). Aborted uploads have no AWS name.
    pub fn lifecycle_alias(self, marker_created: bool) -> Option<EventType> {
        match self {
            EventType::ObjectLifecycleExpirationCurrent if marker_created => {
                Some(EventType::LifecycleExpirationDeleteMarkerCreated)
            }
            EventType::ObjectLifecycleExpirationCurrent
            | EventType::ObjectLifecycleExpirationNonCurrent
            | EventType::ObjectLifecycleExpirationDeleteMarker => Some(EventType::LifecycleExpirationDelete),
            _ => None,
        }
    }

    /// The name as it appears in a record's `eventName`, e.g.
    /// `ObjectCreated:Put` (records never carry the `s3:` prefix).
    pub fn name(self) -> &'static str {
        // Slicing the prefixed constant keeps one source of truth.
        &self.s3_name()[3..]
    }

    /// The name as configurations spell it, e.g. `s3:ObjectCreated:Put`.
    pub fn s3_name(self) -> &'static str {
        match self {
            EventType::ObjectCreatedPut => "s3:ObjectCreated:Put",
            EventType::ObjectCreatedPost => "s3:ObjectCreated:Post",
            EventType::ObjectCreatedCopy => "s3:ObjectCreated:Copy",
            EventType::ObjectCreatedCompleteMultipartUpload => "s3:ObjectCreated:CompleteMultipartUpload",
            EventType::ObjectRemovedDelete => "s3:ObjectRemoved:Delete",
            EventType::ObjectRemovedDeleteMarkerCreated => "s3:ObjectRemoved:DeleteMarkerCreated",
            EventType::ObjectTaggingPut => "s3:ObjectTagging:Put",
            EventType::ObjectTaggingDelete => "s3:ObjectTagging:Delete",
            EventType::ObjectAccessedGet => "s3:ObjectAccessed:Get",
            EventType::ObjectAccessedHead => "s3:ObjectAccessed:Head",
            EventType::ObjectLifecycleExpirationCurrent => "s3:ObjectLifecycle:Expiration:Current",
            EventType::ObjectLifecycleExpirationNonCurrent => "s3:ObjectLifecycle:Expiration:NonCurrent",
            EventType::ObjectLifecycleExpirationDeleteMarker => "s3:ObjectLifecycle:Expiration:DeleteMarker",
            EventType::ObjectLifecycleExpirationAbortMultipartUpload => {
                "s3:ObjectLifecycle:Expiration:AbortMultipartUpload"
            }
            EventType::LifecycleExpirationDelete => "s3:LifecycleExpiration:Delete",
            EventType::LifecycleExpirationDeleteMarkerCreated => "s3:LifecycleExpiration:DeleteMarkerCreated",
        }
    }

    /// The family the event belongs to.
    pub fn category(self) -> EventCategory {
        match self {
            EventType::ObjectCreatedPut
            | EventType::ObjectCreatedPost
            | EventType::ObjectCreatedCopy
            | EventType::ObjectCreatedCompleteMultipartUpload => EventCategory::ObjectCreated,
            EventType::ObjectRemovedDelete | EventType::ObjectRemovedDeleteMarkerCreated => {
                EventCategory::ObjectRemoved
            }
            EventType::ObjectTaggingPut | EventType::ObjectTaggingDelete => EventCategory::ObjectTagging,
            EventType::ObjectAccessedGet | EventType::ObjectAccessedHead => EventCategory::ObjectAccessed,
            EventType::ObjectLifecycleExpirationCurrent
            | EventType::ObjectLifecycleExpirationNonCurrent
            | EventType::ObjectLifecycleExpirationDeleteMarker
            | EventType::ObjectLifecycleExpirationAbortMultipartUpload => EventCategory::ObjectLifecycleExpiration,
            EventType::LifecycleExpirationDelete | EventType::LifecycleExpirationDeleteMarkerCreated => {
                EventCategory::LifecycleExpiration
            }
        }
    }

    /// Looks an event up by either spelling (`s3:ObjectCreated:Put` or
    /// `ObjectCreated:Put`). Case-sensitive, as AWS and Ceph are.
    pub fn from_name(name: &str) -> Option<EventType> {
        let bare = name.strip_prefix("s3:").unwrap_or(name);
        EventType::ALL.into_iter().find(|e| e.name() == bare)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.s3_name())
    }
}

/// One `<Event>` of a notification configuration: an exact event or a
/// category wildcard.
///
/// Stored (serde) as its canonical `s3:` string so the metadata DB holds
/// the same text GET `?notification` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EventPattern {
    /// Exactly one event type.
    Exact(EventType),
    /// Every event of a category (`s3:ObjectCreated:*`).
    Category(EventCategory),
}

impl EventPattern {
    /// Parses a configuration event name. The `s3:` prefix is optional
    /// because Ceph accepts it either way; anything not in Herald's event
    /// set is `InvalidArgument`, which is what Ceph answers for
    /// `s3:NoSuchEvent` (see the wire capture).
    pub fn parse(name: &str) -> Result<EventPattern, ConfigError> {
        let bare = name.strip_prefix("s3:").unwrap_or(name);
        if let Some(cat) = bare.strip_suffix(":*") {
            return EventCategory::ALL
                .into_iter()
                .find(|c| c.name() == cat)
                .map(EventPattern::Category)
                .ok_or_else(|| unknown_event(name));
        }
        EventType::from_name(bare)
            .map(EventPattern::Exact)
            .ok_or_else(|| unknown_event(name))
    }

    /// Whether an emitted event is selected by this pattern.
    pub fn matches(&self, ev: EventType) -> bool {
        match *self {
            EventPattern::Exact(e) => e == ev,
            EventPattern::Category(c) => c.contains(ev),
        }
    }

    /// The canonical `s3:`-prefixed spelling, used for output.
    pub fn as_str(&self) -> &'static str {
        match *self {
            EventPattern::Exact(e) => e.s3_name(),
            EventPattern::Category(c) => c.s3_wildcard(),
        }
    }
}

/// Refuses an event name Herald does not emit. Families AWS or Ceph have
/// for features Herald lacks get a message naming the feature, so an
/// operator migrating a configuration learns why rather than guessing at
/// a typo.
fn unknown_event(name: &str) -> ConfigError {
    let bare = name.strip_prefix("s3:").unwrap_or(name);
    let family = bare.split(':').next().unwrap_or_default();
    let family = if bare.starts_with("ObjectLifecycle:Transition") {
        "ObjectTransition"
    } else {
        family
    };
    let missing = match family {
        "ObjectRestore" => Some("restore from archive storage classes"),
        "Replication" => Some("bucket replication"),
        "LifecycleTransition" | "IntelligentTiering" | "ObjectTransition" => {
            Some("storage classes to move objects between")
        }
        "ObjectSynced" => Some("multisite sync"),
        "ObjectAcl" => Some("object ACL change events"),
        "ReducedRedundancyLostObject" => Some("the REDUCED_REDUNDANCY storage class"),
        _ => None,
    };
    if family == "ObjectAccessed" {
        return ConfigError::InvalidArgument(format!(
            "unsupported event name: {name:?} (the read events are s3:ObjectAccessed:Get and s3:ObjectAccessed:Head)"
        ));
    }
    ConfigError::InvalidArgument(match missing {
        Some(feature) => {
            format!("unsupported event name: {name:?} (Herald has no {feature}, so it never emits this event)")
        }
        None => format!("unsupported event name: {name:?}"),
    })
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<EventPattern> for String {
    fn from(p: EventPattern) -> String {
        p.as_str().to_owned()
    }
}

impl TryFrom<String> for EventPattern {
    type Error = ConfigError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        EventPattern::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_prefix() {
        assert_eq!(EventType::ObjectCreatedPut.name(), "ObjectCreated:Put");
        assert_eq!(EventType::ObjectCreatedPut.s3_name(), "s3:ObjectCreated:Put");
        assert_eq!(
            EventType::ObjectRemovedDeleteMarkerCreated.name(),
            "ObjectRemoved:DeleteMarkerCreated"
        );
        assert_eq!(
            EventType::ObjectCreatedCompleteMultipartUpload.to_string(),
            "s3:ObjectCreated:CompleteMultipartUpload"
        );
        for e in EventType::ALL {
            assert_eq!(format!("s3:{}", e.name()), e.s3_name());
            assert_eq!(EventType::from_name(e.name()), Some(e));
            assert_eq!(EventType::from_name(e.s3_name()), Some(e));
        }
        assert_eq!(EventType::from_name("s3:ObjectCreated:put"), None);
    }

    #[test]
    fn categories() {
        assert_eq!(EventType::ObjectCreatedCopy.category(), EventCategory::ObjectCreated);
        assert_eq!(EventType::ObjectRemovedDelete.category(), EventCategory::ObjectRemoved);
        assert_eq!(EventType::ObjectTaggingDelete.category(), EventCategory::ObjectTagging);
    }

    #[test]
    fn parse_exact_and_wildcards() {
        let p = EventPattern::parse("s3:ObjectCreated:Put").unwrap();
        assert_eq!(p, EventPattern::Exact(EventType::ObjectCreatedPut));
        assert_eq!(p.as_str(), "s3:ObjectCreated:Put");
        // Ceph accepts names without the prefix; output is canonical.
        let p = EventPattern::parse("ObjectRemoved:*").unwrap();
        assert_eq!(p, EventPattern::Category(EventCategory::ObjectRemoved));
        assert_eq!(p.as_str(), "s3:ObjectRemoved:*");
        for (s, c) in [
            ("s3:ObjectCreated:*", EventCategory::ObjectCreated),
            ("s3:ObjectRemoved:*", EventCategory::ObjectRemoved),
            ("s3:ObjectTagging:*", EventCategory::ObjectTagging),
        ] {
            assert_eq!(EventPattern::parse(s).unwrap(), EventPattern::Category(c));
        }
    }

    #[test]
    fn events_of_missing_features_say_which_feature() {
        for (name, feature) in [
            ("s3:ObjectRestore:Post", "restore"),
            ("s3:Replication:*", "replication"),
            ("s3:LifecycleTransition", "storage classes"),
            ("s3:ObjectLifecycle:Transition:Current", "storage classes"),
            ("s3:ObjectLifecycle:Transition:*", "storage classes"),
        ] {
            match EventPattern::parse(name) {
                Err(ConfigError::InvalidArgument(m)) => assert!(m.contains(feature), "{name}: {m}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        match EventPattern::parse("s3:NoSuchEvent") {
            Err(ConfigError::InvalidArgument(m)) => assert!(!m.contains("Herald has no"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parse_rejects_unknown() {
        for bad in [
            "s3:NoSuchEvent",
            "s3:ObjectCreated",
            "s3:*",
            "s3:ObjectRestore:*",
            "s3:LifecycleExpiration:Deleted",
            "s3:ObjectLifecycle:Expiration",
            "",
            "s3:objectcreated:*",
        ] {
            assert!(
                matches!(EventPattern::parse(bad), Err(ConfigError::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn matching() {
        let all_created = EventPattern::parse("s3:ObjectCreated:*").unwrap();
        assert!(all_created.matches(EventType::ObjectCreatedPut));
        assert!(all_created.matches(EventType::ObjectCreatedCompleteMultipartUpload));
        assert!(!all_created.matches(EventType::ObjectRemovedDelete));
        let del = EventPattern::parse("s3:ObjectRemoved:Delete").unwrap();
        assert!(del.matches(EventType::ObjectRemovedDelete));
        assert!(!del.matches(EventType::ObjectRemovedDeleteMarkerCreated));
        let tag = EventPattern::parse("s3:ObjectTagging:*").unwrap();
        assert!(tag.matches(EventType::ObjectTaggingPut));
        assert!(!tag.matches(EventType::ObjectCreatedPut));
    }

    #[test]
    fn lifecycle_wildcards_and_names() {
        let ceph_all = EventPattern::parse("s3:ObjectLifecycle:*").unwrap();
        let ceph_exp = EventPattern::parse("s3:ObjectLifecycle:Expiration:*").unwrap();
        let aws = EventPattern::parse("s3:LifecycleExpiration:*").unwrap();
        assert_eq!(ceph_exp.as_str(), "s3:ObjectLifecycle:Expiration:*");
        for e in [
            EventType::ObjectLifecycleExpirationCurrent,
            EventType::ObjectLifecycleExpirationNonCurrent,
            EventType::ObjectLifecycleExpirationDeleteMarker,
            EventType::ObjectLifecycleExpirationAbortMultipartUpload,
        ] {
            assert!(ceph_all.matches(e) && ceph_exp.matches(e) && !aws.matches(e), "{e}");
            assert!(e.removes_object());
        }
        for e in [
            EventType::LifecycleExpirationDelete,
            EventType::LifecycleExpirationDeleteMarkerCreated,
        ] {
            assert!(aws.matches(e) && !ceph_all.matches(e), "{e}");
        }
        // Neither family is a removal in the ObjectRemoved sense.
        let removed = EventPattern::parse("s3:ObjectRemoved:*").unwrap();
        assert!(!removed.matches(EventType::LifecycleExpirationDelete));
        assert!(!removed.matches(EventType::ObjectLifecycleExpirationCurrent));
        assert_eq!(
            EventType::ObjectLifecycleExpirationCurrent.lifecycle_alias(true),
            Some(EventType::LifecycleExpirationDeleteMarkerCreated)
        );
        assert_eq!(
            EventType::ObjectLifecycleExpirationNonCurrent.lifecycle_alias(false),
            Some(EventType::LifecycleExpirationDelete)
        );
        assert_eq!(
            EventType::ObjectLifecycleExpirationAbortMultipartUpload.lifecycle_alias(false),
            None
        );
        assert_eq!(
            EventType::from_name("ObjectLifecycle:Expiration:NonCurrent"),
            Some(EventType::ObjectLifecycleExpirationNonCurrent)
        );
    }

    #[test]
    fn serde_as_canonical_string() {
        let p = EventPattern::parse("ObjectCreated:Copy").unwrap();
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(j, "\"s3:ObjectCreated:Copy\"");
        assert_eq!(serde_json::from_str::<EventPattern>(&j).unwrap(), p);
        assert!(serde_json::from_str::<EventPattern>("\"s3:Nope\"").is_err());
    }
}
