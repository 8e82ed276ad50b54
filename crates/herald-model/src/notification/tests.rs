//! Unit tests of the whole module: most go through the public parse,
//! match, render and JSON functions together (a parsed document is what
//! the matching and rendering tests start from), so they stay in one file.

use super::*;
use crate::event::{EventPattern, EventType};

const WIRE_PUT: &str = r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TopicConfiguration><Id>wire-notif</Id><Topic>arn:aws:sns:default::wire-topic</Topic><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>img/</Value></FilterRule><FilterRule><Name>suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter></TopicConfiguration></NotificationConfiguration>"#;
const WIRE_GET: &str = r#"<NotificationConfiguration><TopicConfiguration><Id>wire-notif</Id><Topic>arn:aws:sns:default::wire-topic</Topic><Filter><S3Key><FilterRule><Name>prefix</Name><Value>img/</Value></FilterRule><FilterRule><Name>suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter><Event>s3:ObjectCreated:*</Event></TopicConfiguration></NotificationConfiguration>"#;

fn parse(s: &str) -> Result<NotificationConfiguration, ConfigError> {
    parse_notification_configuration(s.as_bytes())
}

fn is_malformed(r: Result<NotificationConfiguration, ConfigError>) -> bool {
    matches!(r, Err(ConfigError::MalformedXml(_)))
}

fn is_invalid(r: Result<NotificationConfiguration, ConfigError>) -> bool {
    matches!(r, Err(ConfigError::InvalidArgument(_)))
}

fn topic_xml(inner: &str) -> String {
    format!(
        "<NotificationConfiguration><TopicConfiguration><Id>t</Id><Topic>arn:aws:sns:default::t</Topic>{inner}</TopicConfiguration></NotificationConfiguration>"
    )
}

#[test]
fn parses_the_wire_capture() {
    let cfg = parse(WIRE_PUT).unwrap();
    assert_eq!(cfg.queues, vec![]);
    assert_eq!(cfg.topics.len(), 1);
    let t = &cfg.topics[0];
    assert_eq!(t.id, "wire-notif");
    assert_eq!(t.topic_arn, "arn:aws:sns:default::wire-topic");
    assert_eq!(t.events, vec![EventPattern::parse("s3:ObjectCreated:*").unwrap()]);
    assert_eq!(t.filter.key.prefix.as_deref(), Some("img/"));
    assert_eq!(t.filter.key.suffix.as_deref(), Some(".jpg"));
    assert!(t.filter.key.regex.is_none());
}

#[test]
fn renders_like_ceph_plus_xmlns() {
    let cfg = parse(WIRE_PUT).unwrap();
    let out = render_notification_configuration(&cfg);
    let expected = WIRE_GET.replacen(
        "<NotificationConfiguration>",
        &format!("<NotificationConfiguration xmlns=\"{S3_XMLNS}\">"),
        1,
    );
    assert_eq!(out, expected);
    // Ceph's own output (no xmlns) parses to the same thing.
    assert_eq!(parse(WIRE_GET).unwrap(), cfg);
}

#[test]
fn empty_configuration_parses_as_remove_all() {
    for doc in [
        r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/" />"#,
        "<NotificationConfiguration></NotificationConfiguration>",
    ] {
        assert!(parse(doc).unwrap().is_empty(), "{doc}");
    }
}

#[test]
fn merging_by_id_replaces_in_place_and_appends() {
    let entry =
        |id: &str, arn: &str| format!("<TopicConfiguration><Id>{id}</Id><Topic>{arn}</Topic></TopicConfiguration>");
    let doc = |entries: &[String]| {
        format!(
            "<NotificationConfiguration>{}</NotificationConfiguration>",
            entries.concat()
        )
    };
    let current = parse(&doc(&[
        entry("a", "arn:aws:sns:r::t1"),
        entry("b", "arn:aws:sns:r::t1"),
    ]))
    .unwrap();
    let new = parse(&doc(&[
        entry("b", "arn:aws:sns:r::t2"),
        entry("c", "arn:aws:sns:r::t3"),
    ]))
    .unwrap();
    let merged = current.merged_by_id(new);
    let got: Vec<(&str, &str)> = merged
        .topics
        .iter()
        .map(|t| (t.id.as_str(), t.topic_arn.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", "arn:aws:sns:r::t1"),
            ("b", "arn:aws:sns:r::t2"),
            ("c", "arn:aws:sns:r::t3")
        ]
    );
    assert_eq!(merged.duplicate_id(), None);
    // A queue entry named like a topic entry: merged, the Id is no longer unique.
    let queue = parse(
        "<NotificationConfiguration><QueueConfiguration><Id>a</Id><Queue>arn:aws:sqs:r:1:q</Queue></QueueConfiguration></NotificationConfiguration>",
    )
    .unwrap();
    assert_eq!(merged.merged_by_id(queue).duplicate_id(), Some("a"));
}

