//! The SQS API against a spawned `herald serve`: every operation through
//! aws-sdk-sqs (AWS JSON 1.0), the query protocol through raw SigV4-signed
//! form POSTs (XML answers), the Cloudian-guide session through the real
//! `aws` CLI, and durability across kill -9.
//!
//! Nothing here asserts timing: long polling and visibility expiry are
//! checked by what comes back, with generous deadlines only as a guard
//! against hanging forever.
//!
//! The tests are split by client, one file each: `sdk` (aws-sdk-sqs
//! operations), `fifo_and_errors` (FIFO queues and error codes through the
//! SDK), `protocols` (raw JSON framing and the query protocol), `cli` (the
//! `aws` CLI session) and `durability` (kill -9). This file keeps the
//! helpers they share; it stays one test binary.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use herald_testkit::*;
use herald_testkit::{Signer, signed_request, sqs_json_request, xml_all, xml_blocks, xml_first};
use serde_json::{Value, json};

mod cli;
mod durability;
mod fifo_and_errors;
mod protocols;
mod sdk;

const NON_EXISTENT: &str = "AWS.SimpleQueueService.NonExistentQueue";

fn sqs_as(srv: &TestServer, access: &str, secret: &str) -> Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(access, secret, None, None, "herald-tests"))
        .endpoint_url(srv.url())
        .build();
    Client::from_conf(conf)
}

fn sqs(srv: &TestServer) -> Client {
    sqs_as(srv, ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
}

async fn create(client: &Client, name: &str, attrs: &[(QueueAttributeName, &str)]) -> String {
    let mut req = client.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), *v);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("CreateQueue {name}: {e:?}"))
        .queue_url()
        .expect("QueueUrl")
        .to_string()
}

async fn attribute(client: &Client, url: &str, name: QueueAttributeName) -> String {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes {name:?}: {e:?}"));
    out.attributes()
        .and_then(|a| a.get(&name))
        .cloned()
        .unwrap_or_else(|| panic!("attribute {name:?} missing in {out:?}"))
}

async fn visible_count(client: &Client, url: &str) -> u64 {
    attribute(client, url, QueueAttributeName::ApproximateNumberOfMessages)
        .await
        .parse()
        .unwrap()
}

/// Receives until `want` messages arrived or `tries` long polls came back
/// empty; returns the bodies.
async fn drain(client: &Client, url: &str, want: usize, delete: bool) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut empty = 0;
    while bodies.len() < want && empty < 5 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .expect("ReceiveMessage");
        if out.messages().is_empty() {
            empty += 1;
        }
        for m in out.messages() {
            bodies.push(m.body().unwrap().to_string());
            if delete {
                client
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }
    bodies
}
