//! Shops, the caller and its account's API keys.

use async_graphql::{Context, ID, Object};

use super::context::ContextExt;
use super::errors::{self, ErrorCode, client_error, input_errors, user_errors};
use super::types::api_key::{CreateApiKeyInput, CreateApiKeyPayload, RevokeApiKeyPayload, Viewer};
use super::types::{ApiKey, Shop, parse_id};
use crate::domain::api_key::KeyName;
use crate::entities::enums::AuditVia;
use crate::services::audit::Actor;
use crate::services::{self, UserErrorCode, accounts, api_keys};

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
        Ok(errors::query(accounts::find_by_slug(ctx.db(), slug.trim()).await)?.map(Shop))
    }

    /// The calling API key and its account. Needs an API key.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        let principal = ctx.caller().reader()?.clone();
        let account = errors::query(accounts::find(ctx.db(), principal.account_id).await)?
            .ok_or_else(|| client_error(ErrorCode::Unauthenticated, "the API key's account no longer exists"))?;
        Ok(Viewer { account, principal })
    }

    /// The account's API keys, newest first, revoked ones included. Needs an API key.
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let principal = ctx.caller().reader()?;
        Ok(errors::query(api_keys::list(ctx.db(), principal.account_id).await)?.into_iter().map(ApiKey).collect())
    }
}

/// API key management.
#[derive(Default)]
pub struct ApiKeyMutation;

/// API key management.
#[Object]
impl ApiKeyMutation {
    /// Creates an API key for your account and returns its secret once. Needs an admin key.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's name and scope.")] input: CreateApiKeyInput,
        #[graphql(desc = "When true, only validate: nothing is created and no secret is returned.", default = false)]
        dry_run: bool,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let principal = ctx.caller().admin()?;
        let refused = |errors| CreateApiKeyPayload {
            api_key: None,
            secret: None,
            user_errors: input_errors::<CreateApiKeyInput>(errors),
        };
        let name = match KeyName::parse(&input.name) {
            Ok(name) => name,
            Err(e) => {
                return Ok(refused(vec![services::UserError::new("name", UserErrorCode::Invalid, e.to_string())]));
            }
        };
        if dry_run {
            return Ok(refused(vec![]));
        }
        let actor = Actor::key(principal, AuditVia::Graphql);
        let created = async {
            let txn = services::begin_write(ctx.db()).await?;
            let created = api_keys::create(&txn, &actor, principal.account_id, &name, input.scope.into()).await?;
            txn.commit().await?;
            Ok(created)
        };
        match errors::split(created.await)? {
            Ok(created) => Ok(CreateApiKeyPayload {
                api_key: Some(ApiKey(created.key)),
                secret: Some(created.secret),
                user_errors: vec![],
            }),
            Err(e) => Ok(refused(e)),
        }
    }

    /// Revokes one of your account's API keys; it stops working at once. Needs an admin key.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's id (from `apiKeys`).")] id: ID,
    ) -> async_graphql::Result<RevokeApiKeyPayload> {
        let principal = ctx.caller().admin()?;
        let refused = |errors| RevokeApiKeyPayload { api_key: None, user_errors: user_errors(errors) };
        let Some(key_id) = parse_id(&id) else {
            return Ok(refused(vec![services::UserError::new(
                "id",
                UserErrorCode::NotFound,
                format!("no API key with id {} in this account", id.as_str()),
            )]));
        };
        let actor = Actor::key(principal, AuditVia::Graphql);
        let revoked = async {
            let txn = services::begin_write(ctx.db()).await?;
            let key = api_keys::revoke(&txn, &actor, principal.account_id, key_id).await?;
            txn.commit().await?;
            Ok(key)
        };
        match errors::split(revoked.await)? {
            Ok(key) => Ok(RevokeApiKeyPayload { api_key: Some(ApiKey(key)), user_errors: vec![] }),
            Err(e) => Ok(refused(e)),
        }
    }
}
