//! Promo code administration: create, update, (de)activate, delete, list.
//!
//! Each write is one transaction. Deleting a code that any order used keeps the row
//! (soft delete: inactive, hidden, its string free for reuse) so order history and
//! reports stay truthful; a never-used code is really deleted.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TryIntoModel,
};

use crate::domain::email::Email;
use crate::domain::promo::{self, DiscountType, PercentOff, PromoCodeString, PromoFields, PromoRule, ValidPromo};
use crate::domain::{Currency, Money};
use crate::entities::{event, order, promo_code, redemption};

use super::audit::{self, Actor};
use super::{ServiceError, ServiceResult, UserError, UserErrorCode, carts, now};
use crate::entities::enums::AuditTarget;
use crate::events::CartEvents;

/// A code's settings as a caller submits them for a new code.
#[derive(Debug, Clone, Default)]
pub struct NewPromoCode {
    /// The code string.
    pub code: String,
    /// Percentage or fixed amount; required.
    pub discount_type: Option<DiscountType>,
    /// Decimal string, for PERCENTAGE.
    pub percent_off: Option<String>,
    /// Decimal string in the account currency, for FIXED_AMOUNT.
    pub amount_off: Option<String>,
    /// Scope: one event of the account, or every event.
    pub event_id: Option<i64>,
    /// Expiry instant.
    pub expires_at: Option<DateTime<Utc>>,
    /// Start instant: before it the code is SCHEDULED.
    pub starts_at: Option<DateTime<Utc>>,
    /// Decimal string in the account currency: the eligible subtotal a cart needs.
    pub minimum_subtotal: Option<String>,
    /// Total cap.
    pub usage_limit: Option<i64>,
    /// Per-buyer cap.
    pub max_per_customer: Option<i64>,
    /// Free text.
    pub description: Option<String>,
    /// The partner handing the code out (one of the account's).
    pub partner_id: Option<i64>,
    /// The one buyer the code is for.
    pub recipient_email: Option<String>,
}

/// Changes to a code: `None` leaves a field alone, `Some(None)` clears a clearable one.
#[derive(Debug, Clone, Default)]
pub struct PromoCodePatch {
    /// New code string.
    pub code: Option<String>,
    /// New discount type; the other type's value is dropped unless also given.
    pub discount_type: Option<DiscountType>,
    /// New percentage.
    pub percent_off: Option<Option<String>>,
    /// New fixed amount.
    pub amount_off: Option<Option<String>>,
    /// New scope.
    pub event_id: Option<Option<i64>>,
    /// New expiry.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// New start.
    pub starts_at: Option<Option<DateTime<Utc>>>,
    /// New minimum eligible subtotal.
    pub minimum_subtotal: Option<Option<String>>,
    /// New partner.
    pub partner_id: Option<Option<i64>>,
    /// New recipient.
    pub recipient_email: Option<Option<String>>,
    /// New total cap. Lowering it below `redemptions_count` is allowed: the code then
    /// reads EXHAUSTED (the count never goes down).
    pub usage_limit: Option<Option<i64>>,
    /// New per-buyer cap.
    pub max_per_customer: Option<Option<i64>>,
    /// New description.
    pub description: Option<Option<String>>,
    /// Activate or deactivate.
    pub active: Option<bool>,
}

/// How a code was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The row is gone: no order ever used the code.
    Hard,
    /// Orders used it: kept, inactive and hidden, its string free for reuse.
    Soft,
}

/// Which codes a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Every code not deleted.
    #[default]
    All,
    /// Applies now.
    Active,
    /// Before `starts_at`.
    Scheduled,
    /// Past `expires_at`.
    Expired,
    /// `redemptions_count` reached `usage_limit`.
    Exhausted,
    /// Deactivated.
    Inactive,
    /// Soft-deleted.
    Deleted,
}

/// List filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// By status.
    pub status: StatusFilter,
    /// Substring of the code or description, case-insensitive.
    pub search: Option<String>,
    /// Codes scoped to this event.
    pub event_id: Option<i64>,
    /// Codes of this partner.
    pub partner_id: Option<i64>,
    /// Codes of this batch.
    pub batch_id: Option<i64>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    /// The codes, newest first.
    pub items: Vec<promo_code::Model>,
    /// Whether more follow the last one.
    pub has_next: bool,
}

/// Largest page.
pub const MAX_PAGE: u64 = 200;

