//! `?promo=CODE&utm_source=…` on any shop route: captured into the buyer's session.
//!
//! A valid code of the shop is stored (and counted as one link visit per session); an
//! invalid one is ignored without a word, so a stale link never greets a buyer with an
//! error. UTM values are stored either way.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::Session;

use super::AppState;
use crate::graphql::cart::CAPTURE_KEY;
use crate::services::accounts;
use crate::services::carts::{self, Capture};

/// The middleware.
pub async fn capture(State(state): State<AppState>, session: Session, request: Request, next: Next) -> Response {
    if let Some(query) = request.uri().query()
        && (query.contains("promo=") || query.contains("utm_"))
    {
        let shop =
            request.uri().path().strip_prefix("/shops/").and_then(|rest| rest.split('/').next()).map(str::to_owned);
        let query = query.to_owned();
        if let Err(e) = store(&state, &session, shop, &query).await {
            // Capture is best effort: the page is served regardless.
            tracing::warn!(error = %e, "could not capture link parameters");
        }
    }
    next.run(request).await
}

async fn store(state: &AppState, session: &Session, shop: Option<String>, query: &str) -> Result<(), String> {
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
        if let Some(valid) = carts::capture_visit(&state.db, account.id, &session_id, code, &incoming)
            .await
            .map_err(|e| format!("{e:?}"))?
        {
            stored.promo = Some(valid);
        }
    }
    session.insert(CAPTURE_KEY, &stored).await.map_err(|e| e.to_string())
}
