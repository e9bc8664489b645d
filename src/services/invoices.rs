//! Invoices of paid (or refunded) orders, built from the order's snapshot: editing or
//! deleting the code or the prices later changes nothing on them. The seller is the
//! shop's settings (legal name, address, VAT id). Lines are shown at the prices paid,
//! so the promo line states the discount they include instead of deducting it again.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::domain::calendar::ShopZone;
use crate::domain::promo::PercentOff;
use crate::domain::{Money, VatRate};
use crate::entities::{account, order, order_item};

use super::{ServiceError, ServiceResult, internal};

/// One invoice line: a price point of an order item, at its discounted price.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceLine {
    /// What was bought.
    pub description: String,
    /// How many.
    pub quantity: i32,
    /// Discounted unit price.
    pub unit_price: String,
    /// Unit price × quantity.
    pub line_total: String,
    /// VAT rate, percent.
    pub vat_rate: String,
}

/// The promo code line.
#[derive(Debug, Clone, Serialize)]
pub struct InvoicePromo {
    /// The code as redeemed.
    pub code: String,
    /// "Promo code NEWS10 (10%)".
    pub label: String,
    /// Discount given (positive), already included in the line prices.
    pub discount_amount: String,
}

/// Who sells, as the invoice prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seller {
    /// Legal name (the shop's display name when none is set).
    pub name: String,
    /// Postal address lines.
    pub address: Vec<String>,
    /// VAT identification number.
    pub vat_id: Option<String>,
    /// The shop's time zone: the invoice is dated on its clock.
    #[serde(skip)]
    pub zone: ShopZone,
}

fn address_lines(address: Option<&str>) -> Vec<String> {
    address.unwrap_or_default().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

impl Seller {
    /// The seller details of a shop's settings now.
    pub fn of(account: &account::Model) -> Self {
        Seller {
            name: account.seller_legal_name.clone().unwrap_or_else(|| account.name.clone()),
            address: address_lines(account.seller_address.as_deref()),
            vat_id: account.seller_vat_id.clone(),
            zone: ShopZone::parse(&account.time_zone).unwrap_or_default(),
        }
    }

    /// The seller of an order: the details kept on it when it was placed, or (for orders
    /// from before they were kept) the shop's settings now.
    pub fn of_order(order: &order::Model, account: Option<&account::Model>) -> Self {
        let now = account.map(Seller::of).unwrap_or_default();
        match &order.seller_name {
            Some(name) => Seller {
                name: name.clone(),
                address: address_lines(order.seller_address.as_deref()),
                vat_id: order.seller_vat_id.clone(),
                zone: now.zone,
            },
            None => now,
        }
    }
}

/// VAT of one rate.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceVat {
    /// Rate, percent.
    pub rate: String,
    /// Net amount at this rate.
    pub net: String,
    /// VAT at this rate.
    pub vat: String,
}

/// An invoice.
#[derive(Debug, Clone, Serialize)]
pub struct Invoice {
    /// The order number.
    pub number: String,
    /// When the order was paid.
    pub issued_at: chrono::DateTime<chrono::Utc>,
    /// That day on the shop's clock, e.g. "2026-10-01".
    pub date: String,
    /// The organizer.
    pub seller: Seller,
    /// The buyer's email.
    pub buyer: String,
    /// ISO 4217.
    pub currency: String,
    /// Lines at discounted prices.
    pub lines: Vec<InvoiceLine>,
    /// Σ original prices, before the discount.
    pub subtotal: String,
    /// The promo line, when a code was redeemed.
    pub promo: Option<InvoicePromo>,
    /// Net total.
    pub net: String,
    /// VAT per rate.
    pub vat: Vec<InvoiceVat>,
    /// What was paid.
    pub total: String,
    /// What was refunded since, when anything was.
    pub refunded: Option<String>,
}

