//! GraphQL object, input and enum types. Each wraps a row or a domain value and
//! documents every field for the people and assistants reading the schema.

pub mod api_key;
pub mod money;
pub mod shop;
pub mod user_error;

pub use api_key::{ApiKey, ApiKeyScope};
pub use money::Money;
pub use shop::{Event, Shop, TicketType};
pub use user_error::{UserError, UserErrorCode};

use async_graphql::ID;

/// Parses an `ID` argument into a row id; `None` for anything but a positive integer.
pub fn parse_id(id: &ID) -> Option<i64> {
    id.parse::<i64>().ok().filter(|v| *v > 0)
}

/// A row id as a GraphQL `ID`.
pub fn to_id(id: i64) -> ID {
    ID::from(id.to_string())
}
