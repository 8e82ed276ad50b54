//! XML in: `PUT /{bucket}?notification`'s body checked element by element
//! (Ceph's error codes) and turned into a [`NotificationConfiguration`].

use std::collections::HashSet;

use super::model::{
    ContentTypeFilter, ContentTypeRule, Filter, FilterRule, KeyRegex, NotificationConfiguration, QueueConfiguration,
    SizeRange, TopicConfiguration,
};
use super::tree::{Node, parse_tree};
use super::{ConfigError, KEY_FORM_PREFIX, MAX_CONFIGURATIONS, MAX_FILTER_RULES, invalid, malformed};
use crate::event::EventPattern;

/// Parses the body of `PUT /{bucket}?notification`.
///
/// Errors follow Ceph: a document that is not XML, has another root, has
/// no configuration at all, or lacks a destination ARN is `MalformedXML`;
/// well-formed but unacceptable content (unknown event, bad regex,
/// duplicate rule or Id, `CloudFunctionConfiguration`) is
/// `InvalidArgument`. Entries without `<Id>` get `notif-<n>`.
///
/// An empty configuration (no entry at all) parses to the empty
/// configuration, which the caller stores as "remove all", as AWS does and
/// as Ceph's own suite expects (an older Ceph, in the wire capture,
/// answered MalformedXML instead).
pub fn parse_notification_configuration(xml: &[u8]) -> Result<NotificationConfiguration, ConfigError> {
    parse_notification_configuration_with(xml, false)
}

/// [`parse_notification_configuration`], where `require_ids` refuses an
/// entry without an `<Id>` (or with an empty one) as `InvalidArgument`
/// instead of naming it `notif-<n>`: Ceph's rule (`--compat ceph`).
pub fn parse_notification_configuration_with(
    xml: &[u8],
    require_ids: bool,
) -> Result<NotificationConfiguration, ConfigError> {
    let root = parse_tree(xml)?;
    if root.name != "NotificationConfiguration" {
        return Err(malformed(format!(
            "root element must be <NotificationConfiguration>, not <{}>",
            root.name
        )));
    }
    // Ids as given (None = to be generated), in document order per kind.
    let mut topics: Vec<(Option<String>, TopicConfiguration)> = Vec::new();
    let mut queues: Vec<(Option<String>, QueueConfiguration)> = Vec::new();
    let configurations = root
        .children
        .iter()
        .filter(|c| c.name.ends_with("Configuration"))
        .count();
    if configurations > MAX_CONFIGURATIONS {
        return Err(invalid(format!(
            "more than {MAX_CONFIGURATIONS} configurations in one document"
        )));
    }
    for child in &root.children {
        match child.name.as_str() {
            "TopicConfiguration" => {
                let e = parse_entry(child, "Topic")?;
                topics.push((
                    e.id,
                    TopicConfiguration {
                        id: String::new(),
                        topic_arn: e.arn,
                        events: e.events,
                        filter: e.filter,
                    },
                ));
            }
            "QueueConfiguration" => {
                let e = parse_entry(child, "Queue")?;
                queues.push((
                    e.id,
                    QueueConfiguration {
                        id: String::new(),
                        queue_arn: e.arn,
                        events: e.events,
                        filter: e.filter,
                    },
                ));
            }
            "CloudFunctionConfiguration" | "LambdaFunctionConfiguration" | "EventBridgeConfiguration" => {
                return Err(invalid(format!("<{}> is not supported", child.name)));
            }
            other => {
                return Err(malformed(format!(
                    "unexpected element <{other}> in <NotificationConfiguration>"
                )));
            }
        }
    }

    let unnamed = topics.iter().map(|(id, _)| id).chain(queues.iter().map(|(id, _)| id));
    if require_ids && unnamed.clone().any(Option::is_none) {
        return Err(invalid("every notification needs a non-empty Id"));
    }
    let mut used: HashSet<String> = HashSet::new();
    let given = topics
        .iter()
        .map(|(id, _)| id)
        .chain(queues.iter().map(|(id, _)| id))
        .flatten();
    for id in given {
        if !used.insert(id.clone()) {
            return Err(invalid(format!("duplicate configuration Id {id:?}")));
        }
    }
    let mut next = 0usize;
    let mut generate = |used: &mut HashSet<String>| loop {
        next += 1;
        let candidate = format!("notif-{next}");
        if used.insert(candidate.clone()) {
            return candidate;
        }
    };
    let topics = topics
        .into_iter()
        .map(|(id, mut t)| {
            t.id = id.unwrap_or_else(|| generate(&mut used));
            t
        })
        .collect();
    let queues = queues
        .into_iter()
        .map(|(id, mut q)| {
            q.id = id.unwrap_or_else(|| generate(&mut used));
            q
        })
        .collect();
    Ok(NotificationConfiguration { topics, queues })
}

