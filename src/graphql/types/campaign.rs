//! Partners, batches of generated codes, share links and the share page.

use async_graphql::{ID, InputObject, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::{Money, PromoCode, UserError, to_id};
use crate::domain::Currency;
use crate::entities::{partner, partner_share_link};
use crate::graphql::errors::InputFields;
use crate::services::{partners, promo_batches};

/// Someone who hands out your codes: a creator, a newsletter, a venue.
#[derive(Clone)]
pub struct Partner(pub partner::Model);

/// Someone who hands out your codes: a creator, a newsletter, a venue.
#[async_graphql::Object]
impl Partner {
    /// The partner's id (what `partnerId` inputs take).
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Their name, unique in your shop, e.g. "Maria".
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// How you reach them; never shown on a share page.
    async fn contact(&self) -> Option<&str> {
        self.0.contact.as_deref()
    }

    /// When they were added (UTC, RFC 3339).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A batch of codes made by one `generatePromoCodes` call, with its counters.
#[derive(SimpleObject)]
pub struct PromoBatch {
    /// The batch's id (`promoCodes(filter: {batchId})` lists its codes).
    pub id: ID,
    /// Your name for it, e.g. "November newsletter".
    pub name: String,
    /// What every code starts with (before the `-`).
    pub prefix: String,
    /// True when each code is bound to one recipient's email.
    pub recipients: bool,
    /// Codes in the batch.
    pub code_count: i64,
    /// Codes redeemed at least once.
    pub codes_redeemed: i64,
    /// Paid redemptions of all its codes.
    pub redemptions: i64,
    /// Codes still active (not deactivated or deleted).
    pub codes_active: i64,
    /// Σ totals of the paid orders with its codes (refunds not deducted).
    pub revenue: Money,
    /// Σ discounts given.
    pub discount_given: Money,
    /// The CSV of its codes with their recipients and state (GET with an API key).
    pub csv_path: String,
    /// When it was made (UTC, RFC 3339).
    pub created_at: DateTime<Utc>,
}

impl PromoBatch {
    /// A batch view in `currency`.
    pub fn new(view: promo_batches::BatchView, currency: Currency) -> Self {
        let batch = view.batch;
        PromoBatch {
            id: to_id(batch.id),
            csv_path: format!("/admin/promo_batches/{}/codes.csv", batch.id),
            name: batch.name,
            prefix: batch.prefix,
            recipients: batch.recipients,
            code_count: i64::from(batch.code_count),
            codes_redeemed: view.codes_redeemed,
            redemptions: view.redemptions,
            codes_active: view.codes_active,
            revenue: Money::of(view.revenue, currency),
            discount_given: Money::of(view.discount, currency),
            created_at: batch.created_at,
        }
    }
}

/// A batch of codes to make: the discount settings of one code, for many.
#[derive(Debug, InputObject)]
pub struct GeneratePromoCodesInput {
    /// Your name for the batch, 1–100 characters.
    pub batch_name: String,
    /// What every code starts with: 1–16 letters and digits; codes read `PREFIX-` and 10
    /// random characters without look-alikes (no 0/O, 1/I/L).
    pub prefix: String,
    /// How many codes for anyone, 1–10,000. Give this, `recipients` or `recipientsCsv`.
    pub count: Option<i64>,
    /// One code per email, usable only by that buyer (aliases count as one buyer; a
    /// repeated buyer gets one code).
    pub recipients: Option<Vec<String>>,
    /// The same from CSV text: the `email` column when the first row names one, else the
    /// first column.
    pub recipients_csv: Option<String>,
    /// Paid redemptions per code, default 1 (single-use).
    pub usage_per_code: Option<i64>,
    /// PERCENTAGE (give `percentOff`) or FIXED_AMOUNT (give `amountOff`).
    pub discount_type: super::promo_code::DiscountType,
    /// For PERCENTAGE: "1"–"100", at most two decimals.
    pub percent_off: Option<String>,
    /// For FIXED_AMOUNT: decimal string in the shop currency above 0.
    pub amount_off: Option<String>,
    /// Restrict every code to this event.
    pub event_id: Option<ID>,
    /// When the codes stop applying (RFC 3339 with offset, in the future).
    pub expires_at: Option<DateTime<Utc>>,
    /// Their last day on the shop's clock; instead of `expiresAt`.
    pub expires_on: Option<super::Date>,
    /// When the codes start applying.
    pub starts_at: Option<DateTime<Utc>>,
    /// Their first day on the shop's clock; instead of `startsAt`.
    pub starts_on: Option<super::Date>,
    /// The eligible subtotal a cart needs, decimal string.
    pub minimum_subtotal: Option<String>,
    /// Paid redemptions per buyer email.
    pub max_per_customer: Option<i64>,
    /// The partner the codes belong to.
    pub partner_id: Option<ID>,
    /// Free text, at most 500 characters.
    pub description: Option<String>,
}

impl InputFields for GeneratePromoCodesInput {
    const FIELDS: &'static [&'static str] = &[
        "batchName",
        "prefix",
        "count",
        "recipients",
        "recipientsCsv",
        "usagePerCode",
        "discountType",
        "percentOff",
        "amountOff",
        "eventId",
        "expiresAt",
        "expiresOn",
        "startsAt",
        "startsOn",
        "minimumSubtotal",
        "maxPerCustomer",
        "partnerId",
        "description",
    ];
}

/// Result of `generatePromoCodes`.
#[derive(SimpleObject)]
pub struct GeneratePromoCodesPayload {
    /// The batch (on a dry run: as it would be, id "0"); null when refused.
    pub batch: Option<PromoBatch>,
    /// The first codes (at most 20; on a dry run, 5 samples). All of them: the batch's
    /// `csvPath`, or `promoCodes(filter: {batchId})`.
    pub codes: Vec<PromoCode>,
    /// True when this was a dry run: nothing was written.
    pub dry_run: bool,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `deactivatePromoBatch`.
#[derive(SimpleObject)]
pub struct DeactivatePromoBatchPayload {
    /// The batch with its counters after the change; null when refused.
    pub batch: Option<PromoBatch>,
    /// Codes switched off by this call (0 when all were off already); null when refused.
    pub deactivated: Option<i64>,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// A partner to add, or changes to one.
#[derive(Debug, InputObject)]
pub struct PartnerInput {
    /// Their name, 1–100 characters, unique in your shop (required when creating).
    pub name: Option<String>,
    /// How you reach them, at most 254 characters; null clears it.
    pub contact: async_graphql::MaybeUndefined<String>,
}

impl InputFields for PartnerInput {
    const FIELDS: &'static [&'static str] = &["name", "contact"];
}

/// Result of `createPartner` and `updatePartner`.
#[derive(SimpleObject)]
pub struct PartnerPayload {
    /// The partner after the change; null when refused.
    pub partner: Option<Partner>,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// A read-only link to one partner's (or one code's) figures.
#[derive(SimpleObject)]
pub struct PartnerShareLink {
    /// The link's id (what `revokePartnerShareLink` takes).
    pub id: ID,
    /// The partner whose codes it shows; null for a one-code link.
    pub partner_id: Option<ID>,
    /// The one code it shows; null for a partner link.
    pub promo_code_id: Option<ID>,
    /// False once revoked: the page then answers 404.
    pub active: bool,
    /// When it was made (UTC, RFC 3339).
    pub created_at: DateTime<Utc>,
    /// When it was revoked; null while active.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<partner_share_link::Model> for PartnerShareLink {
    fn from(row: partner_share_link::Model) -> Self {
        PartnerShareLink {
            id: to_id(row.id),
            partner_id: row.partner_id.map(to_id),
            promo_code_id: row.promo_code_id.map(to_id),
            active: row.revoked_at.is_none(),
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Result of `createPartnerShareLink`.
#[derive(SimpleObject)]
pub struct CreatePartnerShareLinkPayload {
    /// The link; null when refused.
    pub share_link: Option<PartnerShareLink>,
    /// The token, shown this once (only its hash is kept): send `path` to the partner.
    pub token: Option<String>,
    /// The page's path on this server, `/partners/{token}`.
    pub path: Option<String>,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `revokePartnerShareLink`.
#[derive(SimpleObject)]
pub struct RevokePartnerShareLinkPayload {
    /// The link, revoked; null when refused.
    pub share_link: Option<PartnerShareLink>,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Counts and sums of a share page.
#[derive(SimpleObject)]
pub struct ShareFigures {
    /// Visits through the codes' `?promo=` links (once per session).
    pub link_visits: i64,
    /// Paid orders with the codes (refunded ones included).
    pub orders: i64,
    /// Tickets in them.
    pub tickets: i64,
    /// What they brought in after refunds.
    pub revenue: Money,
}

impl ShareFigures {
    fn new(f: partners::Figures, currency: Currency) -> Self {
        ShareFigures {
            link_visits: f.link_visits,
            orders: f.orders,
            tickets: f.tickets,
            revenue: Money::of(f.revenue, currency),
        }
    }
}

/// The figures of one utm_source.
#[derive(SimpleObject)]
pub struct ShareSourceFigures {
    /// The utm_source; null for visits and orders without one.
    pub utm_source: Option<String>,
    /// Its figures.
    pub figures: ShareFigures,
}

/// The figures of one day on the shop's clock.
#[derive(SimpleObject)]
pub struct ShareDayFigures {
    /// The day (YYYY-MM-DD, shop's time zone).
    pub date: NaiveDate,
    /// Its figures.
    pub figures: ShareFigures,
}

/// What a partner sees through their share link: their codes' figures, nothing else (no
/// buyer, no other partner).
#[derive(SimpleObject)]
pub struct PartnerSharePage {
    /// The partner's name (or, for a one-code link, the code).
    pub title: String,
    /// The shop's name.
    pub shop_name: String,
    /// ISO 4217 of the amounts.
    pub currency: String,
    /// The codes the figures cover.
    pub codes: Vec<String>,
    /// All time.
    pub totals: ShareFigures,
    /// By utm_source, most orders first.
    pub by_utm_source: Vec<ShareSourceFigures>,
    /// The last 30 days, oldest first, every day present.
    pub by_day: Vec<ShareDayFigures>,
}

impl From<partners::ShareView> for PartnerSharePage {
    fn from(v: partners::ShareView) -> Self {
        let currency = v.currency;
        PartnerSharePage {
            title: v.title,
            shop_name: v.shop_name,
            currency: currency.code().to_owned(),
            codes: v.codes,
            totals: ShareFigures::new(v.totals, currency),
            by_utm_source: v
                .by_source
                .into_iter()
                .map(|(utm_source, f)| ShareSourceFigures { utm_source, figures: ShareFigures::new(f, currency) })
                .collect(),
            by_day: v
                .by_day
                .into_iter()
                .map(|(date, f)| ShareDayFigures { date, figures: ShareFigures::new(f, currency) })
                .collect(),
        }
    }
}
