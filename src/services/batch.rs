//! Rows for many keys in one query each: what the GraphQL DataLoaders load, so a list
//! of orders or codes costs one query per kind of row, however long it is.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entities::{account, event, order_item, partner, promo_code, refund, ticket_type};

use super::ServiceResult;

/// Rows of `E` whose `column` is one of `keys`, ordered by `order`.
async fn rows_in<E: EntityTrait>(
    db: &impl ConnectionTrait,
    column: E::Column,
    keys: &[i64],
    order: E::Column,
) -> ServiceResult<Vec<E::Model>> {
    Ok(E::find().filter(column.is_in(keys.iter().copied())).order_by_asc(order).all(db).await?)
}

/// Rows grouped by `key`, each group keeping the rows' order.
fn grouped<M>(rows: Vec<M>, key: impl Fn(&M) -> i64) -> HashMap<i64, Vec<M>> {
    let mut groups: HashMap<i64, Vec<M>> = HashMap::new();
    for row in rows {
        groups.entry(key(&row)).or_default().push(row);
    }
    groups
}

/// Rows by their id.
fn by_id<M>(rows: Vec<M>, id: impl Fn(&M) -> i64) -> HashMap<i64, M> {
    rows.into_iter().map(|row| (id(&row), row)).collect()
}

/// Accounts by id.
pub async fn accounts(db: &impl ConnectionTrait, ids: &[i64]) -> ServiceResult<HashMap<i64, account::Model>> {
    let rows = rows_in::<account::Entity>(db, account::Column::Id, ids, account::Column::Id).await?;
    Ok(by_id(rows, |a| a.id))
}

/// Events by id.
pub async fn events(db: &impl ConnectionTrait, ids: &[i64]) -> ServiceResult<HashMap<i64, event::Model>> {
    let rows = rows_in::<event::Entity>(db, event::Column::Id, ids, event::Column::Id).await?;
    Ok(by_id(rows, |e| e.id))
}

/// Promo codes by id, deleted ones included (orders keep pointing at them).
pub async fn promo_codes(db: &impl ConnectionTrait, ids: &[i64]) -> ServiceResult<HashMap<i64, promo_code::Model>> {
    let rows = rows_in::<promo_code::Entity>(db, promo_code::Column::Id, ids, promo_code::Column::Id).await?;
    Ok(by_id(rows, |p| p.id))
}

/// Partners by id.
pub async fn partners(db: &impl ConnectionTrait, ids: &[i64]) -> ServiceResult<HashMap<i64, partner::Model>> {
    let rows = rows_in::<partner::Entity>(db, partner::Column::Id, ids, partner::Column::Id).await?;
    Ok(by_id(rows, |p| p.id))
}

/// The ticket types of events, by event id, in id order.
pub async fn ticket_types_by_event(
    db: &impl ConnectionTrait,
    event_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<ticket_type::Model>>> {
    let rows =
        rows_in::<ticket_type::Entity>(db, ticket_type::Column::EventId, event_ids, ticket_type::Column::Id).await?;
    Ok(grouped(rows, |t| t.event_id))
}

/// The items of orders, by order id, in id order.
pub async fn order_items(
    db: &impl ConnectionTrait,
    order_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<order_item::Model>>> {
    let rows =
        rows_in::<order_item::Entity>(db, order_item::Column::OrderId, order_ids, order_item::Column::Id).await?;
    Ok(grouped(rows, |i| i.order_id))
}

/// The refunds of orders, by order id, oldest first.
pub async fn refunds(db: &impl ConnectionTrait, order_ids: &[i64]) -> ServiceResult<HashMap<i64, Vec<refund::Model>>> {
    let rows = rows_in::<refund::Entity>(db, refund::Column::OrderId, order_ids, refund::Column::Id).await?;
    Ok(grouped(rows, |r| r.order_id))
}

/// The shops (account ids) of these orders, each once.
pub async fn order_accounts(db: &impl ConnectionTrait, order_ids: &[i64]) -> ServiceResult<Vec<i64>> {
    use sea_orm::QuerySelect;
    let mut accounts: Vec<i64> = crate::entities::order::Entity::find()
        .select_only()
        .column(crate::entities::order::Column::AccountId)
        .filter(crate::entities::order::Column::Id.is_in(order_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    accounts.sort_unstable();
    accounts.dedup();
    Ok(accounts)
}