/// Builds the invoice of a paid order from its snapshot; `None` for an unpaid one.
async fn build(db: &impl ConnectionTrait, order: &order::Model) -> ServiceResult<Option<Invoice>> {
    if !order.status.is_paid() {
        return Ok(None);
    }
    let items = order_item::Entity::find()
        .filter(order_item::Column::OrderId.eq(order.id))
        .order_by_asc(order_item::Column::Id)
        .all(db)
        .await?;
    let account = account::Entity::find_by_id(order.account_id).one(db).await?;
    let seller = Seller::of_order(order, account.as_ref());
    from_snapshot(order, &items, &seller)
}

/// Who asks for an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// An API key of this account.
    Account(i64),
    /// The order's own access token, handed to the buyer at checkout.
    Token(String),
}

/// The invoice of order `order_id` when `access` may see it and the order is paid (or
/// refunded); `None` otherwise, the same as for an order that does not exist.
pub async fn find_for(db: &impl ConnectionTrait, order_id: i64, access: &Access) -> ServiceResult<Option<Invoice>> {
    let query = order::Entity::find_by_id(order_id);
    let query = match access {
        Access::Account(account_id) => query.filter(order::Column::AccountId.eq(*account_id)),
        Access::Token(token) => query.filter(order::Column::AccessToken.eq(token.as_str())),
    };
    match query.one(db).await? {
        Some(order) => build(db, &order).await,
        None => Ok(None),
    }
}

/// The order with this buyer's access token and, once it is paid, its invoice: what a
/// thank-you page shows. `None` for a token no order has.
pub async fn receipt(db: &impl ConnectionTrait, token: &str) -> ServiceResult<Option<(order::Model, Option<Invoice>)>> {
    let Some(order) = order::Entity::find().filter(order::Column::AccessToken.eq(token)).one(db).await? else {
        return Ok(None);
    };
    let invoice = build(db, &order).await?;
    Ok(Some((order, invoice)))
}

/// The invoice from an order row and its items (pure); `None` unless the order was paid.
pub fn from_snapshot(
    order: &order::Model,
    items: &[order_item::Model],
    seller: &Seller,
) -> Result<Option<Invoice>, ServiceError> {
    let Some(paid_at) = order.paid_at.filter(|_| order.status.is_paid()) else { return Ok(None) };
    let currency = *order.currency;
    let money = |minor: i64| Money::from_minor(minor, currency).to_string();
    let rate = |bp: i32| VatRate::from_basis_points(bp.into()).map(|r| r.to_string()).map_err(internal);
    let mut by_rate: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        let entry = by_rate.entry(item.vat_rate_bp).or_default();
        // Gross prices contain the VAT; net prices have it added.
        let net = if order.prices_include_vat { item.line_total - item.vat_amount } else { item.line_total };
        entry.0 += net;
        entry.1 += item.vat_amount;
        lines.push(InvoiceLine {
            description: item.name.clone(),
            quantity: item.quantity,
            unit_price: money(item.unit_price),
            line_total: money(item.line_total),
            vat_rate: rate(item.vat_rate_bp)?,
        });
    }
    let promo = order.promo_code.as_ref().map(|code| {
        let value = match (order.promo_percent_off_bp, order.promo_amount_off) {
            (Some(h), _) => {
                PercentOff::from_hundredths(h as u32).map(|p| format!(" ({}%)", p.to_decimal())).unwrap_or_default()
            }
            (None, Some(a)) => format!(" ({} {} off)", money(a), order.currency),
            _ => String::new(),
        };
        InvoicePromo {
            code: code.clone(),
            label: format!("Promo code {code}{value}"),
            discount_amount: money(order.discount_amount),
        }
    });
    let vat = by_rate
        .into_iter()
        .map(|(bp, (net, vat))| Ok(InvoiceVat { rate: rate(bp)?, net: money(net), vat: money(vat) }))
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(Some(Invoice {
        number: order.number.clone(),
        issued_at: paid_at,
        date: seller.zone.local(paid_at).format("%Y-%m-%d").to_string(),
        seller: seller.clone(),
        buyer: order.email.clone(),
        currency: order.currency.code().to_owned(),
        lines,
        subtotal: money(order.subtotal),
        promo,
        net: money(order.net_amount),
        vat,
        total: money(order.total),
        refunded: (order.refunded_amount > 0).then(|| money(order.refunded_amount)),
    }))
}

