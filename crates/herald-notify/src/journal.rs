//! The delivery log as the store's event journal: events are written into
//! the log inside the group commit of the change that caused them (see
//! `herald_store::journal`), so each event is written once, durable exactly
//! when its change is.

use std::path::Path;

use bytes::Bytes;
use herald_log::{AppendItem, DeliveryLog, Staged};
use herald_store::{EventEntry, EventJournal, WrittenEvents};

/// [`EventJournal`] over the delivery log.
pub struct LogJournal {
    log: DeliveryLog,
}

impl LogJournal {
    pub fn new(log: DeliveryLog) -> LogJournal {
        LogJournal { log }
    }
}

impl EventJournal for LogJournal {
    fn write(&self, entries: Vec<EventEntry>, syncfs_follows: bool) -> Result<Box<dyn WrittenEvents>, String> {
        let items = entries
            .into_iter()
            .map(|e| AppendItem {
                topic: e.log,
                key: e.key,
                payload: Bytes::from(e.payload),
            })
            .collect();
        let staged = self.log.stage(items, syncfs_follows).map_err(|e| e.to_string())?;
        Ok(Box::new(StagedInLog(staged)))
    }

    fn dir(&self) -> &Path {
        self.log.dir()
    }
}

struct StagedInLog(Staged);

impl WrittenEvents for StagedInLog {
    fn high_water(&self) -> Vec<(String, u64)> {
        self.0.high_water()
    }

    fn sync(&mut self) -> Result<(), String> {
        self.0.sync().map_err(|e| e.to_string())
    }

    fn settle(self: Box<Self>, committed: bool) {
        self.0.settle(committed);
    }
}
