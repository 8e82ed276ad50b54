//! Every condition operator, positive and negative, and the rules for
//! missing keys, IfExists, set qualifiers and Null.

use herald_policy::{Context, Decision, Limits, Policy, Request};
use time::macros::datetime;

use crate::common::*;

#[test]
fn string_equals() {
    let p = cond(r#"{"StringEquals":{"s3:prefix":"home/"}}"#);
    assert!(allows(&p, &[("s3:prefix", "home/")]));
    assert!(!allows(&p, &[("s3:prefix", "HOME/")]));
    assert!(!allows(&p, &[("s3:prefix", "home/x")]));
    // Wildcards are literal for StringEquals.
    let p = cond(r#"{"StringEquals":{"s3:prefix":"h*"}}"#);
    assert!(allows(&p, &[("s3:prefix", "h*")]));
    assert!(!allows(&p, &[("s3:prefix", "home")]));
}

#[test]
fn string_not_equals() {
    let p = cond(r#"{"StringNotEquals":{"s3:x-amz-acl":["public-read","public-read-write"]}}"#);
    assert!(allows(&p, &[("s3:x-amz-acl", "private")]));
    assert!(!allows(&p, &[("s3:x-amz-acl", "public-read")]));
    assert!(!allows(&p, &[("s3:x-amz-acl", "public-read-write")]));
    assert!(allows(&p, &[("s3:x-amz-acl", "PUBLIC-READ")]));
}

#[test]
fn string_equals_ignore_case() {
    let p = cond(r#"{"StringEqualsIgnoreCase":{"s3:prefix":"Home/"}}"#);
    assert!(allows(&p, &[("s3:prefix", "home/")]));
    assert!(allows(&p, &[("s3:prefix", "HOME/")]));
    assert!(!allows(&p, &[("s3:prefix", "home")]));
    let p = cond(r#"{"StringNotEqualsIgnoreCase":{"s3:prefix":"Home/"}}"#);
    assert!(!allows(&p, &[("s3:prefix", "hOmE/")]));
    assert!(allows(&p, &[("s3:prefix", "other/")]));
}

#[test]
fn string_like() {
    let p = cond(r#"{"StringLike":{"s3:prefix":["home/*","shared/??/*"]}}"#);
    assert!(allows(&p, &[("s3:prefix", "home/")]));
    assert!(allows(&p, &[("s3:prefix", "home/bob/x")]));
    assert!(allows(&p, &[("s3:prefix", "shared/ab/c")]));
    assert!(!allows(&p, &[("s3:prefix", "shared/abc/c")]));
    assert!(!allows(&p, &[("s3:prefix", "Home/")]));
    let p = cond(r#"{"StringNotLike":{"s3:prefix":["home/*","tmp*"]}}"#);
    assert!(allows(&p, &[("s3:prefix", "docs/")]));
    assert!(!allows(&p, &[("s3:prefix", "home/x")]));
    assert!(!allows(&p, &[("s3:prefix", "tmp")]));
}

#[test]
fn arn_operators() {
    let arn = "arn:aws:sns:us-east-1:alice:events";
    for op in ["ArnEquals", "ArnLike"] {
        let p = cond(&format!(r#"{{"{op}":{{"aws:SourceArn":"arn:aws:sns:*:alice:*"}}}}"#));
        assert!(allows(&p, &[("aws:SourceArn", arn)]), "{op}");
        assert!(
            !allows(&p, &[("aws:SourceArn", "arn:aws:sns:us-east-1:bob:events")]),
            "{op}"
        );
        // A wildcard does not cross into the next part.
        assert!(
            !allows(&p, &[("aws:SourceArn", "arn:aws:sns:r:x:alice:events")]),
            "{op}"
        );
        assert!(!allows(&p, &[("aws:SourceArn", "not an arn")]), "{op}");
    }
    for op in ["ArnNotEquals", "ArnNotLike"] {
        let p = cond(&format!(
            r#"{{"{op}":{{"aws:SourceArn":["arn:aws:sns:*:alice:*","arn:aws:s3:::b"]}}}}"#
        ));
        assert!(!allows(&p, &[("aws:SourceArn", arn)]), "{op}");
        assert!(!allows(&p, &[("aws:SourceArn", "arn:aws:s3:::b")]), "{op}");
        assert!(allows(&p, &[("aws:SourceArn", "arn:aws:s3:::c")]), "{op}");
    }
    // Exact ARN, case-sensitive.
    let p = cond(r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::Bucket"}}"#);
    assert!(allows(&p, &[("aws:SourceArn", "arn:aws:s3:::Bucket")]));
    assert!(!allows(&p, &[("aws:SourceArn", "arn:aws:s3:::bucket")]));
}

#[test]
fn ip_address() {
    let p = cond(r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.1.7","2001:db8::/32"]}}"#);
    assert!(allows(&p, &[("aws:SourceIp", "10.20.30.40")]));
    assert!(allows(&p, &[("aws:SourceIp", "192.168.1.7")]));
    assert!(!allows(&p, &[("aws:SourceIp", "192.168.1.8")]));
    assert!(allows(&p, &[("aws:SourceIp", "2001:db8:1::5")]));
    assert!(!allows(&p, &[("aws:SourceIp", "2001:db9::5")]));
    // A dual-stack listener's IPv4-mapped address is the IPv4 address.
    assert!(allows(&p, &[("aws:SourceIp", "::ffff:10.1.1.1")]));
    assert!(!allows(&p, &[("aws:SourceIp", "11.0.0.1")]));
    assert!(!allows(&p, &[("aws:SourceIp", "garbage")]));
    assert!(!allows(&p, &[]));
}

#[test]
fn not_ip_address() {
    let p = cond(r#"{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]}}"#);
    assert!(!allows(&p, &[("aws:SourceIp", "10.0.0.1")]));
    assert!(!allows(&p, &[("aws:SourceIp", "::1")]));
    assert!(allows(&p, &[("aws:SourceIp", "8.8.8.8")]));
    assert!(allows(&p, &[("aws:SourceIp", "::2")]));
}

#[test]
fn deny_unless_from_network() {
    // The usual "deny everything not from our network" policy: a request
    // without a source address must be denied too.
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"},
            {"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*",
             "Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
    );
    let inside = Context::new().with("aws:SourceIp", "10.1.2.3");
    let outside = Context::new().with("aws:SourceIp", "1.2.3.4");
    assert_eq!(decide(&p, BOB, GET, OBJ, &inside), Decision::Allow);
    assert_eq!(decide(&p, BOB, GET, OBJ, &outside), Decision::ExplicitDeny);
    assert_eq!(decide(&p, BOB, GET, OBJ, &Context::new()), Decision::ExplicitDeny);
}

#[test]
fn bool_operator() {
    let p = cond(r#"{"Bool":{"aws:SecureTransport":"true"}}"#);
    assert!(allows(&p, &[("aws:SecureTransport", "true")]));
    assert!(allows(&p, &[("aws:SecureTransport", "TRUE")]));
    assert!(!allows(&p, &[("aws:SecureTransport", "false")]));
    assert!(!allows(&p, &[("aws:SecureTransport", "yes")]));
    assert!(!allows(&p, &[]));
    // A JSON boolean works as well as the string.
    let p = cond(r#"{"Bool":{"aws:SecureTransport":false}}"#);
    assert!(allows(&p, &[("aws:SecureTransport", "false")]));
    assert!(!allows(&p, &[("aws:SecureTransport", "true")]));
}

#[test]
fn numeric_operators() {
    let cases: &[(&str, &[(&str, bool)])] = &[
        (
            "NumericEquals",
            &[("10", true), ("10.0", true), ("9", false), ("11", false)],
        ),
        ("NumericNotEquals", &[("10", false), ("9", true), ("11", true)]),
        ("NumericLessThan", &[("9", true), ("10", false), ("11", false)]),
        ("NumericLessThanEquals", &[("9", true), ("10", true), ("11", false)]),
        ("NumericGreaterThan", &[("9", false), ("10", false), ("11", true)]),
        ("NumericGreaterThanEquals", &[("9", false), ("10", true), ("11", true)]),
    ];
    for (op, checks) in cases {
        // Policy values may be JSON numbers or strings.
        for value in ["10", "\"10\""] {
            let p = cond(&format!(r#"{{"{op}":{{"s3:max-keys":{value}}}}}"#));
            for (request, expect) in *checks {
                assert_eq!(
                    allows(&p, &[("s3:max-keys", request)]),
                    *expect,
                    "{op} {value} vs {request}"
                );
            }
        }
    }
    // A request value that is not a number matches nothing.
    let p = cond(r#"{"NumericLessThan":{"s3:max-keys":100}}"#);
    assert!(!allows(&p, &[("s3:max-keys", "lots")]));
    let p = cond(r#"{"NumericNotEquals":{"s3:max-keys":100}}"#);
    assert!(allows(&p, &[("s3:max-keys", "lots")]));
    // Several values: any of them.
    let p = cond(r#"{"NumericEquals":{"s3:max-keys":[10,20]}}"#);
    assert!(allows(&p, &[("s3:max-keys", "20")]));
    assert!(!allows(&p, &[("s3:max-keys", "15")]));
}

#[test]
fn date_operators() {
    let cases: &[(&str, &[(&str, bool)])] = &[
        (
            "DateEquals",
            &[("2024-06-01T00:00:00Z", true), ("2024-06-01T00:00:01Z", false)],
        ),
        (
            "DateNotEquals",
            &[("2024-06-01T00:00:00Z", false), ("2024-06-02T00:00:00Z", true)],
        ),
        (
            "DateLessThan",
            &[("2024-05-31T23:59:59Z", true), ("2024-06-01T00:00:00Z", false)],
        ),
        (
            "DateLessThanEquals",
            &[("2024-06-01T00:00:00Z", true), ("2024-06-01T00:00:01Z", false)],
        ),
        (
            "DateGreaterThan",
            &[("2024-06-01T00:00:01Z", true), ("2024-06-01T00:00:00Z", false)],
        ),
        (
            "DateGreaterThanEquals",
            &[("2024-06-01T00:00:00Z", true), ("2024-05-31T00:00:00Z", false)],
        ),
    ];
    // The same instant, written four ways.
    for value in [
        "\"2024-06-01T00:00:00Z\"",
        "\"2024-06-01\"",
        "1717200000",
        "\"2024-06-01T02:00:00+02:00\"",
    ] {
        for (op, checks) in cases {
            let p = cond(&format!(r#"{{"{op}":{{"aws:CurrentTime":{value}}}}}"#));
            for (request, expect) in *checks {
                assert_eq!(
                    allows(&p, &[("aws:CurrentTime", request)]),
                    *expect,
                    "{op} {value} vs {request}"
                );
            }
        }
    }
    // Request values may be epoch seconds too.
    let p = cond(r#"{"DateLessThan":{"aws:EpochTime":"2024-06-01T00:00:00Z"}}"#);
    assert!(allows(&p, &[("aws:EpochTime", "1717199999")]));
    assert!(!allows(&p, &[("aws:EpochTime", "1717200000")]));
    assert!(!allows(&p, &[("aws:EpochTime", "soon")]));
}

#[test]
fn engine_fills_current_and_epoch_time_from_now() {
    let p = cond(r#"{"DateLessThan":{"aws:CurrentTime":"2024-06-01T00:00:00Z"}}"#);
    let before = Request::new(BOB, GET, OBJ).at(datetime!(2024-05-01 12:00 UTC));
    let after = Request::new(BOB, GET, OBJ).at(datetime!(2024-07-01 12:00 UTC));
    assert_eq!(p.evaluate(&before), Decision::Allow);
    assert_eq!(p.evaluate(&after), Decision::NotApplicable);
    // Without a time, the key is missing and the condition false.
    assert_eq!(p.evaluate(&Request::new(BOB, GET, OBJ)), Decision::NotApplicable);
    // The caller's value wins over `now`.
    let ctx = Context::new().with("aws:CurrentTime", "2024-01-01T00:00:00Z");
    assert_eq!(p.evaluate(&after.with_context(&ctx)), Decision::Allow);

    let p = cond(r#"{"NumericGreaterThanEquals":{"aws:EpochTime":1717200000}}"#);
    assert_eq!(p.evaluate(&after), Decision::Allow);
    assert_eq!(p.evaluate(&before), Decision::NotApplicable);
    let p = cond(r#"{"DateGreaterThan":{"aws:EpochTime":"2024-06-01"}}"#);
    assert_eq!(p.evaluate(&after), Decision::Allow);
    assert_eq!(p.evaluate(&before), Decision::NotApplicable);
}

#[test]
fn null_operator() {
    let absent = cond(r#"{"Null":{"s3:x-amz-acl":"true"}}"#);
    assert!(allows(&absent, &[]));
    assert!(!allows(&absent, &[("s3:x-amz-acl", "private")]));
    let present = cond(r#"{"Null":{"s3:x-amz-acl":false}}"#);
    assert!(!allows(&present, &[]));
    assert!(allows(&present, &[("s3:x-amz-acl", "private")]));
}

#[test]
fn missing_keys() {
    // Positive operators are false, negated ones true.
    for c in [
        r#"{"StringEquals":{"s3:prefix":"a"}}"#,
        r#"{"StringLike":{"s3:prefix":"*"}}"#,
        r#"{"ArnLike":{"aws:SourceArn":"*"}}"#,
        r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
        r#"{"NumericLessThan":{"s3:max-keys":5}}"#,
        r#"{"DateLessThan":{"aws:CurrentTime":"2999-01-01"}}"#,
        r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
    ] {
        assert!(!allows(&cond(c), &[]), "{c}");
    }
    for c in [
        r#"{"StringNotEquals":{"s3:prefix":"a"}}"#,
        r#"{"StringNotLike":{"s3:prefix":"*"}}"#,
        r#"{"StringNotEqualsIgnoreCase":{"s3:prefix":"a"}}"#,
        r#"{"ArnNotLike":{"aws:SourceArn":"*"}}"#,
        r#"{"NotIpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
        r#"{"NumericNotEquals":{"s3:max-keys":5}}"#,
        r#"{"DateNotEquals":{"aws:CurrentTime":"2999-01-01"}}"#,
    ] {
        assert!(allows(&cond(c), &[]), "{c}");
    }
}

#[test]
fn if_exists() {
    let p = cond(r#"{"StringEqualsIfExists":{"s3:x-amz-acl":"private"}}"#);
    assert!(allows(&p, &[]));
    assert!(allows(&p, &[("s3:x-amz-acl", "private")]));
    assert!(!allows(&p, &[("s3:x-amz-acl", "public-read")]));
    let p = cond(r#"{"StringNotLikeIfExists":{"s3:prefix":"secret*"}}"#);
    assert!(allows(&p, &[]));
    assert!(allows(&p, &[("s3:prefix", "public/")]));
    assert!(!allows(&p, &[("s3:prefix", "secret/")]));
    for c in [
        r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        r#"{"NumericLessThanIfExists":{"s3:max-keys":5}}"#,
        r#"{"DateGreaterThanIfExists":{"aws:CurrentTime":"2999-01-01"}}"#,
        r#"{"BoolIfExists":{"aws:SecureTransport":"true"}}"#,
        r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::x"}}"#,
        r#"{"ForAnyValue:StringEqualsIfExists":{"s3:RequestObjectTagKeys":"x"}}"#,
    ] {
        assert!(allows(&cond(c), &[]), "{c}");
    }
    let p = cond(r#"{"NumericLessThanIfExists":{"s3:max-keys":5}}"#);
    assert!(!allows(&p, &[("s3:max-keys", "6")]));
    assert!(allows(&p, &[("s3:max-keys", "4")]));
}

#[test]
fn for_any_value() {
    let p = cond(r#"{"ForAnyValue:StringEquals":{"s3:RequestObjectTagKeys":["project","owner"]}}"#);
    assert!(allows(
        &p,
        &[
            ("s3:RequestObjectTagKeys", "color"),
            ("s3:RequestObjectTagKeys", "owner")
        ]
    ));
    assert!(!allows(
        &p,
        &[
            ("s3:RequestObjectTagKeys", "color"),
            ("s3:RequestObjectTagKeys", "size")
        ]
    ));
    assert!(!allows(&p, &[]));
    // Negated: at least one request value outside the set.
    let p = cond(r#"{"ForAnyValue:StringNotEquals":{"s3:RequestObjectTagKeys":["project","owner"]}}"#);
    assert!(allows(
        &p,
        &[
            ("s3:RequestObjectTagKeys", "project"),
            ("s3:RequestObjectTagKeys", "color")
        ]
    ));
    assert!(!allows(
        &p,
        &[
            ("s3:RequestObjectTagKeys", "project"),
            ("s3:RequestObjectTagKeys", "owner")
        ]
    ));
    assert!(!allows(&p, &[]));
}

#[test]
fn for_all_values() {
    let p = cond(r#"{"ForAllValues:StringLike":{"s3:RequestObjectTagKeys":["project","team-*"]}}"#);
    assert!(allows(
        &p,
        &[
            ("s3:RequestObjectTagKeys", "project"),
            ("s3:RequestObjectTagKeys", "team-a")
        ]
    ));
    assert!(!allows(
        &p,
        &[
            ("s3:RequestObjectTagKeys", "project"),
            ("s3:RequestObjectTagKeys", "color")
        ]
    ));
    // No values at all: vacuously true.
    assert!(allows(&p, &[]));
    // Negated: no request value in the set.
    let p = cond(r#"{"ForAllValues:StringNotEquals":{"s3:RequestObjectTagKeys":["secret"]}}"#);
    assert!(allows(
        &p,
        &[("s3:RequestObjectTagKeys", "a"), ("s3:RequestObjectTagKeys", "b")]
    ));
    assert!(!allows(
        &p,
        &[("s3:RequestObjectTagKeys", "a"), ("s3:RequestObjectTagKeys", "secret")]
    ));
    assert!(allows(&p, &[]));
}

#[test]
fn multi_valued_key_without_qualifier() {
    let p = cond(r#"{"StringEquals":{"s3:RequestObjectTagKeys":"owner"}}"#);
    assert!(allows(
        &p,
        &[("s3:RequestObjectTagKeys", "a"), ("s3:RequestObjectTagKeys", "owner")]
    ));
    let p = cond(r#"{"StringNotEquals":{"s3:RequestObjectTagKeys":"owner"}}"#);
    assert!(!allows(
        &p,
        &[("s3:RequestObjectTagKeys", "a"), ("s3:RequestObjectTagKeys", "owner")]
    ));
    assert!(allows(
        &p,
        &[("s3:RequestObjectTagKeys", "a"), ("s3:RequestObjectTagKeys", "b")]
    ));
}

#[test]
fn keys_and_operators_are_anded_values_ored() {
    let p = cond(
        r#"{"StringEquals":{"s3:prefix":["a/","b/"],"s3:delimiter":"/"},
            "NumericLessThanEquals":{"s3:max-keys":"100"}}"#,
    );
    let full = [("s3:prefix", "b/"), ("s3:delimiter", "/"), ("s3:max-keys", "50")];
    assert!(allows(&p, &full));
    assert!(!allows(
        &p,
        &[("s3:prefix", "c/"), ("s3:delimiter", "/"), ("s3:max-keys", "50")]
    ));
    assert!(!allows(
        &p,
        &[("s3:prefix", "a/"), ("s3:delimiter", "-"), ("s3:max-keys", "50")]
    ));
    assert!(!allows(
        &p,
        &[("s3:prefix", "a/"), ("s3:delimiter", "/"), ("s3:max-keys", "500")]
    ));
    assert!(!allows(&p, &full[..2]));
}

#[test]
fn key_names_are_case_insensitive() {
    let p = cond(r#"{"StringEquals":{"AWS:SOURCEACCOUNT":"alice"}}"#);
    assert!(allows(&p, &[("aws:SourceAccount", "alice")]));
    assert!(allows(&p, &[("aws:sourceaccount", "alice")]));
    assert!(!allows(&p, &[("aws:SourceAccount", "ALICE")]));
    let p = cond(r#"{"StringEquals":{"s3:ExistingObjectTag/Class":"public"}}"#);
    assert!(allows(&p, &[("s3:existingobjecttag/class", "public")]));
}

#[test]
fn tag_keys() {
    let p = cond(r#"{"StringEquals":{"s3:RequestObjectTag/project":"herald"}}"#);
    assert!(allows(&p, &[("s3:RequestObjectTag/project", "herald")]));
    assert!(!allows(&p, &[("s3:RequestObjectTag/owner", "herald")]));
}

#[test]
fn variables_in_condition_values() {
    let p = cond(r#"{"StringLike":{"s3:prefix":["home/${aws:username}/*","${*}"]}}"#);
    assert!(allows(&p, &[("s3:prefix", "home/bob/docs")]));
    assert!(!allows(&p, &[("s3:prefix", "home/alice/docs")]));
    // `${*}` is a literal star.
    assert!(allows(&p, &[("s3:prefix", "*")]));
    assert!(!allows(&p, &[("s3:prefix", "x")]));
    // A variable from the context.
    let p = cond(r#"{"StringEquals":{"aws:SourceAccount":"${aws:username}"}}"#);
    assert!(allows(&p, &[("aws:SourceAccount", "bob")]));
    assert!(!allows(&p, &[("aws:SourceAccount", "alice")]));
    // Under 2008-10-17 variables are literal text.
    let old = policy(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::photos/*","Condition":{"StringEquals":{"s3:prefix":"${aws:username}"}}}}"#,
    );
    assert!(!allows(&old, &[("s3:prefix", "bob")]));
    assert!(allows(&old, &[("s3:prefix", "${aws:username}")]));
}

#[test]
fn principal_type_and_username_are_derived() {
    let p = cond(r#"{"StringEquals":{"aws:PrincipalType":"Anonymous"}}"#);
    let ctx = Context::new();
    assert_eq!(
        decide(&p, herald_policy::Principal::Anonymous, GET, OBJ, &ctx),
        Decision::Allow
    );
    assert_eq!(decide(&p, BOB, GET, OBJ, &ctx), Decision::NotApplicable);
    let p = cond(r#"{"StringEquals":{"aws:username":"bob"}}"#);
    assert_eq!(decide(&p, BOB, GET, OBJ, &ctx), Decision::Allow);
    assert_eq!(decide(&p, ALICE, GET, OBJ, &ctx), Decision::NotApplicable);
    assert_eq!(
        decide(&p, herald_policy::Principal::Anonymous, GET, OBJ, &ctx),
        Decision::NotApplicable
    );
}

#[test]
fn malformed_conditions() {
    let bad = |c: &str, needle: &str| {
        refused_with(
            &format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{c}}}}}"#
            ),
            needle,
        )
    };
    bad(
        r#"{"StringEqualz":{"k":"v"}}"#,
        "Statement[0].Condition: Invalid Condition operator \"StringEqualz\"",
    );
    bad(r#"{"BinaryEquals":{"k":"dg=="}}"#, "Invalid Condition operator");
    bad(r#"{"NullIfExists":{"k":"true"}}"#, "Invalid Condition operator");
    bad(r#"{"ForAllValues:Null":{"k":"true"}}"#, "Invalid Condition operator");
    bad(
        r#"{"ForEveryValue:StringEquals":{"k":"v"}}"#,
        "Invalid Condition operator",
    );
    bad(r#"{"NumericEquals":{"k":"ten"}}"#, "\"ten\" is not a number");
    bad(
        r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/40"}}"#,
        "is not an IP address or CIDR block",
    );
    bad(r#"{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}"#, "is not a date");
    bad(r#"{"Bool":{"aws:SecureTransport":"yes"}}"#, "is not true or false");
    bad(
        r#"{"Null":{"k":["true","false"]}}"#,
        "Null takes a single true or false",
    );
    bad(r#"{"StringEquals":{"k":[]}}"#, "non-empty array");
    bad(r#"{"StringEquals":{"k":{"a":"b"}}}"#, "values must be strings");
    bad(r#"{"StringEquals":{"k":null}}"#, "values must be strings");
    bad(r#"{"StringEquals":{"k":[["v"]]}}"#, "values must be strings");
    bad(r#"{"StringEquals":"k"}"#, "must be an object of keys");
    bad(r#"{"StringEquals":{}}"#, "has no keys");
    bad(r#"{"StringEquals":{"":"v"}}"#, "invalid key");
    bad(r#"["StringEquals"]"#, "Condition must be an object");
}

#[test]
fn condition_values_compile_once() {
    // A large condition still parses within the default limits and
    // evaluates correctly against the last value.
    let values: Vec<String> = (0..500)
        .map(|i| format!("\"10.{}.{}.0/24\"", i / 256, i % 256))
        .collect();
    let text = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*",
            "Condition":{{"IpAddress":{{"aws:SourceIp":[{}]}}}}}}}}"#,
        values.join(",")
    );
    let p = Policy::parse(&text, &Limits::DEFAULT).unwrap();
    assert!(allows(&p, &[("aws:SourceIp", "10.1.243.9")]));
    assert!(!allows(&p, &[("aws:SourceIp", "10.1.244.9")]));
}

#[test]
fn object_tag_keys_are_ordinary_string_keys_and_can_be_looked_for() {
    let p = cond(r#"{"StringEquals":{"s3:ExistingObjectTag/classification":"public"}}"#);
    assert!(allows(&p, &[("s3:ExistingObjectTag/classification", "public")]));
    assert!(!allows(&p, &[("s3:ExistingObjectTag/classification", "secret")]));
    assert!(!allows(&p, &[]));
    assert!(p.mentions_key_prefix("s3:ExistingObjectTag/"));
    assert!(p.mentions_key_prefix("S3:existingobjecttag/"));
    assert!(!p.mentions_key_prefix("s3:RequestObjectTag/"));
    let p = cond(r#"{"ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["team","env"]}}"#);
    assert!(allows(&p, &[("s3:RequestObjectTagKeys", "team")]));
    assert!(!allows(
        &p,
        &[
            ("s3:RequestObjectTagKeys", "team"),
            ("s3:RequestObjectTagKeys", "owner")
        ]
    ));
    assert!(!p.mentions_key_prefix("s3:ExistingObjectTag/"));
}
