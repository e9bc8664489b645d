//! Promo codes as the organizer (or assistant) sees and edits them.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::Currency;
use crate::domain::promo::PromoStatus as DomainStatus;
use crate::entities::{account, promo_code};
use crate::graphql::context::ContextExt;
use crate::graphql::errors::{InputFields, internal};
use crate::graphql::loaders::EventById;
use crate::services::now;
use crate::services::promo_codes::{self as service, StatusFilter};

use super::{Event, Money, UserError, parse_id, to_id};

/// How a code discounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::domain::promo::DiscountType")]
pub enum DiscountType {
    /// `percentOff` percent of the eligible subtotal, rounded half-up to the minor unit.
    Percentage,
    /// `amountOff` in the shop currency, at most the eligible subtotal.
    FixedAmount,
}

/// A code's derived state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::domain::promo::PromoStatus")]
pub enum PromoCodeStatus {
    /// Applies to carts now.
    Active,
    /// Its `startsAt` is still ahead: buyers can attach it (NOT_STARTED) and it discounts
    /// from then on.
    Scheduled,
    /// Its `expiresAt` has passed.
    Expired,
    /// `redemptionsCount` reached `usageLimit`; raise the limit to give out more.
    Exhausted,
    /// Deactivated; `reactivatePromoCode` turns it back on.
    Inactive,
    /// Deleted but kept because orders used it; its code string is free for reuse.
    Deleted,
}

/// Which codes `promoCodes` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[graphql(remote = "crate::services::promo_codes::StatusFilter")]
pub enum PromoCodeStatusFilter {
    /// Every code that is not deleted.
    #[default]
    All,
    /// Codes that apply now.
    Active,
    /// Codes whose `startsAt` is still ahead.
    Scheduled,
    /// Codes past their `expiresAt`.
    Expired,
    /// Codes whose `redemptionsCount` reached `usageLimit`.
    Exhausted,
    /// Deactivated codes.
    Inactive,
    /// Soft-deleted codes (kept for order history).
    Deleted,
}

/// What `deletePromoCode` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::services::promo_codes::Deletion")]
pub enum PromoCodeDeletion {
    /// The code is gone for good: no order ever used it.
    Hard,
    /// Orders used it: it is kept (status DELETED), hidden from the default list, and its
    /// string is free for a new code.
    Soft,
}

/// A promo code of your shop.
#[derive(Clone)]
pub struct PromoCode {
    row: promo_code::Model,
    account: Arc<account::Model>,
}

impl PromoCode {
    /// Wraps a row of `account`.
    pub fn new(row: promo_code::Model, account: Arc<account::Model>) -> Self {
        PromoCode { row, account }
    }

    /// The list cursor of this code.
    pub fn cursor(&self) -> String {
        self.row.id.to_string()
    }

    fn currency(&self) -> async_graphql::Result<Currency> {
        Ok(*self.account.currency)
    }
}

/// A promo code of your shop.
#[Object]
impl PromoCode {
    /// The code's id. On a dry run of `createPromoCode` it is "0": nothing was stored.
    async fn id(&self) -> ID {
        to_id(self.row.id)
    }

    /// The code buyers type, upper-case (matching is case-insensitive).
    async fn code(&self) -> &str {
        &self.row.code
    }

    /// Percentage or fixed amount.
    async fn discount_type(&self) -> DiscountType {
        service::discount_type(&self.row).into()
    }

    /// For PERCENTAGE: the percentage as a decimal string, e.g. "15" or "12.5"; else null.
    async fn percent_off(&self) -> Option<String> {
        service::percent_off(&self.row).map(|p| p.to_decimal().to_string())
    }

    /// For FIXED_AMOUNT: the amount off in the shop currency; else null.
    async fn amount_off(&self) -> async_graphql::Result<Option<Money>> {
        let currency = self.currency()?;
        Ok(self.row.amount_off.map(|a| Money::of(a, currency)))
    }

    /// The one event the code applies to; null = every event of the shop.
    async fn event_id(&self) -> Option<ID> {
        self.row.event_id.map(to_id)
    }

