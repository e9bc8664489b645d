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
    /// Sales open at this instant; `None` = as soon as the event is on sale.
    pub sales_from: Option<DateTimeUtc>,
    /// Sales close after this instant; `None` = until the event's sales end.
    pub sales_until: Option<DateTimeUtc>,
    /// Not listed in the public shop; still sold by id (a private link).
    pub hidden: bool,
    /// Set when a ticket type with orders is deleted: kept for their history.
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