/// The invoice page; `templates/invoice.html` escapes every value it prints.
#[derive(askama::Template)]
#[template(path = "invoice.html")]
struct InvoicePage<'a> {
    invoice: &'a Invoice,
}

/// The invoice as a printable HTML page.
pub fn to_html(invoice: &Invoice) -> ServiceResult<String> {
    let page = InvoicePage { invoice };
    askama::Template::render(&page).map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice(text: &str) -> Invoice {
        Invoice {
            number: "TX-7F3K9Q2A".into(),
            issued_at: chrono::DateTime::parse_from_rfc3339("2026-10-01T12:00:00Z").unwrap().to_utc(),
            date: "2026-10-01".into(),
            seller: Seller {
                name: format!("Seller {text}"),
                address: vec!["Hafenstraße 1".into(), "20457 Hamburg".into()],
                vat_id: Some("DE123456789".into()),
                zone: ShopZone::UTC,
            },
            buyer: format!("{text}@example.com"),
            currency: "EUR".into(),
            lines: vec![
                InvoiceLine {
                    description: format!("Standing {text}"),
                    quantity: 2,
                    unit_price: "9.17".into(),
                    line_total: "18.34".into(),
                    vat_rate: "19.00".into(),
                },
                InvoiceLine {
                    description: "Seated".into(),
                    quantity: 1,
                    unit_price: "9.16".into(),
                    line_total: "9.16".into(),
                    vat_rate: "7.00".into(),
                },
            ],
            subtotal: "30.00".into(),
            promo: Some(InvoicePromo {
                code: text.into(),
                label: format!("Promo code {text} (10%)"),
                discount_amount: "2.50".into(),
            }),
            net: "23.97".into(),
            vat: vec![
                InvoiceVat { rate: "7.00".into(), net: "8.56".into(), vat: "0.60".into() },
                InvoiceVat { rate: "19.00".into(), net: "15.41".into(), vat: "2.93".into() },
            ],
            total: "27.50".into(),
            refunded: None,
        }
    }

    #[test]
    fn the_page_shows_every_line_and_total() {
        let html = to_html(&invoice("NEWS10")).unwrap();
        for shown in [
            "<title>Invoice TX-7F3K9Q2A</title>",
            "<p class=seller><strong>Seller NEWS10</strong><br>Hafenstraße 1<br>20457 Hamburg<br>VAT ID DE123456789</p>",
            "<p>Buyer: NEWS10@example.com<br>Date: 2026-10-01</p>",
            "<tr><td>Standing NEWS10</td><td class=n>2</td><td class=n>9.17 EUR</td><td class=n>19.00%</td><td class=n>18.34 EUR</td></tr>\n",
            "<tr class=promo><td colspan=5>Promo code NEWS10 (10%): the prices above include a discount of 2.50 EUR (30.00 EUR before it).</td></tr>\n",
            "<tr><td colspan=4>VAT 7.00% on 8.56 EUR</td><td class=n>0.60 EUR</td></tr>\n",
            "<tr class=total><td colspan=4>Total</td><td class=n>27.50 EUR</td></tr>\n",
        ] {
            assert!(html.contains(shown), "{shown} in {html}");
        }
    }

    #[test]
    fn script_in_a_code_description_or_email_is_escaped() {
        let html = to_html(&invoice("<script>alert('x')</script>")).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("Standing &#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;</td>"), "{html}");
        assert!(html.contains("Promo code &#60;script&#62;"), "{html}");
        assert!(html.contains("Buyer: &#60;script&#62;"), "{html}");
        assert!(!html.contains("Subtotal"), "no second discount-looking row: {html}");
        assert!(html.contains("<strong>Seller &#60;script&#62;"), "{html}");
    }
}
