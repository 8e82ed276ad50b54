//! The segment-file engine Herald's two logs are built on.
//!
//! A persistent topic's delivery log (`herald-log`) and a queue
//! (`herald-queue`) store the same way: records appended to numbered segment
//! files, each record framed with its length and CRC; per segment a side
//! file of fixed-size state records (acked, deleted, retried, received)
//! written without fsync; a group-commit thread that writes a batch with one
//! positional write per file and one fdatasync per file; recovery that reads
//! a segment up to its first torn or corrupt record; and reclaim that deletes
//! a segment with its side file once nothing in it is live.
//!
//! This crate holds all of that, byte for byte in one place. What a record
//! *means* (an event with its key and retry state, or a message with its
//! visibility and group) and which records are live stay with the two
//! engines on top: their indexes differ because their semantics do.

pub mod file;
pub mod frame;
pub mod group;
pub mod scan;
pub mod side;

pub use file::{create_segment, fsync_dir, list_segments, open_segment, remove_segment, segment_name, segment_path};
pub use frame::Parse;
pub use group::{WriteSet, next_batch};
pub use scan::{Scanned, Tail, scan_prefix, scan_segment, truncate_tail};
pub use side::{SideFile, read_side};