#[test]
fn not_xml_or_wrong_root_is_malformed() {
    for bad in [
        "",
        "not xml",
        "<NotificationConfiguration>",
        "<NotificationConfiguration><TopicConfiguration></NotificationConfiguration>",
        "<Foo/>",
        "<NotificationConfiguration/><NotificationConfiguration/>",
        "<!DOCTYPE x [<!ENTITY a 'b'>]><NotificationConfiguration/>",
        "<NotificationConfiguration><TopicConfiguration><Id>&bogus;</Id></TopicConfiguration></NotificationConfiguration>",
        "junk<NotificationConfiguration/>",
    ] {
        assert!(is_malformed(parse(bad)), "{bad:?}");
    }
    assert!(is_malformed(parse_notification_configuration(b"\xff\xfe<a/>")));
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let deep = "<a>".repeat(100_000) + &"</a>".repeat(100_000);
    let xml = format!("<NotificationConfiguration>{deep}</NotificationConfiguration>");
    assert!(is_malformed(parse(&xml)));
}

#[test]
fn element_text_configuration_and_rule_counts_are_capped() {
    let many = "<a/>".repeat(MAX_XML_ELEMENTS);
    let xml = format!("<NotificationConfiguration>{many}</NotificationConfiguration>");
    let e = parse(&xml).unwrap_err();
    assert!(e.to_string().contains("more than 10000 elements"), "{e}");

    let long = "x".repeat(MAX_XML_TEXT_BYTES + 1);
    let e = parse(&topic_xml(&format!("<Id>{long}</Id>"))).unwrap_err();
    assert!(e.to_string().contains("longer than 4096 bytes"), "{e}");
    // Entity references count too.
    let refs = "&amp;".repeat(MAX_XML_TEXT_BYTES + 1);
    assert!(is_malformed(parse(&topic_xml(&format!("<Id>{refs}</Id>")))));

    let one = "<TopicConfiguration><Topic>arn:aws:sns:us-east-1:u:t</Topic></TopicConfiguration>";
    let xml = format!(
        "<NotificationConfiguration>{}</NotificationConfiguration>",
        one.repeat(MAX_CONFIGURATIONS + 1)
    );
    let e = parse(&xml).unwrap_err();
    assert_eq!(e.code(), "InvalidArgument");
    assert!(e.to_string().contains("more than 1000 configurations"), "{e}");

    let rules: String = (0..=MAX_FILTER_RULES)
        .map(|i| format!("<FilterRule><Name>k{i}</Name><Value>v</Value></FilterRule>"))
        .collect();
    let e = parse(&topic_xml(&format!("<Filter><S3Tags>{rules}</S3Tags></Filter>"))).unwrap_err();
    assert!(e.to_string().contains("more than 10 filter rules in <S3Tags>"), "{e}");
}

#[test]
fn missing_arn_is_malformed() {
    assert!(is_malformed(parse(
        "<NotificationConfiguration><TopicConfiguration><Id>x</Id></TopicConfiguration></NotificationConfiguration>"
    )));
    assert!(is_malformed(parse(
        "<NotificationConfiguration><TopicConfiguration><Topic> </Topic></TopicConfiguration></NotificationConfiguration>"
    )));
    assert!(is_malformed(parse(
        "<NotificationConfiguration><QueueConfiguration><Id>x</Id><Topic>arn</Topic></QueueConfiguration></NotificationConfiguration>"
    )));
}

#[test]
fn unknown_event_is_invalid_argument() {
    // The capture: s3:NoSuchEvent -> 400 InvalidArgument.
    let r = parse(&topic_xml("<Event>s3:NoSuchEvent</Event>"));
    assert!(is_invalid(r.clone()));
    assert_eq!(r.unwrap_err().code(), "InvalidArgument");
}

#[test]
fn cloud_function_is_not_supported() {
    let r = parse(
        "<NotificationConfiguration><CloudFunctionConfiguration><Id>x</Id><CloudFunction>arn:aws:lambda:x</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration></NotificationConfiguration>",
    );
    let e = r.unwrap_err();
    assert_eq!(e.code(), "InvalidArgument");
    assert!(e.to_string().contains("not supported"), "{e}");
}

