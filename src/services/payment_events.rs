//! Incoming payment-provider events (already verified by the HTTP edge): what each
//! one changes, applied once, whatever order they arrive in.
//!
//! Each event id goes into `payment_events` in the same transaction as the state change
//! it causes, so a retry, a duplicate or a concurrent delivery finds it and changes
//! nothing. Every transition is guarded by the order's current status.
//!
//! Nothing a provider says is lost: an event naming a checkout session or payment that
//! no order carries yet (a refund reported before the payment's completion event, a
//! session event before its id was stored) is kept with the reference it waits for,
//! and applied in the transaction that gives an order that reference.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::entities::enums::{OrderStatus, Provider};
use crate::entities::{order, payment_event};
use crate::events::CartEvents;
use crate::payments::{PaymentEvent, Providers, ReceivedEvent};

use super::checkout::{self, PaidTransition};
use super::{ServiceError, ServiceResult, begin_write, now};

/// Which provider sent an event (the stored form in `payment_events.provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Stripe.
    Stripe,
    /// PayPal.
    Paypal,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Stripe => "STRIPE",
            Source::Paypal => "PAYPAL",
        }
    }
}

/// What applying events did that must happen after commit.
#[derive(Debug, Default)]
pub struct Applied {
    /// Carts whose state changed (to push).
    carts: Vec<i64>,
    /// Orders paid for tickets that were gone: their refunds are owed.
    refunds_due: Vec<i64>,
    /// Orders whose state changed (their shops' dashboards are told).
    orders: Vec<i64>,
}

impl Applied {
    fn absorb(&mut self, (transition, cart): (PaidTransition, Option<i64>), order_id: i64) {
        self.carts.extend(cart);
        self.orders.push(order_id);
        if transition == PaidTransition::RefundDue {
            self.refunds_due.push(order_id);
        }
    }

    /// Whether an applied event changed order `order_id`.
    pub fn changed(&self, order_id: i64) -> bool {
        self.orders.contains(&order_id)
    }

    /// Pushes the changed carts and sends the owed refunds to their providers (a
    /// failure is logged and left to the sweep).
    pub async fn after_commit(self, db: &DatabaseConnection, events: &CartEvents, providers: &Providers) {
        events.publish_all(self.carts);
        if !self.orders.is_empty() {
            match super::batch::order_accounts(db, &self.orders).await {
                Ok(accounts) => accounts.into_iter().for_each(|a| events.publish_shop(a)),
                Err(e) => tracing::warn!(error = ?e, "could not tell the dashboards about changed orders"),
            }
        }
        for order_id in self.refunds_due {
            if let Err(e) = checkout::settle_refund_due(db, providers, order_id).await {
                tracing::error!(error = ?e, order_id, "settling an owed refund failed; the sweep retries");
            }
        }
    }
}