pub(super) fn rule_code(rule: PromoRule) -> UserErrorCode {
    match rule {
        PromoRule::InvalidCode => UserErrorCode::InvalidCode,
        PromoRule::InvalidPercentOff => UserErrorCode::InvalidPercentOff,
        PromoRule::InvalidAmountOff => UserErrorCode::InvalidAmountOff,
        PromoRule::DiscountTypeMismatch => UserErrorCode::DiscountTypeMismatch,
        PromoRule::ExpiresAtInPast => UserErrorCode::ExpiresAtInPast,
        PromoRule::InvalidUsageLimit => UserErrorCode::InvalidUsageLimit,
        PromoRule::InvalidMaxPerCustomer => UserErrorCode::InvalidMaxPerCustomer,
        PromoRule::InvalidDescription => UserErrorCode::Invalid,
        PromoRule::StartsAfterExpiry => UserErrorCode::StartsAfterExpiry,
        PromoRule::InvalidMinimumSubtotal => UserErrorCode::InvalidMinimumSubtotal,
    }
}

fn not_found(id: i64) -> ServiceError {
    UserError::new("id", UserErrorCode::NotFound, format!("no promo code with id {id} in this account")).into()
}

/// The references a code's settings make, each checked against the account when given.
#[derive(Debug, Clone, Copy, Default)]
struct References {
    /// A scope event to check.
    event_id: Option<i64>,
    /// A partner to check.
    partner_id: Option<i64>,
}

/// Checks that the scope event and the partner, when given, are the account's.
pub(super) async fn check_references(
    db: &impl ConnectionTrait,
    account_id: i64,
    event_id: Option<i64>,
    partner_id: Option<i64>,
) -> ServiceResult<()> {
    let mut errors = vec![];
    reference_errors(db, account_id, References { event_id, partner_id }, &mut errors).await?;
    if errors.is_empty() { Ok(()) } else { Err(ServiceError::User(errors)) }
}

async fn reference_errors(
    db: &impl ConnectionTrait,
    account_id: i64,
    references: References,
    errors: &mut Vec<UserError>,
) -> ServiceResult<()> {
    if let Some(partner_id) = references.partner_id
        && super::partners::find(db, account_id, partner_id).await?.is_none()
    {
        errors.push(UserError::new(
            "partnerId",
            UserErrorCode::NotFound,
            format!("no partner with id {partner_id} in this account"),
        ));
    }
    if let Some(event_id) = references.event_id {
        let owned = event::Entity::find_by_id(event_id).filter(event::Column::AccountId.eq(account_id)).one(db).await?;
        if owned.is_none() {
            errors.push(UserError::new(
                "eventId",
                UserErrorCode::EventNotFound,
                format!("no event with id {event_id} in this account"),
            ));
        }
    }
    Ok(())
}

/// A recipient email: normalized, with its customer key; `None` clears it.
fn recipient(email: Option<&str>) -> ServiceResult<Option<(String, String)>> {
    let Some(email) = email else { return Ok(None) };
    let parsed = Email::parse(email)
        .map_err(|e| UserError::new("recipientEmail", UserErrorCode::InvalidEmail, e.to_string()))?;
    Ok(Some((parsed.normalized(), parsed.customer_key())))
}

/// Validates `fields` and the account-level rules (event and partner ownership,
/// uniqueness).
async fn check(
    db: &impl ConnectionTrait,
    account_id: i64,
    fields: &PromoFields,
    references: References,
    expiry_changed: bool,
    exclude_id: Option<i64>,
) -> ServiceResult<ValidPromo> {
    let currency = super::accounts::currency_of(db, account_id).await?;
    let mut errors: Vec<UserError> = vec![];
    let valid = match promo::validate(fields, currency, now(), expiry_changed) {
        Ok(v) => Some(v),
        Err(violations) => {
            errors.extend(violations.into_iter().map(|v| UserError::new(v.field, rule_code(v.rule), v.message)));
            None
        }
    };
    reference_errors(db, account_id, references, &mut errors).await?;
    if let Some(code) = valid.as_ref().map(|v| &v.code) {
        let mut taken = promo_code::Entity::find()
            .filter(promo_code::Column::AccountId.eq(account_id))
            .filter(promo_code::Column::Code.eq(code.as_str()))
            .filter(promo_code::Column::DeletedAt.is_null());
        if let Some(id) = exclude_id {
            taken = taken.filter(promo_code::Column::Id.ne(id));
        }
        if taken.count(db).await? > 0 {
            errors.push(duplicate(code));
        }
    }
    match valid {
        Some(v) if errors.is_empty() => Ok(v),
        _ => Err(ServiceError::User(errors)),
    }
}

