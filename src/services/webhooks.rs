//! Outbound webhooks (Standard Webhooks): endpoints, the outbox, and the dispatcher.
//!
//! An event is written to `webhook_deliveries` (one row per subscribed endpoint) in the
//! same transaction as the state change, so a committed payment always has its
//! `order.paid` queued and a rolled-back one never has. The dispatcher claims due rows
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several instances share the work; SQLite
//! has one writer and `BEGIN IMMEDIATE`), POSTs them signed, records every attempt, and
//! retries with exponential backoff under the same `webhook-id`.

use super::audit;
use crate::entities::enums::AuditTarget;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::domain::promo::PercentOff;
use crate::domain::{Currency, Money, VatRate};
use crate::entities::enums::DeliveryStatus;
use crate::entities::{order, order_item, promo_code, webhook_attempt, webhook_delivery, webhook_endpoint};

use super::{ServiceError, ServiceResult, UserError, UserErrorCode, begin_write, now};

/// Event types an endpoint can subscribe to.
pub const EVENT_TYPES: [&str; 4] = ["order.paid", "order.refunded", "promo_code.exhausted", "promo_code.over_cap"];

/// How long a receiver has to answer one delivery.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a dispatcher holds the deliveries it claimed: longer than resolving the host
/// and one delivery together ([`RESOLVE_TIMEOUT`] + [`DELIVERY_TIMEOUT`]), so a live
/// dispatcher never loses a claim to another instance mid-delivery.
const CLAIM_LEASE: chrono::Duration = chrono::Duration::minutes(1);

/// Deliveries claimed and sent at once: enough to drain a burst of orders quickly, few
/// enough that one slow receiver delays little else.
const CLAIM_BATCH: u64 = 16;

/// The longest wait between two attempts, however many have failed.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(6 * 60 * 60);

/// Doublings of the first retry delay after which [`MAX_RETRY_DELAY`] has long been
/// reached; bounds the exponent so the factor cannot overflow.
const MAX_DOUBLINGS: i32 = 20;

/// Most deliveries one log query returns.
const MAX_LOG_PAGE: u64 = 200;

/// Longest endpoint description kept, in characters (a label, not a document).
const MAX_DESCRIPTION_CHARS: usize = 500;

/// Random bytes of a signing secret: 256 bits, the HMAC-SHA256 key size.
const SECRET_BYTES: usize = 32;

/// Random bytes of a message id: 128 bits never collide in practice.
const MESSAGE_ID_BYTES: usize = 16;

/// Dispatcher and validation settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Allow endpoints on private, loopback and link-local addresses (tests, on-premise).
    pub allow_private: bool,
    /// First retry delay; each further one doubles (capped at 6 h).
    pub retry_base: Duration,
    /// Attempts before a delivery is given up (FAILED).
    pub max_attempts: i32,
    /// How often the dispatcher looks for due deliveries when idle.
    pub poll: Duration,
}

fn user(field: &str, message: impl Into<String>) -> ServiceError {
    UserError::new(field, UserErrorCode::InvalidUrl, message).into()
}

/// Whether an address is one a webhook must not reach. Refused:
///
/// - IPv4: loopback `127/8`, private `10/8`, `172.16/12`, `192.168/16`, link-local
///   `169.254/16` (cloud metadata at 169.254.169.254), CGNAT `100.64/10`, "this network"
///   `0/8` (includes unspecified), IETF protocol assignments `192.0.0/24`, benchmarking
///   `198.18/15`, multicast `224/4`, reserved `240/4` (includes broadcast).
/// - IPv6: unspecified and loopback, IPv4-compatible `::/96` (e.g. `::127.0.0.1`),
///   IPv4-mapped `::ffff:0:0/96` (any: a name has no business resolving to one), NAT64
///   `64:ff9b::/96` and local-use `64:ff9b:1::/48`, 6to4 `2002::/16` (these three embed
///   an IPv4 address a translator or relay would connect to), ULA `fc00::/7`, link-local
///   `fe80::/10`, the deprecated site-local `fec0::/10`, multicast `ff00::/8`.
///
/// Documentation ranges (192.0.2/24, 2001:db8::/32, …) are left alone: nothing private
/// answers there.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // `::/96` covers `::`, `::1` and the IPv4-compatible form.
            s[..6] == [0; 6]
                || s[..6] == [0, 0, 0, 0, 0, 0xffff]
                || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                || s[0] == 0x2002
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || v6.is_multicast()
        }
    }
}

