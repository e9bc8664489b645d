//! The pure domain: values that parse instead of validate, and the rules on them.
//!
//! Nothing here does I/O or knows about sea-orm, axum or async-graphql; every other
//! layer depends on this one and never the other way round.

pub mod account;
pub mod api_key;
pub mod calendar;
pub mod email;
pub mod money;
pub mod pricing;
pub mod promo;

pub use money::{Currency, Money, MoneyError, VatRate};