fn duplicate(code: &PromoCodeString) -> UserError {
    UserError::new(
        "code",
        UserErrorCode::DuplicateCode,
        format!("the code {code} already exists in this account (codes are case-insensitive)"),
    )
}

/// A unique-index violation from a concurrent create of the same code.
fn map_unique(e: DbErr, code: &PromoCodeString) -> ServiceError {
    if crate::db::is_unique_violation(&e) { duplicate(code).into() } else { e.into() }
}

/// A new, unused and active code of the account with `valid`'s settings (not yet stored).
pub(super) fn new_row(
    account_id: i64,
    at: DateTime<Utc>,
    valid: &ValidPromo,
    event_id: Option<i64>,
    partner_id: Option<i64>,
) -> promo_code::ActiveModel {
    let mut row = promo_code::ActiveModel {
        account_id: Set(account_id),
        redemptions_count: Set(0),
        active: Set(true),
        deleted_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        batch_id: Set(None),
        partner_id: Set(partner_id),
        recipient_email: Set(None),
        recipient_key: Set(None),
        ..Default::default()
    };
    apply(&mut row, valid, event_id);
    row
}

fn apply(row: &mut promo_code::ActiveModel, valid: &ValidPromo, event_id: Option<i64>) {
    row.starts_at = Set(valid.starts_at);
    row.minimum_subtotal = Set(valid.minimum_subtotal);
    let (percent, amount) = match valid.discount {
        promo::Discount::Percentage(p) => (Some(p.hundredths() as i32), None),
        promo::Discount::FixedAmount(a) => (None, Some(a)),
    };
    row.code = Set(valid.code.as_str().to_owned());
    row.discount_type = Set(valid.discount.discount_type().into());
    row.percent_off_bp = Set(percent);
    row.amount_off = Set(amount);
    row.event_id = Set(event_id);
    row.expires_at = Set(valid.expires_at);
    row.usage_limit = Set(valid.usage_limit);
    row.max_per_customer = Set(valid.max_per_customer);
    row.description = Set(valid.description.clone());
}

/// Creates a code. With `dry_run`, validates and returns the row that would be stored
/// (id 0), writing nothing.
pub async fn create(
    db: &(impl ConnectionTrait + super::Writable),
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    input: NewPromoCode,
    dry_run: bool,
) -> ServiceResult<promo_code::Model> {
    let Some(discount_type) = input.discount_type else {
        return Err(UserError::new(
            "discountType",
            UserErrorCode::DiscountTypeMismatch,
            "discountType is required: PERCENTAGE or FIXED_AMOUNT",
        )
        .into());
    };
    let bound = recipient(input.recipient_email.as_deref())?;
    let fields = PromoFields {
        code: input.code,
        discount_type,
        percent_off: input.percent_off,
        amount_off: input.amount_off,
        expires_at: input.expires_at,
        starts_at: input.starts_at,
        minimum_subtotal: input.minimum_subtotal,
        usage_limit: input.usage_limit,
        max_per_customer: input.max_per_customer,
        description: input.description,
    };
    let txn = super::begin_write(db).await?;
    let references = References { event_id: input.event_id, partner_id: input.partner_id };
    let valid = check(&txn, account_id, &fields, references, true, None).await?;
    let at = now();
    let (recipient_email, recipient_key) = bound.unzip();
    let mut row = new_row(account_id, at, &valid, input.event_id, input.partner_id);
    row.recipient_email = Set(recipient_email);
    row.recipient_key = Set(recipient_key);
    if dry_run {
        row.id = Set(0);
        return row.try_into_model().map_err(ServiceError::Db);
    }
    let saved = row.insert(&txn).await.map_err(|e| map_unique(e, &valid.code))?;
    let currency = super::accounts::currency_of(&txn, account_id).await?;
    let after = audit::promo_code_fields(&saved, currency);
    audit::record(&txn, account_id, actor, "createPromoCode", (AuditTarget::PromoCode, saved.id), None, Some(&after))
        .await?;
    txn.commit().await?;
    events.publish_shop(account_id);
    Ok(saved)
}

