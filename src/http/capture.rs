//! The middleware that hands `?promo=CODE&utm_source=…` on any shop route to
//! [`crate::services::capture`], which keeps them in the buyer's session.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::Session;

use super::AppState;
use crate::services::capture;

/// The middleware.
pub async fn capture(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    if let Some(query) = request.uri().query()
        && capture::is_link(query)
    {
        let shop = request.uri().path().strip_prefix("/shops/").and_then(|rest| rest.split('/').next());
        let slug = shop.unwrap_or(&state.config.default_shop);
        let client_ip = super::graphql::client_ip(&state, request.headers(), peer);
        if let Err(e) = capture::record_link(&state.db, &state.limiter, &session, client_ip, slug, query).await {
            // Capture is best effort: the page is served regardless.
            tracing::warn!(error = ?e, "could not capture link parameters");
        }
    }
    next.run(request).await
}