/// What one event did.
enum Step {
    /// Applied (or nothing to do): a message, and references orders now carry, whose
    /// waiting events can be applied too.
    Done(&'static str, Vec<String>),
    /// It names a reference no order carries yet: keep it until one does.
    Waiting(String),
}

fn event_key(source: Source, id: &str) -> String {
    format!("{}:{id}", source.as_str().to_lowercase())
}

/// Records an event id in `txn`; `false` when it was seen before.
async fn first_delivery(txn: &DatabaseTransaction, source: Source, id: &str, kind: &str) -> ServiceResult<bool> {
    let seen = payment_event::Entity::insert(payment_event::ActiveModel {
        id: Set(event_key(source, id)),
        provider: Set(source.as_str().to_owned()),
        event_type: Set(kind.to_owned()),
        received_at: Set(now()),
        waiting_for: Set(None),
        payload: Set(None),
    })
    .exec_without_returning(txn)
    .await;
    match seen {
        Ok(_) => Ok(true),
        Err(e) if crate::db::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Applies one verified provider event once.
pub async fn receive(
    db: &DatabaseConnection,
    events: &CartEvents,
    providers: &Providers,
    source: Source,
    received: &ReceivedEvent,
) -> ServiceResult<&'static str> {
    let txn = begin_write(db).await?;
    if !first_delivery(&txn, source, &received.id, &received.kind).await? {
        return Ok("duplicate");
    }
    let mut applied = Applied::default();
    let message = match apply(&txn, &received.event, &mut applied).await? {
        Step::Done(message, attached) => {
            for reference in attached {
                apply_waiting_into(&txn, &reference, &mut applied).await?;
            }
            message
        }
        Step::Waiting(reference) => {
            let payload = serde_json::to_string(&received.event).map_err(|e| ServiceError::Internal(e.into()))?;
            payment_event::Entity::update_many()
                .col_expr(payment_event::Column::WaitingFor, Expr::value(reference))
                .col_expr(payment_event::Column::Payload, Expr::value(payload))
                .filter(payment_event::Column::Id.eq(event_key(source, &received.id)))
                .exec(&txn)
                .await?;
            "kept until its order is known"
        }
    };
    txn.commit().await?;
    applied.after_commit(db, events, providers).await;
    Ok(message)
}

/// Applies, in `txn`, the kept events waiting for `reference` (which an order now
/// carries), and those waiting for references they in turn attach.
pub async fn apply_waiting(txn: &DatabaseTransaction, reference: &str) -> ServiceResult<Applied> {
    let mut applied = Applied::default();
    apply_waiting_into(txn, reference, &mut applied).await?;
    Ok(applied)
}

/// The events kept until the provider's session `reference` is known, oldest first.
fn waiting(reference: &str) -> sea_orm::Select<payment_event::Entity> {
    payment_event::Entity::find()
        .filter(payment_event::Column::WaitingFor.eq(reference))
        .order_by_asc(payment_event::Column::ReceivedAt)
}

/// [`waiting`] as a `SELECT` to send in a batch: a row means [`apply_waiting`] has work.
pub fn waiting_query(reference: &str) -> sea_orm::sea_query::SelectStatement {
    sea_orm::QueryTrait::into_query(waiting(reference))
}

async fn apply_waiting_into(txn: &DatabaseTransaction, reference: &str, applied: &mut Applied) -> ServiceResult<()> {
    let mut queue = vec![reference.to_owned()];
    while let Some(reference) = queue.pop() {
        let waiting = waiting(&reference).all(txn).await?;
        for row in waiting {
            let Some(event) = row.payload.as_deref().and_then(|p| serde_json::from_str::<PaymentEvent>(p).ok()) else {
                tracing::warn!(event = row.id, "a kept payment event cannot be read back; left as it is");
                continue;
            };
            let (waiting_for, payload) = match apply(txn, &event, applied).await? {
                Step::Done(_, attached) => {
                    queue.extend(attached);
                    (None, None)
                }
                Step::Waiting(other) if other == reference => continue,
                Step::Waiting(other) => (Some(other), row.payload.clone()),
            };
            payment_event::Entity::update_many()
                .col_expr(payment_event::Column::WaitingFor, Expr::value(waiting_for))
                .col_expr(payment_event::Column::Payload, Expr::value(payload))
                .filter(payment_event::Column::Id.eq(row.id))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

/// What one event changes, in `txn`.
async fn apply(txn: &DatabaseTransaction, event: &PaymentEvent, applied: &mut Applied) -> ServiceResult<Step> {
    Ok(match event {
        PaymentEvent::SessionCompleted { session, order_id, paid, payment } => {
            let Some(order) = session_order(txn, session, *order_id).await? else {
                return Ok(Step::Waiting(session.clone()));
            };
            let order_id = order.id;
            let attached: Vec<String> = payment.iter().cloned().collect();
            if *paid {
                let transition = checkout::mark_read_paid_in(txn, order, payment.as_deref()).await?;
                let message = describe(transition.0);
                applied.absorb(transition, order_id);
                Step::Done(message, attached)
            } else {
                checkout::await_async_payment_in(txn, order_id, payment.as_deref()).await?;
                Step::Done("awaiting asynchronous payment", attached)
            }
        }
        PaymentEvent::PaymentFailed { session, order_id } => match session_order(txn, session, *order_id).await? {
            Some(order) => {
                let order_id = order.id;
                checkout::mark_unpaid_in(txn, order_id, OrderStatus::Cancelled, Some("asynchronous payment failed"))
                    .await?;
                applied.orders.push(order_id);
                Step::Done("payment failed", vec![])
            }
            None => Step::Waiting(session.clone()),
        },
        PaymentEvent::SessionExpired { session, order_id } => match session_order(txn, session, *order_id).await? {
            Some(order) => {
                let order_id = order.id;
                checkout::mark_unpaid_in(txn, order_id, OrderStatus::Expired, None).await?;
                applied.orders.push(order_id);
                Step::Done("expired", vec![])
            }
            None => Step::Waiting(session.clone()),
        },
        PaymentEvent::Refunded { payment, refunds } => {
            let Some(order) = order_by_payment(txn, payment).await? else { return Ok(Step::Waiting(payment.clone())) };
            let mut message = "refunds recorded";
            for refund in refunds {
                let current = order::Entity::find_by_id(order.id).one(txn).await?.unwrap_or(order.clone());
                message = record_refund(txn, &current, &refund.id, refund.amount).await?;
            }
            applied.orders.push(order.id);
            Step::Done(message, vec![])
        }
        PaymentEvent::CaptureCompleted { provider_order, capture } => {
            let found = order::Entity::find()
                .filter(order::Column::Provider.eq(Provider::Paypal))
                .filter(order::Column::ProviderRef.eq(provider_order.as_str()))
                .one(txn)
                .await?;
            let Some(order) = found else { return Ok(Step::Waiting(provider_order.clone())) };
            match checkout::settle_paypal_capture_in(txn, &order, capture).await? {
                Ok(transition) => {
                    let message = describe(transition.0);
                    applied.absorb(transition, order.id);
                    Step::Done(message, vec![])
                }
                Err(_) => Step::Done("amount mismatch recorded", vec![]),
            }
        }
        PaymentEvent::Other => Step::Done("ignored", vec![]),
    })
}

fn describe(transition: PaidTransition) -> &'static str {
    match transition {
        PaidTransition::Paid => "paid",
        PaidTransition::AlreadyDone => "already paid",
        PaidTransition::RefundDue => "paid after its tickets were gone: refund owed",
    }
}

/// The order a checkout session event is about: the order id from its metadata, checked
/// against the session id stored on it. `None` while the order does not carry it.
async fn session_order(
    txn: &DatabaseTransaction,
    session: &str,
    order_id: Option<i64>,
) -> ServiceResult<Option<order::Model>> {
    let Some(order_id) = order_id else { return Ok(None) };
    let found = order::Entity::find_by_id(order_id).one(txn).await?;
    Ok(found.filter(|o| o.provider_ref.as_deref() == Some(session)))
}

async fn order_by_payment(txn: &DatabaseTransaction, payment_ref: &str) -> ServiceResult<Option<order::Model>> {
    Ok(order::Entity::find().filter(order::Column::PaymentRef.eq(payment_ref)).one(txn).await?)
}

/// Records one refund the provider reports; one that exceeds what is left (already
/// recorded by us under another id, or bogus) is skipped.
async fn record_refund(
    txn: &DatabaseTransaction,
    order: &order::Model,
    refund_id: &str,
    amount: i64,
) -> ServiceResult<&'static str> {
    match checkout::record_refund_in(txn, order, amount, Some(refund_id), Some("provider dashboard")).await {
        Ok(true) => Ok("refund recorded"),
        Ok(false) => Ok("refund already recorded"),
        Err(ServiceError::User(_)) => {
            tracing::warn!(refund_id, "refund exceeds what is left; skipped");
            Ok("refund exceeds what is left; skipped")
        }
        Err(e) => Err(e),
    }
}
