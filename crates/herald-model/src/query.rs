//! The form-encoded parameters of the query protocol (SQS's older wire
//! format and the SNS topic API), parsed under explicit limits.
//!
//! Every value here comes from a client, authenticated or not, so nothing
//! is trusted: the number of parameters, the length of a name, how many
//! `.`-separated segments it has and the size of a value are all capped
//! before anything is built from them. The SQS fold into the JSON request
//! document ([`sqs_input`]) recurses over the parameter tree, so its depth
//! is bounded by [`MAX_NAME_SEGMENTS`], checked by [`Params::parse`] before
//! a single node exists: a name of 200,000 `a.` segments used to overflow
//! the server's stack.
//!
//! This lives in `herald-model` (no I/O, few dependencies) rather than next
//! to the HTTP handlers so the fuzz targets in `fuzz/` can reach it without
//! compiling the server.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// Most parameters in one request. The largest legitimate request, a
/// `SendMessageBatch` of 10 entries with 10 message attributes each and
/// every optional field, has about 400.
pub const MAX_PARAMS: usize = 1_000;

/// Longest parameter name, in bytes. The longest real one
/// (`SendMessageBatchRequestEntry.10.MessageSystemAttribute.1.Value.StringValue`)
/// is 75.
pub const MAX_NAME_BYTES: usize = 256;

/// Most `.`-separated segments in a name. The deepest real one
/// (`SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringListValue.1`)
/// has 7.
pub const MAX_NAME_SEGMENTS: usize = 10;

/// Largest decoded value, in bytes. Above SQS's 256 KiB message limit so an
/// oversized message still gets the queue engine's own SQS error
/// ("Message must be shorter than 262144 bytes"), not this one.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Most `Attributes.entry.N` pairs in one SNS request (Herald knows about
/// 30 topic attributes; SNS's own topic attributes are fewer).
pub const MAX_TOPIC_ATTRIBUTES: usize = 64;

/// Longest topic attribute key, in bytes.
pub const MAX_TOPIC_ATTRIBUTE_KEY_BYTES: usize = 256;

/// Largest topic attribute value, in bytes: SNS's limit on a topic `Policy`
/// (30 KiB) rounded up; push endpoints and opaque data are far smaller.
pub const MAX_TOPIC_ATTRIBUTE_VALUE_BYTES: usize = 32 * 1024;

/// How much of a client-supplied name an error message repeats.
const ECHO_BYTES: usize = 64;

/// A parameter list that broke a limit. Each message names the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// Structure: too many parameters, a name too long or too deep, a
    /// malformed `Attributes.entry` name. AWS's common error for a query
    /// string that "does not adhere to AWS standards".
    InvalidQueryParameter(String),
    /// A value too large, or a missing member of a pair.
    InvalidParameterValue(String),
}

