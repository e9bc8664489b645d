//! What `checkout`, `capturePaypalOrder` and `refundOrder` take and return.

use async_graphql::{InputObject, SimpleObject};

use super::UserError;
use super::order::{Order, PaymentProviderKind};
use crate::graphql::errors::InputFields;
use crate::payments::Provider;

/// What `checkout` takes.
#[derive(Debug, InputObject)]
pub struct CheckoutInput {
    /// The buyer's email address (receipts; per-customer caps count by it).
    pub email: String,
    /// STRIPE or PAYPAL; ignored when the total is 0 (the free path).
    pub provider: PaymentProviderKind,
    /// Absolute URL the provider returns the buyer to after paying.
    pub success_url: String,
    /// Absolute URL the provider returns the buyer to when they cancel.
    pub cancel_url: String,
}

/// Result of `checkout`.
#[derive(SimpleObject)]
pub struct CheckoutPayload {
    /// The order: PAID at once for a zero total, else PENDING until the provider confirms.
    pub order: Option<Order>,
    /// Where to send the buyer to pay; null for a zero total.
    pub redirect_url: Option<String>,
    /// The buyer's private token for this order: `capturePaypalOrder` needs it, and it
    /// opens the invoice at `/orders/{id}/invoice.html?token=…`. Keep it with the buyer.
    pub access_token: Option<String>,
    /// Why checkout was refused; nothing was charged. A code that stopped being valid
    /// is taken off the cart (which is pushed repriced) and reported here.
    pub user_errors: Vec<UserError>,
}

/// Result of `refundOrder`.
#[derive(SimpleObject)]
pub struct RefundOrderPayload {
    /// The order after the refund.
    pub order: Option<Order>,
    /// Why the refund was refused; nothing was refunded.
    pub user_errors: Vec<UserError>,
}

impl InputFields for CheckoutInput {
    const FIELDS: &'static [&'static str] = &["email", "provider", "successUrl", "cancelUrl"];
}

impl CheckoutPayload {
    /// Refused: nothing was charged.
    pub fn refused(user_errors: Vec<UserError>) -> Self {
        CheckoutPayload { order: None, redirect_url: None, access_token: None, user_errors }
    }
}

impl From<PaymentProviderKind> for Provider {
    fn from(kind: PaymentProviderKind) -> Self {
        match kind {
            PaymentProviderKind::Stripe => Provider::Stripe,
            PaymentProviderKind::Paypal => Provider::Paypal,
            PaymentProviderKind::Free => Provider::Free,
        }
    }
}
