//! Accounts (shops), their events and ticket types.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::domain::Currency;
use crate::domain::account::NewAccount;
use crate::entities::{account, event};

use super::{ServiceResult, UserError, UserErrorCode, now};

/// The account with this slug, if any.
pub async fn find_by_slug(db: &impl ConnectionTrait, slug: &str) -> ServiceResult<Option<account::Model>> {
    Ok(account::Entity::find().filter(account::Column::Slug.eq(slug)).one(db).await?)
}

/// The account with this id, if any.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> ServiceResult<Option<account::Model>> {
    Ok(account::Entity::find_by_id(id).one(db).await?)
}

/// The currency of the account with this id, if it exists.
pub async fn currency(db: &impl ConnectionTrait, id: i64) -> ServiceResult<Option<Currency>> {
    let Some(account) = find(db, id).await? else { return Ok(None) };
    Ok(Some(*account.currency))
}

/// Opens a new account; the slug must be free.
pub async fn create(db: &impl ConnectionTrait, new: &NewAccount) -> ServiceResult<account::Model> {
    if find_by_slug(db, new.slug.as_str()).await?.is_some() {
        return Err(
            UserError::new("slug", UserErrorCode::Taken, format!("the slug `{}` is taken", new.slug.as_str())).into()
        );
    }
    let row = account::ActiveModel {
        slug: Set(new.slug.as_str().to_owned()),
        name: Set(new.name.clone()),
        currency: Set(new.currency.into()),
        vat_rate_bp: Set(new.vat_rate.basis_points() as i32),
        prices_include_vat: Set(new.prices_include_vat),
        created_at: Set(now()),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

/// An account's events, soonest first.
pub async fn events(db: &impl ConnectionTrait, account_id: i64) -> ServiceResult<Vec<event::Model>> {
    Ok(event::Entity::find()
        .filter(event::Column::AccountId.eq(account_id))
        .order_by_asc(event::Column::StartsAt)
        .order_by_asc(event::Column::Id)
        .all(db)
        .await?)
}
