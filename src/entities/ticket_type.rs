//! `ticket_types` table. A kind of ticket for one event.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_types")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub event_id: i64,
    pub name: String,
    /// Unit price in minor units, gross or net per the account's VAT mode.
    pub price: i64,
    /// Basis points; `None` = the account's default rate.
    pub vat_rate_bp: Option<i32>,
    pub capacity: Option<i64>,
    pub sold_count: i64,
    /// Tickets held by pending paid checkouts (released when they expire or fail).
    pub held_count: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
