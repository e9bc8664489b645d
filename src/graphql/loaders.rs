//! DataLoaders: one query per batch of keys, however many objects a list resolves.
//! The queries are in [`crate::services::batch`].

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use sea_orm::DatabaseConnection;

use crate::entities::{account, event, order_item, partner, promo_code, refund, ticket_type};
use crate::services::{ServiceError, batch};

/// Declares a loader whose batch is one `services::batch` function.
macro_rules! loader {
    ($(#[$doc:meta])* $name:ident, $value:ty, $batch:path) => {
        $(#[$doc])*
        pub struct $name(pub DatabaseConnection);

        impl Loader<i64> for $name {
            type Value = $value;
            type Error = Arc<ServiceError>;

            async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
                $batch(&self.0, keys).await.map_err(Arc::new)
            }
        }
    };
}

loader!(
    /// Ticket types by event id.
    TicketTypesByEvent, Vec<ticket_type::Model>, batch::ticket_types_by_event
);

loader!(
    /// Events by id.
    EventById, event::Model, batch::events
);

loader!(
    /// Order items by order id (in id order).
    OrderItemsByOrder, Vec<order_item::Model>, batch::order_items
);

loader!(
    /// Refunds by order id (oldest first).
    RefundsByOrder, Vec<refund::Model>, batch::refunds
);

loader!(
    /// Sales figures by event id (the `sales` of a whole page in two queries).
    EventSalesById, crate::services::events::Sales, crate::services::events::sales
);

loader!(
    /// Promo codes by id (deleted ones included).
    PromoCodeById, promo_code::Model, batch::promo_codes
);

loader!(
    /// Partners by id.
    PartnerById, partner::Model, batch::partners
);

/// Accounts by id, shared (every order of a page has the same one).
pub struct AccountById(pub DatabaseConnection);

impl Loader<i64> for AccountById {
    type Value = Arc<account::Model>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = batch::accounts(&self.0, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|(id, a)| (id, Arc::new(a))).collect())
    }
}

/// Carts by token, priced when read: the reloads of subscribed carts signalled at once
/// become one statement per batch (see [`crate::services::carts::get_many`]). No cache:
/// every load reads the cart as it is now.
pub struct CartsByToken(pub crate::db::Kept);

impl Loader<String> for CartsByToken {
    type Value = crate::services::carts::PricedCartView;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        crate::services::carts::get_many(&self.0, keys).await.map_err(Arc::new)
    }
}
