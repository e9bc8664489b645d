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