/// How long resolving an endpoint's host may take: the dispatcher waits for a whole batch.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses and checks an endpoint URL — http(s), no credentials — and resolves its host
/// once: an IP literal is its own address, a name is looked up. Unless `allow_private`,
/// every address must be public (see [`is_forbidden`]). Returns the URL and the socket
/// addresses to connect to: the delivery pins them ([`pinned_client`]) so the name is
/// not resolved a second time, which a DNS-rebinding host could answer differently.
pub async fn resolve_checked(raw: &str, allow_private: bool) -> ServiceResult<(url::Url, Vec<SocketAddr>)> {
    let url = url::Url::parse(raw.trim()).map_err(|_| user("url", "the URL does not parse"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(user("url", "webhook URLs are http:// or https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(user("url", "webhook URLs carry no credentials; verify the signature instead"));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let mut addresses: Vec<SocketAddr> = match url.host() {
        None => return Err(user("url", "the URL has no host")),
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(url::Host::Domain(name)) => {
            let unresolved = || user("url", format!("{name} does not resolve"));
            tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port)))
                .await
                .map_err(|_| unresolved())?
                .map_err(|_| unresolved())?
                .collect()
        }
    };
    // Duplicates out, the resolver's order of preference kept.
    let mut seen = std::collections::HashSet::new();
    addresses.retain(|a| seen.insert(*a));
    let host = url.host_str().unwrap_or_default();
    if addresses.is_empty() {
        return Err(user("url", format!("{host} resolves to no address")));
    }
    if !allow_private && let Some(bad) = addresses.iter().find(|a| is_forbidden(a.ip())) {
        let what = match url.host() {
            Some(url::Host::Domain(name)) => format!("{name} resolves to a forbidden address ({})", bad.ip()),
            _ => format!("{host} is a forbidden address"),
        };
        return Err(user("url", format!("{what}: webhooks reach public addresses only")));
    }
    Ok((url, addresses))
}

/// [`resolve_checked`] for registering or changing an endpoint, which keeps only the URL:
/// every delivery resolves and checks the host afresh and connects to what it checked.
pub async fn check_url(raw: &str, allow_private: bool) -> ServiceResult<url::Url> {
    Ok(resolve_checked(raw, allow_private).await?.0)
}

/// An HTTP client for one delivery to `url` that connects only to `addresses` (what
/// [`resolve_checked`] resolved and checked) instead of resolving the host itself. TLS
/// and the `Host` header still use the name. No proxy: a proxy would resolve the name
/// on its own and undo the pinning. No redirects: a `Location` could point anywhere.
pub fn pinned_client(url: &url::Url, addresses: &[SocketAddr]) -> reqwest::Result<reqwest::Client> {
    let mut builder =
        reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).redirect(reqwest::redirect::Policy::none()).no_proxy();
    // IP literals are connected to as they are; only a name goes through the resolver.
    if let Some(url::Host::Domain(name)) = url.host() {
        builder = builder.resolve_to_addrs(name, addresses);
    }
    builder.build()
}

