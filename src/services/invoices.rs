//! Invoices, built only from an order's snapshot: editing or deleting the code later
//! changes nothing on them.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::domain::promo::PercentOff;
use crate::domain::{Money, VatRate};
use crate::entities::{account, order, order_item};

use super::{ServiceError, ServiceResult};

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
    /// Discount given (positive).
    pub discount_amount: String,
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
    /// When the order was paid (or created, if unpaid).
    pub issued_at: chrono::DateTime<chrono::Utc>,
    /// The organizer's name.
    pub seller: String,
    /// The buyer's email.
    pub buyer: String,
    /// ISO 4217.
    pub currency: String,
    /// Lines at discounted prices.
    pub lines: Vec<InvoiceLine>,
    /// Σ original prices.
    pub subtotal: String,
    /// The promo line, when a code was redeemed.
    pub promo: Option<InvoicePromo>,
    /// Net total.
    pub net: String,
    /// VAT per rate.
    pub vat: Vec<InvoiceVat>,
    /// What was paid.
    pub total: String,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Db(sea_orm::DbErr::Custom(e.to_string()))
}

/// Builds the invoice of an order from its snapshot.
async fn build(db: &impl ConnectionTrait, order: &order::Model) -> ServiceResult<Invoice> {
    let items = order_item::Entity::find()
        .filter(order_item::Column::OrderId.eq(order.id))
        .order_by_asc(order_item::Column::Id)
        .all(db)
        .await?;
    let seller = account::Entity::find_by_id(order.account_id).one(db).await?.map(|a| a.name).unwrap_or_default();
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

/// The invoice of order `order_id` when `access` may see it; `None` otherwise, the same
/// as for an order that does not exist.
pub async fn find_for(db: &impl ConnectionTrait, order_id: i64, access: &Access) -> ServiceResult<Option<Invoice>> {
    let query = order::Entity::find_by_id(order_id);
    let query = match access {
        Access::Account(account_id) => query.filter(order::Column::AccountId.eq(*account_id)),
        Access::Token(token) => query.filter(order::Column::AccessToken.eq(token.as_str())),
    };
    match query.one(db).await? {
        Some(order) => Ok(Some(build(db, &order).await?)),
        None => Ok(None),
    }
}

/// The invoice from an order row and its items (pure).
pub fn from_snapshot(order: &order::Model, items: &[order_item::Model], seller: &str) -> Result<Invoice, ServiceError> {
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
    Ok(Invoice {
        number: order.number.clone(),
        issued_at: order.paid_at.unwrap_or(order.created_at),
        seller: seller.to_owned(),
        buyer: order.email.clone(),
        currency: order.currency.code().to_owned(),
        lines,
        subtotal: money(order.subtotal),
        promo,
        net: money(order.net_amount),
        vat,
        total: money(order.total),
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The invoice as a printable HTML page (every value escaped).
pub fn to_html(invoice: &Invoice) -> String {
    let c = escape(&invoice.currency);
    let mut rows = String::new();
    for line in &invoice.lines {
        rows.push_str(&format!(
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{} {c}</td><td class=n>{}%</td><td class=n>{} {c}</td></tr>\n",
            escape(&line.description),
            line.quantity,
            escape(&line.unit_price),
            escape(&line.vat_rate),
            escape(&line.line_total)
        ));
    }
    let mut totals = format!(
        "<tr><td colspan=4>Subtotal (before discount)</td><td class=n>{} {c}</td></tr>\n",
        escape(&invoice.subtotal)
    );
    if let Some(promo) = &invoice.promo {
        totals.push_str(&format!(
            "<tr class=promo><td colspan=4>{}</td><td class=n>−{} {c}</td></tr>\n",
            escape(&promo.label),
            escape(&promo.discount_amount)
        ));
    }
    totals.push_str(&format!("<tr><td colspan=4>Net</td><td class=n>{} {c}</td></tr>\n", escape(&invoice.net)));
    for vat in &invoice.vat {
        totals.push_str(&format!(
            "<tr><td colspan=4>VAT {}% on {} {c}</td><td class=n>{} {c}</td></tr>\n",
            escape(&vat.rate),
            escape(&vat.net),
            escape(&vat.vat)
        ));
    }
    totals.push_str(&format!(
        "<tr class=total><td colspan=4>Total</td><td class=n>{} {c}</td></tr>\n",
        escape(&invoice.total)
    ));
    format!(
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>Invoice {number}</title>\n\
         <style>body{{font:15px system-ui,sans-serif;max-width:720px;margin:32px auto}}table{{width:100%;border-collapse:collapse}}\
         td,th{{padding:6px;border-bottom:1px solid #ddd;text-align:left}}.n{{text-align:right}}.total td{{font-weight:700}}\
         .promo td{{color:#1d7a3a}}</style></head><body>\n\
         <h1>Invoice {number}</h1>\n<p>Seller: {seller}<br>Buyer: {buyer}<br>Date: {date}</p>\n\
         <table><thead><tr><th>Item</th><th class=n>Qty</th><th class=n>Unit price</th><th class=n>VAT</th><th class=n>Amount</th></tr></thead>\n\
         <tbody>\n{rows}</tbody><tfoot>\n{totals}</tfoot></table></body></html>\n",
        number = escape(&invoice.number),
        seller = escape(&invoice.seller),
        buyer = escape(&invoice.buyer),
        date = invoice.issued_at.format("%Y-%m-%d"),
    )
}
