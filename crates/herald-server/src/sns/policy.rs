//! Topic policies: defined with the event pipeline, which checks them at
//! every event (see `herald_notify::policy`).

pub use herald_notify::policy::{GRANTEE_SETTABLE, allows};
