//! The audit log: every admin write leaves one entry, in the write's own transaction —
//! who (API key id and name, or the command line), when, through which edge, the
//! operation (the GraphQL mutation's name, whichever edge it came through), the target,
//! and each changed field before → after in API terms. Secrets never appear: objects
//! reach the log only through the `*_fields` views below, which leave them out.
//!
//! A write that changes nothing (every field as it was) leaves no entry. Nothing updates
//! or deletes an entry (the database refuses both).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::{Map, Value, json};

use crate::domain::calendar::ShopZone;
use crate::domain::promo::PercentOff;
use crate::domain::{Currency, Money, VatRate};
use crate::entities::enums::{AuditTarget, AuditVia};
use crate::entities::{
    account, api_key, audit_entry, event, order, promo_code, ticket_type, webhook_delivery, webhook_endpoint,
};

use super::api_keys::Principal;
use super::{ServiceResult, now};

/// Who makes a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The API key, when one was used.
    pub key_id: Option<i64>,
    /// The key's name, or `cli` / `system`.
    pub key_name: String,
    /// The edge the write came through.
    pub via: AuditVia,
}

impl Actor {
    /// A caller with an API key, through `via` (GraphQL or REST).
    pub fn key(principal: &Principal, via: AuditVia) -> Self {
        Actor { key_id: Some(principal.key_id), key_name: principal.key_name.clone(), via }
    }

    /// Someone at the server's command line.
    pub fn cli() -> Self {
        Actor { key_id: None, key_name: "cli".into(), via: AuditVia::Cli }
    }

    /// The server itself (the demo seed).
    pub fn system() -> Self {
        Actor { key_id: None, key_name: "system".into(), via: AuditVia::System }
    }
}

/// An object's audited fields, by API name (camelCase), in API terms.
pub type Fields = Map<String, Value>;

/// One changed field.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The field's API name.
    pub field: String,
    /// Its value before; `null` when the object was created.
    pub before: Value,
    /// Its value after; `null` when the object was deleted.
    pub after: Value,
}

/// The fields that differ between `before` and `after` (either may be absent: a
/// creation, a deletion), in field-name order.
pub fn diff(before: Option<&Fields>, after: Option<&Fields>) -> Vec<Change> {
    let empty = Fields::new();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let mut names: Vec<&String> = a.keys().collect();
    names.extend(b.keys().filter(|k| !a.contains_key(*k)));
    names
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (b.get(name).cloned().unwrap_or(Value::Null), a.get(name).cloned().unwrap_or(Value::Null));
            (old != new).then(|| Change { field: name.clone(), before: old, after: new })
        })
        .collect()
}

/// Writes one entry, inside the caller's transaction. A change that changed nothing
/// (every field as it was) leaves no entry and returns `None`.
pub async fn record(
    db: &impl ConnectionTrait,
    account_id: i64,
    actor: &Actor,
    operation: &str,
    target: (AuditTarget, i64),
    before: Option<&Fields>,
    after: Option<&Fields>,
) -> ServiceResult<Option<audit_entry::Model>> {
    let changes: Vec<Value> = diff(before, after)
        .into_iter()
        .map(|c| json!({ "field": c.field, "before": c.before, "after": c.after }))
        .collect();
    if changes.is_empty() && before.is_some() && after.is_some() {
        return Ok(None);
    }
    let row = audit_entry::ActiveModel {
        account_id: Set(account_id),
        at: Set(now()),
        key_id: Set(actor.key_id),
        key_name: Set(actor.key_name.clone()),
        via: Set(actor.via),
        operation: Set(operation.to_owned()),
        target_type: Set(target.0),
        target_id: Set(target.1),
        changes: Set(Value::Array(changes).to_string()),
        ..Default::default()
    };
    Ok(Some(row.insert(db).await?))
}

/// The changes of a stored entry.
pub fn changes(entry: &audit_entry::Model) -> ServiceResult<Vec<Change>> {
    let parsed: Vec<Value> = serde_json::from_str(&entry.changes).map_err(super::internal)?;
    Ok(parsed
        .into_iter()
        .map(|c| Change {
            field: c["field"].as_str().unwrap_or_default().to_owned(),
            before: c["before"].clone(),
            after: c["after"].clone(),
        })
        .collect())
}

/// Which entries a list shows; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Entries about this kind of object.
    pub target_type: Option<AuditTarget>,
    /// Entries about the object with this id (with `target_type`, one object).
    pub target_id: Option<i64>,
    /// Entries written with this API key.
    pub key_id: Option<i64>,
    /// Entries of this operation, e.g. `updatePromoCode`.
    pub operation: Option<String>,
    /// Entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// Largest page of the log.
pub const MAX_PAGE: u64 = 200;