/// Loads one of the account's codes by id, deleted ones included.
pub async fn find(db: &impl ConnectionTrait, account_id: i64, id: i64) -> ServiceResult<Option<promo_code::Model>> {
    Ok(promo_code::Entity::find_by_id(id).filter(promo_code::Column::AccountId.eq(account_id)).one(db).await?)
}

/// Loads the account's live (not deleted) code with this string, case-insensitively.
pub async fn find_by_code(
    db: &impl ConnectionTrait,
    account_id: i64,
    code: &str,
) -> ServiceResult<Option<promo_code::Model>> {
    let Ok(code) = PromoCodeString::parse(code) else { return Ok(None) };
    Ok(promo_code::Entity::find()
        .filter(promo_code::Column::AccountId.eq(account_id))
        .filter(promo_code::Column::Code.eq(code.as_str()))
        .filter(promo_code::Column::DeletedAt.is_null())
        .one(db)
        .await?)
}

/// Applies `patch` to one of the account's codes (not a deleted one).
pub async fn update(
    db: &DatabaseConnection,
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    id: i64,
    patch: PromoCodePatch,
    dry_run: bool,
) -> ServiceResult<promo_code::Model> {
    let txn = super::begin_write(db).await?;
    let current = find(&txn, account_id, id).await?.filter(|c| c.deleted_at.is_none()).ok_or_else(|| not_found(id))?;
    let stored_type = DiscountType::from(current.discount_type);
    let discount_type = patch.discount_type.unwrap_or(stored_type);
    let type_changed = discount_type != stored_type;
    let currency = super::accounts::currency_of(&txn, account_id).await?;
    // The stored value of the other type is dropped when the type changes.
    let stored_percent = current
        .percent_off_bp
        .and_then(|h| promo::PercentOff::from_hundredths(h as u32).ok())
        .map(|p| p.to_decimal().to_string())
        .filter(|_| !type_changed);
    let stored_amount =
        current.amount_off.map(|a| crate::domain::Money::from_minor(a, currency).to_string()).filter(|_| !type_changed);
    let fields = PromoFields {
        code: patch.code.clone().unwrap_or_else(|| current.code.clone()),
        discount_type,
        percent_off: patch.percent_off.clone().unwrap_or(stored_percent),
        amount_off: patch.amount_off.clone().unwrap_or(stored_amount),
        expires_at: patch.expires_at.unwrap_or(current.expires_at),
        starts_at: patch.starts_at.unwrap_or(current.starts_at),
        minimum_subtotal: patch.minimum_subtotal.clone().unwrap_or_else(|| {
            current.minimum_subtotal.map(|m| crate::domain::Money::from_minor(m, currency).to_string())
        }),
        usage_limit: patch.usage_limit.unwrap_or(current.usage_limit),
        max_per_customer: patch.max_per_customer.unwrap_or(current.max_per_customer),
        description: patch.description.clone().unwrap_or_else(|| current.description.clone()),
    };
    let event_id = patch.event_id.unwrap_or(current.event_id);
    let references = References { event_id: patch.event_id.flatten(), partner_id: patch.partner_id.flatten() };
    let expiry_changed = patch.expires_at.is_some_and(|e| e != current.expires_at);
    let bound = patch.recipient_email.as_ref().map(|e| recipient(e.as_deref())).transpose()?;
    let valid = check(&txn, account_id, &fields, references, expiry_changed, Some(id)).await?;
    let mut row: promo_code::ActiveModel = current.clone().into();
    apply(&mut row, &valid, event_id);
    if let Some(partner_id) = patch.partner_id {
        row.partner_id = Set(partner_id);
    }
    if let Some(bound) = bound {
        let (email, key) = bound.unzip();
        row.recipient_email = Set(email);
        row.recipient_key = Set(key);
    }
    if let Some(active) = patch.active {
        row.active = Set(active);
    }
    row.updated_at = Set(now());
    if dry_run {
        return row.try_into_model().map_err(ServiceError::Db);
    }
    let saved = row.update(&txn).await.map_err(|e| map_unique(e, &valid.code))?;
    let (before, after) = (audit::promo_code_fields(&current, currency), audit::promo_code_fields(&saved, currency));
    let target = (AuditTarget::PromoCode, id);
    audit::record(&txn, account_id, actor, "updatePromoCode", target, Some(&before), Some(&after)).await?;
    let carts = carts::open_carts_with_code(&txn, id).await?;
    txn.commit().await?;
    events.publish_all(carts);
    events.publish_shop(account_id);
    Ok(saved)
}