#[test]
fn no_event_means_all_events() {
    let cfg = parse(&topic_xml("")).unwrap();
    let t = &cfg.topics[0];
    assert!(t.events.is_empty());
    for e in EventType::ALL {
        assert_eq!(t.wants(e, &ObjectFacts::key("any")), !e.explicit_only(), "{e}");
    }
}

#[test]
fn reads_only_when_named() {
    let reads = parse(&topic_xml("<Event>s3:ObjectAccessed:*</Event>")).unwrap();
    let get = parse(&topic_xml("<Event>s3:ObjectAccessed:Get</Event>")).unwrap();
    let created = parse(&topic_xml("<Event>s3:ObjectCreated:*</Event>")).unwrap();
    for (cfg, ev, want) in [
        (&reads, EventType::ObjectAccessedGet, true),
        (&reads, EventType::ObjectAccessedHead, true),
        (&reads, EventType::ObjectCreatedPut, false),
        (&get, EventType::ObjectAccessedGet, true),
        (&get, EventType::ObjectAccessedHead, false),
        (&created, EventType::ObjectAccessedGet, false),
    ] {
        assert_eq!(cfg.topics[0].wants(ev, &ObjectFacts::key("k")), want, "{ev}");
    }
}

#[test]
fn events_without_prefix_and_duplicates() {
    let cfg = parse(&topic_xml(
        "<Event>ObjectRemoved:Delete</Event><Event>s3:ObjectRemoved:Delete</Event><Event> s3:ObjectTagging:* </Event>",
    ))
    .unwrap();
    let names: Vec<_> = cfg.topics[0].events.iter().map(|e| e.as_str()).collect();
    assert_eq!(names, ["s3:ObjectRemoved:Delete", "s3:ObjectTagging:*"]);
}

#[test]
fn generated_ids_are_unique() {
    let xml = "<NotificationConfiguration>\
        <TopicConfiguration><Topic>a</Topic></TopicConfiguration>\
        <TopicConfiguration><Id>notif-2</Id><Topic>b</Topic></TopicConfiguration>\
        <QueueConfiguration><Queue>c</Queue></QueueConfiguration>\
        <TopicConfiguration><Id></Id><Topic>d</Topic></TopicConfiguration>\
        </NotificationConfiguration>";
    let cfg = parse(xml).unwrap();
    let topic_ids: Vec<_> = cfg.topics.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(topic_ids, ["notif-1", "notif-2", "notif-3"]);
    assert_eq!(cfg.queues[0].id, "notif-4");
    // Deterministic.
    assert_eq!(parse(xml).unwrap(), cfg);
}

#[test]
fn duplicate_ids_are_invalid() {
    let xml = "<NotificationConfiguration>\
        <TopicConfiguration><Id>same</Id><Topic>a</Topic></TopicConfiguration>\
        <QueueConfiguration><Id>same</Id><Queue>b</Queue></QueueConfiguration>\
        </NotificationConfiguration>";
    assert!(is_invalid(parse(xml)));
}

#[test]
fn key_filter_rules() {
    let cfg = parse(&topic_xml(
        "<Filter><S3Key><FilterRule><Name>Prefix</Name><Value>img/</Value></FilterRule><FilterRule><Name>SUFFIX</Name><Value>.jpg</Value></FilterRule><FilterRule><Name>regex</Name><Value>img/[a-z]+\\.jpg</Value></FilterRule></S3Key></Filter>",
    ))
    .unwrap();
    let k = &cfg.topics[0].filter.key;
    assert_eq!(k.prefix.as_deref(), Some("img/"));
    assert_eq!(k.suffix.as_deref(), Some(".jpg"));
    assert_eq!(k.regex.as_ref().unwrap().as_str(), "img/[a-z]+\\.jpg");
    assert!(k.matches("img/cat.jpg"));
    assert!(!k.matches("img/Cat.jpg"), "regex must hold too");
    assert!(!k.matches("img/cat.png"), "suffix must hold");
    assert!(!k.matches("doc/img/cat.jpg"), "prefix must hold");
}

#[test]
fn regex_matches_the_whole_key() {
    let r = KeyRegex::new("[0-9]+").unwrap();
    assert!(r.is_match("123"));
    assert!(!r.is_match("a123"));
    assert!(!r.is_match("123a"));
    // Alternation stays inside the anchors.
    let r = KeyRegex::new("a|b").unwrap();
    assert!(r.is_match("a") && r.is_match("b"));
    assert!(!r.is_match("ab"));
}

