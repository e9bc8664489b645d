//! An order's invoice, from its snapshot only.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use crate::services::invoices;

/// One line of an invoice, at its discounted price.
#[derive(SimpleObject)]
pub struct InvoiceLine {
    /// What was bought.
    pub description: String,
    /// How many.
    pub quantity: i32,
    /// Discounted unit price, decimal string.
    pub unit_price: String,
    /// unitPrice × quantity, decimal string.
    pub line_total: String,
    /// VAT rate in percent.
    pub vat_rate: String,
}

/// The invoice's promo code line.
#[derive(SimpleObject)]
pub struct InvoicePromo {
    /// The code as redeemed.
    pub code: String,
    /// E.g. "Promo code NEWS10 (10%)".
    pub label: String,
    /// The discount given, decimal string; already included in the line prices.
    pub discount_amount: String,
}

/// Who sells, as printed on the invoice.
#[derive(SimpleObject)]
pub struct InvoiceSeller {
    /// Legal name.
    pub name: String,
    /// Postal address lines.
    pub address: Vec<String>,
    /// VAT identification number.
    pub vat_id: Option<String>,
}

/// VAT of one rate on an invoice.
#[derive(SimpleObject)]
pub struct InvoiceVat {
    /// Rate in percent.
    pub rate: String,
    /// Net amount at this rate.
    pub net: String,
    /// VAT at this rate.
    pub vat: String,
}

/// An invoice of a paid order: lines at the prices paid, the promo line stating the
/// discount they include, then Net / VAT per rate / Total.
/// Amounts are decimal strings in `currency`.
#[derive(SimpleObject)]
pub struct Invoice {
    /// The order number.
    pub number: String,
    /// When the order was paid.
    pub issued_at: DateTime<Utc>,
    /// The organizer, from the shop's settings.
    pub seller: InvoiceSeller,
    /// The buyer's email.
    pub buyer: String,
    /// ISO 4217.
    pub currency: String,
    /// The lines.
    pub lines: Vec<InvoiceLine>,
    /// Σ original prices before the discount.
    pub subtotal: String,
    /// The promo code line, when a code was redeemed.
    pub promo: Option<InvoicePromo>,
    /// Net total.
    pub net: String,
    /// VAT per rate.
    pub vat: Vec<InvoiceVat>,
    /// Total paid (= net + Σ VAT).
    pub total: String,
    /// Refunded since, when anything was.
    pub refunded: Option<String>,
}

impl From<invoices::Invoice> for Invoice {
    fn from(i: invoices::Invoice) -> Self {
        Invoice {
            number: i.number,
            issued_at: i.issued_at,
            seller: InvoiceSeller { name: i.seller.name, address: i.seller.address, vat_id: i.seller.vat_id },
            buyer: i.buyer,
            currency: i.currency,
            lines: i
                .lines
                .into_iter()
                .map(|l| InvoiceLine {
                    description: l.description,
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                    line_total: l.line_total,
                    vat_rate: l.vat_rate,
                })
                .collect(),
            subtotal: i.subtotal,
            promo: i.promo.map(|p| InvoicePromo { code: p.code, label: p.label, discount_amount: p.discount_amount }),
            net: i.net,
            vat: i.vat.into_iter().map(|v| InvoiceVat { rate: v.rate, net: v.net, vat: v.vat }).collect(),
            total: i.total,
            refunded: i.refunded,
        }
    }
}