/// The parts common to topic and queue entries.
struct Entry {
    id: Option<String>,
    arn: String,
    events: Vec<EventPattern>,
    filter: Filter,
}

fn parse_entry(node: &Node, arn_element: &str) -> Result<Entry, ConfigError> {
    for c in &node.children {
        if !matches!(c.name.as_str(), "Id" | "Event" | "Filter") && c.name != arn_element {
            return Err(malformed(format!("unexpected element <{}> in <{}>", c.name, node.name)));
        }
    }
    let id = node
        .opt_leaf("Id")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let arn = node
        .opt_leaf(arn_element)?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed(format!("<{}> has no <{arn_element}>", node.name)))?
        .to_owned();
    let mut events: Vec<EventPattern> = Vec::new();
    for ev in node.children_named("Event") {
        let p = EventPattern::parse(ev.leaf_text()?.trim())?;
        // A repeated event is harmless; keep the first so output is tidy.
        if !events.contains(&p) {
            events.push(p);
        }
    }
    let mut filters = node.children_named("Filter");
    let filter = match filters.next() {
        Some(f) => parse_filter(f)?,
        None => Filter::default(),
    };
    if filters.next().is_some() {
        return Err(malformed(format!("<Filter> appears more than once in <{}>", node.name)));
    }
    Ok(Entry {
        id,
        arn,
        events,
        filter,
    })
}

fn parse_filter(node: &Node) -> Result<Filter, ConfigError> {
    let mut filter = Filter::default();
    let mut seen: HashSet<&str> = HashSet::new();
    for part in &node.children {
        if !seen.insert(part.name.as_str()) {
            return Err(malformed(format!("<{}> appears more than once in <Filter>", part.name)));
        }
        match part.name.as_str() {
            "S3Key" => parse_key_filter(part, &mut filter)?,
            "S3Metadata" => {
                filter.metadata = parse_pair_rules(part, |name| {
                    let lower = name.to_ascii_lowercase();
                    match lower.strip_prefix("x-amz-meta-") {
                        Some(rest) => rest.to_owned(),
                        None => lower,
                    }
                })?;
            }
            "S3Tags" => filter.tags = parse_pair_rules(part, str::to_owned)?,
            "HeraldObjectSize" => {
                let rules = filter_rules(part)?;
                if rules.is_empty() {
                    return Err(invalid("<HeraldObjectSize> has no rule"));
                }
                for (name, value) in rules {
                    add_size_rule(&mut filter.size, name, value)?;
                }
            }
            "HeraldContentType" => {
                let rules = filter_rules(part)?;
                if rules.is_empty() {
                    return Err(invalid("<HeraldContentType> has no rule"));
                }
                for (name, value) in rules {
                    add_content_type_rule(&mut filter.content_type, name, value)?;
                }
            }
            other => {
                return Err(malformed(format!("unexpected element <{other}> in <Filter>")));
            }
        }
    }
    check_size_range(&filter.size)?;
    Ok(filter)
}

/// Reads the `<FilterRule>`s of a filter part as (name, value) pairs.
fn filter_rules(node: &Node) -> Result<Vec<(&str, &str)>, ConfigError> {
    if node.children.len() > MAX_FILTER_RULES {
        return Err(invalid(format!(
            "more than {MAX_FILTER_RULES} filter rules in <{}>",
            node.name
        )));
    }
    node.children
        .iter()
        .map(|rule| {
            if rule.name != "FilterRule" {
                return Err(malformed(format!(
                    "unexpected element <{}> in <{}>",
                    rule.name, node.name
                )));
            }
            if let Some(c) = rule.children.iter().find(|c| c.name != "Name" && c.name != "Value") {
                return Err(malformed(format!("unexpected element <{}> in <FilterRule>", c.name)));
            }
            let name = rule
                .opt_leaf("Name")?
                .ok_or_else(|| malformed("<FilterRule> has no <Name>"))?
                .trim();
            // Values are kept verbatim: a prefix may legitimately end in a
            // space. A missing <Value> is malformed, an empty one is "".
            let value = rule
                .opt_leaf("Value")?
                .ok_or_else(|| malformed("<FilterRule> has no <Value>"))?;
            Ok((name, value))
        })
        .collect()
}

