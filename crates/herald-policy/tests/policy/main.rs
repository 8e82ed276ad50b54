//! Behaviour of herald-policy through its public API: parsing (and every
//! refusal), principals, actions and resources, every condition operator,
//! evaluation order and `is_public`.

mod common;
mod conditions;
mod eval;
mod parse;
mod principals;
mod public;