    /// The scope event itself; null = every event.
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Event>> {
        let Some(event_id) = self.row.event_id else { return Ok(None) };
        let loader = ctx.loader::<EventById>();
        let row = loader.load_one(event_id).await.map_err(|e| internal(&*e))?;
        let shop = std::sync::Arc::new(super::shop::ShopInfo::of(&self.account));
        Ok(row.map(|e| Event::admin(e, shop)))
    }

    /// From this instant on the code no longer applies (RFC 3339, in the shop's time
    /// zone); null = never.
    async fn expires_at(&self) -> Option<DateTime<chrono::FixedOffset>> {
        let zone = super::shop::ShopInfo::of(&self.account).zone;
        self.row.expires_at.map(|at| zone.local(at))
    }

    /// From this instant on the code applies (RFC 3339, in the shop's time zone); null =
    /// from its creation. Before it the status is SCHEDULED.
    async fn starts_at(&self) -> Option<DateTime<chrono::FixedOffset>> {
        let zone = super::shop::ShopInfo::of(&self.account).zone;
        self.row.starts_at.map(|at| zone.local(at))
    }

    /// The eligible subtotal (before discount) a cart needs before the code discounts;
    /// below it the cart shows MINIMUM_NOT_REACHED with the amount missing. Null = none.
    async fn minimum_subtotal(&self) -> async_graphql::Result<Option<Money>> {
        let currency = self.currency()?;
        Ok(self.row.minimum_subtotal.map(|a| Money::of(a, currency)))
    }

    /// The partner who hands the code out; null = none.
    async fn partner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<super::Partner>> {
        let Some(id) = self.row.partner_id else { return Ok(None) };
        let loader = ctx.loader::<crate::graphql::loaders::PartnerById>();
        Ok(loader.load_one(id).await.map_err(|e| internal(&*e))?.map(super::Partner))
    }

    /// The one buyer the code is for (normalized email): in another buyer's cart or
    /// checkout it is refused with CUSTOMER_MISMATCH. Null = anyone.
    async fn recipient_email(&self) -> Option<&str> {
        self.row.recipient_email.as_deref()
    }

    /// The `generatePromoCodes` batch it was made in; null = made on its own.
    async fn batch_id(&self) -> Option<ID> {
        self.row.batch_id.map(to_id)
    }

    /// Total paid redemptions allowed across all buyers; null = unlimited.
    async fn usage_limit(&self) -> Option<i64> {
        self.row.usage_limit
    }

    /// Paid redemptions allowed per buyer email (aliases count as one buyer); null = unlimited.
    async fn max_per_customer(&self) -> Option<i64> {
        self.row.max_per_customer
    }

    /// Paid orders that used the code, ever. Never decreases, not even on refunds.
    async fn redemptions_count(&self) -> i64 {
        self.row.redemptions_count
    }

    /// Redemptions left before `usageLimit` (never below 0); null when unlimited.
    async fn remaining(&self) -> Option<i64> {
        service::remaining(&self.row)
    }

    /// Derived state now.
    async fn status(&self) -> PromoCodeStatus {
        let status: DomainStatus = service::status(&self.row, now());
        status.into()
    }

    /// False once deactivated (or deleted).
    async fn active(&self) -> bool {
        self.row.active
    }

    /// Free text for the organizer, e.g. "Influencer Maria".
    async fn description(&self) -> Option<&str> {
        self.row.description.as_deref()
    }

    /// When it was created (UTC, RFC 3339).
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    /// When it was last changed (UTC, RFC 3339).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }

    /// When it was soft-deleted (UTC, RFC 3339); null unless status is DELETED.
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.row.deleted_at
    }
}