#[test]
fn bad_key_rules_are_invalid() {
    let rule = |n: &str, v: &str| format!("<FilterRule><Name>{n}</Name><Value>{v}</Value></FilterRule>");
    let key = |rules: String| topic_xml(&format!("<Filter><S3Key>{rules}</S3Key></Filter>"));
    assert!(is_invalid(parse(&key(rule("regex", "a(")))));
    assert!(is_invalid(parse(&key(rule("regex", &"a".repeat(MAX_REGEX_LEN + 1))))));
    assert!(is_invalid(parse(&key(rule("prefix", "a") + &rule("Prefix", "b")))));
    assert!(is_invalid(parse(&key(rule("suffix", "a") + &rule("suffix", "a")))));
    assert!(is_invalid(parse(&key(rule("regex", "a") + &rule("regex", "b")))));
    assert!(is_invalid(parse(&key(rule("contains", "a")))));
    // Structure errors are malformed.
    assert!(is_malformed(parse(&key(
        "<FilterRule><Value>a</Value></FilterRule>".into()
    ))));
    assert!(is_malformed(parse(&key(
        "<FilterRule><Name>prefix</Name></FilterRule>".into()
    ))));
    assert!(is_malformed(parse(&key("<Rule/>".into()))));
}

#[test]
fn metadata_and_tag_rules() {
    let cfg = parse(&topic_xml(
        "<Filter><S3Metadata><FilterRule><Name>x-amz-meta-Color</Name><Value>red</Value></FilterRule><FilterRule><Name>size</Name><Value>L</Value></FilterRule></S3Metadata><S3Tags><FilterRule><Name>team</Name><Value>ops</Value></FilterRule></S3Tags></Filter>",
    ))
    .unwrap();
    let f = &cfg.topics[0].filter;
    assert_eq!(
        f.metadata,
        vec![FilterRule::new("color", "red"), FilterRule::new("size", "L")]
    );
    assert_eq!(f.tags, vec![FilterRule::new("team", "ops")]);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    let md = pairs(&[("color", "red"), ("size", "L"), ("other", "x")]);
    let tags = pairs(&[("team", "ops")]);
    let facts = |metadata: &'_ [(String, String)], tags: &'_ [(String, String)]| -> bool {
        f.matches(&ObjectFacts {
            key: "k",
            metadata,
            tags,
            content_type: None,
        })
    };
    assert!(facts(&md, &tags));
    assert!(!facts(&md, &[]), "tag missing");
    assert!(!facts(&pairs(&[("color", "red")]), &tags), "one metadata rule missing");
    assert!(
        !facts(&pairs(&[("color", "Red"), ("size", "L")]), &tags),
        "values exact"
    );
    assert!(!facts(&md, &pairs(&[("Team", "ops")])), "tag names exact");
}

#[test]
fn duplicate_metadata_rules_are_invalid() {
    let xml = topic_xml(
        "<Filter><S3Metadata><FilterRule><Name>x-amz-meta-a</Name><Value>1</Value></FilterRule><FilterRule><Name>A</Name><Value>2</Value></FilterRule></S3Metadata></Filter>",
    );
    assert!(is_invalid(parse(&xml)));
    let xml = topic_xml(
        "<Filter><S3Metadata><FilterRule><Name>x-amz-meta-</Name><Value>1</Value></FilterRule></S3Metadata></Filter>",
    );
    assert!(is_invalid(parse(&xml)));
}

#[test]
fn unexpected_elements_are_malformed() {
    assert!(is_malformed(parse(&topic_xml("<Bogus/>"))));
    assert!(is_malformed(parse(&topic_xml("<Id>again</Id>"))));
    assert!(is_malformed(parse(&topic_xml("<Filter/><Filter/>"))));
    assert!(is_malformed(parse(&topic_xml("<Filter><S3Key/><S3Key/></Filter>"))));
    assert!(is_malformed(parse(&topic_xml("<Filter><S3Prefix/></Filter>"))));
    assert!(is_malformed(parse(&topic_xml("<Event><x/></Event>"))));
    assert!(is_malformed(parse(
        "<NotificationConfiguration><Other/></NotificationConfiguration>"
    )));
}