impl ParamError {
    /// The AWS error code to answer with (HTTP 400 for both).
    pub fn code(&self) -> &'static str {
        match self {
            ParamError::InvalidQueryParameter(_) => "InvalidQueryParameter",
            ParamError::InvalidParameterValue(_) => "InvalidParameterValue",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ParamError::InvalidQueryParameter(m) | ParamError::InvalidParameterValue(m) => m,
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ParamError {}

/// The start of a client-supplied string, cut on a character boundary, so
/// an error can say which parameter without echoing 400 KB back.
fn echo(s: &str) -> String {
    if s.len() <= ECHO_BYTES {
        return s.to_owned();
    }
    let mut end = ECHO_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Query parameters that passed the limits. The only way to get one is
/// [`Params::parse`], so code taking `&Params` never sees unchecked input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes a form-encoded body followed by the URL's query string,
    /// refusing at the first parameter that breaks a limit (the count is
    /// checked before each pair is decoded).
    pub fn parse(body: &[u8], query: Option<&str>) -> Result<Params, ParamError> {
        let mut out = Vec::new();
        let pairs = form_urlencoded::parse(body).chain(form_urlencoded::parse(query.unwrap_or("").as_bytes()));
        for (name, value) in pairs {
            if out.len() == MAX_PARAMS {
                return Err(ParamError::InvalidQueryParameter(format!(
                    "The request has more than {MAX_PARAMS} parameters."
                )));
            }
            check_name(&name)?;
            if value.len() > MAX_VALUE_BYTES {
                return Err(ParamError::InvalidParameterValue(format!(
                    "The value of parameter {} is longer than {MAX_VALUE_BYTES} bytes.",
                    echo(&name)
                )));
            }
            out.push((name.into_owned(), value.into_owned()));
        }
        Ok(Params(out))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn as_slice(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }
}

fn check_name(name: &str) -> Result<(), ParamError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(ParamError::InvalidQueryParameter(format!(
            "The parameter name {} is longer than {MAX_NAME_BYTES} bytes.",
            echo(name)
        )));
    }
    if name.split('.').count() > MAX_NAME_SEGMENTS {
        return Err(ParamError::InvalidQueryParameter(format!(
            "The parameter name {} has more than {MAX_NAME_SEGMENTS} '.'-separated parts.",
            echo(name)
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// SNS: `Attributes.entry.N.key` / `.value` pairs.

/// Folds `Attributes.entry.N.key` / `.value` pairs into a map, under the
/// topic attribute limits. A value without a key is refused; a key without
/// a value means the empty value, as Ceph takes it.
pub fn sns_attributes(params: &[(String, String)]) -> Result<BTreeMap<String, String>, ParamError> {
    let mut entries: BTreeMap<u32, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for (k, v) in params {
        let Some(rest) = k.strip_prefix("Attributes.entry.") else {
            continue;
        };
        let malformed = || ParamError::InvalidQueryParameter(format!("malformed parameter {}", echo(k)));
        let (n, field) = rest.split_once('.').ok_or_else(malformed)?;
        let n: u32 = n.parse().map_err(|_| malformed())?;
        if !entries.contains_key(&n) && entries.len() == MAX_TOPIC_ATTRIBUTES {
            return Err(ParamError::InvalidQueryParameter(format!(
                "A topic has at most {MAX_TOPIC_ATTRIBUTES} attributes."
            )));
        }
        let slot = entries.entry(n).or_default();
        match field {
            "key" => slot.0 = Some(k_checked(v)?),
            "value" => slot.1 = Some(v_checked(v)?),
            _ => return Err(malformed()),
        }
    }
    let mut out = BTreeMap::new();
    for (n, (k, v)) in entries {
        let k = k.ok_or_else(|| ParamError::InvalidParameterValue(format!("Attributes.entry.{n}.key is missing")))?;
        out.insert(k.to_owned(), v.unwrap_or_default().to_owned());
    }
    Ok(out)
}

fn k_checked(key: &str) -> Result<&str, ParamError> {
    if key.len() > MAX_TOPIC_ATTRIBUTE_KEY_BYTES {
        return Err(ParamError::InvalidParameterValue(format!(
            "The attribute name {} is longer than {MAX_TOPIC_ATTRIBUTE_KEY_BYTES} bytes.",
            echo(key)
        )));
    }
    Ok(key)
}

fn v_checked(value: &str) -> Result<&str, ParamError> {
    if value.len() > MAX_TOPIC_ATTRIBUTE_VALUE_BYTES {
        return Err(ParamError::InvalidParameterValue(format!(
            "A topic attribute value is longer than {MAX_TOPIC_ATTRIBUTE_VALUE_BYTES} bytes."
        )));
    }
    Ok(value)
}

// ---------------------------------------------------------------------------
// SQS: flattened parameters -> the JSON-protocol request document.

/// A parameter tree: `a.1.b=x` becomes `a -> 1 -> b -> "x"`. Its depth is
/// at most [`MAX_NAME_SEGMENTS`], which bounds every recursion below.
#[derive(Debug, Default)]
struct Node {
    value: Option<String>,
    children: Vec<(String, Node)>,
}

impl Node {
    /// Walks down (creating nodes as needed) without recursing.
    fn insert(&mut self, path: &[&str], value: String) {
        let mut node = self;
        for head in path {
            let idx = match node.children.iter().position(|(k, _)| k == head) {
                Some(i) => i,
                None => {
                    node.children.push(((*head).to_owned(), Node::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[idx].1;
        }
        node.value = Some(value);
    }

    /// Children in member order (`.1`, `.2`, ... `.10`), as lists and
    /// flattened maps are numbered from 1.
    fn members(&self) -> Vec<&Node> {
        let mut v: Vec<(u64, &Node)> = self
            .children
            .iter()
            .filter_map(|(k, n)| k.parse::<u64>().ok().map(|i| (i, n)))
            .collect();
        v.sort_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, n)| n).collect()
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|(k, _)| k == name).map(|(_, n)| n)
    }
}

/// Flattened map parameters: query name -> (JSON name, key member, value member).
fn map_rule(name: &str, action: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match name {
        "Attribute" => ("Attributes", "Name", "Value"),
        // CreateQueue's tag map is spelled `tags` in the JSON model.
        "Tag" if action == "CreateQueue" => ("tags", "Key", "Value"),
        "Tag" => ("Tags", "Key", "Value"),
        "MessageAttribute" => ("MessageAttributes", "Name", "Value"),
        "MessageSystemAttribute" => ("MessageSystemAttributes", "Name", "Value"),
        _ => return None,
    })
}

/// Flattened list parameters: query member name -> JSON list name.
fn list_rule(name: &str) -> Option<&'static str> {
    Some(match name {
        "AttributeName" => "AttributeNames",
        "MessageSystemAttributeName" => "MessageSystemAttributeNames",
        "MessageAttributeName" => "MessageAttributeNames",
        "TagKey" => "TagKeys",
        // AddPermission.
        "AWSAccountId" => "AWSAccountIds",
        "ActionName" => "Actions",
        "StringListValue" => "StringListValues",
        "BinaryListValue" => "BinaryListValues",
        _ => return None,
    })
}

fn node_value(node: &Node, action: &str) -> Value {
    if node.children.is_empty() {
        Value::String(node.value.clone().unwrap_or_default())
    } else {
        Value::Object(node_struct(node, action))
    }
}

fn node_struct(node: &Node, action: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, child) in &node.children {
        if let Some((json_name, key_member, value_member)) = map_rule(name, action) {
            let mut map = Map::new();
            for entry in child.members() {
                if let Some(key) = entry.child(key_member).and_then(|k| k.value.clone()) {
                    let value = entry
                        .child(value_member)
                        .map(|v| node_value(v, action))
                        .unwrap_or(Value::Null);
                    map.insert(key, value);
                }
            }
            out.insert(json_name.to_owned(), Value::Object(map));
        } else if let Some(json_name) = list_rule(name) {
            let list: Vec<Value> = if child.children.is_empty() {
                // `AttributeName=All` without an index, as some old clients send.
                child.value.iter().cloned().map(Value::String).collect()
            } else {
                child.members().into_iter().map(|n| node_value(n, action)).collect()
            };
            out.insert(json_name.to_owned(), Value::Array(list));
        } else if name.ends_with("BatchRequestEntry") {
            let list = child
                .members()
                .into_iter()
                .map(|n| Value::Object(node_struct(n, action)))
                .collect();
            out.insert("Entries".to_owned(), Value::Array(list));
        } else {
            out.insert(name.clone(), node_value(child, action));
        }
    }
    out
}

/// Folds SQS query parameters into the JSON-protocol request document, so
/// the operations are written once for both protocols. Scalars stay
/// strings; the operations' readers accept numeric strings.
pub fn sqs_input(action: &str, params: &Params) -> Value {
    let mut root = Node::default();
    for (k, v) in params.as_slice() {
        if k == "Action" || k == "Version" || k.starts_with("X-Amz-") || k.is_empty() {
            continue;
        }
        let path: Vec<&str> = k.split('.').collect();
        root.insert(&path, v.clone());
    }
    Value::Object(node_struct(&root, action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(p: &[(&str, &str)]) -> Params {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(p).finish();
        Params::parse(body.as_bytes(), None).unwrap()
    }

    #[test]
    fn flattened_parameters_fold_into_the_json_shape() {
        let input = sqs_input(
            "SendMessageBatch",
            &params(&[
                ("Action", "SendMessageBatch"),
                ("QueueUrl", "http://h/root/q"),
                ("SendMessageBatchRequestEntry.2.Id", "b"),
                ("SendMessageBatchRequestEntry.2.MessageBody", "two"),
                ("SendMessageBatchRequestEntry.10.Id", "c"),
                ("SendMessageBatchRequestEntry.10.MessageBody", "ten"),
                ("SendMessageBatchRequestEntry.1.Id", "a"),
                ("SendMessageBatchRequestEntry.1.MessageBody", "one"),
                ("SendMessageBatchRequestEntry.1.DelaySeconds", "5"),
                ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "k"),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
                    "String",
                ),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue",
                    "v",
                ),
            ]),
        );
        assert_eq!(
            input,
            json!({
                "QueueUrl": "http://h/root/q",
                "Entries": [
                    {"Id": "a", "MessageBody": "one", "DelaySeconds": "5",
                     "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
                    {"Id": "b", "MessageBody": "two"},
                    {"Id": "c", "MessageBody": "ten"},
                ]
            })
        );
        let input = sqs_input(
            "CreateQueue",
            &params(&[
                ("QueueName", "q"),
                ("Attribute.1.Name", "VisibilityTimeout"),
                ("Attribute.1.Value", "40"),
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", "ops"),
            ]),
        );
        assert_eq!(
            input,
            json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "40"}, "tags": {"team": "ops"}})
        );
        let input = sqs_input(
            "ReceiveMessage",
            &params(&[
                ("AttributeName.1", "All"),
                ("MessageAttributeName.2", "b"),
                ("MessageAttributeName.1", "a"),
            ]),
        );
        assert_eq!(
            input,
            json!({"AttributeNames": ["All"], "MessageAttributeNames": ["a", "b"]})
        );
        let input = sqs_input(
            "AddPermission",
            &params(&[
                ("Label", "l"),
                ("AWSAccountId.2", "carol"),
                ("AWSAccountId.1", "bob"),
                ("ActionName.1", "SendMessage"),
            ]),
        );
        assert_eq!(
            input,
            json!({"Label": "l", "AWSAccountIds": ["bob", "carol"], "Actions": ["SendMessage"]})
        );
    }

    /// The reproduction of the stack overflow: 200,000 `a.` segments.
    #[test]
    fn a_name_of_200000_segments_is_refused_before_any_tree_is_built() {
        let body = format!("Action=ListQueues&{}=1", "a.".repeat(200_000));
        let err = Params::parse(body.as_bytes(), None).unwrap_err();
        assert_eq!(err.code(), "InvalidQueryParameter");
        assert!(err.message().contains("256 bytes"), "{err}");
        assert!(err.message().len() < 200, "the name is not echoed whole: {err}");
        // Short segments under the byte limit still hit the depth limit.
        let body = format!("{}=1", ["a"; 11].join("."));
        let err = Params::parse(body.as_bytes(), None).unwrap_err();
        assert!(err.message().contains("10 '.'-separated parts"), "{err}");
        let body = format!("{}=1", ["a"; 10].join("."));
        assert!(Params::parse(body.as_bytes(), None).is_ok());
    }

    #[test]
    fn parameter_count_and_value_size_are_capped() {
        let body = "a=1&".repeat(MAX_PARAMS);
        assert!(Params::parse(body.as_bytes(), None).is_ok());
        let err = Params::parse(format!("{body}b=2").as_bytes(), None).unwrap_err();
        assert!(err.message().contains("more than 1000 parameters"), "{err}");
        // The query string counts too.
        let err = Params::parse(body.as_bytes(), Some("b=2")).unwrap_err();
        assert_eq!(err.code(), "InvalidQueryParameter");
        let big = format!("MessageBody={}", "x".repeat(MAX_VALUE_BYTES + 1));
        let err = Params::parse(big.as_bytes(), None).unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
        assert!(err.message().contains("MessageBody"), "{err}");
    }

    #[test]
    fn error_echo_cuts_on_a_character_boundary() {
        let name = "é".repeat(200);
        let e = echo(&name);
        assert!(e.len() <= ECHO_BYTES + 3 && e.ends_with("..."), "{e}");
    }

    #[test]
    fn sns_attribute_entries_fold_under_limits() {
        let p = params(&[
            ("Attributes.entry.2.key", "persistent"),
            ("Attributes.entry.2.value", "true"),
            ("Attributes.entry.1.key", "push-endpoint"),
            ("Attributes.entry.1.value", "http://h/"),
            ("Attributes.entry.3.key", "OpaqueData"),
        ]);
        let attrs = sns_attributes(p.as_slice()).unwrap();
        assert_eq!(attrs["persistent"], "true");
        assert_eq!(attrs["push-endpoint"], "http://h/");
        assert_eq!(attrs["OpaqueData"], "");

        let many: Vec<(String, String)> = (1..=MAX_TOPIC_ATTRIBUTES + 1)
            .map(|n| (format!("Attributes.entry.{n}.key"), format!("k{n}")))
            .collect();
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&many)
            .finish();
        let err = sns_attributes(Params::parse(body.as_bytes(), None).unwrap().as_slice()).unwrap_err();
        assert!(err.message().contains("at most 64 attributes"), "{err}");

        let big = "v".repeat(MAX_TOPIC_ATTRIBUTE_VALUE_BYTES + 1);
        let p = params(&[
            ("Attributes.entry.1.key", "OpaqueData"),
            ("Attributes.entry.1.value", &big),
        ]);
        assert_eq!(
            sns_attributes(p.as_slice()).unwrap_err().code(),
            "InvalidParameterValue"
        );
        let long_key = "k".repeat(MAX_TOPIC_ATTRIBUTE_KEY_BYTES + 1);
        let p = params(&[("Attributes.entry.1.key", &long_key)]);
        assert!(
            sns_attributes(p.as_slice())
                .unwrap_err()
                .message()
                .contains("256 bytes")
        );

        for bad in [
            "Attributes.entry.x.key",
            "Attributes.entry.1",
            "Attributes.entry.1.other",
        ] {
            let p = params(&[(bad, "v")]);
            assert_eq!(
                sns_attributes(p.as_slice()).unwrap_err().code(),
                "InvalidQueryParameter",
                "{bad}"
            );
        }
        let p = params(&[("Attributes.entry.1.value", "v")]);
        assert!(
            sns_attributes(p.as_slice())
                .unwrap_err()
                .message()
                .contains("key is missing")
        );
    }
}