/// A new promo code.
#[derive(Debug, InputObject)]
pub struct CreatePromoCodeInput {
    /// The code buyers type: 3–32 letters, digits, '-' or '_'; stored upper-case,
    /// unique in your shop case-insensitively.
    pub code: String,
    /// PERCENTAGE (give `percentOff`) or FIXED_AMOUNT (give `amountOff`).
    pub discount_type: DiscountType,
    /// For PERCENTAGE: decimal string from "1" to "100", at most two decimals ("15", "12.5").
    pub percent_off: Option<String>,
    /// For FIXED_AMOUNT: decimal string in the shop currency above 0 ("5.00"; JPY "500").
    pub amount_off: Option<String>,
    /// Restrict the code to this event of your shop; omit for every event.
    pub event_id: Option<ID>,
    /// When the code stops applying: RFC 3339 with offset, in the future. For "until
    /// the end of a day" use `expiresOn` instead.
    pub expires_at: Option<DateTime<Utc>>,
    /// The last day the code applies, in the shop's time zone: it expires at
    /// 23:59:59.999 of that day on the shop's clock (e.g. "2027-10-31" in Berlin is
    /// 2027-10-31T23:59:59.999+01:00). Give this or `expiresAt`, not both.
    pub expires_on: Option<super::Date>,
    /// When the code starts applying (RFC 3339 with offset); before it, buyers get
    /// NOT_STARTED. Omit to start at once. For "from the start of a day" use `startsOn`.
    pub starts_at: Option<DateTime<Utc>>,
    /// The first day the code applies, from 00:00 on the shop's clock. Give this or
    /// `startsAt`, not both.
    pub starts_on: Option<super::Date>,
    /// The eligible subtotal before discount a cart needs, decimal string in the shop
    /// currency ("50.00"); omit for no minimum.
    pub minimum_subtotal: Option<String>,
    /// Total paid redemptions across all buyers, at least 1; omit for unlimited.
    pub usage_limit: Option<i64>,
    /// Paid redemptions per buyer email, at least 1 (1 = once per customer); omit for unlimited.
    pub max_per_customer: Option<i64>,
    /// Free text for the organizer, at most 500 characters.
    pub description: Option<String>,
    /// The partner who hands the code out (`createPartner`); reports group by it.
    pub partner_id: Option<ID>,
    /// Bind the code to one buyer: it applies only in a cart or checkout with this email
    /// (aliases such as `name+tag@` count as the same buyer).
    pub recipient_email: Option<String>,
}

impl InputFields for CreatePromoCodeInput {
    const FIELDS: &'static [&'static str] = &[
        "code",
        "discountType",
        "percentOff",
        "amountOff",
        "eventId",
        "expiresAt",
        "expiresOn",
        "startsAt",
        "startsOn",
        "minimumSubtotal",
        "usageLimit",
        "maxPerCustomer",
        "description",
        "partnerId",
        "recipientEmail",
    ];
}

/// Changes to a promo code: omitted fields stay as they are; `null` clears a field.
#[derive(Debug, InputObject)]
pub struct UpdatePromoCodeInput {
    /// New code string (3–32 letters, digits, '-' or '_').
    pub code: Option<String>,
    /// New discount type; give the matching `percentOff` or `amountOff` with it.
    pub discount_type: Option<DiscountType>,
    /// New percentage, decimal string "1"–"100" (PERCENTAGE codes).
    pub percent_off: MaybeUndefined<String>,
    /// New fixed amount, decimal string in the shop currency (FIXED_AMOUNT codes).
    pub amount_off: MaybeUndefined<String>,
    /// New scope event; null = every event.
    pub event_id: MaybeUndefined<ID>,
    /// New expiry (RFC 3339 with offset, in the future); null = never expires.
    pub expires_at: MaybeUndefined<DateTime<Utc>>,
    /// New last day, in the shop's time zone (expires at 23:59:59.999 of it); instead
    /// of `expiresAt`.
    pub expires_on: Option<super::Date>,
    /// New start (RFC 3339 with offset); null = applies at once.
    pub starts_at: MaybeUndefined<DateTime<Utc>>,
    /// New first day, from 00:00 on the shop's clock; instead of `startsAt`.
    pub starts_on: Option<super::Date>,
    /// New minimum eligible subtotal (decimal string); null = none.
    pub minimum_subtotal: MaybeUndefined<String>,
    /// New partner; null = none.
    pub partner_id: MaybeUndefined<ID>,
    /// New recipient email; null = anyone may use the code.
    pub recipient_email: MaybeUndefined<String>,
    /// New total cap (at least 1); null = unlimited. Lowering it below
    /// `redemptionsCount` is allowed: the code then reads EXHAUSTED.
    pub usage_limit: MaybeUndefined<i64>,
    /// New per-buyer cap (at least 1); null = unlimited.
    pub max_per_customer: MaybeUndefined<i64>,
    /// New description; null clears it.
    pub description: MaybeUndefined<String>,
    /// Activate (true) or deactivate (false).
    pub active: Option<bool>,
}

