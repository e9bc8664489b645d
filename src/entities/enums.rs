//! The closed sets stored as text columns, as types: a status read from the database is
//! one of these or the row does not load, and no code compares strings.

use sea_orm::entity::prelude::*;

/// Where an order stands (`orders.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum OrderStatus {
    /// Awaiting payment at its provider; holds its tickets.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// Paid.
    #[sea_orm(string_value = "PAID")]
    Paid,
    /// Paid, part of it refunded.
    #[sea_orm(string_value = "PARTIALLY_REFUNDED")]
    PartiallyRefunded,
    /// Paid and refunded in full.
    #[sea_orm(string_value = "REFUNDED")]
    Refunded,
    /// Not paid in time.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    /// Failed, replaced, or paid for tickets that were gone (and refunded).
    #[sea_orm(string_value = "CANCELLED")]
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
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum CartStatus {
    /// Being filled.
    #[sea_orm(string_value = "OPEN")]
    Open,
    /// An order was paid from it.
    #[sea_orm(string_value = "CHECKED_OUT")]
    CheckedOut,
}

/// Where an outbound webhook delivery stands (`webhook_deliveries.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// Answered 2xx.
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    /// Given up after the last attempt.
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

/// Which provider an order pays through (`orders.provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Provider {
    /// Total 0: paid at once, nobody called.
    #[sea_orm(string_value = "FREE")]
    Free,
    /// Stripe Checkout.
    #[sea_orm(string_value = "STRIPE")]
    Stripe,
    /// PayPal Orders v2.
    #[sea_orm(string_value = "PAYPAL")]
    Paypal,
}

/// How a promo code discounts (`promo_codes.discount_type`, `orders.promo_discount_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum DiscountKind {
    /// A percentage of the eligible lines.
    #[sea_orm(string_value = "PERCENTAGE")]
    Percentage,
    /// A fixed amount off the eligible lines.
    #[sea_orm(string_value = "FIXED_AMOUNT")]
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
display_stored_form!(OrderStatus, CartStatus, DeliveryStatus, Provider, DiscountKind);

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