/// Activates or deactivates one of the account's live codes.
pub async fn set_active(
    db: &DatabaseConnection,
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    id: i64,
    active: bool,
    dry_run: bool,
) -> ServiceResult<promo_code::Model> {
    let txn = super::begin_write(db).await?;
    let current = find(&txn, account_id, id).await?.filter(|c| c.deleted_at.is_none()).ok_or_else(|| not_found(id))?;
    let currency = super::accounts::currency_of(&txn, account_id).await?;
    let before = audit::promo_code_fields(&current, currency);
    let mut row: promo_code::ActiveModel = current.into();
    row.active = Set(active);
    row.updated_at = Set(now());
    if dry_run {
        return row.try_into_model().map_err(ServiceError::Db);
    }
    let saved = row.update(&txn).await?;
    let operation = if active { "reactivatePromoCode" } else { "deactivatePromoCode" };
    let after = audit::promo_code_fields(&saved, currency);
    audit::record(&txn, account_id, actor, operation, (AuditTarget::PromoCode, id), Some(&before), Some(&after))
        .await?;
    let carts = carts::open_carts_with_code(&txn, id).await?;
    txn.commit().await?;
    events.publish_all(carts);
    events.publish_shop(account_id);
    Ok(saved)
}

/// Deletes one of the account's codes: soft when any order or redemption refers to it,
/// for real otherwise. Deleting a soft-deleted code again changes nothing.
pub async fn delete(
    db: &DatabaseConnection,
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    id: i64,
    dry_run: bool,
) -> ServiceResult<(promo_code::Model, Deletion)> {
    let txn = super::begin_write(db).await?;
    let current = find(&txn, account_id, id).await?.ok_or_else(|| not_found(id))?;
    if current.deleted_at.is_some() {
        return Ok((current, Deletion::Soft));
    }
    let used = order::Entity::find().filter(order::Column::PromoCodeId.eq(id)).limit(1).count(&txn).await? > 0
        || redemption::Entity::find().filter(redemption::Column::PromoCodeId.eq(id)).limit(1).count(&txn).await? > 0;
    if dry_run {
        return Ok((current, if used { Deletion::Soft } else { Deletion::Hard }));
    }
    // Before a hard delete nulls their reference.
    let carts = carts::open_carts_with_code(&txn, id).await?;
    let currency = super::accounts::currency_of(&txn, account_id).await?;
    let before = audit::promo_code_fields(&current, currency);
    let target = (AuditTarget::PromoCode, id);
    let result = if used {
        let mut row: promo_code::ActiveModel = current.into();
        let at = now();
        row.active = Set(false);
        row.deleted_at = Set(Some(at));
        row.updated_at = Set(at);
        let saved = row.update(&txn).await?;
        let after = audit::promo_code_fields(&saved, currency);
        audit::record(&txn, account_id, actor, "deletePromoCode", target, Some(&before), Some(&after)).await?;
        (saved, Deletion::Soft)
    } else {
        promo_code::Entity::delete_by_id(id).exec(&txn).await?;
        audit::record(&txn, account_id, actor, "deletePromoCode", target, Some(&before), None).await?;
        (current, Deletion::Hard)
    };
    txn.commit().await?;
    events.publish_all(carts);
    events.publish_shop(account_id);
    Ok(result)
}

/// Longest search text: longer than any code or description worth finding, and far
/// below what SQLite allows in a LIKE pattern (50,000 bytes).
pub const MAX_SEARCH_CHARS: usize = 200;

