//! Partners (the creators, newsletters and venues who hand out codes) and their share
//! links: a revocable, read-only page of one partner's (or one code's) figures.
//!
//! A share link's token is shown once, when it is made; only its SHA-256 is stored. The
//! figures it shows are counts and sums, never a buyer's email or another partner's data.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use sha2::{Digest, Sha256};

use super::audit::{self, Actor};
use super::{ServiceError, ServiceResult, UserError, UserErrorCode, now};
use crate::domain::Currency;
use crate::domain::calendar::ShopZone;
use crate::entities::enums::{AuditTarget, OrderStatus};
use crate::entities::{account, order, partner, partner_share_link, promo_code, promo_link_visit};

/// Longest partner name.
pub const MAX_NAME_CHARS: usize = 100;

/// Longest contact.
pub const MAX_CONTACT_CHARS: usize = 254;

/// Random bytes of a share token: 192 bits.
const TOKEN_BYTES: usize = 24;

/// Days the share page charts, ending today on the shop's clock.
pub const CHART_DAYS: i64 = 30;

/// A partner's settings as submitted.
#[derive(Debug, Clone, Default)]
pub struct PartnerInput {
    /// Shown on reports and the share page; unique in the shop.
    pub name: Option<String>,
    /// How the organizer reaches them (`Some(None)` clears it on update).
    pub contact: Option<Option<String>>,
}

fn partner_fields(row: &partner::Model) -> audit::Fields {
    audit::fields(serde_json::json!({ "name": row.name, "contact": row.contact }))
}

fn clean_name(name: &str) -> ServiceResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(
            UserError::new("name", UserErrorCode::Invalid, format!("a name is 1–{MAX_NAME_CHARS} characters")).into()
        );
    }
    Ok(name.to_owned())
}

fn clean_contact(contact: Option<&str>) -> ServiceResult<Option<String>> {
    let contact = contact.map(str::trim).filter(|c| !c.is_empty());
    if contact.is_some_and(|c| c.chars().count() > MAX_CONTACT_CHARS) {
        return Err(UserError::new(
            "contact",
            UserErrorCode::Invalid,
            format!("a contact is at most {MAX_CONTACT_CHARS} characters"),
        )
        .into());
    }
    Ok(contact.map(str::to_owned))
}

fn taken(name: &str) -> ServiceError {
    UserError::new("name", UserErrorCode::Taken, format!("a partner named {name} exists already")).into()
}

async fn name_taken(
    db: &impl ConnectionTrait,
    account_id: i64,
    name: &str,
    except: Option<i64>,
) -> ServiceResult<bool> {
    let mut query = partner::Entity::find()
        .filter(partner::Column::AccountId.eq(account_id))
        .filter(partner::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(partner::Column::Id.ne(id));
    }
    Ok(query.one(db).await?.is_some())
}

/// One of the account's partners.
pub async fn find(db: &impl ConnectionTrait, account_id: i64, id: i64) -> ServiceResult<Option<partner::Model>> {
    Ok(partner::Entity::find_by_id(id).filter(partner::Column::AccountId.eq(account_id)).one(db).await?)
}

/// The account's partners, by name.
pub async fn list(db: &impl ConnectionTrait, account_id: i64) -> ServiceResult<Vec<partner::Model>> {
    Ok(partner::Entity::find()
        .filter(partner::Column::AccountId.eq(account_id))
        .order_by_asc(partner::Column::Name)
        .order_by_asc(partner::Column::Id)
        .all(db)
        .await?)
}

/// Creates a partner.
pub async fn create(
    db: &(impl ConnectionTrait + super::Writable),
    actor: &Actor,
    account_id: i64,
    input: PartnerInput,
) -> ServiceResult<partner::Model> {
    let name = clean_name(input.name.as_deref().unwrap_or(""))?;
    let contact = clean_contact(input.contact.flatten().as_deref())?;
    let txn = super::begin_write(db).await?;
    if name_taken(&txn, account_id, &name, None).await? {
        return Err(taken(&name));
    }
    let at = now();
    let row = partner::ActiveModel {
        account_id: Set(account_id),
        name: Set(name.clone()),
        contact: Set(contact),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| if crate::db::is_unique_violation(&e) { taken(&name) } else { e.into() })?;
    let after = partner_fields(&row);
    audit::record(&txn, account_id, actor, "createPartner", (AuditTarget::Partner, row.id), None, Some(&after)).await?;
    txn.commit().await?;
    Ok(row)
}

