//! Where events come from: SQS queues (polled) and webhooks (pushed).

pub mod replay;
pub mod sqs;
pub mod webhook;
