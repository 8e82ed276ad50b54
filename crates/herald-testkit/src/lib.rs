//! Test support for Herald's integration tests, in one crate every test
//! binary uses (compiled once, not once per test file).
//!
//! - [`TestServer`]: the real `herald` binary on a free loopback port with a
//!   temporary data directory, and AWS SDK clients pointed at it;
//! - raw HTTP ([`raw_request`]) and SigV4-signed raw requests
//!   ([`signed_request`]) for what the SDKs cannot express;
//! - a webhook [`Receiver`] that records every push;
//! - the [`Agent`] harness, notification XML, `/metrics` parsing, error and
//!   data helpers.
//!
//! Everything is re-exported at the root: tests `use herald_testkit::...`.

mod agent;
mod checks;
mod notify;
mod pki;
mod raw;
mod receiver;
mod seaweed;
mod server;
mod sns;
mod tls;

pub use agent::*;
pub use checks::*;
pub use notify::*;
pub use pki::*;
pub use raw::*;
pub use receiver::*;
pub use seaweed::*;
pub use server::*;
pub use sns::*;
pub use tls::*;
