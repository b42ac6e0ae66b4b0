//! What can stop a `dedupe`, `link` or `encode` run before it writes anything (defined with
//! the crate's other errors).

pub use crate::error::ResolveError;
