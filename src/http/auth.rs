//! API keys at the edge: the one place an `Authorization: Bearer <key>` header is read
//! and the key checked, for GraphQL (over HTTP and WebSocket), REST and the downloads.
//! Each edge then answers in its own envelope.

use axum::http::{HeaderMap, header};

use super::AppState;
use crate::services::ServiceResult;
use crate::services::api_keys::{self, Principal};

/// What a request presented.
#[derive(Debug, Clone)]
pub enum Credential {
    /// No `Authorization` header.
    Absent,
    /// An `Authorization` header that is not `Bearer <key>`.
    Malformed,
    /// A key that is unknown or revoked.
    Unknown,
    /// A valid key.
    Valid(Principal),
}

/// The key of an `Authorization` value `Bearer <key>`.
pub fn bearer_token(value: &str) -> Option<&str> {
    value.strip_prefix("Bearer ").map(str::trim)
}

/// Reads the `Authorization` header and checks its key.
pub async fn credential(state: &AppState, headers: &HeaderMap) -> ServiceResult<Credential> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Credential::Absent);
    };
    let Some(token) = value.to_str().ok().and_then(bearer_token) else {
        return Ok(Credential::Malformed);
    };
    Ok(match check(state, token).await? {
        Some(principal) => Credential::Valid(principal),
        None => Credential::Unknown,
    })
}

/// The principal of a presented key, `None` when it is unknown or revoked. Records the
/// key's use (at most once a minute per key) without making the caller wait.
pub async fn check(state: &AppState, token: &str) -> ServiceResult<Option<Principal>> {
    let Some(principal) = api_keys::authenticate(&state.db, token).await? else { return Ok(None) };
    if principal.use_is_stale() {
        let db = state.db.clone();
        let key_id = principal.key_id;
        tokio::spawn(async move {
            if let Err(e) = api_keys::touch(&db, key_id).await {
                tracing::warn!(error = %e, "could not record API key use");
            }
        });
    }
    Ok(Some(principal))
}
