//! XML out: the body of `GET /{bucket}?notification`, in Ceph's element
//! order.

use std::fmt::Write as _;

use super::model::{Filter, NotificationConfiguration};
use super::{KEY_FORM_PREFIX, S3_XMLNS};
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
        let herald_rules = herald_rules(filter);
        if !k.is_empty() || (filter.in_key_form && !herald_rules.is_empty()) {
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
            if filter.in_key_form {
                for (part, name, value) in &herald_rules {
                    let name = match (*part, *name) {
                        ("size", n) => format!("{KEY_FORM_PREFIX}size-{n}"),
                        (_, "equals") => format!("{KEY_FORM_PREFIX}content-type"),
                        (_, n) => format!("{KEY_FORM_PREFIX}content-type-{n}"),
                    };
                    rule(out, &name, value);
                }
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
        if !filter.in_key_form {
            for (element, part) in [("HeraldObjectSize", "size"), ("HeraldContentType", "content-type")] {
                let rules: Vec<_> = herald_rules.iter().filter(|(p, _, _)| *p == part).collect();
                if !rules.is_empty() {
                    let _ = write!(out, "<{element}>");
                    for (_, name, value) in rules {
                        rule(out, name, value);
                    }
                    let _ = write!(out, "</{element}>");
                }
            }
        }
        out.push_str("</Filter>");
    }
    for e in events {
        leaf(out, "Event", e.as_str());
    }
    let _ = write!(out, "</{element}>");
}

/// Herald's size and content-type rules as (part, rule name, value).
fn herald_rules(filter: &Filter) -> Vec<(&'static str, &'static str, String)> {
    let size = &filter.size;
    let bounds = [("greater-than", size.greater_than), ("less-than", size.less_than)];
    let mut out: Vec<_> = bounds
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| ("size", name, v.to_string())))
        .collect();
    out.extend(
        filter
            .content_type
            .rules
            .iter()
            .map(|r| ("content-type", r.name(), r.value().to_owned())),
    );
    out
}
