//! Herald's web console, served by `herald serve` under `/console/` on the
//! S3 port.
//!
//! Three parts:
//! - the single-page app ([`assets`]): plain HTML, CSS and JavaScript
//!   embedded in the binary, so `cargo build` alone yields a console;
//! - sign-in sessions ([`session`]): an access key and secret key are
//!   checked once, then the browser holds only an `HttpOnly` cookie;
//! - its API ([`api`]): a signing proxy ([`proxy`]) that makes the
//!   browser's S3, SNS and SQS calls as the signed-in user, through the same
//!   request path, authentication and access-control rules as any SDK
//!   client, plus the few views those APIs lack (the overview's history,
//!   a topic's queued events, a queue's messages without receiving them,
//!   a test event), each checked against the caller's ownership.
//!
//! The crate knows nothing of the store or the pipeline: the server
//! implements [`Backend`] for it.

pub mod api;
pub mod assets;
pub mod gate;
pub mod history;
pub mod proxy;
pub mod session;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use http::{Request, Response};
use s3s::Body;

pub use history::TopicFigures;
pub use session::SessionLimits;

/// Where the console lives on the S3 port.
pub const PREFIX: &str = "/console";

/// The connection a console request came on.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// An error for the console's own views: an HTTP status, an AWS-style
/// code and a message for the page.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: http::StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: http::StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The answer for something the caller may not see: the same whether
    /// it does not exist or belongs to someone else.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(http::StatusCode::NOT_FOUND, "NotFound", format!("no such {what}"))
    }
}

/// What the console needs from the server.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The user name and secret key of an access key, if it exists.
    fn credentials(&self, access_key: &str) -> Option<(String, String)>;
    /// Serves a signed S3, SNS or SQS request exactly as if it had come
    /// on the S3 port from `peer`.
    async fn dispatch(&self, req: Request<Body>, peer: Peer) -> Response<Body>;
    /// The counters now of every topic, or of one owner's.
    fn topic_figures(&self, owner: Option<&str>) -> Vec<TopicFigures>;
    /// Up to `max` events waiting in a persistent topic `user` owns.
    fn topic_events(&self, user: &str, arn: &str, max: usize) -> Result<serde_json::Value, ApiError>;
    /// Pushes an `s3:TestEvent` to a topic `user` owns, through its
    /// endpoint; answers what the endpoint said.
    async fn test_event(&self, user: &str, arn: &str) -> Result<serde_json::Value, ApiError>;
    /// Up to `max` messages of a queue `user` owns, read without being
    /// received (no visibility change, no receive count).
    fn queue_peek(&self, user: &str, queue_url: &str, max: usize) -> Result<serde_json::Value, ApiError>;
}

/// How the console is set up.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// The region requests are signed for (the server's).
    pub region: String,
    pub sessions: SessionLimits,
    /// How often the overview samples the counters.
    pub sample_every: Duration,
    /// Mark the session cookie `Secure` even on plain HTTP connections
    /// (the browser reaches Herald over HTTPS through a proxy).
    pub secure_cookie: bool,
}

impl ConsoleSettings {
    pub fn new(region: impl Into<String>) -> ConsoleSettings {
        ConsoleSettings {
            region: region.into(),
            sessions: SessionLimits::default(),
            sample_every: Duration::from_secs(30),
            secure_cookie: false,
        }
    }
}

/// The console: sessions and history; requests go through [`Console::handle`].
pub struct Console {
    settings: ConsoleSettings,
    sessions: session::Sessions,
    history: history::History,
    test_events: gate::TestEventGate,
}

impl Console {
    pub fn new(settings: ConsoleSettings) -> Arc<Console> {
        Arc::new(Console {
            sessions: session::Sessions::new(settings.sessions),
            history: history::History::new(settings.sample_every),
            test_events: gate::TestEventGate::default(),
            settings,
        })
    }

    /// Whether an unsigned request on the S3 port is the console's: its path
    /// is `/console` or under `/console/` (a bucket of that name is reserved;
    /// signed requests never come here).
    pub fn owns_path(path: &str) -> bool {
        path == PREFIX || path.starts_with("/console/")
    }

    /// Answers one console request.
    pub async fn handle(&self, backend: &dyn Backend, req: Request<Body>, peer: Peer) -> Response<Body> {
        api::handle(self, backend, req, peer).await
    }

    /// Samples the counters every [`ConsoleSettings::sample_every`] until
    /// the backend is gone (the server shut down).
    pub fn spawn_sampler(self: &Arc<Self>, backend: Weak<dyn Backend>) -> tokio::task::JoinHandle<()> {
        let console = Arc::downgrade(self);
        let every = self.settings.sample_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (Some(console), Some(backend)) = (console.upgrade(), backend.upgrade()) else {
                    return;
                };
                let figures = backend.topic_figures(None);
                console.history.record(&figures, SystemTime::now());
            }
        })
    }
}
