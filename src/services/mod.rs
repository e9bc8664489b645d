//! Use cases over the database: each public function is one unit of work, and every
//! state change is one transaction. Services translate between `entities` rows and
//! `domain` values; the GraphQL, REST and CLI edges call only these.

pub mod accounts;
pub mod api_keys;
pub mod demo;
pub mod error;
pub mod promo_codes;

pub use error::{ServiceError, ServiceResult, UserError, UserErrorCode};

/// The current time, truncated to microseconds so that values read back from either
/// database compare equal to the ones written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}
