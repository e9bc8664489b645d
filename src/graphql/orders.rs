//! The organizer's orders: one by id, and the filtered, sorted list.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};

use super::context::ContextExt;
use super::errors::{self, ErrorCode, client_error};
use super::types::order::{Order, OrderConnection, OrderEdge, OrderFilter, OrderOrder, Related, SortDirection};
use super::types::{PageInfo, parse_id};
use crate::services::orders::{self, Cursor, SortField};

/// Order queries (read or admin key), and the buyer's receipt (the order's token).
#[derive(Default)]
pub struct OrderQuery;

/// What the buyer sees of their order after checkout: the thank-you page.
#[derive(async_graphql::SimpleObject)]
pub struct Receipt {
    /// The order number, e.g. "TX-7F3K9Q2A".
    pub number: String,
    /// Where the order stands: PAID once the payment arrived; PENDING while the
    /// provider's confirmation is on its way; EXPIRED or CANCELLED when it was not paid.
    pub status: super::types::order::OrderStatus,
    /// What was (or is to be) paid.
    pub total: super::types::Money,
    /// The invoice (lines at the prices paid, the promo line, Net / VAT / Total); null
    /// until paid.
    pub invoice: Option<super::types::invoice::Invoice>,
    /// The invoice page for the buyer (carries the token); null until paid.
    pub invoice_path: Option<String>,
}

/// Order queries (read or admin key).
#[Object]
impl OrderQuery {
    /// The buyer's own order, by the `accessToken` that `checkout` returned: no API key,
    /// the token is the capability. Null for a token no order has.
    async fn receipt(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's `accessToken` from `checkout`.")] access_token: String,
    ) -> async_graphql::Result<Option<Receipt>> {
        let token = access_token.trim();
        if token.is_empty() {
            return Ok(None);
        }
        let Some((order, invoice)) = errors::query(crate::services::invoices::receipt(ctx.db(), token).await)? else {
            return Ok(None);
        };
        let invoice_path = invoice.as_ref().map(|_| format!("/orders/{}/invoice.html?token={token}", order.id));
        Ok(Some(Receipt {
            number: order.number.clone(),
            status: order.status.into(),
            total: super::types::Money::of(order.total, *order.currency),
            invoice: invoice.map(Into::into),
            invoice_path,
        }))
    }

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
