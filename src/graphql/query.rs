//! The query root.

use async_graphql::{Context, MergedObject, Object};
use sea_orm::DatabaseConnection;

use super::auth::Caller;
use super::cart::CartQuery;
use super::checkout::OrderQuery;
use super::errors::{self, ErrorCode, client_error};
use super::orders::OrdersAdminQuery;
use super::promo::PromoQuery;
use super::types::{ApiKey, ApiKeyScope, Shop};
use crate::services::{accounts, api_keys};

/// Read operations. `shop` is public; the rest need an API key (read or admin).
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(AccountQuery, CartQuery, PromoQuery, OrderQuery, OrdersAdminQuery);

/// Shops, the caller and API keys.
#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// A shop by its slug, with its events and ticket types: what a storefront shows.
    /// Null when no shop has this slug.
    async fn shop(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop's URL identifier, e.g. \"demo\".")] slug: String,
    ) -> async_graphql::Result<Option<Shop>> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        Ok(errors::query(accounts::find_by_slug(db, slug.trim()).await)?.map(Shop))
    }

    /// The calling API key and its account. Needs an API key.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        let principal = Caller::of(ctx).reader()?.clone();
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let account = errors::query(accounts::find(db, principal.account_id).await)?
            .ok_or_else(|| client_error(ErrorCode::Unauthenticated, "the API key's account no longer exists"))?;
        Ok(Viewer { account, principal })
    }

    /// The account's API keys, newest first, revoked ones included. Needs an API key.
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let principal = Caller::of(ctx).reader()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        Ok(errors::query(api_keys::list(db, principal.account_id).await)?.into_iter().map(ApiKey).collect())
    }
}

/// The caller of an authenticated request.
pub struct Viewer {
    account: crate::entities::account::Model,
    principal: api_keys::Principal,
}

/// The caller of an authenticated request.
#[Object]
impl Viewer {
    /// The account the key belongs to; everything the key sees is scoped to it.
    async fn account(&self) -> Shop {
        Shop(self.account.clone())
    }

    /// The key's scope: ADMIN may write, READ may only read.
    async fn scope(&self) -> ApiKeyScope {
        self.principal.scope.into()
    }

    /// The key's name.
    async fn key_name(&self) -> &str {
        &self.principal.key_name
    }
}
