//! `order_items` table. One price point of an order line (a line may have two).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    /// The cart line this price point comes from (two rows share it when split).
    pub line_no: i32,
    pub ticket_type_id: Option<i64>,
    pub event_id: Option<i64>,
    pub name: String,
    pub quantity: i32,
    pub original_price: i64,
    pub discount_amount: i64,
    pub unit_price: i64,
    pub line_total: i64,
    pub vat_rate_bp: i32,
    pub vat_amount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
