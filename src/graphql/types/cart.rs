//! A buyer's cart as the storefront shows it: lines, price points, VAT, the code and
//! why it gives nothing (when it does not).

use async_graphql::{Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::{Money, UserError, to_id};
use crate::domain::promo::ApplyRefusal;
use crate::services::UserErrorCode;
use crate::services::carts::{self, PricedCartView, PromoState};
use crate::services::{capacity, promo_codes};

/// A unit price and how many tickets of a line are sold at it.
#[derive(SimpleObject)]
pub struct PricePoint {
    /// Discounted price of one ticket.
    pub unit_price: Money,
    /// Tickets at this price.
    pub quantity: u32,
}

/// VAT of all lines with one rate.
#[derive(SimpleObject)]
pub struct VatLine {
    /// Rate in percent, decimal string ("19.00").
    pub rate: String,
    /// Net amount of these lines.
    pub net: Money,
    /// VAT on them.
    pub vat: Money,
    /// Net + VAT.
    pub gross: Money,
}

/// Tickets of one type in a cart, priced.
#[derive(SimpleObject)]
pub struct CartLine {
    /// The ticket type (what `addToCart` and `updateCartLine` take).
    pub ticket_type_id: ID,
    /// Its event.
    pub event_id: ID,
    /// Ticket type name.
    pub name: String,
    /// Number of tickets.
    pub quantity: i32,
    /// Price of one ticket before any discount.
    pub original_unit_price: Money,
    /// Original unit price × quantity.
    pub original_total: Money,
    /// This line's share of the promo discount.
    pub discount: Money,
    /// What the line costs after the discount.
    pub total: Money,
    /// The discounted unit prices: one, or two one minor unit apart when the discount
    /// does not divide evenly (e.g. 2 × 9.17 and 1 × 9.16). They sum to `total`.
    pub price_points: Vec<PricePoint>,
    /// VAT rate in percent, decimal string.
    pub vat_rate: String,
    /// Whether the applied code's scope covers this line.
    pub promo_eligible: bool,
    /// Tickets of this type that can still be bought (a cart holds none; checkout
    /// does); null when unlimited.
    pub available: Option<i64>,
}

/// The code discounting the cart.
#[derive(SimpleObject)]
pub struct AppliedPromo {
    /// The code, upper-case.
    pub code: String,
    /// Percentage or fixed amount.
    pub discount_type: super::promo_code::DiscountType,
    /// For PERCENTAGE: e.g. "10".
    pub percent_off: Option<String>,
    /// For FIXED_AMOUNT: the amount off.
    pub amount_off: Option<Money>,
    /// The organizer's description, e.g. "Newsletter subscribers: 10% off".
    pub description: Option<String>,
}

/// Why an attached code currently gives no discount.
#[derive(SimpleObject)]
pub struct PromoNotice {
    /// The attached code.
    pub code: String,
    /// NOT_APPLICABLE (no tickets of its event yet), MINIMUM_NOT_REACHED (the cart is
    /// below the code's minimum), NOT_STARTED (it applies from its start, pushed then), or
    /// INACTIVE, EXPIRED, USAGE_LIMIT_REACHED, CUSTOMER_MISMATCH, UNKNOWN when it stopped
    /// being valid while in the cart.
    pub reason: super::UserErrorCode,
    /// A sentence for the buyer, e.g. "Add 10.02 EUR more to get NEWS10's discount."
    pub message: String,
    /// For MINIMUM_NOT_REACHED: how much more of the tickets the code covers the cart
    /// needs; else null.
    pub missing: Option<Money>,
    /// For NOT_STARTED: when the code starts (RFC 3339, shop's time zone); else null.
    pub starts_at: Option<DateTime<chrono::FixedOffset>>,
}

/// What state a cart is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum CartStatus {
    /// Being filled.
    Open,
    /// An order was made from it.
    CheckedOut,
}

/// A buyer's cart, priced. Totals are exact: Σ line totals = `total` (prices with VAT)
/// and `net` + `vat` = `total`.
pub struct Cart(pub PricedCartView);

/// A buyer's cart, priced. Totals are exact: Σ line totals = `total` (prices with VAT)
/// and `net` + `vat` = `total`.
#[Object]
impl Cart {
    /// The cart's id: an unguessable capability, keep it private to the buyer.
    async fn id(&self) -> ID {
        ID::from(self.0.snapshot.cart.token.clone())
    }

    /// OPEN while it can be changed.
    async fn status(&self) -> CartStatus {
        match self.0.snapshot.cart.status {
            crate::entities::enums::CartStatus::Open => CartStatus::Open,
            crate::entities::enums::CartStatus::CheckedOut => CartStatus::CheckedOut,
        }
    }

    /// The shop's slug.
    async fn shop_slug(&self) -> &str {
        &self.0.snapshot.account.slug
    }

    /// ISO 4217 currency of every amount.
    async fn currency(&self) -> &str {
        self.0.currency.code()
    }

    /// True when prices include VAT (then `total` = Σ line totals).
    async fn prices_include_vat(&self) -> bool {
        self.0.snapshot.account.prices_include_vat
    }

    /// The buyer's email, trimmed and lower-cased, once given.
    async fn email(&self) -> Option<&str> {
        self.0.snapshot.cart.email.as_deref()
    }

