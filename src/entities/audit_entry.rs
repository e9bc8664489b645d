//! `audit_log` table. One admin write: who, when, what, and the fields it changed.
//! Rows are only ever inserted (the database refuses updates and deletes).
use sea_orm::entity::prelude::*;

use super::enums::{AuditTarget, AuditVia};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub at: DateTimeUtc,
    /// The API key that wrote; `None` for the command line and the server itself.
    pub key_id: Option<i64>,
    /// That key's name at the time (or `cli`, `system`).
    pub key_name: String,
    pub via: AuditVia,
    /// The GraphQL mutation's name, whichever edge it came through, e.g. `updatePromoCode`.
    pub operation: String,
    pub target_type: AuditTarget,
    pub target_id: i64,
    /// JSON array of `{"field", "before", "after"}` in API terms (money as decimal strings).
    pub changes: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
