//! GraphQL object, input and enum types. Each wraps a row or a domain value and
//! documents every field for the people and assistants reading the schema.

pub mod api_key;
pub mod audit;
pub mod campaign;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod invoice;
pub mod money;
pub mod order;
pub mod promo_code;
pub mod report;
pub mod shop;
pub mod user_error;
pub mod webhook;

pub use api_key::{ApiKey, ApiKeyScope};
pub use campaign::Partner;
pub use money::Money;
pub use promo_code::PromoCode;
pub use shop::{Event, Shop, TicketType};
pub use user_error::{UserError, UserErrorCode};

use async_graphql::{ID, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};
use chrono::NaiveDate;

/// A calendar date, "YYYY-MM-DD", e.g. "2027-10-31". An argument ending in `On` reads it
/// in the shop's time zone: `expiresOn: "2027-10-31"` lasts through 23:59:59.999 of
/// that day on the shop's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A calendar date, "YYYY-MM-DD", e.g. "2027-10-31". An argument ending in `On` reads it
/// in the shop's time zone: `expiresOn: "2027-10-31"` lasts through 23:59:59.999 of
/// that day on the shop's clock.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .filter(|_| s.len() == 10)
                .map(Date)
                .ok_or_else(|| InputValueError::custom(format!("`{s}` is not a date \"YYYY-MM-DD\""))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// Pagination state of a connection (Relay).
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    /// Whether items precede this page (true whenever `after` was given).
    pub has_previous_page: bool,
    /// Whether more items follow this page.
    pub has_next_page: bool,
    /// Cursor of the first item of this page; null when empty.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of this page: pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

impl PageInfo {
    /// A page whose first and last cursors are these; `after_given` when it follows a
    /// cursor, `has_next_page` when more items follow it.
    pub fn new(after_given: bool, has_next_page: bool, start: Option<&str>, end: Option<&str>) -> Self {
        PageInfo {
            has_previous_page: after_given,
            has_next_page,
            start_cursor: start.map(str::to_owned),
            end_cursor: end.map(str::to_owned),
        }
    }
}

/// Parses an `ID` argument into a row id; `None` for anything but a positive integer.
pub fn parse_id(id: &ID) -> Option<i64> {
    id.parse::<i64>().ok().filter(|v| *v > 0)
}

/// A row id as a GraphQL `ID`.
pub fn to_id(id: i64) -> ID {
    ID::from(id.to_string())
}
