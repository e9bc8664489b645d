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
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr,
};
use serde_json::Value;

use crate::entities::{order, payment_event};
use crate::events::CartEvents;
use crate::payments::Providers;
use crate::payments::paypal;

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
}

impl Applied {
    fn absorb(&mut self, (transition, cart): (PaidTransition, Option<i64>), order_id: i64) {
        self.carts.extend(cart);
        if transition == PaidTransition::RefundDue {
            self.refunds_due.push(order_id);
        }
    }

    /// Pushes the changed carts and sends the owed refunds to their providers (a
    /// failure is logged and left to the sweep).
    pub async fn after_commit(self, db: &DatabaseConnection, events: &CartEvents, providers: &Providers) {
        events.publish_all(self.carts);
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

/// Records an event id in `txn`; `false` when it was seen before.
async fn first_delivery(txn: &DatabaseTransaction, source: Source, id: &str, kind: &str) -> ServiceResult<bool> {
    let seen = payment_event::Entity::insert(payment_event::ActiveModel {
        id: Set(format!("{}:{id}", source.as_str().to_lowercase())),
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
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Applies one verified provider event once. `event` is the parsed body: Stripe's
/// `{id, type, data: {object}}` or PayPal's `{id, event_type, resource}`.
pub async fn receive(
    db: &DatabaseConnection,
    events: &CartEvents,
    providers: &Providers,
    source: Source,
    event: &Value,
) -> ServiceResult<&'static str> {
    let Some((id, kind, object)) = parts(source, event) else { return Ok("not an event") };
    let txn = begin_write(db).await?;
    if !first_delivery(&txn, source, id, kind).await? {
        return Ok("duplicate");
    }
    let mut applied = Applied::default();
    let message = match apply(&txn, source, kind, object, &mut applied).await? {
        Step::Done(message, attached) => {
            for reference in attached {
                apply_waiting_into(&txn, &reference, &mut applied).await?;
            }
            message
        }
        Step::Waiting(reference) => {
            payment_event::Entity::update_many()
                .col_expr(payment_event::Column::WaitingFor, Expr::value(reference))
                .col_expr(payment_event::Column::Payload, Expr::value(event.to_string()))
                .filter(payment_event::Column::Id.eq(format!("{}:{id}", source.as_str().to_lowercase())))
                .exec(&txn)
                .await?;
            "kept until its order is known"
        }
    };
    txn.commit().await?;
    applied.after_commit(db, events, providers).await;
    Ok(message)
}

fn parts(source: Source, event: &Value) -> Option<(&str, &str, &Value)> {
    match source {
        Source::Stripe => Some((event["id"].as_str()?, event["type"].as_str()?, &event["data"]["object"])),
        Source::Paypal => Some((event["id"].as_str()?, event["event_type"].as_str()?, &event["resource"])),
    }
}

/// Applies, in `txn`, the kept events waiting for `reference` (which an order now
/// carries), and those waiting for references they in turn attach.
pub async fn apply_waiting(txn: &DatabaseTransaction, reference: &str) -> ServiceResult<Applied> {
    let mut applied = Applied::default();
    apply_waiting_into(txn, reference, &mut applied).await?;
    Ok(applied)
}

async fn apply_waiting_into(txn: &DatabaseTransaction, reference: &str, applied: &mut Applied) -> ServiceResult<()> {
    let mut queue = vec![reference.to_owned()];
    while let Some(reference) = queue.pop() {
        let waiting = payment_event::Entity::find()
            .filter(payment_event::Column::WaitingFor.eq(reference.as_str()))
            .order_by_asc(payment_event::Column::ReceivedAt)
            .all(txn)
            .await?;
        for row in waiting {
            let source = if row.provider == Source::Paypal.as_str() { Source::Paypal } else { Source::Stripe };
            let event: Value = row.payload.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default();
            let Some((_, kind, object)) = parts(source, &event) else { continue };
            let (waiting_for, payload) = match apply(txn, source, kind, object, applied).await? {
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

async fn apply(
    txn: &DatabaseTransaction,
    source: Source,
    kind: &str,
    object: &Value,
    applied: &mut Applied,
) -> ServiceResult<Step> {
    match source {
        Source::Stripe => apply_stripe(txn, kind, object, applied).await,
        Source::Paypal => apply_paypal(txn, kind, object, applied).await,
    }
}

/// The order a Checkout Session event is about: `metadata.order_id`, checked against
/// the session id stored on it. `Err` holds the session id when the order does not
/// carry it yet (or at all).
async fn session_order(txn: &DatabaseTransaction, session: &Value) -> ServiceResult<Result<i64, Option<String>>> {
    let session_id = session["id"].as_str().map(str::to_owned);
    let Some(order_id) = session["metadata"]["order_id"].as_str().and_then(|v| v.parse::<i64>().ok()) else {
        return Ok(Err(session_id));
    };
    let found = order::Entity::find_by_id(order_id).one(txn).await?;
    Ok(match found {
        Some(o) if o.provider_ref.is_some() && o.provider_ref == session_id => Ok(o.id),
        _ => Err(session_id),
    })
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
    match checkout::record_refund_in(txn, order, amount, Some(refund_id), Some("stripe dashboard")).await {
        Ok(true) => Ok("refund recorded"),
        Ok(false) => Ok("refund already recorded"),
        Err(ServiceError::User(_)) => {
            tracing::warn!(refund_id, "refund exceeds what is left; skipped");
            Ok("refund exceeds what is left; skipped")
        }
        Err(e) => Err(e),
    }
}

async fn apply_stripe(
    txn: &DatabaseTransaction,
    kind: &str,
    object: &Value,
    applied: &mut Applied,
) -> ServiceResult<Step> {
    let payment_ref = object["payment_intent"].as_str();
    let waiting = |reference: Option<String>| match reference {
        Some(reference) => Step::Waiting(reference),
        None => Step::Done("not about a payment of ours", vec![]),
    };
    Ok(match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let order_id = match session_order(txn, object).await? {
                Ok(id) => id,
                Err(session) => return Ok(waiting(session)),
            };
            let attached: Vec<String> = payment_ref.map(str::to_owned).into_iter().collect();
            let paid =
                object["payment_status"].as_str() == Some("paid") || kind == "checkout.session.async_payment_succeeded";
            if paid {
                let transition = checkout::mark_paid_in(txn, order_id, payment_ref).await?;
                let message = match transition.0 {
                    PaidTransition::Paid => "paid",
                    PaidTransition::AlreadyDone => "already paid",
                    PaidTransition::RefundDue => "paid after its tickets were gone: refund owed",
                };
                applied.absorb(transition, order_id);
                Step::Done(message, attached)
            } else {
                checkout::await_async_payment_in(txn, order_id, payment_ref).await?;
                Step::Done("awaiting asynchronous payment", attached)
            }
        }
        "checkout.session.async_payment_failed" => match session_order(txn, object).await? {
            Ok(order_id) => {
                checkout::mark_unpaid_in(txn, order_id, "CANCELLED", Some("asynchronous payment failed")).await?;
                Step::Done("payment failed", vec![])
            }
            Err(session) => waiting(session),
        },
        "checkout.session.expired" => match session_order(txn, object).await? {
            Ok(order_id) => {
                checkout::mark_unpaid_in(txn, order_id, "EXPIRED", None).await?;
                Step::Done("expired", vec![])
            }
            Err(session) => waiting(session),
        },
        // Since API version 2022-11-15 a charge no longer lists its refunds: refunds made
        // in the dashboard arrive as refund events whose object is the refund.
        "refund.created" | "refund.updated" => {
            let status = object["status"].as_str().unwrap_or("");
            let (Some(refund_id), Some(amount)) = (object["id"].as_str(), object["amount"].as_i64()) else {
                return Ok(Step::Done("ignored", vec![]));
            };
            if !matches!(status, "succeeded" | "pending") {
                return Ok(Step::Done("ignored", vec![]));
            }
            let Some(pi) = payment_ref else { return Ok(Step::Done("ignored", vec![])) };
            match order_by_payment(txn, pi).await? {
                Some(order) => Step::Done(record_refund(txn, &order, refund_id, amount).await?, vec![]),
                None => Step::Waiting(pi.to_owned()),
            }
        }
        "charge.refunded" => {
            let Some(pi) = payment_ref else { return Ok(Step::Done("ignored", vec![])) };
            let Some(order) = order_by_payment(txn, pi).await? else { return Ok(Step::Waiting(pi.to_owned())) };
            for refund in object["refunds"]["data"].as_array().into_iter().flatten() {
                let (Some(refund_id), Some(amount)) = (refund["id"].as_str(), refund["amount"].as_i64()) else {
                    continue;
                };
                let current = order::Entity::find_by_id(order.id).one(txn).await?.unwrap_or(order.clone());
                record_refund(txn, &current, refund_id, amount).await?;
            }
            Step::Done("refunds recorded", vec![])
        }
        _ => Step::Done("ignored", vec![]),
    })
}

async fn apply_paypal(
    txn: &DatabaseTransaction,
    kind: &str,
    resource: &Value,
    applied: &mut Applied,
) -> ServiceResult<Step> {
    if kind != "PAYMENT.CAPTURE.COMPLETED" {
        return Ok(Step::Done("ignored", vec![]));
    }
    let Some(paypal_order) = resource["supplementary_data"]["related_ids"]["order_id"].as_str() else {
        return Ok(Step::Done("not about a payment of ours", vec![]));
    };
    let found = order::Entity::find()
        .filter(order::Column::Provider.eq("PAYPAL"))
        .filter(order::Column::ProviderRef.eq(paypal_order))
        .one(txn)
        .await?;
    let Some(order) = found else { return Ok(Step::Waiting(paypal_order.to_owned())) };
    let Ok(capture) = paypal::parse_capture(resource) else { return Ok(Step::Done("unreadable capture", vec![])) };
    Ok(match checkout::settle_paypal_capture_in(txn, &order, &capture).await? {
        Ok(transition) => {
            let message = match transition.0 {
                PaidTransition::Paid => "paid",
                PaidTransition::AlreadyDone => "already paid",
                PaidTransition::RefundDue => "paid after its tickets were gone: refund owed",
            };
            applied.absorb(transition, order.id);
            Step::Done(message, vec![])
        }
        Err(_) => Step::Done("amount mismatch recorded", vec![]),
    })
}
