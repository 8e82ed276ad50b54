//! `is_public`, as AWS defines a public bucket/topic/queue policy.

use crate::common::*;

fn public(statement: &str) -> bool {
    policy(&format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#)).is_public()
}

fn allow_all(condition: &str) -> String {
    let condition = if condition.is_empty() {
        String::new()
    } else {
        format!(r#","Condition":{condition}"#)
    };
    format!(r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"{condition}}}"#)
}

#[test]
fn everyone_without_conditions_is_public() {
    assert!(public(&allow_all("")));
    assert!(public(
        r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}"#
    ));
    assert!(public(
        r#"{"Effect":"Allow","Principal":{"AWS":["bob","*"]},"Action":"s3:GetObject","Resource":"*"}"#
    ));
    // "Everyone but bob" would be public: such an Allow is refused.
    refused_with(
        r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"bob"},"Action":"s3:GetObject","Resource":"*"}}"#,
        "NotPrincipal can only be used with Effect Deny",
    );
}

#[test]
fn named_principals_and_denies_are_not_public() {
    assert!(!public(
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::bob:user/bob"},"Action":"s3:*","Resource":"*"}"#
    ));
    assert!(!public(
        r#"{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"*"}"#
    ));
    assert!(!public(
        r#"{"Effect":"Allow","Principal":{"CanonicalUser":"c0ffee"},"Action":"s3:*","Resource":"*"}"#
    ));
    assert!(!public(
        r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}"#
    ));
}

#[test]
fn one_public_statement_makes_the_policy_public() {
    let private = r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:*","Resource":"*"}"#;
    assert!(public(&format!("{private},{}", allow_all(""))));
    assert!(!public(private));
}

#[test]
fn fixed_source_conditions_restrict() {
    for c in [
        r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
        r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.1"]}}"#,
        r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#,
        r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:default:alice:t"}}"#,
        r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:default:alice:t"}}"#,
        r#"{"StringEquals":{"aws:SourceAccount":"alice"}}"#,
        r#"{"StringEquals":{"AWS:SOURCEACCOUNT":"alice"}}"#,
        r#"{"StringEquals":{"aws:SourceVpce":"vpce-1"}}"#,
        r#"{"StringEquals":{"aws:PrincipalAccount":["alice","bob"]}}"#,
        r#"{"ForAnyValue:StringEquals":{"aws:SourceAccount":"alice"}}"#,
        r#"{"StringEquals":{"s3:prefix":"x","aws:SourceAccount":"alice"}}"#,
    ] {
        assert!(!public(&allow_all(c)), "{c}");
    }
}

#[test]
fn loose_conditions_do_not_restrict() {
    for c in [
        // Too wide.
        r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
        r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","0.0.0.0/1"]}}"#,
        r#"{"IpAddress":{"aws:SourceIp":"::/0"}}"#,
        r#"{"IpAddress":{"aws:SourceIp":"2001::/16"}}"#,
        // Negated, IfExists and ForAllValues all hold without the key.
        r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        r#"{"StringNotEquals":{"aws:SourceAccount":"alice"}}"#,
        r#"{"StringEqualsIfExists":{"aws:SourceAccount":"alice"}}"#,
        r#"{"ForAllValues:StringEquals":{"aws:SourceAccount":"alice"}}"#,
        // Wildcards and variables are not fixed values.
        r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:alice:t"}}"#,
        r#"{"StringLike":{"aws:SourceAccount":"al*"}}"#,
        r#"{"StringEquals":{"aws:SourceAccount":"${aws:username}"}}"#,
        // Keys that do not identify the caller.
        r#"{"StringEquals":{"s3:prefix":"public/"}}"#,
        r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
        r#"{"DateLessThan":{"aws:CurrentTime":"2030-01-01"}}"#,
    ] {
        assert!(public(&allow_all(c)), "{c}");
    }
}
