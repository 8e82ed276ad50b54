//! Self test: write and delete a test object through the source's S3
//! endpoint and watch both events come back through the source, reporting
//! each step with pass/fail, timing and, on failure, what usually causes it.
//!
//! Test objects are named `herald-agent-self-test-<uuid>`; their events are
//! recognised by the pipeline and never reach the actions (so they are not
//! mirrored or indexed).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::event::{Change, Op};

pub const MARKER: &str = "herald-agent-self-test-";

/// Self-test events seen by the pipelines.
#[derive(Debug, Default)]
pub struct SelfTestWatch {
    seen: Mutex<Vec<(String, String, Op)>>,
}

impl SelfTestWatch {
    pub fn is_test_key(&self, key: &str) -> bool {
        key.rsplit('/').next().unwrap_or(key).starts_with(MARKER)
    }

    /// Records a self-test event; `false` for any other change.
    pub fn observe(&self, source: &str, c: &Change) -> bool {
        if !self.is_test_key(&c.key) {
            return false;
        }
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((source.to_string(), c.key.clone(), c.op));
        true
    }

    async fn wait(&self, source: &str, key: &str, op: Op, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|(s, k, o)| s == source && k == key && *o == op)
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One step of a self test.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    pub millis: u128,
    pub detail: String,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.ok { "PASS" } else { "FAIL" };
        write!(f, "{mark} {} ({} ms)", self.name, self.millis)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

pub fn step(name: &str, started: Instant, result: Result<String, String>) -> Step {
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Step {
        name: name.to_string(),
        ok,
        millis: started.elapsed().as_millis(),
        detail,
    }
}

/// Collects steps and reports each one as soon as it is known (the
/// running agent logs it, the CLI prints it).
pub struct Steps<'a> {
    pub all: Vec<Step>,
    pub on_step: &'a (dyn Fn(&Step) + Send + Sync),
}

impl Steps<'_> {
    pub fn push(&mut self, s: Step) {
        (self.on_step)(&s);
        self.all.push(s);
    }

    pub fn ok(&self) -> bool {
        !self.all.is_empty() && self.all.iter().all(|s| s.ok)
    }
}

/// Writes and deletes a test object under `folder` (`bucket/prefix`) and
/// waits for both events; the source must already be consuming.
pub async fn object_round_trip(
    source: &str,
    folder: &str,
    s3_endpoint: &str,
    s3: &aws_sdk_s3::Client,
    watch: &SelfTestWatch,
    timeout: Duration,
    steps: &mut Steps<'_>,
) {
    let (bucket, prefix) = match folder.trim_matches('/').split_once('/') {
        Some((b, p)) => (b.to_string(), format!("{p}/")),
        None => (folder.trim_matches('/').to_string(), String::new()),
    };
    let key = format!("{prefix}{MARKER}{}", uuid::Uuid::new_v4());
    let t = Instant::now();
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(b"herald agent self test\n".to_vec().into())
        .send()
        .await;
    let put_ok = put.is_ok();
    steps.push(step(
        "s3: write test object",
        t,
        put.map(|_| format!("{bucket}/{key} via {s3_endpoint}"))
            .map_err(|e| explain_s3(&e, s3_endpoint, &bucket)),
    ));
    if !put_ok {
        return;
    }
    let t = Instant::now();
    let arrived = watch.wait(source, &key, Op::Create, timeout).await;
    steps.push(step(
        "event: ObjectCreated arrived through the source",
        t,
        if arrived {
            Ok(String::new())
        } else {
            Err(no_event("ObjectCreated", &bucket, timeout))
        },
    ));
    let t = Instant::now();
    let del = s3.delete_object().bucket(&bucket).key(&key).send().await;
    let del_ok = del.is_ok();
    steps.push(step(
        "s3: delete test object",
        t,
        del.map(|_| String::new())
            .map_err(|e| explain_s3(&e, s3_endpoint, &bucket)),
    ));
    if !del_ok {
        return;
    }
    let t = Instant::now();
    let arrived = watch.wait(source, &key, Op::Delete, timeout).await;
    steps.push(step(
        "event: ObjectRemoved arrived through the source",
        t,
        if arrived {
            Ok(String::new())
        } else {
            Err(no_event("ObjectRemoved", &bucket, timeout))
        },
    ));
}

