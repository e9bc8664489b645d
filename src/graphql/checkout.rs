//! Checkout, PayPal capture and refunds over GraphQL.

use crate::entities::enums::AuditVia;
use crate::services::audit::Actor;
use std::future::Future;

use async_graphql::{Context, ID, Object};

use super::context::ContextExt;
use super::errors::{self, input_errors, internal, user_errors};
use super::types::checkout::{CheckoutInput, CheckoutPayload, RefundOrderPayload};
use super::types::order::Order;
use super::types::parse_id;
use crate::services::checkout::{self, CheckoutInput as ServiceInput, CheckoutOutcome};
use crate::services::{self, UserErrorCode, orders};

/// Runs `work` to completion even if the client goes away: a provider call must not be
/// cut between "asked the provider" and "recorded what it said".
async fn detached<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> async_graphql::Result<T> {
    tokio::spawn(work).await.map_err(|e| internal(&e))
}

fn order_not_found() -> services::UserError {
    services::UserError::new("orderId", UserErrorCode::OrderNotFound, "no order with this id")
}

/// Checkout (public, by cart id) and refunds (admin key).
#[derive(Default)]
pub struct CheckoutMutation;

/// Checkout (public, by cart id) and refunds (admin key).
#[Object]
impl CheckoutMutation {
    /// Turns the cart into an order. Revalidates and reprices first. A zero total is paid
    /// at once (no provider); otherwise the order is PENDING and `redirectUrl` is the
    /// provider's payment page. If the provider fails, nothing is charged and the cart
    /// stays as it is.
    async fn checkout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
        #[graphql(desc = "Email, provider and return URLs.")] input: CheckoutInput,
    ) -> async_graphql::Result<CheckoutPayload> {
        let provider_label = match input.provider {
            super::types::order::PaymentProviderKind::Stripe => "STRIPE",
            super::types::order::PaymentProviderKind::Paypal => "PAYPAL",
            super::types::order::PaymentProviderKind::Free => "FREE",
        };
        let service_input = ServiceInput {
            email: input.email,
            provider: input.provider.into(),
            success_url: input.success_url,
            cancel_url: input.cancel_url,
        };
        let (db, events, providers, settings, token) = (
            ctx.db().clone(),
            ctx.events().clone(),
            ctx.providers().clone(),
            ctx.checkout_settings().clone(),
            cart_id.to_string(),
        );
        let outcome =
            detached(async move { checkout::start(&db, &events, &providers, &settings, &token, service_input).await })
                .await?;
        let (order, redirect_url) = match errors::split(outcome)? {
            Ok(CheckoutOutcome::Paid(order)) => {
                crate::observe::checkout("FREE", "paid");
                (order, None)
            }
            Ok(CheckoutOutcome::Redirect { order, redirect_url }) => {
                crate::observe::checkout(provider_label, "redirect");
                (order, Some(redirect_url))
            }
            Err(e) => {
                crate::observe::checkout(provider_label, e.first().map_or("INVALID", |u| u.code.as_str()));
                return Ok(CheckoutPayload::refused(input_errors::<CheckoutInput>(e)));
            }
        };
        Ok(CheckoutPayload {
            access_token: Some(order.access_token.clone()),
            order: Some(Order::new(order)),
            redirect_url,
            user_errors: vec![],
        })
    }

    /// Captures the PayPal payment of an order once the buyer approved it at PayPal (call
    /// it when PayPal returns the buyer to `successUrl`). The order is paid only when
    /// PayPal captured exactly its total; otherwise AMOUNT_MISMATCH and it stays unpaid.
    async fn capture_paypal_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Our order id (from `checkout`).")] order_id: ID,
        #[graphql(desc = "The order's `accessToken` from `checkout`.")] access_token: String,
    ) -> async_graphql::Result<CheckoutPayload> {
        let Some(id) = parse_id(&order_id) else {
            return Ok(CheckoutPayload::refused(user_errors(vec![order_not_found()])));
        };
        let (db, events, providers) = (ctx.db().clone(), ctx.events().clone(), ctx.providers().clone());
        let outcome =
            detached(async move { checkout::capture_paypal(&db, &events, &providers, id, &access_token).await })
                .await?;
        match errors::split(outcome)? {
            Ok(order) => Ok(CheckoutPayload {
                order: Some(Order::new(order)),
                redirect_url: None,
                access_token: None,
                user_errors: vec![],
            }),
            Err(e) => Ok(CheckoutPayload::refused(user_errors(e))),
        }
    }

    /// Refunds a paid order, fully (amount omitted) or partly, through its provider
    /// (nothing to call for free orders). A full refund frees the buyer's per-customer
    /// slot; the code's `redemptionsCount` never goes down. Needs an admin key.
    async fn refund_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id.")] order_id: ID,
        #[graphql(
            desc = "Decimal string in the order currency, e.g. \"10.00\"; omitted = everything not yet refunded."
        )]
        amount: Option<String>,
    ) -> async_graphql::Result<RefundOrderPayload> {
        let principal = ctx.caller().admin()?;
        let refused = |e| RefundOrderPayload { order: None, user_errors: user_errors(e) };
        let Some(id) = parse_id(&order_id) else {
            return Ok(refused(vec![order_not_found()]));
        };
        let account_id = principal.account_id;
        let minor = match amount {
            None => None,
            Some(amount) => match errors::split(orders::refund_amount(ctx.db(), account_id, id, &amount).await)? {
                Ok(minor) => Some(minor),
                Err(e) => return Ok(refused(e)),
            },
        };
        let (db, events, providers) = (ctx.db().clone(), ctx.events().clone(), ctx.providers().clone());
        let actor = Actor::key(principal, AuditVia::Graphql);
        let outcome =
            detached(
                async move { checkout::refund_order(&db, &events, &providers, &actor, account_id, id, minor).await },
            )
            .await?;
        match errors::split(outcome)? {
            Ok(order) => Ok(RefundOrderPayload { order: Some(Order::new(order)), user_errors: vec![] }),
            Err(e) => Ok(refused(e)),
        }
    }
}
