//! Deciding one request against a compiled policy.
//!
//! The AWS rule for one policy: an explicit `Deny` from any statement that
//! applies wins; otherwise an `Allow` from any statement that applies
//! allows; otherwise the policy has nothing to say and the caller's default
//! (usually the owner check, then an implicit deny) decides.
//!
//! A statement applies when its action, resource, principal and every
//! condition match. They are tried in that order because actions and
//! resources are the cheapest tests and rule out most statements; once some
//! statement has allowed, only `Deny` statements are still worth trying.

use crate::document::{Effect, Policy, Statement};
use crate::request::Request;

/// What a policy says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A `Deny` statement applies: refuse, whatever else allows.
    ExplicitDeny,
    /// An `Allow` statement applies and no `Deny` does.
    Allow,
    /// No statement applies (an implicit deny, unless something else
    /// grants access).
    NotApplicable,
}

impl Policy {
    /// Decides `req`. Does not allocate unless the policy uses policy
    /// variables or engine-derived time keys.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for st in &self.statements {
            if allowed && st.effect == Effect::Allow {
                continue;
            }
            if st.applies(req) {
                match st.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::NotApplicable
        }
    }
}

impl Statement {
    fn applies(&self, req: &Request<'_>) -> bool {
        let action = self.action.inner.iter().any(|p| p.matches(req.action, &()));
        if action == self.action.negated {
            return false;
        }
        let resource = self.resource.inner.iter().any(|p| p.matches(req.resource, req));
        if resource == self.resource.negated {
            return false;
        }
        match &self.principal {
            Some(p) if p.inner.matches(&req.principal) == p.negated => return false,
            None => return false,
            Some(_) => {}
        }
        self.conditions.iter().all(|c| c.holds(req))
    }
}