/// One page of the account's codes, newest first; `after` is the last id of the
/// previous page.
pub async fn list(
    db: &impl ConnectionTrait,
    account_id: i64,
    filter: &ListFilter,
    first: u64,
    after: Option<i64>,
) -> ServiceResult<Page> {
    use promo_code::Column as C;
    let at = now();
    let not_expired = Condition::any().add(C::ExpiresAt.is_null()).add(C::ExpiresAt.gt(at));
    let started = Condition::any().add(C::StartsAt.is_null()).add(C::StartsAt.lte(at));
    let under_limit =
        Condition::any().add(C::UsageLimit.is_null()).add(Expr::col(C::RedemptionsCount).lt(Expr::col(C::UsageLimit)));
    let live = C::DeletedAt.is_null();
    let status = match filter.status {
        StatusFilter::All => Condition::all().add(live),
        StatusFilter::Deleted => Condition::all().add(C::DeletedAt.is_not_null()),
        StatusFilter::Inactive => Condition::all().add(live).add(C::Active.eq(false)),
        StatusFilter::Expired => Condition::all().add(live).add(C::Active.eq(true)).add(C::ExpiresAt.lte(at)),
        StatusFilter::Scheduled => {
            Condition::all().add(live).add(C::Active.eq(true)).add(not_expired.clone()).add(C::StartsAt.gt(at))
        }
        StatusFilter::Exhausted => Condition::all()
            .add(live)
            .add(C::Active.eq(true))
            .add(not_expired)
            .add(started)
            .add(Expr::col(C::RedemptionsCount).gte(Expr::col(C::UsageLimit))),
        StatusFilter::Active => {
            Condition::all().add(live).add(C::Active.eq(true)).add(not_expired).add(started).add(under_limit)
        }
    };
    let mut query = promo_code::Entity::find().filter(C::AccountId.eq(account_id)).filter(status);
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if search.chars().count() > MAX_SEARCH_CHARS {
            return Err(UserError::new(
                "search",
                UserErrorCode::Invalid,
                format!("search for at most {MAX_SEARCH_CHARS} characters"),
            )
            .into());
        }
        let escaped = super::escape_like(search);
        let code_like = format!("%{}%", escaped.to_ascii_uppercase());
        let text_like = format!("%{}%", escaped.to_lowercase());
        query = query.filter(
            Condition::any()
                .add(Expr::col(C::Code).like(LikeExpr::new(code_like).escape('\\')))
                .add(Func::lower(Expr::col(C::Description)).like(LikeExpr::new(text_like).escape('\\'))),
        );
    }
    if let Some(event_id) = filter.event_id {
        query = query.filter(C::EventId.eq(event_id));
    }
    if let Some(partner_id) = filter.partner_id {
        query = query.filter(C::PartnerId.eq(partner_id));
    }
    if let Some(batch_id) = filter.batch_id {
        query = query.filter(C::BatchId.eq(batch_id));
    }
    if let Some(after) = after {
        query = query.filter(C::Id.lt(after));
    }
    let first = first.clamp(1, MAX_PAGE);
    let mut items = query.order_by_desc(C::Id).limit(first + 1).all(db).await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page { items, has_next })
}

/// A row's derived status at `at`.
pub fn status(row: &promo_code::Model, at: DateTime<Utc>) -> promo::PromoStatus {
    carts::lifecycle(row).status(at)
}

/// A row's discount type.
pub fn discount_type(row: &promo_code::Model) -> DiscountType {
    row.discount_type.into()
}

/// A row's percentage, for PERCENTAGE codes.
pub fn percent_off(row: &promo_code::Model) -> Option<PercentOff> {
    row.percent_off_bp.and_then(|h| u32::try_from(h).ok()).and_then(|h| PercentOff::from_hundredths(h).ok())
}

/// Redemptions left before the usage limit (never below 0); `None` when unlimited.
pub fn remaining(row: &promo_code::Model) -> Option<i64> {
    row.usage_limit.map(|limit| Ord::max(limit - row.redemptions_count, 0))
}

/// A code with what is derived from it, as an edge shows it: its amount in the
/// account's currency, its status at one instant, the redemptions left.
#[derive(Debug, Clone)]
pub struct PromoCodeView {
    /// The row as stored.
    pub row: promo_code::Model,
    /// The account's currency.
    pub currency: Currency,
    /// Percentage or fixed amount.
    pub discount_type: DiscountType,
    /// For PERCENTAGE codes.
    pub percent_off: Option<PercentOff>,
    /// For FIXED_AMOUNT codes.
    pub amount_off: Option<Money>,
    /// The minimum eligible subtotal.
    pub minimum_subtotal: Option<Money>,
    /// Redemptions left; `None` when unlimited.
    pub remaining: Option<i64>,
    /// The status at the instant the view was made.
    pub status: promo::PromoStatus,
}

impl PromoCodeView {
    /// The view of `row` of an account in `currency`, at `at`.
    pub fn new(row: promo_code::Model, currency: Currency, at: DateTime<Utc>) -> Self {
        PromoCodeView {
            currency,
            discount_type: discount_type(&row),
            percent_off: percent_off(&row),
            amount_off: row.amount_off.map(|minor| Money::from_minor(minor, currency)),
            minimum_subtotal: row.minimum_subtotal.map(|minor| Money::from_minor(minor, currency)),
            remaining: remaining(&row),
            status: status(&row, at),
            row,
        }
    }
}
