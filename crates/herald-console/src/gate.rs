//! How often a user may push a test event: the test push goes straight to
//! the topic's endpoint, outside its queue and backoff, so without a bound
//! a page (or a script with a session) could use Herald to hammer an
//! endpoint. One at a time per user, and [`TEST_EVENTS_PER_MINUTE`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::ApiError;

pub const TEST_EVENTS_PER_MINUTE: u32 = 6;
const WINDOW: Duration = Duration::from_secs(60);
/// Users remembered (the least recently seen are forgotten first).
const MAX_USERS: usize = 10_000;

#[derive(Default)]
struct Use {
    in_flight: bool,
    window_start: Option<Instant>,
    count: u32,
}

#[derive(Default)]
pub struct TestEventGate {
    users: Arc<Mutex<HashMap<String, Use>>>,
}

/// Held while a test push runs; lets the user's next one in when dropped.
pub struct Permit {
    users: Arc<Mutex<HashMap<String, Use>>>,
    user: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(u) = self.users.lock().expect("gate lock").get_mut(&self.user) {
            u.in_flight = false;
        }
    }
}

impl TestEventGate {
    pub fn admit(&self, user: &str) -> Result<Permit, ApiError> {
        let now = Instant::now();
        let mut users = self.users.lock().expect("gate lock");
        if users.len() >= MAX_USERS && !users.contains_key(user) {
            users.retain(|_, u| u.in_flight || u.window_start.is_some_and(|s| now.duration_since(s) < WINDOW));
        }
        let u = users.entry(user.to_owned()).or_default();
        if u.in_flight {
            return Err(slow_down("a test event of yours is still being pushed"));
        }
        if u.window_start.is_none_or(|s| now.duration_since(s) >= WINDOW) {
            u.window_start = Some(now);
            u.count = 0;
        }
        if u.count >= TEST_EVENTS_PER_MINUTE {
            return Err(slow_down(&format!(
                "at most {TEST_EVENTS_PER_MINUTE} test events a minute"
            )));
        }
        u.count += 1;
        u.in_flight = true;
        Ok(Permit {
            users: self.users.clone(),
            user: user.to_owned(),
        })
    }
}

fn slow_down(why: &str) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "SlowDown", why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_at_a_time_and_a_few_a_minute() {
        let g = TestEventGate::default();
        let p = g.admit("alice").unwrap();
        assert!(g.admit("alice").is_err(), "one in flight per user");
        assert!(g.admit("bob").is_ok(), "others are not held up");
        drop(p);
        for _ in 1..TEST_EVENTS_PER_MINUTE {
            g.admit("alice").unwrap();
        }
        assert_eq!(g.admit("alice").err().unwrap().status, StatusCode::TOO_MANY_REQUESTS);
    }
}
