//! `?promo=CODE&utm_source=…` on any shop route: captured into the buyer's session.
//!
//! A valid code of the shop is stored (and counted as one link visit per session); an
//! invalid one is ignored without a word, so a stale link never greets a buyer with an
//! error. UTM values are stored either way.
//!
//! A link names a code, so it can be used to guess codes: an invalid one counts as a
//! failed attempt under the same limits as typed codes (session and address), and once
//! a key is limited every captured code is ignored, valid or not, so no response tells
//! a good guess from a bad one.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::Session;

use super::AppState;
use crate::graphql::cart::{CAPTURE_KEY, limiter_keys};
use crate::services::accounts;
use crate::services::carts::{self, Capture};

/// The middleware.
pub async fn capture(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    if let Some(query) = request.uri().query()
        && (query.contains("promo=") || query.contains("utm_"))
    {
        let shop =
            request.uri().path().strip_prefix("/shops/").and_then(|rest| rest.split('/').next()).map(str::to_owned);
        let query = query.to_owned();
        let client_ip = super::graphql::client_ip(&state, request.headers(), peer);
        if let Err(e) = store(&state, &session, client_ip, shop, &query).await {
            // Capture is best effort: the page is served regardless.
            tracing::warn!(error = %e, "could not capture link parameters");
        }
    }
    next.run(request).await
}

async fn store(
    state: &AppState,
    session: &Session,
    client_ip: std::net::IpAddr,
    shop: Option<String>,
    query: &str,
) -> Result<(), String> {
    let mut incoming = Capture::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = Some(value.trim().chars().take(100).collect::<String>()).filter(|v| !v.is_empty());
        match key.as_ref() {
            "promo" => incoming.promo = value,
            "utm_source" => incoming.utm_source = value,
            "utm_medium" => incoming.utm_medium = value,
            "utm_campaign" => incoming.utm_campaign = value,
            _ => {}
        }
    }
    let slug = shop.unwrap_or_else(|| state.config.default_shop.clone());
    let Some(account) = accounts::find_by_slug(&state.db, &slug).await.map_err(|e| format!("{e:?}"))? else {
        return Ok(());
    };
    // A link of another shop replaces what an earlier shop's link captured.
    let mut stored: Capture = session
        .get::<Capture>(CAPTURE_KEY)
        .await
        .map_err(|e| e.to_string())?
        .filter(|c| c.account_id == Some(account.id))
        .unwrap_or(Capture { account_id: Some(account.id), ..Capture::default() });
    if incoming.utm_source.is_some() || incoming.utm_medium.is_some() || incoming.utm_campaign.is_some() {
        stored.utm_source = incoming.utm_source.clone();
        stored.utm_medium = incoming.utm_medium.clone();
        stored.utm_campaign = incoming.utm_campaign.clone();
    }
    if let Some(code) = incoming.promo.as_deref() {
        // The visit needs a session id: saving first assigns one.
        if session.id().is_none() {
            session.insert(CAPTURE_KEY, &stored).await.map_err(|e| e.to_string())?;
            session.save().await.map_err(|e| e.to_string())?;
        }
        let session_id = session.id().map(|id| id.to_string()).unwrap_or_default();
        let keys = limiter_keys(Some(client_ip), Some(session));
        // Limited: ignored like an unknown code, without looking it up.
        if let Some(permit) = state.limiter.acquire(&keys).await.map_err(|e| e.to_string())? {
            match carts::capture_visit(&state.db, account.id, &session_id, code, &incoming)
                .await
                .map_err(|e| format!("{e:?}"))?
            {
                Some(valid) => {
                    permit.succeeded();
                    stored.promo = Some(valid);
                }
                None => permit.failed().await.map_err(|e| e.to_string())?,
            }
        }
    }
    session.insert(CAPTURE_KEY, &stored).await.map_err(|e| e.to_string())
}
