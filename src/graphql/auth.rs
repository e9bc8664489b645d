//! Who is calling, as resolved from the `Authorization` header (or the WebSocket's
//! `connection_init` payload) before execution.

use super::errors::{ErrorCode, client_error};
use crate::services::api_keys::Principal;

/// The caller of one request.
#[derive(Debug, Clone, Default)]
pub enum Caller {
    /// No key presented: the public storefront.
    #[default]
    Anonymous,
    /// A key was presented but is unknown or revoked.
    InvalidKey,
    /// A valid key.
    Key(Principal),
}

impl Caller {
    /// Whether a valid key was presented.
    pub fn has_valid_key(&self) -> bool {
        matches!(self, Caller::Key(_))
    }

    /// Any valid key (read or admin), else UNAUTHENTICATED.
    pub fn reader(&self) -> async_graphql::Result<&Principal> {
        match self {
            Caller::Key(p) => Ok(p),
            Caller::Anonymous => Err(client_error(
                ErrorCode::Unauthenticated,
                "this field needs an API key: send `Authorization: Bearer <key>`",
            )),
            Caller::InvalidKey => Err(client_error(ErrorCode::Unauthenticated, "the API key is unknown or revoked")),
        }
    }

    /// A valid admin key, else UNAUTHENTICATED or FORBIDDEN.
    pub fn admin(&self) -> async_graphql::Result<&Principal> {
        let principal = self.reader()?;
        if principal.scope.can_write() {
            Ok(principal)
        } else {
            Err(client_error(
                ErrorCode::Forbidden,
                "this API key has the read scope; this operation needs an admin key",
            ))
        }
    }
}