/// `<S3Key>`'s rules. Besides AWS's and Ceph's key rules it takes Herald's
/// size and content-type rules under [`KEY_FORM_PREFIX`] names: the one
/// place of `<Filter>` the AWS SDKs and CLI can send and read back.
fn parse_key_filter(node: &Node, filter: &mut Filter) -> Result<(), ConfigError> {
    let key = &mut filter.key;
    for (name, value) in filter_rules(node)? {
        // AWS documents lowercase but accepts "Prefix"/"Suffix".
        let lname = name.to_ascii_lowercase();
        if let Some(rule) = lname.strip_prefix(KEY_FORM_PREFIX) {
            filter.in_key_form = true;
            match rule {
                "size-greater-than" => add_size_rule(&mut filter.size, "greater-than", value)?,
                "size-less-than" => add_size_rule(&mut filter.size, "less-than", value)?,
                "content-type" => add_content_type_rule(&mut filter.content_type, "equals", value)?,
                "content-type-prefix" => add_content_type_rule(&mut filter.content_type, "prefix", value)?,
                _ => return Err(invalid(format!("unknown key filter rule name {name:?}"))),
            }
            continue;
        }
        let slot_taken = match lname.as_str() {
            "prefix" => key.prefix.replace(value.to_owned()).is_some(),
            "suffix" => key.suffix.replace(value.to_owned()).is_some(),
            "regex" => key.regex.replace(KeyRegex::new(value)?).is_some(),
            _ => return Err(invalid(format!("unknown key filter rule name {name:?}"))),
        };
        if slot_taken {
            return Err(invalid(format!("duplicate {lname} key filter rule")));
        }
    }
    Ok(())
}

/// One size rule (`greater-than` or `less-than`, each at most once, in
/// bytes).
fn add_size_rule(size: &mut SizeRange, name: &str, value: &str) -> Result<(), ConfigError> {
    let bytes: u64 = value.trim().parse().map_err(|_| {
        invalid(format!(
            "size filter rule {name:?} needs a number of bytes, not {value:?}"
        ))
    })?;
    let lname = name.to_ascii_lowercase();
    let slot_taken = match lname.as_str() {
        "greater-than" => size.greater_than.replace(bytes).is_some(),
        "less-than" => size.less_than.replace(bytes).is_some(),
        _ => {
            return Err(invalid(format!(
                "unknown size filter rule name {name:?} (greater-than, less-than)"
            )));
        }
    };
    if slot_taken {
        return Err(invalid(format!("duplicate {lname} size filter rule")));
    }
    Ok(())
}

/// Both bounds given must leave some size between them.
fn check_size_range(size: &SizeRange) -> Result<(), ConfigError> {
    match (size.greater_than, size.less_than) {
        (Some(g), Some(l)) if l <= g.saturating_add(1) => Err(invalid(format!(
            "size filter greater-than {g} and less-than {l} leave no size"
        ))),
        _ => Ok(()),
    }
}

/// One content-type rule (`equals` or `prefix`) on the media type
/// (lowercased; parameters belong to no rule). Rules add up: any one
/// matching suffices.
fn add_content_type_rule(filter: &mut ContentTypeFilter, name: &str, value: &str) -> Result<(), ConfigError> {
    let v = value.trim().to_ascii_lowercase();
    if v.is_empty() {
        return Err(invalid(format!("empty content type in rule {name:?}")));
    }
    if v.contains(';') {
        return Err(invalid(format!(
            "content type rule {v:?}: compare the media type without parameters"
        )));
    }
    let rule = match name.to_ascii_lowercase().as_str() {
        "equals" => ContentTypeRule::Equals(v),
        "prefix" => ContentTypeRule::Prefix(v),
        _ => {
            return Err(invalid(format!(
                "unknown content type filter rule name {name:?} (equals, prefix)"
            )));
        }
    };
    if !filter.rules.contains(&rule) {
        filter.rules.push(rule);
    }
    Ok(())
}

/// Metadata and tag rules: names normalised by `norm`, each name at most
/// once (two values for one name could never both match).
fn parse_pair_rules(node: &Node, norm: impl Fn(&str) -> String) -> Result<Vec<FilterRule>, ConfigError> {
    let mut out: Vec<FilterRule> = Vec::new();
    for (name, value) in filter_rules(node)? {
        let name = norm(name);
        if name.is_empty() {
            return Err(invalid(format!("empty rule name in <{}>", node.name)));
        }
        if out.iter().any(|r| r.name == name) {
            return Err(invalid(format!("duplicate rule {name:?} in <{}>", node.name)));
        }
        out.push(FilterRule::new(name, value));
    }
    Ok(out)
}
