//! The promo code report: one row per code (or code × utm_source).

use async_graphql::{Enum, ID, SimpleObject};

use super::to_id;
use crate::domain::{Currency, Money};
use crate::services::reports;

/// How report rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[graphql(remote = "crate::services::reports::GroupBy")]
pub enum ReportGroupBy {
    /// One row per code.
    #[default]
    Code,
    /// One row per code and utm_source (which platform brought the click).
    CodeAndUtmSource,
    /// One row per partner: the sums of their codes (`code` is the partner's name,
    /// `redeemedAs` lists the codes); codes without a partner make one row, "(no partner)".
    Partner,
    /// One row per partner and utm_source.
    PartnerAndUtmSource,
}

/// One row of the promo code report: one code, by identity, however often it was renamed.
/// Amounts are decimal strings in `currency`.
#[derive(SimpleObject)]
pub struct PromoCodeReportRow {
    /// The code's id (what `promoCode(id:)` and `updatePromoCode` take); null when the
    /// code no longer exists, its orders then grouped by the string they were redeemed under.
    pub promo_code_id: Option<ID>,
    /// The code as it is named now (a renamed code keeps one row); for a code that no
    /// longer exists, the string its orders were redeemed under.
    pub code: String,
    /// Every string the row's orders were redeemed under, first used first: more than one
    /// after a rename; empty when the row has link visits but no orders.
    pub redeemed_as: Vec<String>,
    /// The utm_source (grouped by CODE_AND_UTM_SOURCE or PARTNER_AND_UTM_SOURCE only).
    pub utm_source: Option<String>,
    /// The code's partner (on a partner row: the partner); null when it has none.
    pub partner_id: Option<ID>,
    /// That partner's name.
    pub partner: Option<String>,
    /// ISO 4217.
    pub currency: String,
    /// Sessions that arrived through a `?promo=` link of the code (once per session).
    pub link_visits: i64,
    /// Paid orders with the code (refunded ones included), typed in or from a link.
    pub orders: i64,
    /// Of `orders`, those from a buyer who arrived through a `?promo=` link of the code
    /// (the cart's session has a link visit of it); typed-in codes are not counted.
    pub link_orders: i64,
    /// linkOrders / linkVisits, decimal string with 4 places; null without visits.
    /// Typed-in codes do not count as conversions.
    pub conversion: Option<String>,
    /// Tickets in those orders.
    pub tickets: i64,
    /// Σ totals paid, gross: refunds not deducted.
    pub revenue: String,
    /// revenue − refunds: what the orders brought in after refunds.
    pub revenue_net_of_refunds: String,
    /// Σ discounts given.
    pub discount_given: String,
    /// Σ refunded.
    pub refunds: String,
    /// Redemptions in the period.
    pub redemptions_ever: i64,
    /// Of those, not fully refunded.
    pub redemptions_active: i64,
    /// Orders that pushed the code past its usage limit.
    pub orders_over_cap: i64,
}

impl PromoCodeReportRow {
    /// A service row with its amounts in `currency`.
    pub fn new(r: reports::ReportRow, currency: Currency) -> Self {
        let money = |minor: i64| Money::from_minor(minor, currency).to_string();
        PromoCodeReportRow {
            conversion: r.conversion().map(|c| format!("{c:.4}")),
            revenue_net_of_refunds: money(r.revenue_net_of_refunds()),
            promo_code_id: r.promo_code_id.map(to_id),
            code: r.code,
            redeemed_as: r.redeemed_as,
            utm_source: r.utm_source,
            partner_id: r.partner_id.map(to_id),
            partner: r.partner,
            currency: currency.code().to_owned(),
            link_visits: r.link_visits,
            orders: r.orders,
            link_orders: r.link_orders,
            tickets: r.tickets,
            revenue: money(r.revenue),
            discount_given: money(r.discount),
            refunds: money(r.refunds),
            redemptions_ever: r.redemptions_ever,
            redemptions_active: r.redemptions_active,
            orders_over_cap: r.over_cap,
        }
    }
}