/// The sentences of a refusal, for the attempt log.
fn refusal(error: ServiceError) -> String {
    match error {
        ServiceError::User(errors) => errors.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

fn check_events(events: &[String]) -> ServiceResult<String> {
    if events.is_empty() {
        return Err(UserError::new("events", UserErrorCode::Invalid, "subscribe to at least one event").into());
    }
    for e in events {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(UserError::new("events", UserErrorCode::Invalid, format!("unknown event `{e}`")).into());
        }
    }
    let mut sorted = events.to_vec();
    sorted.sort();
    sorted.dedup();
    Ok(sorted.join(","))
}

/// Registers an endpoint; returns it with its signing secret (shown once).
pub async fn create_endpoint(
    db: &DatabaseConnection,
    settings: &WebhookSettings,
    actor: &super::audit::Actor,
    account_id: i64,
    url: &str,
    events: &[String],
    description: Option<String>,
) -> ServiceResult<webhook_endpoint::Model> {
    let url = check_url(url, settings.allow_private).await?;
    let events = check_events(events)?;
    let mut key = [0_u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut key);
    let at = now();
    let txn = super::begin_write(db).await?;
    let saved = webhook_endpoint::ActiveModel {
        account_id: Set(account_id),
        url: Set(url.to_string()),
        secret: Set(format!("whsec_{}", STANDARD.encode(key))),
        events: Set(events),
        active: Set(true),
        description: Set(description.map(|d| d.trim().chars().take(MAX_DESCRIPTION_CHARS).collect())),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let after = audit::webhook_endpoint_fields(&saved);
    let target = (AuditTarget::WebhookEndpoint, saved.id);
    audit::record(&txn, account_id, actor, "createWebhookEndpoint", target, None, Some(&after)).await?;
    txn.commit().await?;
    Ok(saved)
}

fn endpoint_not_found(id: i64) -> ServiceError {
    UserError::new("id", UserErrorCode::NotFound, format!("no webhook endpoint with id {id} in this account")).into()
}

/// Changes to an endpoint; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    /// New URL (checked like a new one).
    pub url: Option<String>,
    /// New event list.
    pub events: Option<Vec<String>>,
    /// Pause or resume.
    pub active: Option<bool>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
}

/// Changes an endpoint's URL, events, state or description.
pub async fn update_endpoint(
    db: &DatabaseConnection,
    settings: &WebhookSettings,
    actor: &super::audit::Actor,
    account_id: i64,
    id: i64,
    changes: EndpointChanges,
) -> ServiceResult<webhook_endpoint::Model> {
    // The URL is resolved before the transaction: DNS must not hold the write lock.
    let url = match &changes.url {
        Some(url) => Some(check_url(url, settings.allow_private).await?.to_string()),
        None => None,
    };
    let txn = super::begin_write(db).await?;
    let current = webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::AccountId.eq(account_id))
        .one(&txn)
        .await?
        .ok_or_else(|| endpoint_not_found(id))?;
    let before = audit::webhook_endpoint_fields(&current);
    let mut row: webhook_endpoint::ActiveModel = current.into();
    if let Some(url) = url {
        row.url = Set(url);
    }
    if let Some(events) = &changes.events {
        row.events = Set(check_events(events)?);
    }
    if let Some(active) = changes.active {
        row.active = Set(active);
    }
    if let Some(description) = changes.description {
        row.description = Set(description);
    }
    row.updated_at = Set(now());
    let saved = row.update(&txn).await?;
    let after = audit::webhook_endpoint_fields(&saved);
    let target = (AuditTarget::WebhookEndpoint, id);
    audit::record(&txn, account_id, actor, "updateWebhookEndpoint", target, Some(&before), Some(&after)).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Deletes an endpoint and its delivery log.
pub async fn delete_endpoint(
    db: &DatabaseConnection,
    actor: &super::audit::Actor,
    account_id: i64,
    id: i64,
) -> ServiceResult<()> {
    let txn = super::begin_write(db).await?;
    let current = webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::AccountId.eq(account_id))
        .one(&txn)
        .await?
        .ok_or_else(|| endpoint_not_found(id))?;
    webhook_endpoint::Entity::delete_by_id(id).exec(&txn).await?;
    let before = audit::webhook_endpoint_fields(&current);
    let target = (AuditTarget::WebhookEndpoint, id);
    audit::record(&txn, account_id, actor, "deleteWebhookEndpoint", target, Some(&before), None).await?;
    txn.commit().await?;
    Ok(())
}

