//! `partner_share_links` table. A read-only link to one partner's (or one code's)
//! figures, stored as its token's SHA-256.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_share_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    /// Exactly one of `partner_id` and `promo_code_id` is set.
    pub partner_id: Option<i64>,
    pub promo_code_id: Option<i64>,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
