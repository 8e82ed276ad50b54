//! Helpers shared by the test modules.

use herald_policy::{Context, Decision, Limits, Policy, Principal, Request};

pub const BOB: Principal<'static> = Principal::User {
    name: "bob",
    canonical_id: "c0ffee-bob",
};
pub const ALICE: Principal<'static> = Principal::User {
    name: "alice",
    canonical_id: "c0ffee-alice",
};
pub const GET: &str = "s3:GetObject";
pub const OBJ: &str = "arn:aws:s3:::photos/cat.jpg";

pub fn policy(text: &str) -> Policy {
    Policy::parse(text, &Limits::DEFAULT).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The refusal's message.
pub fn refused(text: &str) -> String {
    match Policy::parse(text, &Limits::DEFAULT) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts `text` is refused with a message containing `needle`.
pub fn refused_with(text: &str, needle: &str) {
    let msg = refused(text);
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?} for {text}");
}

/// A 2012 policy of one statement: `effect` for everyone, `action` on
/// `resource`, with extra members appended (e.g. a Condition).
pub fn one(effect: &str, action: &str, resource: &str, extra: &str) -> Policy {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(",{extra}")
    };
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","Principal":"*","Action":"{action}","Resource":"{resource}"{extra}}}}}"#
    ))
}

/// An Allow-everyone `s3:GetObject` policy on `photos/*` with `condition`
/// as its Condition element.
pub fn cond(condition: &str) -> Policy {
    one(
        "Allow",
        GET,
        "arn:aws:s3:::photos/*",
        &format!(r#""Condition":{condition}"#),
    )
}

/// Does the policy allow bob's GetObject of OBJ with these context keys?
pub fn allows(p: &Policy, ctx: &[(&str, &str)]) -> bool {
    let context: Context<'_> = ctx.iter().copied().collect();
    decide(p, BOB, GET, OBJ, &context) == Decision::Allow
}

pub fn decide(p: &Policy, who: Principal<'_>, action: &str, resource: &str, ctx: &Context<'_>) -> Decision {
    p.evaluate(&Request::new(who, action, resource).with_context(ctx))
}
