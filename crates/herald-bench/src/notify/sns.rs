//! Request bodies for the topic (SNS query API) and bucket-notification
//! (topic or queue destination) calls, kept as pure functions so their
//! encoding is unit-tested.

use crate::encode;

/// The SNS API version every query-API request names.
const SNS_VERSION: &str = "2010-03-31";

/// A form-encoded query-API body: `Action=..&Version=2010-03-31&k=v...`.
/// Every byte outside `A-Za-z0-9-_.~` is `%XX`-escaped (valid
/// `application/x-www-form-urlencoded`, and unambiguous for `+`).
pub fn form_body(action: &str, params: &[(&str, &str)]) -> String {
    let mut out = format!("Action={}&Version={SNS_VERSION}", encode::component(action));
    for (k, v) in params {
        out.push('&');
        out.push_str(&encode::component(k));
        out.push('=');
        out.push_str(&encode::component(v));
    }
    out
}

/// `CreateTopic` with `attributes` (e.g. `push-endpoint`) followed by
/// `persistent`, as `Attributes.entry.N.key/value` pairs.
pub fn create_topic_body(name: &str, attributes: &[(String, String)], persistent: bool) -> String {
    let mut entries: Vec<(&str, &str)> = attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    entries.push(("persistent", if persistent { "true" } else { "false" }));
    let names: Vec<(String, String)> = (1..=entries.len())
        .map(|i| {
            (
                format!("Attributes.entry.{i}.key"),
                format!("Attributes.entry.{i}.value"),
            )
        })
        .collect();
    let mut params = vec![("Name", name)];
    for ((key_name, value_name), (k, v)) in names.iter().zip(&entries) {
        params.push((key_name, k));
        params.push((value_name, v));
    }
    form_body("CreateTopic", &params)
}

pub fn set_topic_attribute_body(arn: &str, name: &str, value: &str) -> String {
    form_body(
        "SetTopicAttributes",
        &[("TopicArn", arn), ("AttributeName", name), ("AttributeValue", value)],
    )
}

pub fn delete_topic_body(arn: &str) -> String {
    form_body("DeleteTopic", &[("TopicArn", arn)])
}

/// Where a bucket notification sends its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// An SNS-style topic, by ARN (`<TopicConfiguration>`).
    Topic(&'a str),
    /// An SQS queue, by ARN (`<QueueConfiguration>`).
    Queue(&'a str),
}

/// A bucket notification configuration sending every `ObjectCreated` event
/// to `destination`; an empty configuration when it is `None`.
pub fn notification_configuration(destination: Option<Destination>) -> String {
    const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
    let (element, field, arn) = match destination {
        Some(Destination::Topic(arn)) => ("TopicConfiguration", "Topic", arn),
        Some(Destination::Queue(arn)) => ("QueueConfiguration", "Queue", arn),
        None => return format!("<NotificationConfiguration xmlns=\"{NS}\"/>"),
    };
    format!(
        "<NotificationConfiguration xmlns=\"{NS}\"><{element}><Id>bench</Id>\
         <{field}>{}</{field}><Event>s3:ObjectCreated:*</Event></{element}>\
         </NotificationConfiguration>",
        xml_escape(arn)
    )
}

/// The text of the first `<tag>...</tag>` in `xml`, unescaped. Enough for
/// the flat answers of the SNS API (`TopicArn`, error `Code`/`Message`).
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(xml_unescape(xml[start..end].trim()))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_topic_body_encoding() {
        let attrs = vec![("push-endpoint".to_owned(), "http://127.0.0.1:41234/events".to_owned())];
        assert_eq!(
            create_topic_body("herald-bench-notify-topic", &attrs, true),
            "Action=CreateTopic&Version=2010-03-31&Name=herald-bench-notify-topic\
             &Attributes.entry.1.key=push-endpoint\
             &Attributes.entry.1.value=http%3A%2F%2F127.0.0.1%3A41234%2Fevents\
             &Attributes.entry.2.key=persistent&Attributes.entry.2.value=true"
        );
        assert!(create_topic_body("t", &attrs, false).ends_with("Attributes.entry.2.value=false"));
        // Reserved characters, spaces and `+` are all %-escaped, so a form
        // decoder cannot turn `+` into a space.
        assert_eq!(
            form_body("X", &[("a b", "c+d&e=f/é")]),
            "Action=X&Version=2010-03-31&a%20b=c%2Bd%26e%3Df%2F%C3%A9"
        );
        assert_eq!(
            delete_topic_body("arn:aws:sns:us-east-1::t"),
            "Action=DeleteTopic&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A%3At"
        );
    }

    #[test]
    fn notification_xml() {
        let xml = notification_configuration(Some(Destination::Topic("arn:aws:sns:us-east-1::a&b")));
        assert!(xml.contains("<Topic>arn:aws:sns:us-east-1::a&amp;b</Topic>"), "{xml}");
        assert!(xml.contains("<Event>s3:ObjectCreated:*</Event>"), "{xml}");
        assert!(xml.contains("<Id>bench</Id>"), "{xml}");
        assert!(!notification_configuration(None).contains("Topic"));
        assert!(!notification_configuration(None).contains("Queue"));

        let xml = notification_configuration(Some(Destination::Queue("arn:aws:sqs:us-east-1:root:q<1>")));
        assert_eq!(
            xml,
            "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <QueueConfiguration><Id>bench</Id><Queue>arn:aws:sqs:us-east-1:root:q&lt;1&gt;</Queue>\
             <Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>"
        );
    }

    #[test]
    fn extracts_topic_arn() {
        let xml = "<CreateTopicResponse xmlns=\"https://sns.amazonaws.com/doc/2010-03-31/\">\
                   <CreateTopicResult><TopicArn>arn:aws:sns:us-east-1::t&amp;1</TopicArn>\
                   </CreateTopicResult></CreateTopicResponse>";
        assert_eq!(xml_text(xml, "TopicArn").as_deref(), Some("arn:aws:sns:us-east-1::t&1"));
        assert_eq!(xml_text(xml, "Code"), None);
    }
}
