//! Principal forms: every way to name a Herald user, `*`, anonymous,
//! services, canonical ids, and the refusals.

use herald_policy::{Context, Decision, Principal, user_arn};

use crate::common::*;

fn with_principal(principal: &str) -> herald_policy::Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"s3:*","Resource":"*"}}}}"#
    ))
}

fn allowed(p: &herald_policy::Policy, who: Principal<'_>) -> bool {
    decide(p, who, GET, OBJ, &Context::new()) == Decision::Allow
}

#[test]
fn user_arn_is_account_equals_name() {
    assert_eq!(user_arn("bob"), "arn:aws:iam::bob:user/bob");
}

#[test]
fn four_ways_to_name_a_user_plus_canonical_id() {
    for form in [
        r#"{"AWS":"arn:aws:iam::bob:user/bob"}"#,
        r#"{"AWS":"arn:aws:iam:::user/bob"}"#,
        r#"{"AWS":"arn:aws:iam::bob:root"}"#,
        r#"{"AWS":"bob"}"#,
        r#"{"AWS":["alice","bob"]}"#,
        r#"{"AWS":"arn:aws:iam::bob:user/team/bob"}"#,
        r#"{"CanonicalUser":"c0ffee-bob"}"#,
    ] {
        let p = with_principal(form);
        assert!(allowed(&p, BOB), "{form}");
        assert!(!allowed(&p, Principal::Anonymous), "{form}");
        assert!(!allowed(&p, Principal::Service("s3.amazonaws.com")), "{form}");
        if !form.contains("alice") {
            assert!(!allowed(&p, ALICE), "{form}");
        }
    }
    let p = with_principal(&format!(r#"{{"AWS":"{}"}}"#, user_arn("bob")));
    assert!(allowed(&p, BOB));
}

#[test]
fn canonical_id_must_be_known() {
    let p = with_principal(r#"{"CanonicalUser":"c0ffee-bob"}"#);
    assert!(!allowed(
        &p,
        Principal::User {
            name: "bob",
            canonical_id: ""
        }
    ));
    assert!(!allowed(
        &p,
        Principal::User {
            name: "eve",
            canonical_id: "c0ffee-BOB"
        }
    ));
    assert!(allowed(
        &p,
        Principal::User {
            name: "eve",
            canonical_id: "c0ffee-bob"
        }
    ));
}

#[test]
fn names_are_case_sensitive() {
    let p = with_principal(r#"{"AWS":"Bob"}"#);
    assert!(!allowed(&p, BOB));
}

#[test]
fn everyone() {
    for form in [r#""*""#, r#"{"AWS":"*"}"#, r#"{"AWS":["alice","*"]}"#] {
        let p = with_principal(form);
        assert!(allowed(&p, BOB), "{form}");
        assert!(allowed(&p, Principal::Anonymous), "{form}");
        assert!(allowed(&p, Principal::Service("sns.amazonaws.com")), "{form}");
    }
}

#[test]
fn services() {
    let p = with_principal(r#"{"Service":["s3.amazonaws.com","sns.amazonaws.com"]}"#);
    assert!(allowed(&p, Principal::Service("s3.amazonaws.com")));
    assert!(allowed(&p, Principal::Service("SNS.amazonaws.com")));
    assert!(!allowed(&p, Principal::Service("sqs.amazonaws.com")));
    assert!(!allowed(&p, BOB));
    // A user named like a service is still a user.
    assert!(!allowed(
        &p,
        Principal::User {
            name: "s3.amazonaws.com",
            canonical_id: ""
        }
    ));
    assert!(!allowed(&p, Principal::Anonymous));
}

#[test]
fn mixed_kinds() {
    let p = with_principal(r#"{"AWS":"alice","Service":"s3.amazonaws.com","CanonicalUser":"c0ffee-bob"}"#);
    assert!(allowed(&p, ALICE));
    assert!(allowed(&p, BOB));
    assert!(allowed(&p, Principal::Service("s3.amazonaws.com")));
    assert!(!allowed(&p, Principal::Anonymous));
}

#[test]
fn invalid_principals() {
    for form in [
        r#""bob""#,
        r#""**""#,
        r#"42"#,
        r#"null"#,
        r#"["*"]"#,
        r#"{}"#,
        r#"{"AWS":[]}"#,
        r#"{"AWS":42}"#,
        r#"{"AWS":["bob",7]}"#,
        r#"{"AWS":""}"#,
        r#"{"AWS":"arn:aws:iam::bob:role/admin"}"#,
        r#"{"AWS":"arn:aws:sts::bob:assumed-role/r/s"}"#,
        r#"{"AWS":"arn:aws:iam::alice:user/bob"}"#,
        r#"{"AWS":"arn:aws:iam::*:root"}"#,
        r#"{"AWS":"arn:aws:iam::bob:user/*"}"#,
        r#"{"AWS":"arn:aws:iam:us-east-1:bob:root"}"#,
        r#"{"AWS":"arn::iam::bob:root"}"#,
        r#"{"AWS":"arn:aws:iam::bob"}"#,
        r#"{"AWS":"arn:aws:iam:::root"}"#,
        r#"{"AWS":"bo b"}"#,
        r#"{"AWS":"b?b"}"#,
        r#"{"Service":"*"}"#,
        r#"{"Service":""}"#,
        r#"{"CanonicalUser":"*"}"#,
        r#"{"Federated":"cognito-identity.amazonaws.com"}"#,
        r#"{"aws":"bob"}"#,
    ] {
        let text = format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{form},"Action":"s3:*","Resource":"*"}}}}"#);
        let msg = refused(&text);
        assert!(
            msg.starts_with("Statement[0].Principal: Invalid principal in policy"),
            "{form}: {msg}"
        );
    }
    refused_with(
        r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"Federated":"x"},"Action":"s3:*","Resource":"*"}}"#,
        "Statement[0].NotPrincipal: Invalid principal in policy: unknown principal type \"Federated\"",
    );
}

/// Ceph's reading (`Limits::tenant_users`, topic policies under `--compat
/// ceph`): `arn:aws:iam::<tenant>:user/<uid>` is `tenant$uid`, even when
/// the two are equal; `arn:aws:iam:::user/<uid>` a user without tenant;
/// a tenant's `root` is refused.
#[test]
fn tenant_users_are_read_as_ceph_reads_them() {
    let limits = herald_policy::Limits {
        tenant_users: true,
        ..herald_policy::Limits::DEFAULT
    };
    let parse = |principal: &str| {
        herald_policy::Policy::parse(
            &format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{principal},"Action":"s3:*","Resource":"*"}}}}"#),
            &limits,
        )
    };
    let user = |name| Principal::User { name, canonical_id: "" };
    let p = parse(r#"{"AWS":"arn:aws:iam::kaboom:user/bob"}"#).unwrap();
    assert!(allowed(&p, user("kaboom$bob")));
    assert!(!allowed(&p, user("bob")));
    let same = parse(r#"{"AWS":"arn:aws:iam::acme:user/acme"}"#).unwrap();
    assert!(allowed(&same, user("acme$acme")));
    assert!(
        !allowed(&same, user("acme")),
        "a user named like the tenant is not its user"
    );
    let bare = parse(r#"{"AWS":"arn:aws:iam:::user/bob"}"#).unwrap();
    assert!(allowed(&bare, user("bob")));
    assert!(!allowed(&bare, user("kaboom$bob")));
    assert!(parse(r#"{"AWS":"arn:aws:iam::kaboom:root"}"#).is_err());
    // Without it, another account's user is refused, as before.
    refused(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::kaboom:user/bob"},"Action":"s3:*","Resource":"*"}}"#,
    );
}
