//! Outbound webhooks over GraphQL: endpoints, the delivery log, redelivery.

use crate::entities::enums::AuditVia;
use crate::services::audit::Actor;
use async_graphql::{Context, ID, Object};

use super::context::ContextExt;
use super::errors::{self, input_errors, user_errors};
use super::types::parse_id;
use super::types::webhook::{
    CreateWebhookEndpointInput, UpdateWebhookEndpointInput, WebhookActionPayload, WebhookDelivery, WebhookEndpoint,
    WebhookEndpointPayload,
};
use crate::services::webhooks;
use crate::services::{self, UserErrorCode};

/// An id argument; an unparseable one becomes 0, which no row has (so: not found).
fn row_id(id: &ID) -> i64 {
    parse_id(id).unwrap_or(0)
}

/// Webhook queries (read or admin key).
#[derive(Default)]
pub struct WebhookQuery;

/// Webhook queries (read or admin key).
#[Object]
impl WebhookQuery {
    /// Your webhook endpoints.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WebhookEndpoint>> {
        let principal = ctx.caller().reader()?;
        let rows = errors::query(webhooks::endpoints(ctx.db(), principal.account_id).await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The delivery log, newest first, with every attempt.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this endpoint's deliveries.")] endpoint_id: Option<ID>,
        #[graphql(desc = "How many, 1–200.", default = 50)] first: i32,
    ) -> async_graphql::Result<Vec<WebhookDelivery>> {
        let principal = ctx.caller().reader()?;
        let endpoint = endpoint_id.as_ref().map(row_id);
        // The service clamps the count into 1–200.
        let limit = u64::try_from(first).unwrap_or(0);
        let rows = errors::query(webhooks::deliveries(ctx.db(), principal.account_id, endpoint, limit).await)?;
        Ok(rows.into_iter().map(|(d, a)| WebhookDelivery::new(d, a)).collect())
    }
}

/// Webhook management (admin key).
#[derive(Default)]
pub struct WebhookMutation;

/// Webhook management (admin key).
#[Object]
impl WebhookMutation {
    /// Registers an endpoint for order events and returns its signing secret once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "URL, events, description.")] input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        let result = webhooks::create_endpoint(
            ctx.db(),
            ctx.webhook_settings(),
            &actor,
            principal.account_id,
            &input.url,
            &input.events,
            input.description,
        )
        .await;
        match errors::split(result)? {
            Ok(e) => {
                let secret = e.secret.clone();
                Ok(WebhookEndpointPayload { endpoint: Some(e.into()), secret: Some(secret), user_errors: vec![] })
            }
            Err(e) => Ok(WebhookEndpointPayload::refused(input_errors::<CreateWebhookEndpointInput>(e))),
        }
    }

    /// Changes an endpoint.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let principal = ctx.caller().admin()?;
        let changes = webhooks::EndpointChanges {
            url: input.url,
            events: input.events,
            active: input.active,
            description: input.description.map(Some),
        };
        let actor = Actor::key(principal, AuditVia::Graphql);
        let settings = ctx.webhook_settings();
        let result =
            webhooks::update_endpoint(ctx.db(), settings, &actor, principal.account_id, row_id(&id), changes).await;
        match errors::split(result)? {
            Ok(e) => Ok(WebhookEndpointPayload { endpoint: Some(e.into()), secret: None, user_errors: vec![] }),
            Err(e) => Ok(WebhookEndpointPayload::refused(input_errors::<UpdateWebhookEndpointInput>(e))),
        }
    }

    /// Deletes an endpoint and its delivery log.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id.")] id: ID,
    ) -> async_graphql::Result<WebhookActionPayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        match errors::split(webhooks::delete_endpoint(ctx.db(), &actor, principal.account_id, row_id(&id)).await)? {
            Ok(()) => Ok(WebhookActionPayload { ok: true, delivery: None, user_errors: vec![] }),
            Err(e) => Ok(WebhookActionPayload { ok: false, delivery: None, user_errors: user_errors(e) }),
        }
    }

    /// Sends a delivery again now, with the same `webhook-id`.
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery's id.")] delivery_id: ID,
    ) -> async_graphql::Result<WebhookActionPayload> {
        let principal = ctx.caller().admin()?;
        let refused = |e| WebhookActionPayload { ok: false, delivery: None, user_errors: user_errors(e) };
        let Some(id) = parse_id(&delivery_id) else {
            return Ok(refused(vec![services::UserError::new(
                "deliveryId",
                UserErrorCode::NotFound,
                "no delivery with this id",
            )]));
        };
        let actor = Actor::key(principal, AuditVia::Graphql);
        match errors::split(webhooks::redeliver(ctx.db(), &actor, principal.account_id, id).await)? {
            Ok(d) => Ok(WebhookActionPayload {
                ok: true,
                delivery: Some(WebhookDelivery::new(d, vec![])),
                user_errors: vec![],
            }),
            Err(e) => Ok(refused(e)),
        }
    }
}
