//! `herald agent`: the consumer that keeps other systems in sync with a
//! bucket.
//!
//! Sources (`sqs`, `webhook`) receive S3 event messages; a [`pipeline`]
//! applies each change to the source's actions (`index`, `mirror`, `http`,
//! `exec`) and tells the source when it may forget the message. Nothing
//! here asks the cloud metadata service for anything: every credential and
//! region comes from the config file or the AWS profile files it names.

pub mod actions;
mod agent;
mod cli;
pub mod config;
pub mod credentials;
pub mod event;
pub mod log;
pub mod pipeline;
pub mod report;
pub mod self_test;
pub mod sources;
pub mod spool;

pub use cli::{AgentArgs, run};
