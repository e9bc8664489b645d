//! What a resolver can reach: the services the schema was built with, the DataLoaders,
//! and who sent the request. One accessor each, so resolvers never fetch context data
//! by type (and a missing one is a bug found here, not in every resolver).

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use sea_orm::DatabaseConnection;
use tower_sessions::Session;

use super::auth::Caller;
use crate::events::CartEvents;
use crate::payments::Providers;
use crate::rate_limit::RateLimiter;
use crate::services::checkout::CheckoutSettings;
use crate::services::webhooks::WebhookSettings;

/// Who sent a request, for rate limits and session capture; set by the HTTP edge.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The storefront cookie session, when the route has one.
    pub session: Option<Session>,
}

impl RequestContext {
    /// The session's id, once it has one.
    pub fn session_id(&self) -> Option<String> {
        self.session.as_ref().and_then(Session::id).map(|id| id.to_string())
    }
}

/// Typed access to the data [`super::build`] puts into the schema.
pub trait ContextExt<'a> {
    /// The connection pool.
    fn db(&self) -> &'a DatabaseConnection;
    /// Connections kept between statements: the buyers' cart reads and writes outside a
    /// transaction (see [`crate::db::kept`]).
    fn kept(&self) -> &'a crate::db::Kept;
    /// Per-cart change signals.
    fn events(&self) -> &'a Arc<CartEvents>;
    /// The configured payment providers.
    fn providers(&self) -> &'a Arc<Providers>;
    /// Checkout settings.
    fn checkout_settings(&self) -> &'a CheckoutSettings;
    /// Outbound webhook settings.
    fn webhook_settings(&self) -> &'a WebhookSettings;
    /// Failed promo code attempts.
    fn limiter(&self) -> &'a Arc<RateLimiter>;
    /// One of the DataLoaders of [`super::loaders`].
    fn loader<L: Send + Sync + 'static>(&self) -> &'a DataLoader<L>;
    /// The batched reloads of subscribed carts (shared by the subscriptions' streams).
    fn cart_reloads(&self) -> &'a super::cart::CartReloads;
    /// The caller, as the HTTP edge resolved it (anonymous when it set none).
    fn caller(&self) -> &'a Caller;
    /// The request's address and session; none outside an HTTP request.
    fn request(&self) -> Option<&'a RequestContext>;
}

impl<'a> ContextExt<'a> for Context<'a> {
    fn db(&self) -> &'a DatabaseConnection {
        self.data_unchecked()
    }

    fn kept(&self) -> &'a crate::db::Kept {
        self.data_unchecked()
    }

    fn events(&self) -> &'a Arc<CartEvents> {
        self.data_unchecked()
    }

    fn providers(&self) -> &'a Arc<Providers> {
        self.data_unchecked()
    }

    fn checkout_settings(&self) -> &'a CheckoutSettings {
        self.data_unchecked()
    }

    fn webhook_settings(&self) -> &'a WebhookSettings {
        self.data_unchecked()
    }

    fn limiter(&self) -> &'a Arc<RateLimiter> {
        self.data_unchecked()
    }

    fn loader<L: Send + Sync + 'static>(&self) -> &'a DataLoader<L> {
        self.data_unchecked()
    }

    fn cart_reloads(&self) -> &'a super::cart::CartReloads {
        self.data_unchecked()
    }

    fn caller(&self) -> &'a Caller {
        static ANONYMOUS: Caller = Caller::Anonymous;
        self.data_opt().unwrap_or(&ANONYMOUS)
    }

    fn request(&self) -> Option<&'a RequestContext> {
        self.data_opt()
    }
}
