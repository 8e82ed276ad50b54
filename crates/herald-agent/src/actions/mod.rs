//! What the agent does with a change. Each action is idempotent, or
//! documented as at-least-once with a stable event id to deduplicate on.

pub mod exec;
pub mod http;
pub mod index;
pub mod mirror;

use std::sync::Arc;

use crate::event::Change;

/// How one action dealt with one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Nothing to do, and why (already done, stale, not applicable).
    Skipped(&'static str),
}

pub enum Action {
    Index(Arc<index::Index>),
    Mirror(mirror::Mirror),
    Http(Box<http::HttpAction>),
    Exec(exec::ExecAction),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Index(_) => "index",
            Action::Mirror(_) => "mirror",
            Action::Http(_) => "http",
            Action::Exec(_) => "exec",
        }
    }

    pub async fn apply(&self, source: &str, c: &Change) -> Result<Outcome, String> {
        match self {
            Action::Index(i) => Ok(if i.apply(source, c).await? {
                Outcome::Applied
            } else {
                Outcome::Skipped("stale or duplicate")
            }),
            Action::Mirror(m) => m.apply(c).await,
            Action::Http(h) => h.apply(source, c).await,
            Action::Exec(e) => e.apply(source, c).await,
        }
    }
}

/// An error and its causes on one line (SDK errors hide the useful part
/// in their sources).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
