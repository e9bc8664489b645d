//! Ticket capacity, a hard limit on every path: `sold_count + held_count` never
//! exceeds `capacity`.
//!
//! A paid checkout holds its tickets (`held_count`) from the moment its pending order
//! is written until it is paid (held → sold) or expires or fails (released). The free
//! path sells at once. Every change is one conditional `UPDATE` per ticket type, so
//! concurrent checkouts cannot pass a stale check together; rows are touched in ticket
//! type order, so concurrent orders lock them alike (no deadlock).

use sea_orm::sea_query::{Expr, ExprTrait, UpdateStatement};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryTrait};

use crate::entities::{order_item, ticket_type};

use super::{ServiceError, ServiceResult, UserError, UserErrorCode};

/// Tickets of a type that can still be bought; `None` when unlimited.
pub fn available(ticket: &ticket_type::Model) -> Option<i64> {
    ticket.capacity.map(|c| Ord::max(c - ticket.sold_count - ticket.held_count, 0))
}

/// Tickets per ticket type, in ticket type order.
pub type Quantities = Vec<(i64, i64)>;

/// The tickets of an order per ticket type (its items may split a type into price points).
pub async fn of_order(db: &impl ConnectionTrait, order_id: i64) -> ServiceResult<Quantities> {
    let items = order_item::Entity::find().filter(order_item::Column::OrderId.eq(order_id)).all(db).await?;
    Ok(of_items(&items))
}

/// The tickets of an order's `items` per ticket type, in ticket type order.
pub fn of_items(items: &[order_item::Model]) -> Quantities {
    let mut per_item: Quantities =
        items.iter().filter_map(|item| Some((item.ticket_type_id?, i64::from(item.quantity)))).collect();
    per_item.sort_unstable_by_key(|&(id, _)| id);
    let mut quantities: Quantities = vec![];
    for (id, quantity) in per_item {
        match quantities.last_mut() {
            Some((last, q)) if *last == id => *q += quantity,
            _ => quantities.push((id, quantity)),
        }
    }
    quantities
}

/// A ticket type without enough tickets left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    /// The ticket type.
    pub ticket_type_id: i64,
}

fn fits(quantity: i64) -> Condition {
    Condition::any().add(ticket_type::Column::Capacity.is_null()).add(
        Expr::col(ticket_type::Column::SoldCount)
            .add(Expr::col(ticket_type::Column::HeldCount))
            .add(quantity)
            .lte(Expr::col(ticket_type::Column::Capacity)),
    )
}

/// The conditional `UPDATE` adding `quantity` to `column` of one ticket type: it changes
/// no row when the tickets do not fit.
fn claim_query(id: i64, quantity: i64, column: ticket_type::Column) -> UpdateStatement {
    ticket_type::Entity::update_many()
        .col_expr(column, Expr::col(column).add(quantity))
        .filter(ticket_type::Column::Id.eq(id))
        .filter(fits(quantity))
        .into_query()
}

/// Sells tickets that were not held (the free path, a payment after its hold ended):
/// statements to send in a batch, one per ticket type, in order; each changes its row
/// only if the tickets fit, and [`first_shortfall`] reads the outcome.
pub fn sell_queries(quantities: &Quantities) -> Vec<(i64, UpdateStatement)> {
    claim_queries(quantities, ticket_type::Column::SoldCount)
}

/// [`hold`] as statements to send in a batch (see [`sell_queries`]).
pub fn hold_queries(quantities: &Quantities) -> Vec<(i64, UpdateStatement)> {
    claim_queries(quantities, ticket_type::Column::HeldCount)
}

fn claim_queries(quantities: &Quantities, column: ticket_type::Column) -> Vec<(i64, UpdateStatement)> {
    quantities.iter().map(|&(id, quantity)| (id, claim_query(id, quantity, column))).collect()
}

/// The first ticket type whose statement of [`sell_queries`] changed no row (`changed`
/// says, in the same order).
pub fn first_shortfall(ids: impl IntoIterator<Item = (i64, bool)>) -> Result<(), Shortfall> {
    match ids.into_iter().find(|&(_, changed)| !changed) {
        Some((ticket_type_id, _)) => Err(Shortfall { ticket_type_id }),
        None => Ok(()),
    }
}

/// Holds tickets for a pending paid checkout, one statement after another. On a
/// shortfall earlier rows are already changed: the caller rolls back its transaction
/// (or savepoint).
pub async fn hold(db: &impl ConnectionTrait, quantities: &Quantities) -> ServiceResult<Result<(), Shortfall>> {
    for (id, update) in hold_queries(quantities) {
        if db.execute(&update).await?.rows_affected() == 0 {
            return Ok(Err(Shortfall { ticket_type_id: id }));
        }
    }
    Ok(Ok(()))
}

/// Turns a paid order's held tickets into sold ones: statements to send in a batch, one
/// per ticket type, in order.
pub fn sell_held_queries(quantities: &Quantities) -> Vec<UpdateStatement> {
    quantities
        .iter()
        .map(|&(id, quantity)| {
            ticket_type::Entity::update_many()
                .col_expr(ticket_type::Column::HeldCount, Expr::col(ticket_type::Column::HeldCount).sub(quantity))
                .col_expr(ticket_type::Column::SoldCount, Expr::col(ticket_type::Column::SoldCount).add(quantity))
                .filter(ticket_type::Column::Id.eq(id))
                .into_query()
        })
        .collect()
}

/// Gives back the tickets an unpaid order held.
pub async fn release(db: &impl ConnectionTrait, quantities: &Quantities) -> ServiceResult<()> {
    for &(id, quantity) in quantities {
        ticket_type::Entity::update_many()
            .col_expr(ticket_type::Column::HeldCount, Expr::col(ticket_type::Column::HeldCount).sub(quantity))
            .filter(ticket_type::Column::Id.eq(id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The buyer-facing refusal for wanting `wanted` tickets of `ticket` (read after the
/// failed claim was rolled back, so the number left is current).
pub fn refusal(field: &str, ticket: &ticket_type::Model, wanted: i64) -> ServiceError {
    let left = available(ticket).unwrap_or(wanted);
    let error = if left == 0 {
        UserError::new(field, UserErrorCode::SoldOut, format!("{} is sold out.", ticket.name))
    } else {
        let plural = if left == 1 { "ticket" } else { "tickets" };
        UserError::new(
            field,
            UserErrorCode::NotEnoughTickets,
            format!("Only {left} {} {plural} left; please choose fewer.", ticket.name),
        )
    };
    error.into()
}

/// [`refusal`] for a shortfall found in a rolled-back transaction.
pub async fn shortfall_refusal(
    db: &impl ConnectionTrait,
    field: &str,
    shortfall: Shortfall,
    quantities: &Quantities,
) -> ServiceResult<ServiceError> {
    let wanted = quantities.iter().find(|(id, _)| *id == shortfall.ticket_type_id).map_or(0, |(_, q)| *q);
    let ticket = ticket_type::Entity::find_by_id(shortfall.ticket_type_id)
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::Db(sea_orm::DbErr::RecordNotFound("ticket type".into())))?;
    Ok(refusal(field, &ticket, wanted))
}
