//! `events` table. An event of an account.
use sea_orm::entity::prelude::*;

use super::enums::EventStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub venue: Option<String>,
    pub starts_at: DateTimeUtc,
    pub ends_at: Option<DateTimeUtc>,
    /// Only ON_SALE events are shown publicly and sell tickets.
    pub status: EventStatus,
    pub description: Option<String>,
    /// Set when an event with orders is deleted: kept for their history, hidden otherwise.
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
