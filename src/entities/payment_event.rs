//! `payment_events` table: provider events already processed (dedupe on their id).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub provider: String,
    pub event_type: String,
    pub received_at: DateTimeUtc,
    /// The payment reference (`pi_…`) an unmatched event waits for; `None` once applied.
    pub waiting_for: Option<String>,
    /// The raw event, kept while it waits.
    pub payload: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
