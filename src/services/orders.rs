//! The organizer's order list: filters and sorts backed by the `(account_id, …,
//! created_at)` indexes, keyset pagination (stable under inserts, fast at any depth).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::domain::Money;
use crate::domain::email::Email;
use crate::entities::order;

use super::{ServiceError, ServiceResult, UserError, UserErrorCode};

/// Largest page of the order list: a page is loaded with its items and refunds, so it
/// stays a size one response can carry.
pub const MAX_PAGE: u64 = 200;

/// Filters of the order list (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Redeemed code (any case).
    pub promo_code: Option<String>,
    /// Exact `utm_source`.
    pub utm_source: Option<String>,
    /// Orders in this state.
    pub status: Option<crate::entities::enums::OrderStatus>,
    /// The buyer, by email; aliases of the same mailbox match too.
    pub email: Option<String>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
}

/// Sort keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    /// Creation time.
    #[default]
    CreatedAt,
    /// Redeemed code (orders without a code sort as "").
    PromoCode,
    /// Order total.
    Total,
}

/// A position in a sorted list: the sort value and the id of the last row seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort value, as text (a time, a code, or a number).
    pub value: String,
    /// The row id (the tie-breaker).
    pub id: i64,
}

impl Cursor {
    /// Opaque form for clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Parses an opaque cursor.
    pub fn decode(s: &str) -> Option<Cursor> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()
    }

    /// The cursor after `row` in a list sorted by `field`.
    pub fn after(row: &order::Model, field: SortField) -> Cursor {
        let value = match field {
            SortField::CreatedAt => row.created_at.to_rfc3339(),
            SortField::PromoCode => row.promo_code.clone().unwrap_or_default(),
            SortField::Total => row.total.to_string(),
        };
        Cursor { value, id: row.id }
    }
}

/// One page.
#[derive(Debug, Clone)]
pub struct Page {
    /// The orders.
    pub items: Vec<order::Model>,
    /// Whether more follow.
    pub has_next: bool,
}

fn invalid_cursor() -> ServiceError {
    UserError::new("after", UserErrorCode::Invalid, "`after` is not a cursor of this list and order").into()
}

/// One page of the account's orders.
pub async fn list(
    db: &impl ConnectionTrait,
    account_id: i64,
    filter: &OrderFilter,
    field: SortField,
    descending: bool,
    first: u64,
    after: Option<&str>,
) -> ServiceResult<Page> {
    use order::Column as C;
    let mut query = order::Entity::find().filter(C::AccountId.eq(account_id));
    if let Some(code) = filter.promo_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        query = query.filter(C::PromoCode.eq(code.to_uppercase()));
    }
    if let Some(source) = filter.utm_source.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(C::UtmSource.eq(source));
    }
    if let Some(status) = filter.status {
        query = query.filter(C::Status.eq(status));
    }
    if let Some(email) = filter.email.as_deref() {
        match Email::parse(email) {
            Ok(email) => query = query.filter(C::CustomerKey.eq(email.customer_key())),
            Err(_) => return Ok(Page { items: vec![], has_next: false }),
        }
    }
    if let Some(at) = filter.created_after {
        query = query.filter(C::CreatedAt.gte(at));
    }
    if let Some(at) = filter.created_before {
        query = query.filter(C::CreatedAt.lt(at));
    }
    // The sort key; codes sort with NULL as "" so both databases order them alike.
    let key: SimpleExpr = match field {
        SortField::CreatedAt => Expr::col(C::CreatedAt),
        SortField::PromoCode => {
            Func::coalesce([SimpleExpr::from(Expr::col(C::PromoCode)), SimpleExpr::from(Expr::val(""))]).into()
        }
        SortField::Total => Expr::col(C::Total),
    };
    if let Some(cursor) = after {
        let cursor = Cursor::decode(cursor).ok_or_else(invalid_cursor)?;
        let value: SimpleExpr = match field {
            SortField::CreatedAt => Expr::val(
                DateTime::parse_from_rfc3339(&cursor.value).map_err(|_| invalid_cursor())?.with_timezone(&Utc),
            ),
            SortField::PromoCode => Expr::val(cursor.value.clone()),
            SortField::Total => Expr::val(cursor.value.parse::<i64>().map_err(|_| invalid_cursor())?),
        };
        let (beyond, tie) = if descending {
            (key.clone().lt(value.clone()), Expr::col(C::Id).lt(cursor.id))
        } else {
            (key.clone().gt(value.clone()), Expr::col(C::Id).gt(cursor.id))
        };
        query = query.filter(Condition::any().add(beyond).add(Condition::all().add(key.clone().eq(value)).add(tie)));
    }
    let direction = if descending { Order::Desc } else { Order::Asc };
    let first = first.clamp(1, MAX_PAGE);
    let mut items = query.order_by(key, direction.clone()).order_by(C::Id, direction).limit(first + 1).all(db).await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page { items, has_next })
}

/// One of the account's orders; an order of another account is `None` like a missing one.
pub async fn find(db: &impl ConnectionTrait, account_id: i64, id: i64) -> ServiceResult<Option<order::Model>> {
    Ok(order::Entity::find_by_id(id).filter(order::Column::AccountId.eq(account_id)).one(db).await?)
}

/// A refund amount for one of the account's orders: a decimal string in the order's
/// currency, in minor units. Whether the order can refund it is checked by the refund.
pub async fn refund_amount(
    db: &impl ConnectionTrait,
    account_id: i64,
    order_id: i64,
    amount: &str,
) -> ServiceResult<i64> {
    let order = find(db, account_id, order_id)
        .await?
        .ok_or_else(|| UserError::new("orderId", UserErrorCode::OrderNotFound, "no order with this id"))?;
    let currency = *order.currency;
    let amount = Money::parse(amount, currency)
        .map_err(|e| UserError::new("amount", UserErrorCode::InvalidRefundAmount, e.to_string()))?;
    Ok(amount.minor())
}
