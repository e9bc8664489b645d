//! `accounts` table. An organizer: one shop, one currency, one VAT setting.
use sea_orm::entity::prelude::*;

use super::enums::CurrencyCode;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// ISO 4217 code.
    pub currency: CurrencyCode,
    /// Default VAT rate in basis points (1900 = 19 %).
    pub vat_rate_bp: i32,
    pub prices_include_vat: bool,
    /// IANA time zone name, e.g. `Europe/Berlin`: where "end of October" ends.
    pub time_zone: String,
    /// The seller's legal name on invoices (the display name when unset).
    pub seller_legal_name: Option<String>,
    /// The seller's postal address on invoices, lines separated by newlines.
    pub seller_address: Option<String>,
    /// The seller's VAT identification number on invoices.
    pub seller_vat_id: Option<String>,
    /// Where the shop's storefront lives (absolute http(s) URL).
    pub storefront_url: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
