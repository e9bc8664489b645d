//! The closed sets stored as text columns, as types: a status read from the database is
//! one of these or the row does not load, and no code compares strings. Each is stored
//! as its variant's name in SCREAMING_SNAKE_CASE (`PartiallyRefunded` is
//! `PARTIALLY_REFUNDED`), as the migrations wrote them.

use sea_orm::entity::prelude::*;

/// Where an order stands (`orders.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Awaiting payment at its provider; holds its tickets.
    Pending,
    /// Paid.
    Paid,
    /// Paid, part of it refunded.
    PartiallyRefunded,
    /// Paid and refunded in full.
    Refunded,
    /// Not paid in time.
    Expired,
    /// Failed, replaced, or paid for tickets that were gone (and refunded).
    Cancelled,
}

impl OrderStatus {
    /// Paid, whether or not refunds followed.
    pub fn is_paid(self) -> bool {
        matches!(self, OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded)
    }
}

/// Where a cart stands (`carts.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CartStatus {
    /// Being filled.
    Open,
    /// An order was paid from it.
    CheckedOut,
}

/// Where an outbound webhook delivery stands (`webhook_deliveries.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Answered 2xx.
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

/// Which provider an order pays through (`orders.provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Provider {
    /// Total 0: paid at once, nobody called.
    Free,
    /// Stripe Checkout.
    Stripe,
    /// PayPal Orders v2.
    Paypal,
}

/// How a promo code discounts (`promo_codes.discount_type`, `orders.promo_discount_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscountKind {
    /// A percentage of the eligible lines.
    Percentage,
    /// A fixed amount off the eligible lines.
    FixedAmount,
}

impl From<DiscountKind> for crate::domain::promo::DiscountType {
    fn from(kind: DiscountKind) -> Self {
        match kind {
            DiscountKind::Percentage => crate::domain::promo::DiscountType::Percentage,
            DiscountKind::FixedAmount => crate::domain::promo::DiscountType::FixedAmount,
        }
    }
}

impl From<crate::domain::promo::DiscountType> for DiscountKind {
    fn from(kind: crate::domain::promo::DiscountType) -> Self {
        match kind {
            crate::domain::promo::DiscountType::Percentage => DiscountKind::Percentage,
            crate::domain::promo::DiscountType::FixedAmount => DiscountKind::FixedAmount,
        }
    }
}

/// Where an event's sales stand (`events.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    /// Being prepared: not public, sells nothing.
    Draft,
    /// Public, and its ticket types sell (within their sales windows).
    OnSale,
    /// Still public, but sells nothing more.
    SalesEnded,
    /// Called off: public no more, sells nothing.
    Cancelled,
}

/// Which edge an admin write came through (`audit_log.via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditVia {
    /// The GraphQL API.
    Graphql,
    /// The REST API under `/admin`.
    Rest,
    /// The `tixshop` command line on the server.
    Cli,
    /// The MCP server (`tixshop mcp`, `/mcp`): an AI assistant with an API key.
    Mcp,
    /// The server itself (the demo seed).
    System,
}

/// What kind of object an audit entry is about (`audit_log.target_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditTarget {
    /// The shop's settings (the account).
    Shop,
    /// An event.
    Event,
    /// A ticket type.
    TicketType,
    /// A promo code.
    PromoCode,
    /// An API key.
    ApiKey,
    /// A webhook endpoint.
    WebhookEndpoint,
    /// A webhook delivery.
    WebhookDelivery,
    /// An order (refunds).
    Order,
    /// A partner.
    Partner,
    /// A partner share link.
    ShareLink,
    /// A batch of generated codes.
    PromoBatch,
}

/// The stored form, e.g. `PAID` (messages, logs).
macro_rules! display_stored_form {
    ($($ty:ty),*) => {$(
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&sea_orm::ActiveEnum::to_value(self))
            }
        }
    )*};
}
display_stored_form!(
    OrderStatus,
    CartStatus,
    DeliveryStatus,
    Provider,
    DiscountKind,
    EventStatus,
    AuditVia,
    AuditTarget
);

/// An ISO 4217 currency as stored (`accounts.currency`, `orders.currency`): parsed once,
/// when the row is read, so no caller re-parses (or guesses) it. A row whose code is not
/// a known currency fails to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, DeriveValueType)]
#[sea_orm(value_type = "String", from_str = "CurrencyCode::from_code", to_str = "CurrencyCode::stored_code")]
pub struct CurrencyCode(pub crate::domain::Currency);

impl CurrencyCode {
    fn from_code(code: &str) -> Result<Self, crate::domain::MoneyError> {
        crate::domain::Currency::parse(code).map(CurrencyCode)
    }

    fn stored_code(&self) -> String {
        self.0.code().to_owned()
    }
}

impl std::ops::Deref for CurrencyCode {
    type Target = crate::domain::Currency;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<crate::domain::Currency> for CurrencyCode {
    fn from(currency: crate::domain::Currency) -> Self {
        CurrencyCode(currency)
    }
}

impl std::fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    /// The stored forms are the ones the migrations and the raw report SQL use.
    #[test]
    fn stored_forms_are_screaming_snake_case() {
        let orders: Vec<String> = OrderStatus::iter().map(|s| s.to_value()).collect();
        assert_eq!(orders, ["PENDING", "PAID", "PARTIALLY_REFUNDED", "REFUNDED", "EXPIRED", "CANCELLED"]);
        assert_eq!(CartStatus::CheckedOut.to_value(), "CHECKED_OUT");
        assert_eq!(DeliveryStatus::Delivered.to_value(), "DELIVERED");
        assert_eq!(Provider::Paypal.to_value(), "PAYPAL");
        assert_eq!(DiscountKind::FixedAmount.to_value(), "FIXED_AMOUNT");
        // The migration's default for events that existed before statuses.
        assert_eq!(EventStatus::OnSale.to_value(), "ON_SALE");
        assert_eq!(AuditTarget::TicketType.to_value(), "TICKET_TYPE");
        assert_eq!(AuditVia::Graphql.to_value(), "GRAPHQL");
        assert_eq!(OrderStatus::try_from_value(&"PARTIALLY_REFUNDED".to_owned()), Ok(OrderStatus::PartiallyRefunded));
    }
}