/// Renames a partner or changes their contact.
pub async fn update(
    db: &(impl ConnectionTrait + super::Writable),
    actor: &Actor,
    account_id: i64,
    id: i64,
    input: PartnerInput,
) -> ServiceResult<partner::Model> {
    let txn = super::begin_write(db).await?;
    let current = find(&txn, account_id, id).await?.ok_or_else(|| not_found(id))?;
    let mut row: partner::ActiveModel = current.clone().into();
    if let Some(name) = input.name.as_deref() {
        let name = clean_name(name)?;
        if name_taken(&txn, account_id, &name, Some(id)).await? {
            return Err(taken(&name));
        }
        row.name = Set(name);
    }
    if let Some(contact) = input.contact {
        row.contact = Set(clean_contact(contact.as_deref())?);
    }
    row.updated_at = Set(now());
    let saved = row.update(&txn).await?;
    let (before, after) = (partner_fields(&current), partner_fields(&saved));
    audit::record(&txn, account_id, actor, "updatePartner", (AuditTarget::Partner, id), Some(&before), Some(&after))
        .await?;
    txn.commit().await?;
    Ok(saved)
}

fn not_found(id: i64) -> ServiceError {
    UserError::new("partnerId", UserErrorCode::NotFound, format!("no partner with id {id} in this account")).into()
}

