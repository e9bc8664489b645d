//! Payment providers behind one trait, held as `Arc<dyn PaymentProvider>` in app state.
//!
//! Stripe is spoken to through async-stripe, PayPal over reqwest, each at a configurable
//! base URL, so tests point them at fakes on loopback. The free path (total 0) has no
//! provider at all. Verified webhook events reach the services as [`PaymentEvent`]s,
//! the same shape whichever provider sent them.

pub mod paypal;
pub mod stripe;
pub mod test_mode;

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// The configured providers.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    /// Stripe, when a secret key is configured.
    pub stripe: Option<Arc<dyn PaymentProvider>>,
    /// PayPal, when client credentials are configured.
    pub paypal: Option<Arc<dyn PaymentProvider>>,
    /// Stripe is the server's own test mode (demo mode): no real money moves.
    pub test_mode: bool,
}

impl Providers {
    /// The provider for `kind`, if configured (never for FREE).
    pub fn get(&self, kind: Provider) -> Option<Arc<dyn PaymentProvider>> {
        match kind {
            Provider::Stripe => self.stripe.clone(),
            Provider::Paypal => self.paypal.clone(),
            Provider::Free => None,
        }
    }
}

pub use crate::entities::enums::Provider;

/// One line item as the provider shows it: a name, a unit amount, a quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderLine {
    /// What the buyer reads, e.g. "Standing (NEWS10 applied)".
    pub name: String,
    /// Minor units.
    pub unit_amount: i64,
    /// Units.
    pub quantity: u32,
}

/// What a provider needs to start a payment.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    /// Our order id (metadata, idempotency).
    pub order_id: i64,
    /// Our order number.
    pub order_number: String,
    /// ISO 4217, upper-case.
    pub currency: String,
    /// Buyer email.
    pub email: String,
    /// Items whose Σ unit_amount × quantity is exactly `total`.
    pub lines: Vec<ProviderLine>,
    /// Minor units.
    pub total: i64,
    /// Where the provider sends the buyer after paying.
    pub success_url: String,
    /// Where it sends them when they give up.
    pub cancel_url: String,
    /// When the payment session must end (aligned with the order's expiry).
    pub expires_at: DateTime<Utc>,
}

/// A started payment: where to send the buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRedirect {
    /// The provider's checkout object id (Stripe `cs_…`, PayPal order id).
    pub provider_ref: String,
    /// The page the buyer pays on.
    pub redirect_url: String,
}

/// A payment a provider captured, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capture {
    /// The capture id (what refunds take).
    pub capture_id: String,
    /// Where the capture stands.
    pub status: CaptureStatus,
    /// Captured amount, minor units (None when unreadable).
    pub amount: Option<i64>,
    /// Captured currency.
    pub currency: String,
}

/// Where a capture stands, as the provider says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaptureStatus {
    /// The money was taken.
    Completed,
    /// Held for review; completes (or not) later.
    Pending,
    /// Declined, failed, or anything else: no money taken.
    #[serde(other)]
    NotCaptured,
}

/// A refund a provider reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportedRefund {
    /// The provider's refund id (`re_…`).
    pub id: String,
    /// Minor units.
    pub amount: i64,
}

/// What a verified provider event says, in tixshop's terms. Serializable: an event that
/// names a payment no order carries yet is stored and applied later.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PaymentEvent {
    /// A checkout session was completed: paid, or awaiting an asynchronous payment.
    SessionCompleted {
        /// The checkout session (`cs_…`).
        session: String,
        /// Our order id from the session's metadata.
        order_id: Option<i64>,
        /// Whether the money is there.
        paid: bool,
        /// The payment (`pi_…`), what refunds refer to.
        payment: Option<String>,
    },
    /// The session's asynchronous payment failed.
    PaymentFailed {
        /// The checkout session.
        session: String,
        /// Our order id from the metadata.
        order_id: Option<i64>,
    },
    /// The session expired unpaid.
    SessionExpired {
        /// The checkout session.
        session: String,
        /// Our order id from the metadata.
        order_id: Option<i64>,
    },
    /// Refunds of a payment (made through tixshop or in the provider's dashboard).
    Refunded {
        /// The payment refunded.
        payment: String,
        /// The refunds.
        refunds: Vec<ReportedRefund>,
    },
    /// PayPal captured an order's payment.
    CaptureCompleted {
        /// The PayPal order (our `provider_ref`).
        provider_order: String,
        /// What was captured.
        capture: Capture,
    },
    /// Nothing tixshop acts on (acknowledged).
    Other,
}

/// A verified event with its provider's id and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// The provider's event id (deduplication).
    pub id: String,
    /// The provider's event type, e.g. `checkout.session.completed`.
    pub kind: String,
    /// What it says.
    pub event: PaymentEvent,
}

/// A provider call that failed; logged, shown to buyers only as "payment unavailable".
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Network, timeout or transport.
    #[error("request to {provider} failed: {message}")]
    Transport {
        /// Which provider.
        provider: &'static str,
        /// What happened.
        message: String,
    },
    /// The provider answered with an error status.
    #[error("{provider} answered {status}: {body}")]
    Status {
        /// Which provider.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// The body (providers do not echo secrets).
        body: String,
    },
    /// The answer did not have the expected shape.
    #[error("unexpected answer from {provider}: {message}")]
    Unexpected {
        /// Which provider.
        provider: &'static str,
        /// What was missing.
        message: String,
    },
}

/// A payment provider.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// The smallest total it accepts in `currency`, minor units.
    fn minimum_charge(&self, currency: &str) -> i64;

    /// Starts a payment for an order.
    async fn start(&self, request: &CheckoutRequest) -> Result<CheckoutRedirect, ProviderError>;

    /// Captures a payment the buyer approved (providers where the shop captures, such as
    /// PayPal); the others never get here.
    async fn capture(&self, provider_ref: &str, idempotency_key: &str) -> Result<Capture, ProviderError> {
        let _ = (provider_ref, idempotency_key);
        Err(ProviderError::Unexpected { provider: "provider", message: "payments are not captured by the shop".into() })
    }

    /// Whether a webhook delivery (its headers and raw body) is genuine, for providers
    /// that verify by asking them (PayPal); signature-verified ones never get here.
    async fn verify_webhook(&self, headers: &[(&str, &str)], raw: &str) -> Result<bool, ProviderError> {
        let _ = (headers, raw);
        Ok(false)
    }

    /// Ends a checkout session that was not paid, so it can no longer be (a cart has one
    /// payable session at a time). An error means it may be being paid right now.
    async fn expire(&self, provider_ref: &str) -> Result<(), ProviderError>;

    /// Refunds `amount` of a payment; returns the provider's refund id.
    async fn refund(
        &self,
        payment_ref: &str,
        amount: i64,
        currency: &str,
        idempotency_key: &str,
    ) -> Result<String, ProviderError>;
}