#[test]
fn wants_combines_events_and_filter() {
    let cfg = parse(&topic_xml(
        "<Event>s3:ObjectCreated:Put</Event><Event>s3:ObjectRemoved:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>logs/</Value></FilterRule></S3Key></Filter>",
    ))
    .unwrap();
    let t = &cfg.topics[0];
    assert!(t.wants(EventType::ObjectCreatedPut, &ObjectFacts::key("logs/a")));
    assert!(t.wants(EventType::ObjectRemovedDeleteMarkerCreated, &ObjectFacts::key("logs/a")));
    assert!(!t.wants(EventType::ObjectCreatedCopy, &ObjectFacts::key("logs/a")));
    assert!(!t.wants(EventType::ObjectCreatedPut, &ObjectFacts::key("img/a")));
}

#[test]
fn matching_lists_topics_then_queues() {
    let cfg = parse(
        "<NotificationConfiguration>\
         <QueueConfiguration><Id>q</Id><Queue>arn:aws:sqs:r:1:q</Queue></QueueConfiguration>\
         <TopicConfiguration><Id>t1</Id><Topic>arn:t1</Topic><Event>s3:ObjectRemoved:*</Event></TopicConfiguration>\
         <TopicConfiguration><Id>t2</Id><Topic>arn:t2</Topic></TopicConfiguration>\
         </NotificationConfiguration>",
    )
    .unwrap();
    let m = cfg.matching(EventType::ObjectCreatedPut, &ObjectFacts::key("k"));
    assert_eq!(
        m,
        vec![
            MatchedTarget {
                kind: TargetKind::Topic,
                id: "t2",
                arn: "arn:t2",
                event: EventType::ObjectCreatedPut,
                size: SizeRange::default(),
            },
            MatchedTarget {
                kind: TargetKind::Queue,
                id: "q",
                arn: "arn:aws:sqs:r:1:q",
                event: EventType::ObjectCreatedPut,
                size: SizeRange::default(),
            },
        ]
    );
    assert!(!cfg.is_empty());
    assert!(NotificationConfiguration::default().is_empty());
}

fn rich_config() -> NotificationConfiguration {
    parse(
        r#"<?xml version="1.0" encoding="UTF-8"?>
            <!-- pretty-printed, with escapes -->
            <NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <TopicConfiguration>
                <Id>a&amp;b &lt;1&gt;</Id>
                <Topic>arn:aws:sns:default::t&#x31;</Topic>
                <Event>s3:ObjectCreated:*</Event>
                <Event>s3:ObjectTagging:Put</Event>
                <Filter>
                  <S3Key>
                    <FilterRule><Name>regex</Name><Value>(a|b)&amp;"c'.*</Value></FilterRule>
                    <FilterRule><Name>suffix</Name><Value><![CDATA[<x>]]></Value></FilterRule>
                    <FilterRule><Name>prefix</Name><Value> sp </Value></FilterRule>
                  </S3Key>
                  <S3Tags><FilterRule><Name>t&amp;</Name><Value>v"</Value></FilterRule></S3Tags>
                  <S3Metadata><FilterRule><Name>color</Name><Value>red</Value></FilterRule></S3Metadata>
                </Filter>
              </TopicConfiguration>
              <QueueConfiguration>
                <Queue>arn:aws:sqs:us-east-1:123:q</Queue>
                <Event>s3:ObjectRemoved:DeleteMarkerCreated</Event>
                <Filter><S3Key><FilterRule><Name>prefix</Name><Value></Value></FilterRule></S3Key></Filter>
              </QueueConfiguration>
              <QueueConfiguration><Id>plain</Id><Queue>arn:q2</Queue></QueueConfiguration>
            </NotificationConfiguration>"#,
    )
    .unwrap()
}

#[test]
fn escapes_and_whitespace() {
    let cfg = rich_config();
    let t = &cfg.topics[0];
    assert_eq!(t.id, "a&b <1>");
    assert_eq!(t.topic_arn, "arn:aws:sns:default::t1");
    assert_eq!(t.filter.key.regex.as_ref().unwrap().as_str(), "(a|b)&\"c'.*");
    assert_eq!(t.filter.key.suffix.as_deref(), Some("<x>"));
    assert_eq!(t.filter.key.prefix.as_deref(), Some(" sp "), "values are verbatim");
    assert_eq!(t.filter.tags, vec![FilterRule::new("t&", "v\"")]);
    assert_eq!(cfg.queues[0].id, "notif-1");
    assert_eq!(cfg.queues[0].filter.key.prefix.as_deref(), Some(""));
}

