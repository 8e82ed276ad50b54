//! What a change is before it is committed, and who caused it: the two
//! things every event source hands the notifier.

use herald_model::event::EventType;
use herald_model::notification::ObjectFacts;

/// What the S3 handler knows about a change before committing it. The
/// sequence number and version id come from the commit; the size and ETag
/// too for writes (deletes and multipart starts give them here).
#[derive(Clone)]
pub struct Change {
    pub event: EventType,
    /// The event's other name, for events that have two (a lifecycle
    /// expiration: Ceph's in `event`, AWS's here); each configuration gets
    /// the record under the name it selected (see
    /// `NotificationConfiguration::matching_either`).
    pub alias: Option<EventType>,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub metadata: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// The object's Content-Type (`None`: stored without one), for
    /// `<HeraldContentType>` filters.
    pub content_type: Option<String>,
}

impl Change {
    /// A change that describes `version` of `key` (its size, ETag,
    /// metadata and tags): a read of it, or its removal.
    pub fn of_version(event: EventType, key: impl Into<String>, version: &herald_store::ObjectVersion) -> Change {
        Change {
            size: version.size,
            etag: version.etag.as_str().to_owned(),
            metadata: version.meta.user_pairs(),
            tags: version.tags.clone(),
            content_type: version.meta.content_type.clone(),
            ..Change::new(event, key)
        }
    }

    /// A change of `key`, size 0, no ETag, metadata or tags yet.
    pub fn new(event: EventType, key: impl Into<String>) -> Change {
        Change {
            event,
            alias: None,
            key: key.into(),
            size: 0,
            etag: String::new(),
            metadata: Vec::new(),
            tags: Vec::new(),
            content_type: None,
        }
    }

    /// What the configuration entries match this change on.
    pub(crate) fn facts(&self) -> ObjectFacts<'_> {
        ObjectFacts {
            key: &self.key,
            metadata: &self.metadata,
            tags: &self.tags,
            content_type: self.content_type.as_deref(),
        }
    }
}

/// Who caused a change, for its event records.
#[derive(Clone, Default)]
pub struct Origin {
    pub principal: String,
    pub source_ip: String,
    pub request_id: String,
    /// The change is a file written by a batch topic's worker. Such changes
    /// never feed any batch topic: a batch bucket whose notifications reach
    /// a batch topic would otherwise batch its own files forever (directly,
    /// or around a cycle of topics). Every other destination gets them.
    pub batch_writer: bool,
}
