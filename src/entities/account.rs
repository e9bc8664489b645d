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
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
