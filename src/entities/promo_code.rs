//! `promo_codes` table. A promo code of an account.
use sea_orm::entity::prelude::*;

use super::enums::DiscountKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "promo_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    /// Upper-case, trimmed.
    pub code: String,
    /// `PERCENTAGE` or `FIXED_AMOUNT`.
    pub discount_type: DiscountKind,
    /// Hundredths of a percent (1550 = 15.50 %), for PERCENTAGE.
    pub percent_off_bp: Option<i32>,
    /// Minor units, for FIXED_AMOUNT.
    pub amount_off: Option<i64>,
    pub event_id: Option<i64>,
    pub expires_at: Option<DateTimeUtc>,
    pub usage_limit: Option<i64>,
    pub max_per_customer: Option<i64>,
    /// Grows only, atomically in SQL, when an order with the code becomes paid.
    pub redemptions_count: i64,
    pub active: bool,
    pub description: Option<String>,
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Before this instant the code is SCHEDULED and gives nothing.
    pub starts_at: Option<DateTimeUtc>,
    /// Eligible subtotal (before discount, minor units) the cart must reach.
    pub minimum_subtotal: Option<i64>,
    /// The `generatePromoCodes` batch it was made in.
    pub batch_id: Option<i64>,
    /// The partner who hands it out.
    pub partner_id: Option<i64>,
    /// The one buyer it is for: the email as given (normalized).
    pub recipient_email: Option<String>,
    /// That buyer's customer key (aliases folded), what carts and orders are compared by.
    pub recipient_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
