//! DataLoaders: one query per batch of keys, however many objects a list resolves.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::DatabaseConnection;

use crate::entities::{event, ticket_type};
use crate::services::{ServiceError, accounts};

/// Ticket types by event id.
pub struct TicketTypesByEvent {
    db: DatabaseConnection,
}

impl TicketTypesByEvent {
    /// A loader over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        TicketTypesByEvent { db }
    }
}

impl Loader<i64> for TicketTypesByEvent {
    type Value = Vec<ticket_type::Model>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        accounts::ticket_types_by_event(&self.db, keys).await.map_err(Arc::new)
    }
}

/// Events by id.
pub struct EventById {
    db: DatabaseConnection,
}

impl EventById {
    /// A loader over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        EventById { db }
    }
}

impl Loader<i64> for EventById {
    type Value = event::Model;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let rows = event::Entity::find()
            .filter(event::Column::Id.is_in(keys.iter().copied()))
            .all(&self.db)
            .await
            .map_err(|e| Arc::new(ServiceError::Db(e)))?;
        Ok(rows.into_iter().map(|e| (e.id, e)).collect())
    }
}

/// Loads rows of `E` whose `column` is one of the keys, grouped by that key.
async fn grouped<E, F>(
    db: &DatabaseConnection,
    column: E::Column,
    keys: &[i64],
    key_of: F,
) -> Result<HashMap<i64, Vec<E::Model>>, Arc<ServiceError>>
where
    E: sea_orm::EntityTrait,
    F: Fn(&E::Model) -> i64,
{
    use sea_orm::{ColumnTrait, QueryFilter};
    let rows = E::find()
        .filter(column.is_in(keys.iter().copied()))
        .all(db)
        .await
        .map_err(|e| Arc::new(ServiceError::Db(e)))?;
    let mut map: HashMap<i64, Vec<E::Model>> = HashMap::new();
    for row in rows {
        map.entry(key_of(&row)).or_default().push(row);
    }
    Ok(map)
}

/// Order items by order id (in id order).
pub struct OrderItemsByOrder(pub DatabaseConnection);

impl Loader<i64> for OrderItemsByOrder {
    type Value = Vec<crate::entities::order_item::Model>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        use crate::entities::order_item;
        let mut map =
            grouped::<order_item::Entity, _>(&self.0, order_item::Column::OrderId, keys, |i| i.order_id).await?;
        map.values_mut().for_each(|v| v.sort_by_key(|i| i.id));
        Ok(map)
    }
}

/// Refunds by order id (oldest first).
pub struct RefundsByOrder(pub DatabaseConnection);

impl Loader<i64> for RefundsByOrder {
    type Value = Vec<crate::entities::refund::Model>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        use crate::entities::refund;
        let mut map = grouped::<refund::Entity, _>(&self.0, refund::Column::OrderId, keys, |r| r.order_id).await?;
        map.values_mut().for_each(|v| v.sort_by_key(|r| r.id));
        Ok(map)
    }
}

/// Promo codes by id (deleted ones included).
pub struct PromoCodeById(pub DatabaseConnection);

impl Loader<i64> for PromoCodeById {
    type Value = crate::entities::promo_code::Model;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        use crate::entities::promo_code;
        let map = grouped::<promo_code::Entity, _>(&self.0, promo_code::Column::Id, keys, |p| p.id).await?;
        Ok(map.into_iter().filter_map(|(k, mut v)| v.pop().map(|p| (k, p))).collect())
    }
}

/// Accounts by id.
pub struct AccountById(pub DatabaseConnection);

impl Loader<i64> for AccountById {
    type Value = Arc<crate::entities::account::Model>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        use crate::entities::account;
        let map = grouped::<account::Entity, _>(&self.0, account::Column::Id, keys, |a| a.id).await?;
        Ok(map.into_iter().filter_map(|(k, mut v)| v.pop().map(|a| (k, Arc::new(a)))).collect())
    }
}