fn no_event(kind: &str, bucket: &str, timeout: Duration) -> String {
    format!(
        "no {kind} event within {} s. The bucket's notification configuration probably does not send \
         s3:{kind}:* to this source: check `aws s3api get-bucket-notification-configuration --bucket {bucket}` \
         names this queue's ARN (or, for a webhook, a topic whose push-endpoint is this agent), and that no \
         other consumer takes the messages first",
        timeout.as_secs()
    )
}

/// Code and message of an SDK error, or its cause chain when there was no answer.
fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
) -> (Option<String>, String) {
    match e {
        SdkError::ServiceError(se) => (
            se.err().code().map(String::from),
            se.err().message().unwrap_or("").to_string(),
        ),
        other => (None, crate::actions::error_chain(other)),
    }
}

/// Why an S3 call of the self test failed, in operator terms.
pub fn explain_s3<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
    endpoint: &str,
    bucket: &str,
) -> String {
    let (code, msg) = sdk_error(e);
    match code.as_deref() {
        None if matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => {
            format!("cannot reach the S3 endpoint {endpoint} ({msg}): check aws_endpoint_url")
        }
        Some("NoSuchBucket") => format!("bucket {bucket:?} does not exist at {endpoint}: check self_test_folder"),
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied") => format!(
            "{} ({msg}): the S3 credentials (aws_access_key_id / aws_profile) are not accepted by {endpoint} for bucket {bucket:?}",
            code.unwrap_or_default()
        ),
        Some(c @ ("MissingParameter" | "MissingAction" | "InvalidAction")) => format!(
            "{c} ({msg}): the endpoint {endpoint} does not speak S3 — aws_endpoint_url probably points at the SQS endpoint"
        ),
        Some(c) => format!("{c}: {msg}"),
        None => msg,
    }
}

/// Why an SQS call failed, in operator terms (the seed's troubleshooting:
/// an SQS call sent to an S3 endpoint answers MissingParameter).
pub fn explain_sqs<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
    endpoint: &str,
    queue: &str,
) -> String {
    let (code, msg) = sdk_error(e);
    match code.as_deref() {
        None if matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => {
            format!("cannot reach the SQS endpoint {endpoint} ({msg}): check sqs_endpoint_url (host and port)")
        }
        None => format!(
            "the endpoint {endpoint} did not answer like an SQS service ({msg}): check sqs_endpoint_url — \
             it may point at an S3 endpoint or another service"
        ),
        Some(c @ ("MissingParameter" | "MissingAction" | "InvalidAction" | "InvalidRequest" | "MethodNotAllowed")) => {
            format!(
                "{c} ({msg}): the endpoint {endpoint} answered like an S3 service, not SQS — sqs_endpoint_url \
             probably points at the S3 endpoint (on Cloudian the SQS service has its own host and port)"
            )
        }
        Some(c @ ("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")) => format!(
            "{c}: queue {queue:?} does not exist at {endpoint}: create it with \
             `aws --endpoint-url {endpoint} sqs create-queue --queue-name {queue}`, or fix queue_name / queue_url / sqs_endpoint_url"
        ),
        Some(
            c @ ("InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "AccessDenied"
            | "InvalidAccessKeyId"
            | "UnrecognizedClientException"),
        ) => {
            format!("{c} ({msg}): the SQS credentials (aws_access_key_id / sqs_profile) are not accepted by {endpoint}")
        }
        Some(c) => format!("{c}: {msg}"),
    }
}
