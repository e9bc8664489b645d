//! The GraphQL API: schema building and limits, roots, types and DataLoaders.
//!
//! Resolvers stay thin: they check the caller, call a service, and map the result.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod campaigns;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod context;
pub mod document_cache;
pub mod errors;
pub mod loaders;
pub mod mutation;
pub mod orders;
pub mod promo;
pub mod query;
pub mod reports;
pub mod types;
pub mod webhooks;

use std::sync::Arc;

use async_graphql::Schema;
use async_graphql::dataloader::DataLoader;
use sea_orm::DatabaseConnection;

pub use auth::Caller;
use cart::SubscriptionRoot;
use loaders::{
    AccountById, CartsByToken, EventById, EventSalesById, OrderItemsByOrder, PartnerById, PromoCodeById,
    RefundsByOrder, TicketTypesByEvent,
};

use crate::events::CartEvents;
use crate::rate_limit::RateLimiter;
use mutation::MutationRoot;
use query::QueryRoot;

/// Deepest recursion the parser may go to, before depth is even measured: a document
/// nested deeper is refused instead of exhausting the stack.
const MAX_PARSER_RECURSION: usize = 64;

/// Most directives on one field: no real operation needs more, and each costs work.
const MAX_DIRECTIVES: usize = 16;

/// The executable schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Shared services the resolvers use besides the database.
#[derive(Clone)]
pub struct Extras {
    /// Per-cart change signals.
    pub events: Arc<CartEvents>,
    /// Payment providers.
    pub providers: Arc<crate::payments::Providers>,
    /// Checkout settings.
    pub checkout: crate::services::checkout::CheckoutSettings,
    /// Webhook settings.
    pub webhooks: crate::services::webhooks::WebhookSettings,
}

/// Limits checked on every operation before any resolver runs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest field nesting allowed.
    pub max_depth: usize,
    /// Highest complexity allowed.
    pub max_complexity: usize,
}

/// Builds the schema. `open` keeps introspection and "did you mean" suggestions on;
/// the HTTP layer serves anonymous callers in production mode from a closed one.
pub fn build(
    db: DatabaseConnection,
    kept: crate::db::Kept,
    extras: Extras,
    limiter: Arc<RateLimiter>,
    limits: Limits,
    open: bool,
) -> AppSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
        .data(db.clone())
        .data(kept.clone())
        .data(extras.events)
        .data(extras.providers)
        .data(extras.checkout)
        .data(extras.webhooks)
        .data(limiter)
        .data(DataLoader::new(TicketTypesByEvent(db.clone()), tokio::spawn))
        .data(DataLoader::new(EventById(db.clone()), tokio::spawn))
        .data(DataLoader::new(EventSalesById(db.clone()), tokio::spawn))
        .data(DataLoader::new(OrderItemsByOrder(db.clone()), tokio::spawn))
        .data(DataLoader::new(RefundsByOrder(db.clone()), tokio::spawn))
        .data(DataLoader::new(PromoCodeById(db.clone()), tokio::spawn))
        .data(DataLoader::new(PartnerById(db.clone()), tokio::spawn))
        .data(Arc::new(
            DataLoader::new(CartsByToken(kept), tokio::spawn).max_batch_size(crate::services::carts::GET_MANY_MAX),
        ))
        .data(DataLoader::new(AccountById(db), tokio::spawn))
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(MAX_PARSER_RECURSION)
        .limit_directives(MAX_DIRECTIVES)
        .extension(document_cache::DocumentCache::default())
        .extension(crate::observe::RootFieldMetrics);
    if !open {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The schema in SDL, as committed to `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot).finish().sdl()
}