/// The account's endpoints.
pub async fn endpoints(db: &impl ConnectionTrait, account_id: i64) -> ServiceResult<Vec<webhook_endpoint::Model>> {
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::AccountId.eq(account_id))
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(db)
        .await?)
}

/// Deliveries of the account, newest first, optionally of one endpoint, with attempts.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    account_id: i64,
    endpoint_id: Option<i64>,
    limit: u64,
) -> ServiceResult<Vec<(webhook_delivery::Model, Vec<webhook_attempt::Model>)>> {
    let mut query = webhook_delivery::Entity::find().filter(webhook_delivery::Column::AccountId.eq(account_id));
    if let Some(id) = endpoint_id {
        query = query.filter(webhook_delivery::Column::EndpointId.eq(id));
    }
    let rows = query.order_by_desc(webhook_delivery::Column::Id).limit(limit.clamp(1, MAX_LOG_PAGE)).all(db).await?;
    let attempts = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.is_in(rows.iter().map(|d| d.id)))
        .order_by_asc(webhook_attempt::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|d| {
            let mine = attempts.iter().filter(|a| a.delivery_id == d.id).cloned().collect();
            (d, mine)
        })
        .collect())
}

/// Sends a delivery again (same `webhook-id`), now.
pub async fn redeliver(
    db: &DatabaseConnection,
    actor: &super::audit::Actor,
    account_id: i64,
    delivery_id: i64,
) -> ServiceResult<webhook_delivery::Model> {
    let txn = super::begin_write(db).await?;
    let found = webhook_delivery::Entity::find_by_id(delivery_id)
        .filter(webhook_delivery::Column::AccountId.eq(account_id))
        .one(&txn)
        .await?
        .ok_or_else(|| {
            ServiceError::from(UserError::new(
                "deliveryId",
                UserErrorCode::NotFound,
                format!("no delivery with id {delivery_id}"),
            ))
        })?;
    let before = audit::webhook_delivery_fields(&found);
    let mut row: webhook_delivery::ActiveModel = found.into();
    row.status = Set(DeliveryStatus::Pending);
    row.next_attempt_at = Set(now());
    row.locked_until = Set(None);
    row.updated_at = Set(now());
    let saved = row.update(&txn).await?;
    let after = audit::webhook_delivery_fields(&saved);
    let target = (AuditTarget::WebhookDelivery, delivery_id);
    audit::record(&txn, account_id, actor, "redeliverWebhook", target, Some(&before), Some(&after)).await?;
    txn.commit().await?;
    Ok(saved)
}

fn money(minor: i64, currency: Currency) -> String {
    Money::from_minor(minor, currency).to_string()
}

/// The `data` of an order event: enough for a CRM to rebuild the order without calling back.
pub fn order_payload(order: &order::Model, items: &[order_item::Model]) -> Value {
    let currency = *order.currency;
    let m = |minor: i64| money(minor, currency);
    let rate = |bp: i32| VatRate::from_basis_points(bp.into()).map(|r| r.to_string()).unwrap_or_default();
    json!({
        "id": order.id.to_string(),
        "number": order.number,
        "status": order.status.to_string(),
        "email": order.email,
        "currency": order.currency.code(),
        "prices_include_vat": order.prices_include_vat,
        "subtotal": m(order.subtotal),
        "discount_amount": m(order.discount_amount),
        "net": m(order.net_amount),
        "vat": m(order.vat_amount),
        "total": m(order.total),
        "refunded_amount": m(order.refunded_amount),
        "promo_code": order.promo_code,
        "promo": order.promo_code.as_ref().map(|code| json!({
            "code": code,
            "discount_type": order.promo_discount_type.map(|kind| kind.to_string()),
            "percent_off": order.promo_percent_off_bp.and_then(|h| PercentOff::from_hundredths(h as u32).ok()).map(|p| p.to_decimal().to_string()),
            "amount_off": order.promo_amount_off.map(m),
        })),
        "over_cap": order.over_cap,
        "utm_source": order.utm_source,
        "utm_medium": order.utm_medium,
        "utm_campaign": order.utm_campaign,
        "paid_at": order.paid_at,
        "created_at": order.created_at,
        "items": items.iter().map(|i| json!({
            "ticket_type_id": i.ticket_type_id.map(|id| id.to_string()),
            "name": i.name,
            "quantity": i.quantity,
            "original_price": m(i.original_price),
            "discount_amount": m(i.discount_amount),
            "unit_price": m(i.unit_price),
            "line_total": m(i.line_total),
            "vat_rate": rate(i.vat_rate_bp),
            "vat_amount": m(i.vat_amount),
        })).collect::<Vec<_>>(),
    })
}

