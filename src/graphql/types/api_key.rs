//! API keys as the admin sees them (never the secret, except once on creation).

use async_graphql::{Enum, ID, Object};
use chrono::{DateTime, Utc};

use crate::domain::api_key::Scope;
use crate::entities::api_key;

use super::to_id;

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