    /// Lines in the order they were added.
    async fn lines(&self) -> Vec<CartLine> {
        let c = self.0.currency;
        self.0
            .priced
            .lines
            .iter()
            .zip(&self.0.snapshot.lines)
            .map(|(p, (line, ticket))| CartLine {
                ticket_type_id: to_id(ticket.id),
                event_id: to_id(ticket.event_id),
                name: ticket.name.clone(),
                quantity: line.quantity,
                original_unit_price: Money::of(p.original_unit_price, c),
                original_total: Money::of(p.original_amount, c),
                discount: Money::of(p.discount, c),
                total: Money::of(p.amount, c),
                price_points: p
                    .price_points
                    .iter()
                    .map(|pp| PricePoint { unit_price: Money::of(pp.unit_price, c), quantity: pp.quantity })
                    .collect(),
                vat_rate: p.vat_rate.to_string(),
                promo_eligible: p.eligible && self.0.promo_state == PromoState::Applied,
                available: capacity::available(ticket),
            })
            .collect()
    }

    /// Σ original line totals, before the discount.
    async fn subtotal(&self) -> Money {
        Money::of(self.0.priced.subtotal, self.0.currency)
    }

    /// The promo discount.
    async fn discount(&self) -> Money {
        Money::of(self.0.priced.discount, self.0.currency)
    }

    /// Net amount (without VAT).
    async fn net(&self) -> Money {
        Money::of(self.0.priced.net, self.0.currency)
    }

    /// VAT in total.
    async fn vat(&self) -> Money {
        Money::of(self.0.priced.vat, self.0.currency)
    }

    /// VAT per rate.
    async fn vat_breakdown(&self) -> Vec<VatLine> {
        let c = self.0.currency;
        self.0
            .priced
            .vat_groups
            .iter()
            .map(|g| VatLine {
                rate: g.rate.to_string(),
                net: Money::of(g.net, c),
                vat: Money::of(g.vat, c),
                gross: Money::of(g.gross, c),
            })
            .collect()
    }

    /// What the buyer pays.
    async fn total(&self) -> Money {
        Money::of(self.0.priced.total, self.0.currency)
    }

    /// The code discounting this cart; null when none is attached or it gives nothing.
    async fn applied_promo(&self) -> Option<AppliedPromo> {
        let code = self.0.snapshot.promo.as_ref()?;
        if !matches!(self.0.promo_state, PromoState::Applied) {
            return None;
        }
        Some(AppliedPromo {
            code: code.code.clone(),
            discount_type: promo_codes::discount_type(code).into(),
            percent_off: promo_codes::percent_off(code).map(|p| p.to_decimal().to_string()),
            amount_off: code.amount_off.map(|a| Money::of(a, self.0.currency)),
            description: code.description.clone(),
        })
    }

    /// Why an attached code gives no discount right now; null otherwise.
    async fn promo_notice(&self) -> Option<PromoNotice> {
        let code = self.0.snapshot.promo.as_ref()?;
        let currency = self.0.currency;
        let (mut missing, mut starts_at) = (None, None);
        let (reason, message) = match &self.0.promo_state {
            PromoState::NotApplicable => (
                UserErrorCode::NotApplicable,
                format!("{} applies to tickets of another event; add some to get the discount.", code.code),
            ),
            PromoState::BelowMinimum { missing: lacking, minimum } => {
                let (lacking, minimum) = (Money::of(*lacking, currency), Money::of(*minimum, currency));
                let message = format!(
                    "Add {} {} more to get the discount of {} (it needs {} {}).",
                    lacking.amount, lacking.currency, code.code, minimum.amount, minimum.currency
                );
                missing = Some(lacking);
                (UserErrorCode::MinimumNotReached, message)
            }
            PromoState::Invalid(ApplyRefusal::NotStarted) => {
                let zone = super::shop::ShopInfo::of(&self.0.snapshot.account).zone;
                starts_at = code.starts_at.map(|at| zone.local(at));
                (UserErrorCode::NotStarted, carts::not_started_message(code, &self.0.snapshot.account))
            }
            PromoState::Invalid(refusal) => {
                let kind = carts::refusal_code(*refusal);
                (kind, refusal.message(&code.code))
            }
            _ => return None,
        };
        Some(PromoNotice { code: code.code.clone(), reason: reason.into(), message, missing, starts_at })
    }

    /// `utm_source` captured from the link the buyer came through.
    async fn utm_source(&self) -> Option<&str> {
        self.0.snapshot.cart.utm_source.as_deref()
    }

    /// `utm_medium` captured from the link.
    async fn utm_medium(&self) -> Option<&str> {
        self.0.snapshot.cart.utm_medium.as_deref()
    }

    /// `utm_campaign` captured from the link.
    async fn utm_campaign(&self) -> Option<&str> {
        self.0.snapshot.cart.utm_campaign.as_deref()
    }

    /// When the cart last changed (UTC, RFC 3339).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.snapshot.cart.updated_at
    }
}

/// Result of a cart mutation.
#[derive(SimpleObject)]
pub struct CartPayload {
    /// The cart after the mutation, repriced (also when refused, if the cart exists).
    pub cart: Option<Cart>,
    /// Why the input was refused (or, for `setCartEmail`, why the code came off);
    /// empty on success. Messages are written for buyers.
    pub user_errors: Vec<UserError>,
}
