//! Parsing: accepted shapes, every refusal and the limits.

use std::time::{Duration, Instant};

use herald_policy::{Limits, Policy, PolicyError, PolicyVersion};

use crate::common::*;

const OK_STATEMENT: &str = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#;

fn doc(statement: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":{statement}}}"#)
}

/// A statement with `field` replaced or added (`field` is `"Name":value`)
/// or removed (`field` is `-Name`).
fn stmt(field: &str) -> String {
    let mut members = vec![
        ("Effect", r#""Allow""#.to_string()),
        ("Principal", r#""*""#.to_string()),
        ("Action", r#""s3:GetObject""#.to_string()),
        ("Resource", r#""*""#.to_string()),
    ];
    if let Some(name) = field.strip_prefix('-') {
        members.retain(|(n, _)| *n != name);
    } else {
        let (name, value) = field.split_once(':').unwrap();
        let name = name.trim_matches('"');
        members.retain(|(n, _)| *n != name);
        members.push((Box::leak(name.to_string().into_boxed_str()), value.to_string()));
    }
    let body: Vec<String> = members.iter().map(|(n, v)| format!(r#""{n}":{v}"#)).collect();
    doc(&format!("{{{}}}", body.join(",")))
}

#[test]
fn versions() {
    assert_eq!(policy(&doc(OK_STATEMENT)).version(), PolicyVersion::V2012_10_17);
    let v2008 = policy(&format!(r#"{{"Version":"2008-10-17","Statement":{OK_STATEMENT}}}"#));
    assert_eq!(v2008.version(), PolicyVersion::V2008_10_17);
    let missing = policy(&format!(r#"{{"Statement":{OK_STATEMENT}}}"#));
    assert_eq!(missing.version(), PolicyVersion::V2008_10_17);
    assert_eq!(missing.version().as_str(), "2008-10-17");
    for bad in [r#""2012-10-18""#, "2012", "null", r#"["2012-10-17"]"#] {
        refused_with(
            &format!(r#"{{"Version":{bad},"Statement":{OK_STATEMENT}}}"#),
            "Policy has an invalid Version",
        );
    }
}

#[test]
fn id_element() {
    let p = policy(&format!(r#"{{"Id":"my-policy","Statement":{OK_STATEMENT}}}"#));
    assert_eq!(p.id(), Some("my-policy"));
    assert_eq!(policy(&doc(OK_STATEMENT)).id(), None);
    refused_with(
        &format!(r#"{{"Id":5,"Statement":{OK_STATEMENT}}}"#),
        "Id must be a string",
    );
}

#[test]
fn statement_shapes() {
    assert_eq!(policy(&doc(OK_STATEMENT)).statement_count(), 1);
    assert_eq!(
        policy(&doc(&format!("[{OK_STATEMENT},{OK_STATEMENT}]"))).statement_count(),
        2
    );
    refused_with(r#"{"Version":"2012-10-17"}"#, "Missing required field Statement");
    refused_with(&doc("[]"), "Policy has no statements");
    refused_with(&doc(r#""Allow""#), "Statement must be an object or an array of objects");
    refused_with(
        &doc(r#"[{"Effect":"Allow"},"x"]"#),
        "Statement[0]: Missing required field Principal",
    );
    refused_with(
        &doc(&format!(r#"[{OK_STATEMENT},"x"]"#)),
        "Statement[1]: Statement must be an object",
    );
}

#[test]
fn statement_index_in_messages() {
    let bad = r#"{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#;
    let msg = refused(&doc(&format!("[{OK_STATEMENT},{OK_STATEMENT},{bad}]")));
    assert_eq!(msg, "Statement[2]: Effect must be Allow or Deny");
}

#[test]
fn sids() {
    let a = r#"{"Sid":"A","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#;
    let b = r#"{"Sid":"B","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#;
    let p = policy(&doc(&format!("[{a},{b},{OK_STATEMENT},{OK_STATEMENT}]")));
    assert_eq!(p.sids().collect::<Vec<_>>(), [Some("A"), Some("B"), None, None]);
    refused_with(
        &doc(&format!("[{a},{b},{a}]")),
        "Statement[2]: Statement IDs (SID) in a single policy must be unique",
    );
    refused_with(&stmt(r#""Sid":1"#), "Sid must be a string");
}

#[test]
fn effect() {
    refused_with(&stmt("-Effect"), "Statement[0]: Missing required field Effect");
    for bad in [r#""allow""#, r#""DENY""#, r#""""#, "true", r#"["Allow"]"#] {
        refused_with(
            &stmt(&format!(r#""Effect":{bad}"#)),
            "Statement[0]: Effect must be Allow or Deny",
        );
    }
}

#[test]
fn required_fields() {
    refused_with(&stmt("-Principal"), "Statement[0]: Missing required field Principal");
    refused_with(&stmt("-Action"), "Statement[0]: Missing required field Action");
    refused_with(&stmt("-Resource"), "Statement[0]: Missing required field Resource");
}

#[test]
fn principal_optional_when_not_required() {
    let limits = Limits {
        require_principal: false,
        ..Limits::DEFAULT
    };
    let p = Policy::parse(&stmt("-Principal"), &limits).unwrap();
    // A statement that names nobody applies to nobody.
    assert!(!allows(&p, &[]));
}

#[test]
fn exclusive_pairs() {
    refused_with(
        &stmt(r#""NotAction":"s3:PutObject""#),
        "Action and NotAction cannot both be present",
    );
    refused_with(
        &stmt(r#""NotResource":"*""#),
        "Resource and NotResource cannot both be present",
    );
    refused_with(
        &stmt(r#""NotPrincipal":"*""#),
        "Principal and NotPrincipal cannot both be present",
    );
}

#[test]
fn actions() {
    for good in [
        r#""*""#,
        r#""s3:*""#,
        r#""s3:Get*""#,
        r#""S3:GetObject""#,
        r#"["s3:GetObject","sqs:Send?essage"]"#,
    ] {
        policy(&stmt(&format!(r#""Action":{good}"#)));
    }
    for bad in [
        r#""s3""#,
        r#"":GetObject""#,
        r#""s3:""#,
        r#""s*:GetObject""#,
        r#""s3:Get Object""#,
        r#""s3:Get:Object""#,
        r#""**""#,
    ] {
        refused_with(
            &stmt(&format!(r#""Action":{bad}"#)),
            "Statement[0]: Policy has invalid action",
        );
    }
    for bad in ["5", "[]", "[5]", "{}", "null"] {
        refused_with(&stmt(&format!(r#""Action":{bad}"#)), "Policy has invalid action");
    }
}

#[test]
fn actions_restricted_to_services() {
    let s3_only = Limits {
        services: &["s3"],
        ..Limits::DEFAULT
    };
    assert!(Policy::parse(&stmt(r#""Action":["S3:GetObject","*"]"#), &s3_only).is_ok());
    let err = Policy::parse(&stmt(r#""Action":"sqs:SendMessage""#), &s3_only).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Statement[0]: Policy has invalid action: \"sqs:SendMessage\""
    );
}

#[test]
fn resources() {
    for good in [
        r#""*""#,
        r#""arn:aws:s3:::b""#,
        r#""arn:aws:s3:::b/*""#,
        r#""arn:aws:sqs:*:alice:q""#,
        r#"["*","arn:aws:sns:r:a:t"]"#,
    ] {
        policy(&stmt(&format!(r#""Resource":{good}"#)));
    }
    for bad in [
        r#""bucket""#,
        r#""arn:aws:s3""#,
        r#""arn:*""#,
        r#""""#,
        "5",
        "[]",
        r#"["*",1]"#,
    ] {
        refused_with(
            &stmt(&format!(r#""Resource":{bad}"#)),
            "Statement[0]: Policy has invalid resource",
        );
    }
}

#[test]
fn unknown_fields() {
    refused_with(
        &format!(r#"{{"Statement":{OK_STATEMENT},"Extra":1}}"#),
        "Policy has an unknown field \"Extra\"",
    );
    refused_with(
        &stmt(r#""Conditon":{}"#),
        "Statement[0]: Statement has an unknown field \"Conditon\"",
    );
    // Element names are case-sensitive.
    refused_with(
        &doc(r#"{"effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#),
        "unknown field \"effect\"",
    );
    refused_with(
        &format!(r#"{{"statement":{OK_STATEMENT}}}"#),
        "unknown field \"statement\"",
    );
}

#[test]
fn not_json() {
    for bad in [
        "",
        "   ",
        "{",
        r#"{"Statement":}"#,
        "nope",
        r#"{"a":1} trailing"#,
        "{'a':1}",
    ] {
        let err = Policy::parse(bad, &Limits::DEFAULT).unwrap_err();
        assert!(matches!(err, PolicyError::Json(_)), "{bad}: {err:?}");
        assert!(err.to_string().starts_with("Policy is not valid JSON"), "{err}");
    }
    refused_with("[]", "Policy must be a JSON object, found an array");
    refused_with("\"x\"", "Policy must be a JSON object, found a string");
}

#[test]
fn duplicate_json_keys() {
    let text = r#"{"Statement":{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#;
    let err = Policy::parse(text, &Limits::DEFAULT).unwrap_err();
    assert!(matches!(err, PolicyError::Json(_)));
    assert!(err.to_string().contains("duplicate key \"Effect\""), "{err}");
}

#[test]
fn size_limit() {
    let padding = " ".repeat(20 * 1024);
    let text = format!("{}{padding}", doc(OK_STATEMENT));
    let err = Policy::parse(&text, &Limits::DEFAULT).unwrap_err();
    assert_eq!(
        err,
        PolicyError::TooLarge {
            size: text.len(),
            limit: 20 * 1024
        }
    );
    assert!(err.to_string().contains("more than the limit of 20480 bytes"));
    // Exactly at the limit is fine.
    let base = doc(OK_STATEMENT);
    let exact = format!("{base}{}", " ".repeat(20 * 1024 - base.len()));
    assert!(Policy::parse(&exact, &Limits::DEFAULT).is_ok());
    // Callers can raise it.
    let big = Limits {
        max_bytes: 64 * 1024,
        ..Limits::DEFAULT
    };
    assert!(Policy::parse(&text, &big).is_ok());
}

#[test]
fn depth_limit() {
    // Depth 8 is accepted (as a condition value nested in arrays would be
    // refused later for its type, not its depth).
    let deep8 = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"k":[[[["v"]]]]}}}}"#;
    let msg = refused(deep8);
    assert!(msg.contains("values must be strings"), "{msg}");
    let deep9 = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"k":[[[[["v"]]]]]}}}}"#;
    let err = Policy::parse(deep9, &Limits::DEFAULT).unwrap_err();
    assert_eq!(err, PolicyError::TooDeep { limit: 8 });
    // Brackets inside strings do not count.
    let in_string =
        r#"{"Statement":{"Sid":"[[[[[[[[[[{{{{{{{{","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#;
    policy(in_string);
}

#[test]
fn depth_bomb_fails_fast_without_overflowing_the_stack() {
    let bomb = "[".repeat(100_000);
    // Within the default size limit, it is too large first.
    assert!(matches!(
        Policy::parse(&bomb, &Limits::DEFAULT),
        Err(PolicyError::TooLarge { .. })
    ));
    // With the size limit out of the way, the depth scan stops it.
    let roomy = Limits {
        max_bytes: usize::MAX,
        ..Limits::DEFAULT
    };
    let started = Instant::now();
    assert_eq!(
        Policy::parse(&bomb, &roomy).unwrap_err(),
        PolicyError::TooDeep { limit: 8 }
    );
    let mixed = format!(r#"{{"Statement":{}"#, "{\"a\":[".repeat(50_000));
    assert_eq!(
        Policy::parse(&mixed, &roomy).unwrap_err(),
        PolicyError::TooDeep { limit: 8 }
    );
    // Not a timing assertion on the engine's speed: a generous bound that
    // only a recursive or quadratic scan would break.
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn statement_limit() {
    let statements = |n: usize| {
        let body: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"Sid":"s{i}","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#))
            .collect();
        doc(&format!("[{}]", body.join(",")))
    };
    let roomy = Limits {
        max_bytes: 1 << 20,
        ..Limits::DEFAULT
    };
    assert_eq!(Policy::parse(&statements(100), &roomy).unwrap().statement_count(), 100);
    let err = Policy::parse(&statements(101), &roomy).unwrap_err();
    assert_eq!(err, PolicyError::TooManyStatements { count: 101, limit: 100 });
    assert_eq!(err.to_string(), "Policy has 101 statements, more than the limit of 100");
    let few = Limits {
        max_statements: 2,
        ..roomy
    };
    assert!(Policy::parse(&statements(3), &few).is_err());
}

#[test]
fn source_and_canonical_json() {
    let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [ {\"Effect\": \"Allow\", \"Principal\": \"*\",\n \"Action\": \"s3:GetObject\", \"Resource\": \"arn:aws:s3:::b/\\u00e9*\",\n \"Condition\": {\"NumericLessThan\": {\"s3:max-keys\": 10}}} ]\n}\n";
    let p = policy(text);
    assert_eq!(p.as_str(), text);
    assert_eq!(
        p.to_json(),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/é*","Condition":{"NumericLessThan":{"s3:max-keys":10}}}]}"#
    );
    // The canonical form parses back to the same form.
    assert_eq!(policy(&p.to_json()).to_json(), p.to_json());
}

#[test]
fn policy_is_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<PolicyError>();
}
