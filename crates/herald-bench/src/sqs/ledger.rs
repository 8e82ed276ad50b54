//! Message identity and the missing/duplicate accounting of the `sqs`
//! scenario. Every body starts with `<run>-<worker>-<seq>-`, where `run` is
//! random per bench run, so a received body names the send it came from and
//! messages left in the queue by other runs are recognised. Pure functions,
//! unit-tested without a server.

use std::collections::HashMap;

/// Bits of a [`MessageKey`] holding the sequence number; the worker index
/// sits above them.
const SEQ_BITS: u32 = 40;

/// `(worker, seq)` packed into one integer, cheap to collect by the million.
pub type MessageKey = u64;

pub fn message_key(worker: usize, seq: u64) -> MessageKey {
    ((worker as u64) << SEQ_BITS) | (seq & ((1 << SEQ_BITS) - 1))
}

/// The id a body starts with.
pub fn body_prefix(run: u32, worker: usize, seq: u64) -> String {
    format!("{run:08x}-{worker}-{seq}-")
}

/// A body of at least `size` bytes: the id, then `padding` up to `size`.
/// `padding` must be at least `size` bytes of characters SQS accepts.
pub fn message_body(run: u32, worker: usize, seq: u64, size: usize, padding: &str) -> String {
    let mut body = body_prefix(run, worker, seq);
    if body.len() < size {
        body.push_str(&padding[..size - body.len()]);
    }
    body
}

/// What a received body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Sent by this run.
    Ours(MessageKey),
    /// Anything else (another run's leftovers, foreign traffic).
    Foreign,
}

/// Recognises the bodies [`message_body`] builds for `run`.
pub fn origin(run: u32, body: &str) -> Origin {
    let mut parts = body.splitn(4, '-');
    let (Some(r), Some(w), Some(s), Some(_)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Origin::Foreign;
    };
    if r.len() != 8 || u32::from_str_radix(r, 16) != Ok(run) {
        return Origin::Foreign;
    }
    match (w.parse::<usize>(), s.parse::<u64>()) {
        (Ok(w), Ok(s)) if s < 1 << SEQ_BITS && w < 1 << (64 - SEQ_BITS) => Origin::Ours(message_key(w, s)),
        _ => Origin::Foreign,
    }
}

/// The outcome of matching receipts against acknowledged sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accounting {
    /// Receipts of this run's messages, duplicates included.
    pub received: u64,
    /// Distinct messages received.
    pub distinct: u64,
    /// Acknowledged sends never received.
    pub missing: u64,
    /// Receipts beyond the first of the same message.
    pub duplicated: u64,
    /// Distinct messages received whose send was not acknowledged (e.g. the
    /// SendMessageBatch timed out client-side but the server kept it).
    pub unacknowledged: u64,
}

/// Matches `received` (one key per receipt, any order) against `acked`
/// (one key per acknowledged send).
pub fn account(
    acked: impl IntoIterator<Item = MessageKey>,
    received: impl IntoIterator<Item = MessageKey>,
) -> Accounting {
    let mut counts: HashMap<MessageKey, u64> = HashMap::new();
    let mut out = Accounting::default();
    for key in received {
        out.received += 1;
        *counts.entry(key).or_default() += 1;
    }
    out.distinct = counts.len() as u64;
    out.duplicated = out.received - out.distinct;
    let mut acked_received = 0;
    for key in acked {
        if counts.remove(&key).is_some() {
            acked_received += 1;
        } else {
            out.missing += 1;
        }
    }
    out.unacknowledged = out.distinct - acked_received;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_their_send() {
        let padding = "x".repeat(64);
        let body = message_body(0xdead_beef, 3, 17, 40, &padding);
        assert_eq!(body.len(), 40);
        assert!(body.starts_with("deadbeef-3-17-x"), "{body}");
        assert_eq!(origin(0xdead_beef, &body), Origin::Ours(message_key(3, 17)));
        // Too small for the id: the id alone.
        assert_eq!(message_body(1, 0, 0, 4, &padding), "00000001-0-0-");
        assert_eq!(origin(1, "00000001-0-0-"), Origin::Ours(message_key(0, 0)));

        assert_eq!(origin(0xdead_beee, &body), Origin::Foreign);
        for other in [
            "",
            "hello",
            "deadbeef-3-17",
            "deadbeef-x-17-",
            "deadbeef-3--",
            "deadbeef-3-17x-",
        ] {
            assert_eq!(origin(0xdead_beef, other), Origin::Foreign, "{other:?}");
        }
        assert_ne!(message_key(1, 0), message_key(0, 1));
        assert_eq!(message_key(0, 5), 5);
    }

    #[test]
    fn accounting_of_missing_and_duplicates() {
        let k = |w, s| message_key(w, s);
        // Sent: (0,0) (0,1) (0,2) (1,0). Received: (0,0) three times, (0,2)
        // once, (1,0) twice, and (2,9) whose send was never acknowledged.
        let acked = [k(0, 0), k(0, 1), k(0, 2), k(1, 0)];
        let received = [k(0, 0), k(1, 0), k(0, 0), k(0, 2), k(2, 9), k(0, 0), k(1, 0)];
        assert_eq!(
            account(acked, received),
            Accounting {
                received: 7,
                distinct: 4,
                missing: 1,
                duplicated: 3,
                unacknowledged: 1,
            }
        );
        assert_eq!(
            account(acked, []),
            Accounting {
                missing: 4,
                ..Accounting::default()
            }
        );
        assert_eq!(account([], []), Accounting::default());
    }
}