#[test]
fn round_trip_xml() {
    let cfg = rich_config();
    let xml = render_notification_configuration(&cfg);
    assert_eq!(parse(&xml).unwrap(), cfg, "{xml}");
    // Rendering is stable and ordered prefix, suffix, regex.
    assert_eq!(render_notification_configuration(&parse(&xml).unwrap()), xml);
    assert!(xml.contains(
        "<S3Key><FilterRule><Name>prefix</Name><Value> sp </Value></FilterRule><FilterRule><Name>suffix</Name><Value>&lt;x&gt;</Value></FilterRule><FilterRule><Name>regex</Name>"
    ), "{xml}");
    assert!(
        xml.contains(
            "<S3Metadata><FilterRule><Name>x-amz-meta-color</Name><Value>red</Value></FilterRule></S3Metadata><S3Tags>"
        ),
        "{xml}"
    );
    // No Filter element when there is none.
    assert!(
        xml.contains("<QueueConfiguration><Id>plain</Id><Queue>arn:q2</Queue></QueueConfiguration>"),
        "{xml}"
    );
}

#[test]
fn round_trip_json() {
    let cfg = rich_config();
    let bytes = serialize_json(&cfg);
    let back = deserialize_json(&bytes).unwrap();
    assert_eq!(back, cfg);
    // The regex is usable after loading, not just equal.
    let r = back.topics[0].filter.key.regex.as_ref().unwrap();
    assert!(r.is_match("a&\"c'zzz"));
    // Stored as source strings.
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["topics"][0]["filter"]["key"]["regex"], "(a|b)&\"c'.*");
    assert_eq!(v["topics"][0]["events"][0], "s3:ObjectCreated:*");
    // A corrupt regex in the store is an error, not a panic.
    let bad = String::from_utf8(bytes).unwrap().replace("(a|b)", "(a|b");
    assert!(deserialize_json(bad.as_bytes()).is_err());
}

#[test]
fn error_codes() {
    assert_eq!(ConfigError::MalformedXml(String::new()).code(), "MalformedXML");
    assert_eq!(ConfigError::InvalidArgument(String::new()).code(), "InvalidArgument");
}

#[test]
fn a_lifecycle_event_reaches_entries_by_either_name_once() {
    let cfg = parse(
        "<NotificationConfiguration>\
         <TopicConfiguration><Id>ceph</Id><Topic>arn:t</Topic><Event>s3:ObjectLifecycle:Expiration:*</Event></TopicConfiguration>\
         <TopicConfiguration><Id>aws-on-topic</Id><Topic>arn:t</Topic><Event>s3:LifecycleExpiration:Delete</Event></TopicConfiguration>\
         <TopicConfiguration><Id>all</Id><Topic>arn:t</Topic></TopicConfiguration>\
         <TopicConfiguration><Id>removed</Id><Topic>arn:t</Topic><Event>s3:ObjectRemoved:*</Event></TopicConfiguration>\
         <QueueConfiguration><Id>q-all</Id><Queue>arn:aws:sqs:r:1:q</Queue></QueueConfiguration>\
         <QueueConfiguration><Id>q-ceph</Id><Queue>arn:aws:sqs:r:1:q</Queue><Event>s3:ObjectLifecycle:*</Event></QueueConfiguration>\
         </NotificationConfiguration>",
    )
    .unwrap();
    let ev = EventType::ObjectLifecycleExpirationCurrent;
    let m = cfg.matching_either(ev, Some(EventType::LifecycleExpirationDelete), &ObjectFacts::key("k"));
    let got: Vec<(&str, EventType)> = m.iter().map(|t| (t.id, t.event)).collect();
    assert_eq!(
        got,
        vec![
            ("ceph", EventType::ObjectLifecycleExpirationCurrent),
            ("aws-on-topic", EventType::LifecycleExpirationDelete),
            ("all", EventType::ObjectLifecycleExpirationCurrent),
            ("q-all", EventType::LifecycleExpirationDelete),
            ("q-ceph", EventType::ObjectLifecycleExpirationCurrent),
        ]
    ); // Ceph's way: a topic entry gets a record per name it selects.
    let m = cfg.matching_each_name(ev, Some(EventType::LifecycleExpirationDelete), &ObjectFacts::key("k"));
    let got: Vec<(&str, EventType)> = m.iter().map(|t| (t.id, t.event)).collect();
    assert_eq!(
        got,
        vec![
            ("ceph", EventType::ObjectLifecycleExpirationCurrent),
            ("aws-on-topic", EventType::LifecycleExpirationDelete),
            ("all", EventType::ObjectLifecycleExpirationCurrent),
            ("all", EventType::LifecycleExpirationDelete),
            ("q-all", EventType::LifecycleExpirationDelete),
            ("q-ceph", EventType::ObjectLifecycleExpirationCurrent),
        ]
    );
}

