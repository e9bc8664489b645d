//! The organizer's orders: one by id, and the filtered, sorted list.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};

use super::context::ContextExt;
use super::errors::{self, ErrorCode, client_error};
use super::types::order::{Order, OrderConnection, OrderEdge, OrderFilter, OrderOrder, Related, SortDirection};
use super::types::{PageInfo, parse_id};
use crate::services::orders::{self, Cursor, SortField};

/// Order queries (read or admin key).
#[derive(Default)]
pub struct OrderQuery;

/// Order queries (read or admin key).
#[Object]
impl OrderQuery {
    /// One of your shop's orders; null when there is none.
    async fn order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id.")] id: ID,
    ) -> async_graphql::Result<Option<Order>> {
        let principal = ctx.caller().reader()?;
        let Some(id) = parse_id(&id) else { return Ok(None) };
        Ok(errors::query(orders::find(ctx.db(), principal.account_id, id).await)?.map(Order::new))
    }

    /// Your shop's orders: filter and sort by promo code, utm_source, status, buyer and
    /// date to see what each partner drove. A Relay connection.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Filters; all orders when omitted.")] filter: Option<OrderFilter>,
        #[graphql(desc = "Sort; newest first when omitted.")] order_by: Option<OrderOrder>,
        #[graphql(desc = "Page size, 1–200.", default = 50)] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page (same `orderBy`).")] after: Option<String>,
    ) -> async_graphql::Result<OrderConnection> {
        let principal = ctx.caller().reader()?;
        let Some(first) = u64::try_from(first).ok().filter(|n| (1..=orders::MAX_PAGE).contains(n)) else {
            let message = format!("`first` must be between 1 and {}", orders::MAX_PAGE);
            return Err(client_error(ErrorCode::BadUserInput, message));
        };
        let sort = order_by.unwrap_or_default();
        let field: SortField = sort.field.into();
        let descending = sort.direction == SortDirection::Desc;
        let filter = filter.unwrap_or_default().into();
        let page = errors::query(
            orders::list(ctx.db(), principal.account_id, &filter, field, descending, first, after.as_deref()).await,
        )?;
        // Items, refunds, codes and the account of the whole page: one batch each.
        let related = Arc::new(Related::load(ctx, &page.items).await?);
        let edges: Vec<OrderEdge> = page
            .items
            .into_iter()
            .map(|o| OrderEdge { cursor: Cursor::after(&o, field).encode(), node: Order(o, Some(related.clone())) })
            .collect();
        let page_info = PageInfo::new(
            after.is_some(),
            page.has_next,
            edges.first().map(|e| e.cursor.as_str()),
            edges.last().map(|e| e.cursor.as_str()),
        );
        Ok(OrderConnection { edges, page_info })
    }
}
