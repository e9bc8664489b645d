//! The mutation root. Every mutation returns a payload with `userErrors`; write
//! mutations take `dryRun` to validate and preview without writing.

use async_graphql::{Context, ID, InputObject, MergedObject, Object, SimpleObject};
use sea_orm::DatabaseConnection;

use super::auth::Caller;
use super::cart::CartMutation;
use super::checkout::CheckoutMutation;
use super::errors;
use super::orders::WebhookMutation;
use super::promo::PromoMutation;
use super::types::user_error::user_errors;
use super::types::{ApiKey, ApiKeyScope, UserError, parse_id};
use crate::domain::api_key::KeyName;
use crate::services::{self, UserErrorCode, api_keys};

/// Write operations. Cart mutations are public (the cart id is the capability); the
/// rest need an admin API key.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(CartMutation, CheckoutMutation, PromoMutation, WebhookMutation, ApiKeyMutation);

/// API key management.
#[derive(Default)]
pub struct ApiKeyMutation;

/// A new API key.
#[derive(Debug, InputObject)]
pub struct CreateApiKeyInput {
    /// A label to recognise the key by, 1–100 characters, e.g. "dashboard".
    pub name: String,
    /// ADMIN to read and write, READ to read only.
    pub scope: ApiKeyScope,
}

/// Result of `createApiKey`.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The key as stored; null when refused or on a dry run.
    pub api_key: Option<ApiKey>,
    /// The full secret to send as `Authorization: Bearer <secret>`. Shown only here,
    /// only once: it is stored hashed and cannot be read again.
    pub secret: Option<String>,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `revokeApiKey`.
#[derive(SimpleObject)]
pub struct RevokeApiKeyPayload {
    /// The revoked key; null when refused.
    pub api_key: Option<ApiKey>,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

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
        let principal = Caller::of(ctx).admin()?;
        let refused = |errors| CreateApiKeyPayload { api_key: None, secret: None, user_errors: errors };
        let name = match KeyName::parse(&input.name) {
            Ok(name) => name,
            Err(e) => {
                return Ok(refused(vec![
                    services::UserError::new("input.name", UserErrorCode::Invalid, e.to_string()).into(),
                ]));
            }
        };
        if dry_run {
            return Ok(refused(vec![]));
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        match errors::split(api_keys::create(db, principal.account_id, &name, input.scope.into()).await)? {
            Ok(created) => Ok(CreateApiKeyPayload {
                api_key: Some(ApiKey(created.key)),
                secret: Some(created.secret),
                user_errors: vec![],
            }),
            Err(e) => Ok(refused(user_errors(e))),
        }
    }

    /// Revokes one of your account's API keys; it stops working at once. Needs an admin key.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's id (from `apiKeys`).")] id: ID,
    ) -> async_graphql::Result<RevokeApiKeyPayload> {
        let principal = Caller::of(ctx).admin()?;
        let not_found = || RevokeApiKeyPayload {
            api_key: None,
            user_errors: vec![
                services::UserError::new(
                    "id",
                    UserErrorCode::NotFound,
                    format!("no API key with id {} in this account", id.as_str()),
                )
                .into(),
            ],
        };
        let Some(key_id) = parse_id(&id) else {
            return Ok(not_found());
        };
        let db = ctx.data_unchecked::<DatabaseConnection>();
        match errors::split(api_keys::revoke(db, principal.account_id, key_id).await)? {
            Ok(key) => Ok(RevokeApiKeyPayload { api_key: Some(ApiKey(key)), user_errors: vec![] }),
            Err(e) => Ok(RevokeApiKeyPayload { api_key: None, user_errors: user_errors(e) }),
        }
    }
}
