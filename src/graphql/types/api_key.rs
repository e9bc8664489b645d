//! API keys as the admin sees them (never the secret, except once on creation), and
//! the caller holding one.

use async_graphql::{Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::{Shop, UserError, to_id};
use crate::domain::api_key::Scope;
use crate::entities::{account, api_key};
use crate::graphql::errors::InputFields;
use crate::services::api_keys::Principal;

/// What an API key may do within its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::domain::api_key::Scope")]
pub enum ApiKeyScope {
    /// Read and change everything of the account.
    Admin,
    /// Read only: mutations are refused with FORBIDDEN.
    Read,
}

/// An API key of the account. The secret itself is shown once, when created.
pub struct ApiKey(pub api_key::Model);

/// An API key of the account. The secret itself is shown once, when created.
#[Object]
impl ApiKey {
    /// The key's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Its label, e.g. "dashboard".
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The key's first 12 characters, to recognise it.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// Its scope.
    async fn scope(&self) -> ApiKeyScope {
        Scope::parse(&self.0.scope).unwrap_or(Scope::Read).into()
    }

    /// When it was created (UTC, RFC 3339).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was last used, to the minute (UTC, RFC 3339); null if never.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// When it was revoked (UTC, RFC 3339); null while it is valid.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A new API key.
#[derive(Debug, InputObject)]
pub struct CreateApiKeyInput {
    /// A label to recognise the key by, 1–100 characters, e.g. "dashboard".
    pub name: String,
    /// ADMIN to read and write, READ to read only.
    pub scope: ApiKeyScope,
}

impl InputFields for CreateApiKeyInput {
    const FIELDS: &'static [&'static str] = &["name", "scope"];
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

/// The caller of an authenticated request.
pub struct Viewer {
    /// The key's account.
    pub account: account::Model,
    /// The key.
    pub principal: Principal,
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

    /// The key's id, as `apiKeys` and the audit log's `keyId` show it.
    async fn key_id(&self) -> ID {
        super::to_id(self.principal.key_id)
    }
}