/// One page of the account's log, newest first; `after` is the id of the last entry of
/// the previous page. Returns the entries and whether more follow.
pub async fn list(
    db: &impl ConnectionTrait,
    account_id: i64,
    filter: &Filter,
    first: u64,
    after: Option<i64>,
) -> ServiceResult<(Vec<audit_entry::Model>, bool)> {
    use audit_entry::Column as C;
    let mut query = audit_entry::Entity::find().filter(C::AccountId.eq(account_id));
    if let Some(kind) = filter.target_type {
        query = query.filter(C::TargetType.eq(kind));
    }
    if let Some(id) = filter.target_id {
        query = query.filter(C::TargetId.eq(id));
    }
    if let Some(key) = filter.key_id {
        query = query.filter(C::KeyId.eq(key));
    }
    if let Some(operation) = filter.operation.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        query = query.filter(C::Operation.eq(operation));
    }
    if let Some(from) = filter.from {
        query = query.filter(C::At.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(C::At.lt(to));
    }
    if let Some(after) = after {
        query = query.filter(C::Id.lt(after));
    }
    let first = first.clamp(1, MAX_PAGE);
    let mut rows = query.order_by_desc(C::Id).limit(first + 1).all(db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// A JSON object as audited fields (anything else: none).
pub fn fields(value: Value) -> Fields {
    match value {
        Value::Object(map) => map,
        _ => Fields::new(),
    }
}

fn money(minor: i64, currency: Currency) -> String {
    Money::from_minor(minor, currency).to_string()
}

fn rate(bp: i32) -> Option<String> {
    VatRate::from_basis_points(bp.into()).ok().map(|r| r.to_string())
}

/// A promo code's audited fields.
pub fn promo_code_fields(row: &promo_code::Model, currency: Currency) -> Fields {
    fields(json!({
        "code": row.code,
        "discountType": row.discount_type.to_string(),
        "percentOff": row.percent_off_bp.and_then(|h| PercentOff::from_hundredths(h as u32).ok()).map(|p| p.to_decimal().to_string()),
        "amountOff": row.amount_off.map(|a| money(a, currency)),
        "eventId": row.event_id.map(|id| id.to_string()),
        "expiresAt": row.expires_at,
        "startsAt": row.starts_at,
        "minimumSubtotal": row.minimum_subtotal.map(|a| money(a, currency)),
        "usageLimit": row.usage_limit,
        "maxPerCustomer": row.max_per_customer,
        "partnerId": row.partner_id.map(|id| id.to_string()),
        "recipientEmail": row.recipient_email,
        "batchId": row.batch_id.map(|id| id.to_string()),
        "active": row.active,
        "description": row.description,
        "deletedAt": row.deleted_at,
    }))
}

/// An event's audited fields.
pub fn event_fields(row: &event::Model) -> Fields {
    fields(json!({
        "name": row.name,
        "venue": row.venue,
        "startsAt": row.starts_at,
        "endsAt": row.ends_at,
        "status": row.status.to_string(),
        "description": row.description,
        "deletedAt": row.deleted_at,
    }))
}

/// A ticket type's audited fields.
pub fn ticket_type_fields(row: &ticket_type::Model, currency: Currency) -> Fields {
    fields(json!({
        "eventId": row.event_id.to_string(),
        "name": row.name,
        "price": money(row.price, currency),
        "vatRate": row.vat_rate_bp.and_then(rate),
        "capacity": row.capacity,
        "salesFrom": row.sales_from,
        "salesUntil": row.sales_until,
        "hidden": row.hidden,
        "deletedAt": row.deleted_at,
    }))
}

/// The shop settings' audited fields.
pub fn shop_fields(row: &account::Model) -> Fields {
    fields(json!({
        "name": row.name,
        "currency": row.currency.code(),
        "pricesIncludeVat": row.prices_include_vat,
        "vatRate": rate(row.vat_rate_bp),
        "timeZone": ShopZone::parse(&row.time_zone).map(|z| z.name().to_owned()).unwrap_or_else(|_| row.time_zone.clone()),
        "sellerLegalName": row.seller_legal_name,
        "sellerAddress": row.seller_address,
        "sellerVatId": row.seller_vat_id,
        "storefrontUrl": row.storefront_url,
    }))
}

/// An API key's audited fields: never its hash (the secret is not stored at all).
pub fn api_key_fields(row: &api_key::Model) -> Fields {
    fields(json!({
        "name": row.name,
        "scope": row.scope.to_uppercase(),
        "prefix": row.prefix,
        "revokedAt": row.revoked_at,
    }))
}

/// A webhook endpoint's audited fields: never its signing secret, nor a password in
/// its URL.
pub fn webhook_endpoint_fields(row: &webhook_endpoint::Model) -> Fields {
    let url = match url::Url::parse(&row.url) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        _ => row.url.clone(),
    };
    fields(json!({
        "url": url,
        "events": row.events.split(',').filter(|e| !e.is_empty()).collect::<Vec<_>>(),
        "active": row.active,
        "description": row.description,
    }))
}

/// A webhook delivery's audited fields.
pub fn webhook_delivery_fields(row: &webhook_delivery::Model) -> Fields {
    fields(json!({
        "status": row.status.to_string(),
        "nextAttemptAt": row.next_attempt_at,
    }))
}

/// An order's audited fields (what a refund changes).
pub fn order_fields(row: &order::Model) -> Fields {
    fields(json!({
        "status": row.status.to_string(),
        "refundedAmount": money(row.refunded_amount, *row.currency),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_lists_changed_fields_only() {
        let before = fields(json!({ "name": "A", "price": "10.00", "hidden": false }));
        let after = fields(json!({ "name": "A", "price": "12.50", "hidden": true }));
        let changes = diff(Some(&before), Some(&after));
        // In field-name order.
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].field, "hidden");
        assert_eq!(changes[1], Change { field: "price".into(), before: json!("10.00"), after: json!("12.50") });
        // A creation lists every field that has a value; a deletion every field it had.
        assert_eq!(diff(None, Some(&after)).len(), 3);
        let gone = diff(Some(&before), None);
        assert!(gone.iter().all(|c| c.after.is_null()) && gone.len() == 3);
        assert!(diff(Some(&before), Some(&before)).is_empty());
    }
}