/// The account's active endpoints subscribed to `event_type`.
pub async fn subscribers(
    db: &impl ConnectionTrait,
    account_id: i64,
    event_type: &str,
) -> ServiceResult<Vec<webhook_endpoint::Model>> {
    Ok(subscribed(active_endpoints(account_id).all(db).await?, event_type))
}

/// The account's active endpoints.
fn active_endpoints(account_id: i64) -> sea_orm::Select<webhook_endpoint::Entity> {
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::AccountId.eq(account_id))
        .filter(webhook_endpoint::Column::Active.eq(true))
}

/// [`active_endpoints`] as a `SELECT` to send in a batch ([`subscribed`] picks those of an event).
pub fn endpoints_query(account_id: i64) -> sea_orm::sea_query::SelectStatement {
    sea_orm::QueryTrait::into_query(active_endpoints(account_id))
}

/// The `endpoints` subscribed to `event_type`.
pub fn subscribed(endpoints: Vec<webhook_endpoint::Model>, event_type: &str) -> Vec<webhook_endpoint::Model> {
    endpoints.into_iter().filter(|e| e.events.split(',').any(|t| t == event_type)).collect()
}

/// After a redemption of `code` (its row as counted, by `order`): queues
/// `promo_code.exhausted` when this redemption used the last one, `promo_code.over_cap`
/// when a late payment went past the limit. Inside the caller's transaction.
pub async fn enqueue_code_alerts(
    db: &impl ConnectionTrait,
    code: &promo_code::Model,
    order: &order::Model,
) -> ServiceResult<()> {
    let Some(limit) = code.usage_limit else { return Ok(()) };
    let event_type = match code.redemptions_count.cmp(&limit) {
        std::cmp::Ordering::Less => return Ok(()),
        std::cmp::Ordering::Equal => "promo_code.exhausted",
        std::cmp::Ordering::Greater => "promo_code.over_cap",
    };
    let targets = subscribers(db, code.account_id, event_type).await?;
    if targets.is_empty() {
        return Ok(());
    }
    let at = now();
    let data = json!({
        "promo_code_id": code.id.to_string(),
        "code": code.code,
        "usage_limit": limit,
        "redemptions_count": code.redemptions_count,
        "over_by": (code.redemptions_count - limit).max(0),
        "batch_id": code.batch_id.map(|id| id.to_string()),
        "partner_id": code.partner_id.map(|id| id.to_string()),
        "order_id": order.id.to_string(),
        "order_number": order.number,
    });
    let payload = json!({ "type": event_type, "timestamp": at, "data": data }).to_string();
    queue(db, code.account_id, &targets, event_type, &payload).await
}

