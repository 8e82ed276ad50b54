//! Queue management: create, delete, purge, attributes and tags
//! (CreateQueue, DeleteQueue, PurgeQueue, Get/SetQueueAttributes,
//! Tag/Untag/ListQueueTags).

use super::*;

impl QueueEngine {
    /// Creates a queue, or returns the existing one if every given attribute
    /// matches it (CreateQueue is idempotent); a mismatch is
    /// `QueueAlreadyExists`. Tags apply to new queues only.
    pub async fn create_queue(
        &self,
        owner: &str,
        name: &str,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<QueueInfo, QueueError> {
        if !attrs::valid_queue_name(name) {
            return Err(invalid(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        let fifo = name.ends_with(".fifo");
        let fifo_attr = attributes
            .get("FifoQueue")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if fifo != fifo_attr {
            return Err(invalid(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length. A queue whose name ends with .fifo must be created with the FifoQueue attribute set to true.",
            ));
        }
        check_tags(&BTreeMap::new(), &tags)?;
        let _admin = self.inner.admin.lock().await;
        let src = attrs::Source {
            fifo,
            arn: &arn(&self.inner.region, owner, name),
        };
        let norm = attrs::normalize(&src, &attributes, &|a| self.dlq_target(owner, a))?;
        if let Ok(q) = self.queue(owner, name) {
            let meta = q.meta.lock().expect("meta lock");
            for (k, v) in &norm {
                let same = match meta.attributes.get(k) {
                    Some(cur) => cur == v,
                    None => v.is_empty(),
                };
                if !same {
                    return Err(QueueError::QueueAlreadyExists(format!(
                        "A queue already exists with the same name and a different value for attribute {k}"
                    )));
                }
            }
            drop(meta);
            return Ok(Self::info(&q));
        }
        let max = self.inner.max_queues_per_user.load(Ordering::Relaxed);
        if self.count_owned(owner) >= max {
            return Err(QueueError::OverLimit(format!(
                "Too many queues: the limit is {max} queues per user (max-queues-per-user)."
            )));
        }
        let mut attributes = attrs::defaults(fifo);
        attrs::merge(&mut attributes, norm);
        let qdir = self.inner.root.join("queues");
        let id = loop {
            let id: u64 = rand::random();
            if id != 0 && !qdir.join(format!("{id:016x}")).exists() {
                break id;
            }
        };
        let dir = qdir.join(format!("{id:016x}"));
        let now = now_ms();
        let meta = Meta {
            id,
            owner: owner.to_string(),
            name: name.to_string(),
            fifo,
            created_ms: now,
            modified_ms: now,
            attributes,
            tags,
        };
        let settings = Settings::from_attributes(&meta.attributes);
        let state = {
            let (dir, meta) = (dir.clone(), meta.clone());
            blocking(move || {
                private_dir(&dir, false)?;
                let st = State::create(dir.clone(), fifo, settings)?;
                // Metadata last: a directory without it is an incomplete
                // creation and is removed at open.
                write_meta(&dir, &meta)?;
                fsync_dir(&qdir)?;
                Ok(st)
            })
            .await?
        };
        let q = Arc::new(Queue {
            id,
            owner: owner.to_string(),
            name: name.to_string(),
            arn: arn(&self.inner.region, owner, name),
            fifo,
            dir,
            meta: Mutex::new(meta),
            state: Mutex::new(state),
            notify: tokio::sync::Notify::new(),
        });
        let info = Self::info(&q);
        self.inner
            .queues
            .write()
            .expect("queues lock")
            .insert((owner.to_string(), name.to_string()), q);
        Ok(info)
    }

    pub fn get_queue(&self, owner: &str, name: &str) -> Result<QueueInfo, QueueError> {
        self.queue(owner, name).map(|q| Self::info(&q))
    }

    /// The queue an `arn:aws:sqs:<region>:<owner>:<name>` names, if it exists
    /// in this engine's region.
    pub fn queue_by_arn(&self, arn: &str) -> Option<QueueInfo> {
        self.queue_arc_by_arn(arn).map(|q| Self::info(&q))
    }

    /// Queues of `owner` (all owners if `None`) whose name starts with
    /// `prefix`, sorted by name.
    pub fn list_queues(&self, owner: Option<&str>, prefix: &str) -> Vec<QueueInfo> {
        let queues: Vec<Arc<Queue>> = self
            .inner
            .queues
            .read()
            .expect("queues lock")
            .values()
            .filter(|q| owner.is_none_or(|o| o == q.owner) && q.name.starts_with(prefix))
            .cloned()
            .collect();
        let mut out: Vec<QueueInfo> = queues.iter().map(|q| Self::info(q)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.owner.cmp(&b.owner)));
        out
    }

    /// Deletes a queue and its messages. Receivers long-polling it return.
    pub async fn delete_queue(&self, owner: &str, name: &str) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self
            .inner
            .queues
            .write()
            .expect("queues lock")
            .remove(&(owner.to_string(), name.to_string()))
            .ok_or(QueueError::QueueDoesNotExist)?;
        {
            let mut st = q.state.lock().expect("queue lock");
            st.deleted = true;
            st.epoch += 1;
        }
        q.notify.notify_waiters();
        let root = self.inner.root.clone();
        let (dir, id) = (q.dir.clone(), q.id);
        blocking(move || {
            // Rename first: atomic, so a crash never leaves half a queue.
            let trash = root.join("trash");
            private_dir(&trash, true)?;
            let to = trash.join(format!("{id:016x}"));
            fs::rename(&dir, &to)?;
            fsync_dir(&root.join("queues"))?;
            fs::remove_dir_all(&to)
        })
        .await
    }

    /// Deletes every message. Like AWS, allowed once per 60 seconds.
    pub async fn purge_queue(&self, owner: &str, name: &str) -> Result<(), QueueError> {
        let q = self.queue(owner, name)?;
        let mut st = q.state.lock().expect("queue lock");
        if st.last_purge.is_some_and(|t| t.elapsed() < PURGE_INTERVAL) {
            return Err(QueueError::PurgeQueueInProgress);
        }
        st.purge()?;
        st.last_purge = Some(Instant::now());
        Ok(())
    }

    /// GetQueueAttributes: `names` may contain "All".
    pub fn get_attributes(
        &self,
        owner: &str,
        name: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, String>, QueueError> {
        let q = self.queue(owner, name)?;
        for n in names {
            if n != "All" && !attrs::SETTABLE.contains(&n.as_str()) && !attrs::COMPUTED.contains(&n.as_str()) {
                return Err(QueueError::InvalidAttributeName(format!("Unknown Attribute {n}.")));
            }
        }
        let all = names.iter().any(|n| n == "All");
        let want = |k: &str| all || names.iter().any(|n| n == k);
        let meta = q.meta.lock().expect("meta lock").clone();
        let mut out: BTreeMap<String, String> = meta
            .attributes
            .iter()
            .filter(|(k, _)| want(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let stats = self.stats_of(&q);
        let computed = [
            ("QueueArn", q.arn.clone()),
            ("ApproximateNumberOfMessages", stats.visible.to_string()),
            ("ApproximateNumberOfMessagesNotVisible", stats.in_flight.to_string()),
            ("ApproximateNumberOfMessagesDelayed", stats.delayed.to_string()),
            ("CreatedTimestamp", (meta.created_ms / 1000).to_string()),
            ("LastModifiedTimestamp", (meta.modified_ms / 1000).to_string()),
        ];
        for (k, v) in computed {
            if want(k) {
                out.insert(k.to_string(), v);
            }
        }
        Ok(out)
    }

    /// SetQueueAttributes. All-or-nothing: any invalid attribute rejects the
    /// whole call. An empty value removes RedrivePolicy, Policy, etc.
    pub async fn set_attributes(
        &self,
        owner: &str,
        name: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self.queue(owner, name)?;
        self.apply_attributes(owner, &q, &attributes).await
    }

    /// Rewrites one attribute from its current value as one step under the
    /// admin lock (read, change, validate, store), so two concurrent edits
    /// cannot lose each other: AddPermission and RemovePermission edit
    /// `Policy` this way. `change` gets the current value (`None` when
    /// unset) and returns the new one (empty removes a removable one).
    pub async fn update_attribute(
        &self,
        owner: &str,
        name: &str,
        attribute: &str,
        change: impl FnOnce(Option<&str>) -> Result<String, QueueError>,
    ) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self.queue(owner, name)?;
        let current = q.meta.lock().expect("meta lock").attributes.get(attribute).cloned();
        let new = change(current.as_deref().filter(|v| !v.is_empty()))?;
        let attributes = BTreeMap::from([(attribute.to_owned(), new)]);
        self.apply_attributes(owner, &q, &attributes).await
    }

    /// Validates `attributes` and stores them over the queue's own (the
    /// caller holds the admin lock).
    async fn apply_attributes(
        &self,
        owner: &str,
        q: &Arc<Queue>,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), QueueError> {
        let src = attrs::Source {
            fifo: q.fifo,
            arn: &q.arn,
        };
        let norm = attrs::normalize(&src, attributes, &|a| self.dlq_target(owner, a))?;
        let mut meta = q.meta.lock().expect("meta lock").clone();
        attrs::merge(&mut meta.attributes, norm);
        meta.modified_ms = now_ms();
        self.store_meta(q, meta).await
    }

    async fn store_meta(&self, q: &Arc<Queue>, meta: Meta) -> Result<(), QueueError> {
        let (dir, m) = (q.dir.clone(), meta.clone());
        blocking(move || write_meta(&dir, &m)).await?;
        let settings = Settings::from_attributes(&meta.attributes);
        *q.meta.lock().expect("meta lock") = meta;
        q.state.lock().expect("queue lock").settings = settings;
        // A shorter wait or delay may make messages receivable sooner.
        q.notify.notify_waiters();
        Ok(())
    }

    pub async fn tag_queue(&self, owner: &str, name: &str, tags: BTreeMap<String, String>) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self.queue(owner, name)?;
        let mut meta = q.meta.lock().expect("meta lock").clone();
        check_tags(&meta.tags, &tags)?;
        meta.tags.extend(tags);
        self.store_meta(&q, meta).await
    }

    pub async fn untag_queue(&self, owner: &str, name: &str, keys: Vec<String>) -> Result<(), QueueError> {
        let _admin = self.inner.admin.lock().await;
        let q = self.queue(owner, name)?;
        let mut meta = q.meta.lock().expect("meta lock").clone();
        for k in keys {
            meta.tags.remove(&k);
        }
        self.store_meta(&q, meta).await
    }

    pub fn list_tags(&self, owner: &str, name: &str) -> Result<BTreeMap<String, String>, QueueError> {
        let q = self.queue(owner, name)?;
        let tags = q.meta.lock().expect("meta lock").tags.clone();
        Ok(tags)
    }
}

pub(crate) fn arn(region: &str, owner: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{owner}:{name}")
}

fn check_tags(existing: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Result<(), QueueError> {
    for (k, v) in new {
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            return Err(invalid(format!(
                "Tag {k} is invalid: keys are 1-128 and values 0-256 characters."
            )));
        }
        if k.starts_with("aws:") {
            return Err(invalid("Tag keys starting with aws: are reserved."));
        }
    }
    let total = existing.len() + new.keys().filter(|k| !existing.contains_key(*k)).count();
    if total > MAX_TAGS {
        return Err(invalid(format!("Too many tags: a queue can have at most {MAX_TAGS}.")));
    }
    Ok(())
}