/// What a share link shows: one partner's codes, or one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareScope {
    /// Every code of the partner.
    Partner(i64),
    /// One code.
    PromoCode(i64),
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Makes a share link; returns the row and the token (shown this once).
pub async fn create_share_link(
    db: &(impl ConnectionTrait + super::Writable),
    actor: &Actor,
    account_id: i64,
    scope: ShareScope,
) -> ServiceResult<(partner_share_link::Model, String)> {
    let txn = super::begin_write(db).await?;
    let (partner_id, promo_code_id) = match scope {
        ShareScope::Partner(id) => {
            find(&txn, account_id, id).await?.ok_or_else(|| not_found(id))?;
            (Some(id), None)
        }
        ShareScope::PromoCode(id) => {
            super::promo_codes::find(&txn, account_id, id).await?.filter(|c| c.deleted_at.is_none()).ok_or_else(
                || UserError::new("promoCodeId", UserErrorCode::NotFound, format!("no promo code with id {id}")),
            )?;
            (None, Some(id))
        }
    };
    let mut bytes = [0_u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("tps_{}", URL_SAFE_NO_PAD.encode(bytes));
    let row = partner_share_link::ActiveModel {
        account_id: Set(account_id),
        partner_id: Set(partner_id),
        promo_code_id: Set(promo_code_id),
        token_hash: Set(hash(&token)),
        created_at: Set(now()),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let after = share_link_fields(&row);
    let target = (AuditTarget::ShareLink, row.id);
    audit::record(&txn, account_id, actor, "createPartnerShareLink", target, None, Some(&after)).await?;
    txn.commit().await?;
    Ok((row, token))
}

fn share_link_fields(row: &partner_share_link::Model) -> audit::Fields {
    audit::fields(serde_json::json!({
        "partnerId": row.partner_id.map(|id| id.to_string()),
        "promoCodeId": row.promo_code_id.map(|id| id.to_string()),
        "revokedAt": row.revoked_at,
    }))
}

/// Revokes a share link: its page answers 404 from now on. Revoking twice changes nothing.
pub async fn revoke_share_link(
    db: &(impl ConnectionTrait + super::Writable),
    actor: &Actor,
    account_id: i64,
    id: i64,
) -> ServiceResult<partner_share_link::Model> {
    let txn = super::begin_write(db).await?;
    let current = partner_share_link::Entity::find_by_id(id)
        .filter(partner_share_link::Column::AccountId.eq(account_id))
        .one(&txn)
        .await?
        .ok_or_else(|| UserError::new("id", UserErrorCode::NotFound, format!("no share link with id {id}")))?;
    if current.revoked_at.is_some() {
        return Ok(current);
    }
    let mut row: partner_share_link::ActiveModel = current.clone().into();
    row.revoked_at = Set(Some(now()));
    let saved = row.update(&txn).await?;
    let (before, after) = (share_link_fields(&current), share_link_fields(&saved));
    let target = (AuditTarget::ShareLink, id);
    audit::record(&txn, account_id, actor, "revokePartnerShareLink", target, Some(&before), Some(&after)).await?;
    txn.commit().await?;
    Ok(saved)
}

/// The account's share links, newest first.
pub async fn share_links(db: &impl ConnectionTrait, account_id: i64) -> ServiceResult<Vec<partner_share_link::Model>> {
    Ok(partner_share_link::Entity::find()
        .filter(partner_share_link::Column::AccountId.eq(account_id))
        .order_by_desc(partner_share_link::Column::Id)
        .all(db)
        .await?)
}

/// One slice of a share page's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Sessions that arrived through a link of the codes.
    pub link_visits: i64,
    /// Paid orders with the codes (refunded ones included).
    pub orders: i64,
    /// Tickets in them.
    pub tickets: i64,
    /// Σ totals minus refunds, minor units.
    pub revenue: i64,
}

/// Everything a share page shows.
#[derive(Debug, Clone)]
pub struct ShareView {
    /// The partner's name, or the code's string for a one-code link.
    pub title: String,
    /// The shop's name.
    pub shop_name: String,
    /// The shop's currency.
    pub currency: Currency,
    /// The codes the figures cover, by string.
    pub codes: Vec<String>,
    /// All time.
    pub totals: Figures,
    /// By utm_source (`None`: no source), most orders first.
    pub by_source: Vec<(Option<String>, Figures)>,
    /// The last [`CHART_DAYS`] days on the shop's clock, oldest first, every day present.
    pub by_day: Vec<(NaiveDate, Figures)>,
}

/// What the share page reads of an order: when, from where, tickets, total, refunded.
type OrderFigures = (DateTime<Utc>, Option<String>, i32, i64, i64);

/// The page behind a token; `None` when there is no such link or it was revoked.
pub async fn share_view(db: &impl ConnectionTrait, token: &str) -> ServiceResult<Option<ShareView>> {
    let token = token.trim();
    if !token.starts_with("tps_") || token.len() > 64 {
        return Ok(None);
    }
    let Some(link) = partner_share_link::Entity::find()
        .filter(partner_share_link::Column::TokenHash.eq(hash(token)))
        .filter(partner_share_link::Column::RevokedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(shop) = account::Entity::find_by_id(link.account_id).one(db).await? else { return Ok(None) };
    let in_scope = match (link.partner_id, link.promo_code_id) {
        (Some(partner_id), _) => promo_code::Column::PartnerId.eq(partner_id),
        (None, Some(code_id)) => promo_code::Column::Id.eq(code_id),
        (None, None) => return Ok(None),
    };
    let codes: Vec<(String, Option<i64>)> = promo_code::Entity::find()
        .select_only()
        .column(promo_code::Column::Code)
        .column(promo_code::Column::BatchId)
        .filter(promo_code::Column::AccountId.eq(link.account_id))
        .filter(in_scope.clone())
        .order_by_asc(promo_code::Column::Code)
        .into_tuple()
        .all(db)
        .await?;
    let title = match link.partner_id {
        Some(id) => match find(db, link.account_id, id).await? {
            Some(p) => p.name,
            None => return Ok(None),
        },
        None => match codes.first() {
            Some((code, _)) => code.clone(),
            None => return Ok(None),
        },
    };
    // The codes as a subquery: a partner may have thousands (a generated batch).
    let scoped_ids = || {
        sea_orm::sea_query::Query::select()
            .column(promo_code::Column::Id)
            .from(promo_code::Entity)
            .and_where(promo_code::Column::AccountId.eq(link.account_id))
            .and_where(in_scope.clone())
            .to_owned()
    };
    let zone = ShopZone::parse(&shop.time_zone).unwrap_or_default();
    let today = zone.local(now()).date_naive();
    let first_day = today - Duration::days(CHART_DAYS - 1);
    let mut by_day: BTreeMap<NaiveDate, Figures> =
        (0..CHART_DAYS).map(|n| (first_day + Duration::days(n), Figures::default())).collect();
    let mut by_source: BTreeMap<Option<String>, Figures> = BTreeMap::new();
    let mut totals = Figures::default();

    // Only what is counted is read: no email, no order number leaves this function.
    let orders: Vec<OrderFigures> = order::Entity::find()
        .select_only()
        .column(order::Column::CreatedAt)
        .column(order::Column::UtmSource)
        .column(order::Column::TicketCount)
        .column(order::Column::Total)
        .column(order::Column::RefundedAmount)
        .filter(order::Column::AccountId.eq(link.account_id))
        .filter(order::Column::PromoCodeId.in_subquery(scoped_ids()))
        .filter(order::Column::Status.is_in([OrderStatus::Paid, OrderStatus::PartiallyRefunded, OrderStatus::Refunded]))
        .into_tuple()
        .all(db)
        .await?;
    for (at, source, tickets, total, refunded) in orders {
        let add = |f: &mut Figures| {
            f.orders += 1;
            f.tickets += i64::from(tickets);
            f.revenue += total - refunded;
        };
        add(&mut totals);
        add(by_source.entry(source).or_default());
        if let Some(day) = by_day.get_mut(&zone.local(at).date_naive()) {
            add(day);
        }
    }
    let visits: Vec<(DateTime<Utc>, Option<String>)> = promo_link_visit::Entity::find()
        .select_only()
        .column(promo_link_visit::Column::CreatedAt)
        .column(promo_link_visit::Column::UtmSource)
        .filter(promo_link_visit::Column::AccountId.eq(link.account_id))
        .filter(promo_link_visit::Column::PromoCodeId.in_subquery(scoped_ids()))
        .into_tuple()
        .all(db)
        .await?;
    for (at, source) in visits {
        totals.link_visits += 1;
        by_source.entry(source).or_default().link_visits += 1;
        if let Some(day) = by_day.get_mut(&zone.local(at).date_naive()) {
            day.link_visits += 1;
        }
    }
    let mut by_source: Vec<(Option<String>, Figures)> = by_source.into_iter().collect();
    by_source
        .sort_by(|a, b| b.1.orders.cmp(&a.1.orders).then(b.1.link_visits.cmp(&a.1.link_visits)).then(a.0.cmp(&b.0)));
    Ok(Some(ShareView {
        title,
        shop_name: shop.name.clone(),
        currency: *shop.currency,
        codes: shown_codes(codes),
        totals,
        by_source,
        by_day: by_day.into_iter().collect(),
    }))
}

/// The codes as a share page lists them: each code made on its own, and a generated
/// batch as one entry ("NEWS-… (250 codes)") rather than thousands of single-use codes.
fn shown_codes(codes: Vec<(String, Option<i64>)>) -> Vec<String> {
    let mut batches: BTreeMap<i64, (String, usize)> = BTreeMap::new();
    let mut shown = vec![];
    for (code, batch) in codes {
        match batch {
            None => shown.push(code),
            Some(id) => {
                let prefix = code.split_once('-').map_or(code.as_str(), |(p, _)| p).to_owned();
                batches.entry(id).or_insert((prefix, 0)).1 += 1;
            }
        }
    }
    shown.extend(batches.into_values().map(|(prefix, n)| format!("{prefix}-… ({n} codes)")));
    shown
}

/// The partner of each code id given (codes without one are left out).
pub async fn of_codes(db: &impl ConnectionTrait, code_ids: &[i64]) -> ServiceResult<BTreeMap<i64, partner::Model>> {
    if code_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let pairs: Vec<(i64, Option<i64>)> = promo_code::Entity::find()
        .select_only()
        .column(promo_code::Column::Id)
        .column(promo_code::Column::PartnerId)
        .filter(promo_code::Column::Id.is_in(code_ids.iter().copied()))
        .filter(promo_code::Column::PartnerId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let partner_ids: Vec<i64> = pairs.iter().filter_map(|(_, p)| *p).collect();
    let partners: BTreeMap<i64, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Id.is_in(partner_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(pairs.into_iter().filter_map(|(code, p)| Some((code, partners.get(&p?)?.clone()))).collect())
}
