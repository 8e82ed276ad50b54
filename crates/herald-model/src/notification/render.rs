//! XML out: the body of `GET /{bucket}?notification`, in Ceph's element
//! order.

use std::fmt::Write as _;

use super::S3_XMLNS;
use super::model::{Filter, NotificationConfiguration};
use crate::event::EventPattern;

/// Renders the body of `GET /{bucket}?notification`, in Ceph's element
/// order. Returns a document with no `<?xml?>` declaration, as Ceph does.
pub fn render_notification_configuration(cfg: &NotificationConfiguration) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(out, "<NotificationConfiguration xmlns=\"{S3_XMLNS}\">");
    for t in &cfg.topics {
        render_entry(
            &mut out,
            "TopicConfiguration",
            "Topic",
            &t.id,
            &t.topic_arn,
            &t.events,
            &t.filter,
        );
    }
    for q in &cfg.queues {
        render_entry(
            &mut out,
            "QueueConfiguration",
            "Queue",
            &q.id,
            &q.queue_arn,
            &q.events,
            &q.filter,
        );
    }
    out.push_str("</NotificationConfiguration>");
    out
}

fn leaf(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", quick_xml::escape::escape(text));
}

fn rule(out: &mut String, name: &str, value: &str) {
    out.push_str("<FilterRule>");
    leaf(out, "Name", name);
    leaf(out, "Value", value);
    out.push_str("</FilterRule>");
}

fn render_entry(
    out: &mut String,
    element: &str,
    arn_element: &str,
    id: &str,
    arn: &str,
    events: &[EventPattern],
    filter: &Filter,
) {
    let _ = write!(out, "<{element}>");
    leaf(out, "Id", id);
    leaf(out, arn_element, arn);
    if !filter.is_empty() {
        out.push_str("<Filter>");
        let k = &filter.key;
        if !k.is_empty() {
            out.push_str("<S3Key>");
            if let Some(p) = &k.prefix {
                rule(out, "prefix", p);
            }
            if let Some(s) = &k.suffix {
                rule(out, "suffix", s);
            }
            if let Some(r) = &k.regex {
                rule(out, "regex", r.as_str());
            }
            out.push_str("</S3Key>");
        }
        if !filter.metadata.is_empty() {
            out.push_str("<S3Metadata>");
            for r in &filter.metadata {
                // Shown the way Ceph users write them (the header name).
                rule(out, &format!("x-amz-meta-{}", r.name), &r.value);
            }
            out.push_str("</S3Metadata>");
        }
        if !filter.tags.is_empty() {
            out.push_str("<S3Tags>");
            for r in &filter.tags {
                rule(out, &r.name, &r.value);
            }
            out.push_str("</S3Tags>");
        }
        out.push_str("</Filter>");
    }
    for e in events {
        leaf(out, "Event", e.as_str());
    }
    let _ = write!(out, "</{element}>");
}
