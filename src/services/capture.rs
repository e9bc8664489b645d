//! `?promo=CODE&utm_source=…` links, captured into the buyer's session, and handed to
//! the carts the buyer makes in it. Everything that reads or writes the captured values
//! is here; the HTTP middleware and the cart resolvers only call it.
//!
//! A valid code of the shop is stored (and counted as one link visit per session); an
//! invalid one is ignored without a word, so a stale link never greets a buyer with an
//! error. UTM values are stored either way.
//!
//! A link names a code, so it can be used to guess codes: an invalid one counts as a
//! failed attempt under the same limits as typed codes (session and address), and once
//! a key is limited every captured code is ignored, valid or not, so no response tells
//! a good guess from a bad one.

use std::net::IpAddr;
use std::sync::Arc;

use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use tower_sessions::Session;

use crate::domain::promo::{self, PromoCodeString};
use crate::entities::{cart, order, promo_code, promo_link_visit};
use crate::events::CartEvents;
use crate::rate_limit::{self, RateLimiter};

use super::{ServiceError, ServiceResult, accounts, carts, now};

/// The session key the captured values live under.
const SESSION_KEY: &str = "capture";

/// Longest captured value kept, in characters: codes are at most 32 and UTM values are
/// labels, so anything longer is noise that should not grow every session row.
const MAX_VALUE_CHARS: usize = 100;

/// Values captured from a `?promo=…&utm_…` link into the buyer's session.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capture {
    /// The shop whose link it was: captured values apply only to its carts.
    #[serde(default)]
    pub account_id: Option<i64>,
    /// The captured code (already known to be a live code of the shop).
    pub promo: Option<String>,
    /// `utm_source`.
    pub utm_source: Option<String>,
    /// `utm_medium`.
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    pub utm_campaign: Option<String>,
}

impl Capture {
    /// Whether any UTM value is set.
    fn has_utm(&self) -> bool {
        self.utm_source.is_some() || self.utm_medium.is_some() || self.utm_campaign.is_some()
    }
}

/// Why capturing a link failed; logged by the caller, never shown (capture is best effort).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The session could not be read or written.
    #[error("session: {0}")]
    Session(#[from] tower_sessions::session::Error),
    /// A service call failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The attempt limiter's table failed.
    #[error("rate limiter: {0}")]
    Limiter(#[from] DbErr),
}

/// A captured value trimmed and cut to [`MAX_VALUE_CHARS`]; `None` when empty.
pub(super) fn clean(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().chars().take(MAX_VALUE_CHARS).collect::<String>()).filter(|v| !v.is_empty())
}

/// Whether a request's query string carries anything to capture.
pub fn is_link(query: &str) -> bool {
    query.contains("promo=") || query.contains("utm_")
}

/// The values a link's query string carries.
fn parse_link(query: &str) -> Capture {
    let mut incoming = Capture::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = clean(Some(value.into_owned()));
        match key.as_ref() {
            "promo" => incoming.promo = value,
            "utm_source" => incoming.utm_source = value,
            "utm_medium" => incoming.utm_medium = value,
            "utm_campaign" => incoming.utm_campaign = value,
            _ => {}
        }
    }
    incoming
}

/// What this session captured, if anything (an unreadable session counts as nothing).
pub async fn current(session: &Session) -> Option<Capture> {
    match session.get::<Capture>(SESSION_KEY).await {
        Ok(capture) => capture,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the session");
            None
        }
    }
}

/// Forgets the captured code once a cart got it (the UTM values stay), so a buyer who
/// removes the code keeps it removed.
pub async fn consume_promo(session: &Session, capture: Capture) {
    if capture.promo.is_none() {
        return;
    }
    let rest = Capture { promo: None, ..capture };
    if let Err(e) = session.insert(SESSION_KEY, rest).await {
        tracing::warn!(error = %e, "cannot update the session");
    }
}

/// Applies what the session captured to the cart (silently), then forgets the code.
pub async fn adopt(db: &DatabaseConnection, events: &CartEvents, session: &Session, token: &str) -> ServiceResult<()> {
    let Some(capture) = current(session).await else { return Ok(()) };
    carts::adopt_capture(db, events, token, &capture).await?;
    consume_promo(session, capture).await;
    Ok(())
}

