//! `carts` table. A buyer's cart; `token` is its public, unguessable id.
use sea_orm::entity::prelude::*;

use super::enums::CartStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "carts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub token: String,
    pub account_id: i64,
    pub session_id: Option<String>,
    pub email: Option<String>,
    pub promo_code_id: Option<i64>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    /// `OPEN`, `CHECKED_OUT` or `CLOSED`.
    pub status: CartStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
