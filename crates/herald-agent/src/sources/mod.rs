//! Where events come from: SQS queues (polled) and webhooks (pushed).

pub mod sqs;
pub mod webhook;
