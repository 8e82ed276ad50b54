//! From a received message to applied actions, the same for every source.
//!
//! A message is done only when every action accepted every change in it;
//! otherwise the source keeps it (SQS: visible again later; webhook: left
//! in the spool) and the whole message is retried. Changes of one key are
//! serialized across workers so an action never races itself on a key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::actions::{Action, Outcome};
use crate::event::{Change, Message, Op};
use crate::self_test::SelfTestWatch;
use crate::{fields, log};

/// Counts per action, for the periodic report and the exit summary.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counts {
    pub applied: u64,
    pub skipped: u64,
    pub failed: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<StatsInner>,
}

#[derive(Debug, Default)]
struct StatsInner {
    messages: u64,
    changes: u64,
    skipped_principal: u64,
    ignored: u64,
    message_failures: u64,
    actions: BTreeMap<String, Counts>,
    last_failure: Option<String>,
}

impl Stats {
    fn with<R>(&self, f: impl FnOnce(&mut StatsInner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn snapshot(&self) -> Value {
        self.with(|s| {
            json!({
                "messages": s.messages,
                "changes": s.changes,
                "skipped_principal": s.skipped_principal,
                "ignored": s.ignored,
                "message_failures": s.message_failures,
                "actions": s.actions,
                "last_failure": s.last_failure,
            })
        })
    }

    pub fn message_failed(&self, why: &str) {
        self.with(|s| {
            s.message_failures += 1;
            s.last_failure = Some(why.to_string());
        });
    }
}

/// What the source should do with a message after [`Pipeline::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Applied (or nothing to do): forget it.
    Done,
    /// Not ours to handle (self-test mode): give it back untouched.
    Release,
}

/// Stripes of async locks keyed by bucket/key: bounded memory, and two
/// changes of one key never run at once.
pub struct KeyLocks {
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl KeyLocks {
    pub fn new(n: usize) -> KeyLocks {
        KeyLocks {
            stripes: (0..n.max(1)).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    pub async fn lock(&self, bucket: &str, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bucket.hash(&mut h);
        key.hash(&mut h);
        self.stripes[(h.finish() % self.stripes.len() as u64) as usize]
            .lock()
            .await
    }
}

pub struct Pipeline {
    pub source: String,
    pub provider: String,
    pub skip_principal: Option<String>,
    pub actions: Vec<Action>,
    pub stats: Arc<Stats>,
    pub self_test: Arc<SelfTestWatch>,
    /// `herald agent self-test`: only self-test events are consumed.
    pub self_test_only: bool,
    pub locks: KeyLocks,
}

impl Pipeline {
    pub async fn process(&self, msg: &Message) -> Result<Disposition, String> {
        self.stats.with(|s| s.messages += 1);
        let changes = match msg {
            Message::TestEvent { bucket } => {
                log::info(
                    "s3:TestEvent: the bucket's notification configuration reaches this source",
                    fields! {"source" => self.source, "bucket" => bucket},
                );
                return Ok(if self.self_test_only {
                    Disposition::Release
                } else {
                    Disposition::Done
                });
            }
            Message::Changes(c) => c,
        };
        if self.self_test_only && !changes.iter().all(|c| self.self_test.is_test_key(&c.key)) {
            return Ok(Disposition::Release);
        }
        for c in changes {
            self.change(c).await?;
        }
        Ok(Disposition::Done)
    }

    async fn change(&self, c: &Change) -> Result<(), String> {
        if self.self_test.observe(&self.source, c) {
            return Ok(());
        }
        self.stats.with(|s| s.changes += 1);
        if let (Some(skip), Some(p)) = (&self.skip_principal, &c.principal)
            && skip == p
        {
            self.stats.with(|s| s.skipped_principal += 1);
            log::sync(&self.provider, &self.source, c, "skipped: skip_principal_id");
            return Ok(());
        }
        if c.op == Op::Other {
            self.stats.with(|s| s.ignored += 1);
            log::sync(&self.provider, &self.source, c, "ignored: nothing to sync");
            return Ok(());
        }
        let _guard = self.locks.lock(&c.bucket, &c.key).await;
        let mut notes = Vec::new();
        for a in &self.actions {
            match a.apply(&self.source, c).await {
                Ok(o) => {
                    self.stats.with(|s| {
                        let e = s.actions.entry(a.kind().to_string()).or_default();
                        match o {
                            Outcome::Applied => e.applied += 1,
                            Outcome::Skipped(_) => e.skipped += 1,
                        }
                    });
                    if let Outcome::Skipped(why) = o {
                        notes.push(format!("{}: {why}", a.kind()));
                    }
                }
                Err(e) => {
                    self.stats
                        .with(|s| s.actions.entry(a.kind().to_string()).or_default().failed += 1);
                    log::sync(&self.provider, &self.source, c, &format!("failed: {}: {e}", a.kind()));
                    return Err(format!("{} action on {}/{}: {e}", a.kind(), c.bucket, c.key));
                }
            }
        }
        let outcome = if notes.is_empty() {
            "ok".to_string()
        } else {
            notes.join("; ")
        };
        log::sync(&self.provider, &self.source, c, &outcome);
        Ok(())
    }
}