impl InputFields for UpdatePromoCodeInput {
    const FIELDS: &'static [&'static str] = &[
        "code",
        "discountType",
        "percentOff",
        "amountOff",
        "eventId",
        "expiresAt",
        "expiresOn",
        "startsAt",
        "startsOn",
        "minimumSubtotal",
        "partnerId",
        "recipientEmail",
        "usageLimit",
        "maxPerCustomer",
        "description",
        "active",
    ];
}

/// Filters of `promoCodes`.
#[derive(Debug, InputObject, Default)]
pub struct PromoCodeFilter {
    /// Which codes; ALL (every code not deleted) when omitted.
    #[graphql(default)]
    pub status: PromoCodeStatusFilter,
    /// Case-insensitive substring of the code or its description, e.g. "15".
    pub search: Option<String>,
    /// Only codes scoped to this event.
    pub event_id: Option<ID>,
    /// Only codes of this partner.
    pub partner_id: Option<ID>,
    /// Only codes of this `generatePromoCodes` batch.
    pub batch_id: Option<ID>,
}

/// Result of a promo code mutation.
#[derive(SimpleObject)]
pub struct PromoCodePayload {
    /// The code after the change (on a dry run: as it would be); null when refused.
    pub promo_code: Option<PromoCode>,
    /// True when this was a dry run: nothing was written.
    pub dry_run: bool,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `deletePromoCode`.
#[derive(SimpleObject)]
pub struct DeletePromoCodePayload {
    /// HARD (gone) or SOFT (kept for order history); null when refused.
    pub deletion: Option<PromoCodeDeletion>,
    /// The code as it was deleted (SOFT: as kept); null when refused.
    pub promo_code: Option<PromoCode>,
    /// True when this was a dry run: nothing was written.
    pub dry_run: bool,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// `MaybeUndefined` → keep (`None`) / clear (`Some(None)`) / set.
pub fn patch<T, U>(value: MaybeUndefined<T>, map: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(map(v))),
    }
}

/// An id argument (event, partner, batch); an unparseable one becomes 0, which no row
/// has, so the service reports it as not found.
pub fn event_id(id: &ID) -> i64 {
    parse_id(id).unwrap_or(0)
}

impl From<PromoCodeFilter> for service::ListFilter {
    fn from(f: PromoCodeFilter) -> Self {
        service::ListFilter {
            status: StatusFilter::from(f.status),
            search: f.search,
            event_id: f.event_id.as_ref().map(event_id),
            partner_id: f.partner_id.as_ref().map(event_id),
            batch_id: f.batch_id.as_ref().map(event_id),
        }
    }
}

/// A page of promo codes (a Relay connection).
#[derive(SimpleObject)]
pub struct PromoCodeConnection {
    /// The codes of this page with their cursors.
    pub edges: Vec<PromoCodeEdge>,
    /// The codes of this page, without cursors.
    pub nodes: Vec<PromoCode>,
    /// Where this page sits in the whole list.
    pub page_info: super::PageInfo,
}

/// A promo code and its cursor.
#[derive(SimpleObject)]
pub struct PromoCodeEdge {
    /// Pass as `after` to get the codes following this one.
    pub cursor: String,
    /// The code.
    pub node: PromoCode,
}