#[test]
fn ids_are_generated_unless_required() {
    let doc = "<NotificationConfiguration><TopicConfiguration><Id></Id><Topic>arn:aws:sns:r::t</Topic></TopicConfiguration></NotificationConfiguration>";
    assert_eq!(parse(doc).unwrap().topics[0].id, "notif-1");
    assert!(is_invalid(parse_notification_configuration_with(doc.as_bytes(), true)));
    let named = doc.replace("<Id></Id>", "<Id>n</Id>");
    assert_eq!(
        parse_notification_configuration_with(named.as_bytes(), true)
            .unwrap()
            .topics[0]
            .id,
        "n"
    );
}

fn content_filter_xml(parts: &str) -> String {
    topic_xml(&format!("<Filter>{parts}</Filter>"))
}

#[test]
fn size_and_content_type_rules_parse_match_and_round_trip() {
    let xml = content_filter_xml(
        "<S3Key><FilterRule><Name>prefix</Name><Value>img/</Value></FilterRule></S3Key>\
         <HeraldObjectSize><FilterRule><Name>Greater-Than</Name><Value>100</Value></FilterRule>\
         <FilterRule><Name>less-than</Name><Value>1000</Value></FilterRule></HeraldObjectSize>\
         <HeraldContentType><FilterRule><Name>prefix</Name><Value>Image/</Value></FilterRule>\
         <FilterRule><Name>equals</Name><Value>application/pdf</Value></FilterRule></HeraldContentType>",
    );
    let cfg = parse(&xml).unwrap();
    let f = &cfg.topics[0].filter;
    assert_eq!(
        f.size,
        SizeRange {
            greater_than: Some(100),
            less_than: Some(1000)
        }
    );
    assert_eq!(
        f.content_type.rules,
        vec![
            ContentTypeRule::Prefix("image/".into()),
            ContentTypeRule::Equals("application/pdf".into())
        ]
    );
    assert!(!f.size.admits(100) && f.size.admits(101) && f.size.admits(999) && !f.size.admits(1000));
    let with = |key: &'static str, ct: Option<&'static str>| {
        f.matches(&ObjectFacts {
            key,
            content_type: ct,
            ..ObjectFacts::default()
        })
    };
    assert!(with("img/a", Some("image/png")));
    assert!(with("img/a", Some("IMAGE/PNG; q=1")), "case and parameters ignored");
    assert!(with("img/a", Some("application/pdf")));
    assert!(!with("img/a", Some("application/pdfx")), "equals is whole");
    assert!(!with("img/a", None), "no Content-Type is binary/octet-stream");
    assert!(!with("doc/a", Some("image/png")), "the key rule still holds");
    // The matched entry carries its size rule for the commit to decide.
    let m = cfg.matching(
        EventType::ObjectCreatedPut,
        &ObjectFacts {
            key: "img/a",
            content_type: Some("image/gif"),
            ..ObjectFacts::default()
        },
    );
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].size, f.size);
    // GET gives back what was put, and it parses to the same.
    let rendered = render_notification_configuration(&cfg);
    assert!(
        rendered.contains("<HeraldObjectSize><FilterRule><Name>greater-than</Name><Value>100</Value>"),
        "{rendered}"
    );
    assert!(
        rendered.contains("<HeraldContentType><FilterRule><Name>prefix</Name><Value>image/</Value>"),
        "{rendered}"
    );
    assert_eq!(parse(&rendered).unwrap(), cfg);
    // And the stored JSON form keeps them; older stored forms (without the
    // fields) still load.
    assert_eq!(deserialize_json(&serialize_json(&cfg)).unwrap(), cfg);
    let old = br#"{"topics":[{"id":"a","topic_arn":"arn:aws:sns:r::t","events":[],"filter":{"key":{"prefix":null,"suffix":null,"regex":null},"metadata":[],"tags":[]}}],"queues":[]}"#;
    assert!(deserialize_json(old).unwrap().topics[0].filter.is_empty());
}