/// One pending delivery of `payload` per endpoint.
async fn queue(
    db: &impl ConnectionTrait,
    account_id: i64,
    targets: &[webhook_endpoint::Model],
    event_type: &str,
    payload: &str,
) -> ServiceResult<()> {
    let at = now();
    for endpoint in targets {
        let mut id = [0_u8; MESSAGE_ID_BYTES];
        rand::rng().fill_bytes(&mut id);
        webhook_delivery::ActiveModel {
            account_id: Set(account_id),
            endpoint_id: Set(endpoint.id),
            message_id: Set(format!("msg_{}", hex::encode(id))),
            event_type: Set(event_type.to_owned()),
            payload: Set(payload.to_owned()),
            status: Set(DeliveryStatus::Pending),
            attempts: Set(0),
            next_attempt_at: Set(at),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Queues `event_type` for an order to every active endpoint of its account subscribed
/// to it, inside the caller's transaction.
pub async fn enqueue_order_event(db: &impl ConnectionTrait, order_id: i64, event_type: &str) -> ServiceResult<()> {
    let Some(order) = order::Entity::find_by_id(order_id).one(db).await? else { return Ok(()) };
    let targets = subscribers(db, order.account_id, event_type).await?;
    enqueue_order_event_to(db, &order, &targets, event_type).await
}

/// [`enqueue_order_event`] for the order as written and the endpoints read ahead
/// ([`subscribers`], before a write transaction: a checkout's, on SQLite's one writer): no
/// statement at all when none subscribes.
pub async fn enqueue_order_event_to(
    db: &impl ConnectionTrait,
    order: &order::Model,
    targets: &[webhook_endpoint::Model],
    event_type: &str,
) -> ServiceResult<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let items = order_item::Entity::find()
        .filter(order_item::Column::OrderId.eq(order.id))
        .order_by_asc(order_item::Column::Id)
        .all(db)
        .await?;
    enqueue_order_event_with(db, order, &items, targets, event_type).await
}

/// [`enqueue_order_event_to`] with the order's `items` at hand (in id order).
pub async fn enqueue_order_event_with(
    db: &impl ConnectionTrait,
    order: &order::Model,
    items: &[order_item::Model],
    targets: &[webhook_endpoint::Model],
    event_type: &str,
) -> ServiceResult<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let at = now();
    let payload = json!({ "type": event_type, "timestamp": at, "data": order_payload(order, items) }).to_string();
    queue(db, order.account_id, targets, event_type, &payload).await
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` where the key is the
/// base64 part of `whsec_…` (the Standard Webhooks scheme).
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> String {
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Claims up to `limit` due deliveries for this dispatcher (for [`CLAIM_LEASE`]).
async fn claim(db: &DatabaseConnection, limit: u64) -> ServiceResult<Vec<i64>> {
    let at = now();
    let lease = at + CLAIM_LEASE;
    let backend = db.get_database_backend();
    let (sql, values): (String, Vec<sea_orm::Value>) = if backend == DbBackend::Postgres {
        (
            format!(
                "UPDATE webhook_deliveries SET locked_until = $1 WHERE id IN (SELECT id FROM webhook_deliveries \
                 WHERE status = 'PENDING' AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until < $2) \
                 ORDER BY next_attempt_at LIMIT {limit} FOR UPDATE SKIP LOCKED) RETURNING id"
            ),
            vec![lease.into(), at.into()],
        )
    } else {
        (
            format!(
                "UPDATE webhook_deliveries SET locked_until = ? WHERE id IN (SELECT id FROM webhook_deliveries \
                 WHERE status = 'PENDING' AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until < ?) \
                 ORDER BY next_attempt_at LIMIT {limit}) RETURNING id"
            ),
            vec![lease.into(), at.into(), at.into()],
        )
    };
    let txn = begin_write(db).await?;
    let rows = txn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    txn.commit().await?;
    rows.iter().map(|r| r.try_get::<i64>("", "id").map_err(ServiceError::from)).collect()
}

/// Delivers one claimed row: resolve and check the host, POST to exactly the checked
/// addresses, record the attempt, settle or schedule a retry.
#[tracing::instrument(name = "webhook_delivery", level = "debug", skip(db, settings))]
async fn deliver(db: &DatabaseConnection, settings: &WebhookSettings, id: i64) -> ServiceResult<()> {
    let Some(delivery) = webhook_delivery::Entity::find_by_id(id).one(db).await? else { return Ok(()) };
    let endpoint = webhook_endpoint::Entity::find_by_id(delivery.endpoint_id).one(db).await?;
    let started = std::time::Instant::now();
    let result: Result<u16, String> = match &endpoint {
        None => Err("endpoint deleted".into()),
        Some(e) if !e.active => Err("endpoint deactivated".into()),
        // Resolved and checked at send time, not only at registration: DNS may point
        // elsewhere now. The request then goes to those very addresses.
        Some(e) => match resolve_checked(&e.url, settings.allow_private).await {
            Err(refused) => Err(format!("not sent: {}", refusal(refused))),
            Ok((url, addresses)) => match pinned_client(&url, &addresses) {
                Err(error) => Err(format!("not sent: the HTTP client did not build: {error}")),
                Ok(http) => {
                    let timestamp = Utc::now().timestamp();
                    let response = http
                        .post(url)
                        .header("content-type", "application/json")
                        .header("webhook-id", &delivery.message_id)
                        .header("webhook-timestamp", timestamp.to_string())
                        .header(
                            "webhook-signature",
                            sign(&e.secret, &delivery.message_id, timestamp, &delivery.payload),
                        )
                        .body(delivery.payload.clone())
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
                        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                        Err(e) => Err(e.to_string()),
                    }
                }
            },
        },
    };
    let latency = started.elapsed().as_millis() as i64;
    let attempts = delivery.attempts + 1;
    let at = now();
    let txn = begin_write(db).await?;
    let (status_code, error) = match &result {
        Ok(code) => (Some(i32::from(*code)), None),
        Err(e) => (e.strip_prefix("HTTP ").and_then(|c| c.parse().ok()), Some(e.clone())),
    };
    webhook_attempt::ActiveModel {
        delivery_id: Set(id),
        attempted_at: Set(at),
        status_code: Set(status_code),
        latency_ms: Set(latency),
        error: Set(error.clone()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut update = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Attempts, Expr::value(attempts))
        .col_expr(webhook_delivery::Column::LastStatusCode, Expr::value(status_code))
        .col_expr(webhook_delivery::Column::LastError, Expr::value(error.clone()))
        .col_expr(webhook_delivery::Column::LockedUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(at))
        .filter(webhook_delivery::Column::Id.eq(id));
    update = if result.is_ok() {
        crate::observe::webhook_attempt("delivered");
        update
            .col_expr(webhook_delivery::Column::Status, Expr::value(DeliveryStatus::Delivered))
            .col_expr(webhook_delivery::Column::DeliveredAt, Expr::value(at))
    } else if attempts >= settings.max_attempts || endpoint.is_none() {
        crate::observe::webhook_attempt("failed");
        update.col_expr(webhook_delivery::Column::Status, Expr::value(DeliveryStatus::Failed))
    } else {
        crate::observe::webhook_attempt("retry");
        let doublings = (attempts - 1).clamp(0, MAX_DOUBLINGS).unsigned_abs();
        let delay = settings.retry_base.saturating_mul(2_u32.saturating_pow(doublings)).min(MAX_RETRY_DELAY);
        let delay = chrono::Duration::from_std(delay).expect("at most MAX_RETRY_DELAY, far inside chrono's range");
        update.col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(at + delay))
    };
    update.exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Runs the dispatcher until the process ends.
pub fn spawn_dispatcher(db: DatabaseConnection, settings: WebhookSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // No shared HTTP client: each delivery gets one pinned to the addresses it checked.
        loop {
            match claim(&db, CLAIM_BATCH).await {
                Ok(ids) if !ids.is_empty() => {
                    let sends = ids.into_iter().map(|id| deliver(&db, &settings, id));
                    for result in futures_util::future::join_all(sends).await {
                        if let Err(e) = result {
                            tracing::warn!(error = ?e, "a webhook delivery could not be recorded");
                        }
                    }
                }
                Ok(_) => tokio::time::sleep(settings.poll).await,
                Err(e) => {
                    tracing::warn!(error = ?e, "claiming webhook deliveries failed");
                    tokio::time::sleep(settings.poll).await;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            // IETF protocol assignments, benchmarking, reserved and broadcast.
            "192.0.0.8",
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            // IPv4-mapped (any, public too) and IPv4-compatible.
            "::ffff:127.0.0.1",
            "::ffff:93.184.216.34",
            "::127.0.0.1",
            "::a9fe:a9fe",
            // NAT64 (well-known and local-use) and 6to4 reach the embedded IPv4 address.
            "64:ff9b::7f00:1",
            "64:ff9b::5db8:d822",
            "64:ff9b:1::7f00:1",
            "2002:7f00:1::",
            "2002:5db8:d822::1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip}");
        }
        // Public, including the neighbours just outside each refused range.
        for ip in [
            "93.184.216.34",
            "1.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.0.1.1",
            "192.0.2.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700::1111",
            "2001:db8::1",
            "::1:0:0:1",
            "::fffe:7f00:1",
            "64:ff9b:0:0:0:1::1",
            "64:ff9b:2::1",
            "2001:7f00:1::",
            "2003::1",
            "fe00::1",
        ] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[tokio::test]
    async fn urls_to_private_places_are_refused() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://169.254.169.254/latest",
            "http://[::1]/x",
            "ftp://example.com",
            "http://user:pw@example.com/",
        ] {
            assert!(check_url(url, false).await.is_err(), "{url}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).await.is_ok());
    }

    #[tokio::test]
    async fn resolution_yields_the_addresses_to_pin() {
        // An IP literal is its own address, with the scheme's port when none is given.
        let (_, addresses) = resolve_checked("https://93.184.216.34/hook", false).await.unwrap();
        assert_eq!(addresses, vec!["93.184.216.34:443".parse().unwrap()]);
        let (_, addresses) = resolve_checked("http://[::1]:8080/hook", true).await.unwrap();
        assert_eq!(addresses, vec!["[::1]:8080".parse().unwrap()]);
        // A name is resolved: allowed to be loopback only with allow_private, and then
        // still resolved (those are the addresses the delivery connects to).
        let (url, addresses) = resolve_checked("http://localhost:9000/hook", true).await.unwrap();
        assert_eq!(url.host_str(), Some("localhost"));
        assert!(!addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback() && a.port() == 9000));
        let refused = refusal(resolve_checked("http://localhost:9000/hook", false).await.unwrap_err());
        assert!(refused.contains("localhost resolves to a forbidden address"), "{refused}");
        let refused = refusal(resolve_checked("http://hook.invalid/", true).await.unwrap_err());
        assert!(refused.contains("hook.invalid does not resolve"), "{refused}");
    }

    /// A one-request HTTP server on 127.0.0.1: answers 204 and hands back what it read.
    async fn one_request_server() -> (SocketAddr, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let served = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0_u8; 4096];
            // Up to the end of the headers is enough to see where it was meant to go.
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buffer).await.unwrap();
                assert!(n > 0, "the connection closed before the headers ended");
                request.extend_from_slice(&buffer[..n]);
            }
            socket.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await.unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        (address, served)
    }

    #[tokio::test]
    async fn a_pinned_client_connects_to_the_pinned_address_without_resolving() {
        let (address, served) = one_request_server().await;
        let url = url::Url::parse(&format!("http://hook.invalid:{}/hook", address.port())).unwrap();
        // `.invalid` never resolves (RFC 6761): reaching the server can only be the pin.
        assert!(tokio::net::lookup_host(("hook.invalid", address.port())).await.is_err(), "hook.invalid resolves here");
        let response = pinned_client(&url, &[address]).unwrap().post(url.clone()).body("{}").send().await.unwrap();
        assert_eq!(response.status(), 204);
        let request = served.await.unwrap();
        assert!(request.starts_with("POST /hook HTTP/1.1\r\n"), "{request}");
        assert!(
            request.to_ascii_lowercase().contains(&format!("host: hook.invalid:{}\r\n", address.port())),
            "{request}"
        );
        // Without the pin the same request does not get anywhere.
        let unpinned = reqwest::Client::builder().no_proxy().build().unwrap();
        assert!(unpinned.post(url).body("{}").send().await.is_err());
    }
}