/// Records a link's values in the session. `shop_slug` is the shop of the route;
/// a link of another shop replaces what an earlier shop's link captured.
pub async fn record_link(
    db: &DatabaseConnection,
    limiter: &Arc<RateLimiter>,
    session: &Session,
    client_ip: IpAddr,
    shop_slug: &str,
    query: &str,
) -> Result<(), CaptureError> {
    let incoming = parse_link(query);
    let Some(account) = accounts::find_by_slug(db, shop_slug).await? else {
        return Ok(());
    };
    let mut stored: Capture = session
        .get::<Capture>(SESSION_KEY)
        .await?
        .filter(|c| c.account_id == Some(account.id))
        .unwrap_or(Capture { account_id: Some(account.id), ..Capture::default() });
    if incoming.has_utm() {
        stored.utm_source = incoming.utm_source.clone();
        stored.utm_medium = incoming.utm_medium.clone();
        stored.utm_campaign = incoming.utm_campaign.clone();
    }
    if let Some(code) = incoming.promo.as_deref() {
        // The visit needs a session id: saving first assigns one.
        if session.id().is_none() {
            session.insert(SESSION_KEY, &stored).await?;
            session.save().await?;
        }
        let session_id = session.id().map(|id| id.to_string());
        let keys = rate_limit::attempt_keys(Some(client_ip), session_id.as_deref());
        // Limited: ignored like an unknown code, without looking it up.
        if let Some(permit) = limiter.acquire(&keys).await? {
            match record_visit(db, account.id, session_id.as_deref().unwrap_or_default(), code, &incoming).await? {
                Some(valid) => {
                    permit.succeeded();
                    stored.promo = Some(valid);
                }
                None => permit.failed().await?,
            }
        }
    }
    session.insert(SESSION_KEY, &stored).await?;
    Ok(())
}

/// Records a link visit for `code` of `shop_id` once per session; returns the code
/// string when it is a live, currently valid code of the shop (else `None`, silently).
async fn record_visit(
    db: &DatabaseConnection,
    shop_id: i64,
    session_id: &str,
    code: &str,
    utm: &Capture,
) -> ServiceResult<Option<String>> {
    let Ok(parsed) = PromoCodeString::parse(code) else { return Ok(None) };
    let Some(row) = promo_code::Entity::find()
        .filter(promo_code::Column::AccountId.eq(shop_id))
        .filter(promo_code::Column::Code.eq(parsed.as_str()))
        .filter(promo_code::Column::DeletedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    // A code that starts later is captured too: the cart holds it until it applies.
    let checked = promo::check_apply(&carts::lifecycle(&row), &Default::default(), &Default::default(), now());
    if checked.is_err_and(|r| r != promo::ApplyRefusal::NotStarted) {
        return Ok(None);
    }
    let txn = super::begin_write(db).await?;
    let recorded = promo_link_visit::Entity::insert(promo_link_visit::ActiveModel {
        account_id: Set(shop_id),
        promo_code_id: Set(row.id),
        session_id: Set(session_id.to_owned()),
        utm_source: Set(clean(utm.utm_source.clone())),
        utm_medium: Set(clean(utm.utm_medium.clone())),
        utm_campaign: Set(clean(utm.utm_campaign.clone())),
        created_at: Set(now()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([promo_link_visit::Column::PromoCodeId, promo_link_visit::Column::SessionId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if recorded > 0 {
        // The session's earlier orders with the code become link orders, as if the visit
        // had come first.
        order::Entity::update_many()
            .col_expr(order::Column::ViaLink, Expr::value(true))
            .filter(order::Column::PromoCodeId.eq(row.id))
            .filter(order::Column::ViaLink.eq(false))
            .filter(
                order::Column::CartId.in_subquery(
                    Query::select()
                        .column(cart::Column::Id)
                        .from(cart::Entity)
                        .and_where(cart::Column::SessionId.eq(session_id))
                        .to_owned(),
                ),
            )
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Some(row.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_parsed_trimmed_and_cut() {
        let long = "x".repeat(MAX_VALUE_CHARS + 20);
        let capture = parse_link(&format!("promo=%20news10%20&utm_source=insta&utm_medium=&utm_campaign={long}&x=1"));
        assert_eq!(capture.promo.as_deref(), Some("news10"));
        assert_eq!(capture.utm_source.as_deref(), Some("insta"));
        assert_eq!(capture.utm_medium, None, "an empty value is no value");
        assert_eq!(capture.utm_campaign.map(|c| c.chars().count()), Some(MAX_VALUE_CHARS));
        assert!(is_link("utm_source=a") && is_link("promo=A") && !is_link("page=2"));
    }
}
