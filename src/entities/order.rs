//! `orders` table. An order with its price and promo snapshot.
use sea_orm::entity::prelude::*;

use super::enums::{CurrencyCode, DiscountKind, OrderStatus, Provider};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub number: String,
    /// Lets the buyer fetch their invoice without an account.
    pub access_token: String,
    pub cart_id: Option<i64>,
    /// As the buyer typed it.
    pub email: String,
    /// The normalized buyer identity used for per-customer caps.
    pub customer_key: String,
    pub status: OrderStatus,
    pub provider: Provider,
    /// Checkout object at the provider: Stripe session `cs_…`, PayPal order id.
    pub provider_ref: Option<String>,
    /// Payment at the provider: Stripe PaymentIntent `pi_…`, PayPal capture id.
    pub payment_ref: Option<String>,
    pub currency: CurrencyCode,
    pub prices_include_vat: bool,
    pub subtotal: i64,
    pub discount_amount: i64,
    pub net_amount: i64,
    pub vat_amount: i64,
    pub total: i64,
    /// Tickets in the order (Σ item quantities).
    pub ticket_count: i32,
    pub refunded_amount: i64,
    pub promo_code_id: Option<i64>,
    pub promo_code: Option<String>,
    pub promo_discount_type: Option<DiscountKind>,
    pub promo_percent_off_bp: Option<i32>,
    pub promo_amount_off: Option<i64>,
    pub over_cap: bool,
    /// The cart's session had a `?promo=` link visit of the order's code.
    pub via_link: bool,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub failure_reason: Option<String>,
    /// The provider page a pending order is paid on (returned again to a retry).
    pub redirect_url: Option<String>,
    /// A payment arrived for tickets that are gone: its refund is owed until it succeeds.
    pub refund_due: bool,
    /// The seller's legal name when the order was placed (its invoice keeps it).
    pub seller_name: Option<String>,
    /// The seller's address then.
    pub seller_address: Option<String>,
    /// The seller's VAT id then.
    pub seller_vat_id: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub paid_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