#[test]
fn bad_size_and_content_type_rules_are_invalid_argument() {
    let cases = [
        ("<HeraldObjectSize></HeraldObjectSize>", "has no rule"),
        (
            "<HeraldObjectSize><FilterRule><Name>greater-than</Name><Value>ten</Value></FilterRule></HeraldObjectSize>",
            "number of bytes",
        ),
        (
            "<HeraldObjectSize><FilterRule><Name>greater-than</Name><Value>-1</Value></FilterRule></HeraldObjectSize>",
            "number of bytes",
        ),
        (
            "<HeraldObjectSize><FilterRule><Name>bigger</Name><Value>1</Value></FilterRule></HeraldObjectSize>",
            "unknown size filter rule",
        ),
        (
            "<HeraldObjectSize><FilterRule><Name>less-than</Name><Value>1</Value></FilterRule><FilterRule><Name>less-than</Name><Value>2</Value></FilterRule></HeraldObjectSize>",
            "duplicate less-than",
        ),
        (
            "<HeraldObjectSize><FilterRule><Name>greater-than</Name><Value>5</Value></FilterRule><FilterRule><Name>less-than</Name><Value>6</Value></FilterRule></HeraldObjectSize>",
            "leave no size",
        ),
        ("<HeraldContentType></HeraldContentType>", "has no rule"),
        (
            "<HeraldContentType><FilterRule><Name>equals</Name><Value> </Value></FilterRule></HeraldContentType>",
            "empty content type",
        ),
        (
            "<HeraldContentType><FilterRule><Name>equals</Name><Value>text/plain; charset=utf-8</Value></FilterRule></HeraldContentType>",
            "without parameters",
        ),
        (
            "<HeraldContentType><FilterRule><Name>regex</Name><Value>x</Value></FilterRule></HeraldContentType>",
            "unknown content type filter rule",
        ),
    ];
    for (part, why) in cases {
        let e = parse(&content_filter_xml(part)).unwrap_err();
        assert!(matches!(e, ConfigError::InvalidArgument(_)), "{part}: {e:?}");
        assert!(e.to_string().contains(why), "{part}: {e}");
    }
    let many: String = (0..11)
        .map(|i| format!("<FilterRule><Name>equals</Name><Value>a/{i}</Value></FilterRule>"))
        .collect();
    let e = parse(&content_filter_xml(&format!(
        "<HeraldContentType>{many}</HeraldContentType>"
    )))
    .unwrap_err();
    assert!(e.to_string().contains("more than 10 filter rules"), "{e}");
}

#[test]
fn size_and_content_type_rules_in_the_key_form_round_trip_as_sent() {
    let xml = content_filter_xml(
        "<S3Key><FilterRule><Name>suffix</Name><Value>.jpg</Value></FilterRule>\
         <FilterRule><Name>herald-size-greater-than</Name><Value>1048576</Value></FilterRule>\
         <FilterRule><Name>herald-content-type-prefix</Name><Value>image/</Value></FilterRule>\
         <FilterRule><Name>herald-content-type</Name><Value>application/pdf</Value></FilterRule></S3Key>",
    );
    let cfg = parse(&xml).unwrap();
    let f = &cfg.topics[0].filter;
    assert!(f.in_key_form);
    assert_eq!(f.key.suffix.as_deref(), Some(".jpg"));
    assert_eq!(f.size.greater_than, Some(1_048_576));
    assert_eq!(f.content_type.rules.len(), 2);
    let rendered = render_notification_configuration(&cfg);
    assert!(
        rendered.contains(
            "<FilterRule><Name>herald-size-greater-than</Name><Value>1048576</Value></FilterRule>\
             <FilterRule><Name>herald-content-type-prefix</Name><Value>image/</Value></FilterRule>\
             <FilterRule><Name>herald-content-type</Name><Value>application/pdf</Value></FilterRule></S3Key>"
        ),
        "{rendered}"
    );
    assert!(!rendered.contains("HeraldObjectSize"), "{rendered}");
    assert_eq!(parse(&rendered).unwrap(), cfg);
    // Only the key form's names are taken under the prefix.
    let e = parse(&content_filter_xml(
        "<S3Key><FilterRule><Name>herald-colour</Name><Value>x</Value></FilterRule></S3Key>",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("unknown key filter rule name"), "{e}");
    // Both forms at once make one filter; bounds still checked together.
    let e = parse(&content_filter_xml(
        "<S3Key><FilterRule><Name>herald-size-less-than</Name><Value>10</Value></FilterRule></S3Key>\
         <HeraldObjectSize><FilterRule><Name>greater-than</Name><Value>20</Value></FilterRule></HeraldObjectSize>",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("leave no size"), "{e}");
}
