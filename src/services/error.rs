//! The service layer's error: the caller's fault (typed, with a field and a code) or ours.

use sea_orm::DbErr;

/// Machine-readable reason for a refused input; the API shows it as `userErrors.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserErrorCode {
    /// A value failed validation; the message says which rule.
    Invalid,
    /// The referenced object does not exist in the caller's account.
    NotFound,
    /// A value that must be unique is taken.
    Taken,
    /// A promo code's charset or length.
    InvalidCode,
    /// Another live code of the account has this string (case-insensitively).
    DuplicateCode,
    /// percentOff outside 1–100 or with more than two decimals.
    InvalidPercentOff,
    /// amountOff not above 0 or with more decimals than the currency has.
    InvalidAmountOff,
    /// percentOff/amountOff missing, or given for the other discount type.
    DiscountTypeMismatch,
    /// The event is not one of the account's.
    EventNotFound,
    /// expiresAt is not in the future.
    ExpiresAtInPast,
    /// usageLimit below 1.
    InvalidUsageLimit,
    /// maxPerCustomer below 1.
    InvalidMaxPerCustomer,
    /// No such promo code in this shop (or it was deleted).
    Unknown,
    /// The code was deactivated.
    Inactive,
    /// The code has expired.
    Expired,
    /// The code's total usage limit is reached.
    UsageLimitReached,
    /// The code's start is still ahead.
    NotStarted,
    /// The code is bound to another buyer's email.
    CustomerMismatch,
    /// The eligible subtotal is below the code's minimum (a notice, not a refusal).
    MinimumNotReached,
    /// startsAt is not before expiresAt.
    StartsAfterExpiry,
    /// minimumSubtotal not above 0 or with more decimals than the currency has.
    InvalidMinimumSubtotal,
    /// A generatePromoCodes prefix that is not 1–16 letters and digits.
    InvalidPrefix,
    /// A generatePromoCodes count outside 1–10,000.
    InvalidCount,
    /// The code's scope event has no tickets in the cart (a notice, not a refusal).
    NotApplicable,
    /// This buyer has used the code as often as allowed.
    CustomerLimitReached,
    /// Too many failed code attempts; try again in a minute.
    RateLimited,
    /// Not an email address.
    InvalidEmail,
    /// A quantity outside 1–50 (0 removes a line where allowed).
    InvalidQuantity,
    /// No cart with this id.
    CartNotFound,
    /// The cart was checked out.
    CartClosed,
    /// The ticket type is not sold by this shop, or not in the cart.
    TicketTypeNotFound,
    /// No shop with this slug.
    ShopNotFound,
    /// Checkout of a cart without tickets.
    EmptyCart,
    /// Not an absolute http(s) URL.
    InvalidUrl,
    /// The total is above 0 but below the provider's minimum charge.
    AmountBelowMinimum,
    /// The payment provider is not configured or failed; nothing was charged.
    PaymentUnavailable,
    /// No order with this id in the account.
    OrderNotFound,
    /// A refund amount that is not above 0 or exceeds what is left to refund.
    InvalidRefundAmount,
    /// The order is not in a state that allows this (e.g. refunding an unpaid order).
    InvalidOrderState,
    /// The captured amount or currency differs from the order's.
    AmountMismatch,
    /// No tickets of this type are left.
    SoldOut,
    /// Fewer tickets of this type are left than asked for.
    NotEnoughTickets,
    /// A payment of this cart is being started or completed right now.
    PaymentInProgress,
    /// The event is not on sale (a draft, cancelled, its sales ended, or deleted).
    NotOnSale,
    /// The ticket type's sales window has not opened yet.
    SalesNotStarted,
    /// The ticket type's sales window has closed.
    SalesEnded,
    /// A capacity below the tickets already sold and held.
    CapacityBelowSold,
    /// The shop's currency cannot change any more (it has orders).
    CurrencyLocked,
}

/// One refused input, shown to the caller as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    /// Path to the offending field as the domain names it, e.g. `["successUrl"]`; each edge
    /// maps it to its own (GraphQL adds `input.` for fields of an input object).
    pub field: Vec<String>,
    /// Machine-readable reason.
    pub code: UserErrorCode,
    /// A sentence a person (or an assistant) can act on.
    pub message: String,
}

impl UserError {
    /// A user error on `field` (a dotted path such as `lines.0.quantity`).
    pub fn new(field: &str, code: UserErrorCode, message: impl Into<String>) -> Self {
        UserError {
            field: field.split('.').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            code,
            message: message.into(),
        }
    }
}

/// What a service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input was refused; nothing was written.
    #[error("invalid input: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    User(Vec<UserError>),
    /// The database failed; logged, shown as "internal error".
    #[error("database error")]
    Db(#[from] DbErr),
    /// Our fault other than the database (a stored value that does not read back, an
    /// invariant broken); logged with its cause chain, shown as "internal error".
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl From<UserError> for ServiceError {
    fn from(e: UserError) -> Self {
        ServiceError::User(vec![e])
    }
}

/// Result of a service call.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl UserErrorCode {
    /// The code as the APIs spell it (SCREAMING_SNAKE_CASE), e.g. `INVALID_PERCENT_OFF`.
    /// Written out, not derived from the variant's name: clients branch on these, so
    /// renaming a variant must not change what they see.
    pub fn as_str(&self) -> &'static str {
        match self {
            UserErrorCode::Invalid => "INVALID",
            UserErrorCode::NotFound => "NOT_FOUND",
            UserErrorCode::Taken => "TAKEN",
            UserErrorCode::InvalidCode => "INVALID_CODE",
            UserErrorCode::DuplicateCode => "DUPLICATE_CODE",
            UserErrorCode::InvalidPercentOff => "INVALID_PERCENT_OFF",
            UserErrorCode::InvalidAmountOff => "INVALID_AMOUNT_OFF",
            UserErrorCode::DiscountTypeMismatch => "DISCOUNT_TYPE_MISMATCH",
            UserErrorCode::EventNotFound => "EVENT_NOT_FOUND",
            UserErrorCode::ExpiresAtInPast => "EXPIRES_AT_IN_PAST",
            UserErrorCode::InvalidUsageLimit => "INVALID_USAGE_LIMIT",
            UserErrorCode::InvalidMaxPerCustomer => "INVALID_MAX_PER_CUSTOMER",
            UserErrorCode::Unknown => "UNKNOWN",
            UserErrorCode::Inactive => "INACTIVE",
            UserErrorCode::Expired => "EXPIRED",
            UserErrorCode::UsageLimitReached => "USAGE_LIMIT_REACHED",
            UserErrorCode::NotStarted => "NOT_STARTED",
            UserErrorCode::CustomerMismatch => "CUSTOMER_MISMATCH",
            UserErrorCode::MinimumNotReached => "MINIMUM_NOT_REACHED",
            UserErrorCode::StartsAfterExpiry => "STARTS_AFTER_EXPIRY",
            UserErrorCode::InvalidMinimumSubtotal => "INVALID_MINIMUM_SUBTOTAL",
            UserErrorCode::InvalidPrefix => "INVALID_PREFIX",
            UserErrorCode::InvalidCount => "INVALID_COUNT",
            UserErrorCode::NotApplicable => "NOT_APPLICABLE",
            UserErrorCode::CustomerLimitReached => "CUSTOMER_LIMIT_REACHED",
            UserErrorCode::RateLimited => "RATE_LIMITED",
            UserErrorCode::InvalidEmail => "INVALID_EMAIL",
            UserErrorCode::InvalidQuantity => "INVALID_QUANTITY",
            UserErrorCode::CartNotFound => "CART_NOT_FOUND",
            UserErrorCode::CartClosed => "CART_CLOSED",
            UserErrorCode::TicketTypeNotFound => "TICKET_TYPE_NOT_FOUND",
            UserErrorCode::ShopNotFound => "SHOP_NOT_FOUND",
            UserErrorCode::EmptyCart => "EMPTY_CART",
            UserErrorCode::InvalidUrl => "INVALID_URL",
            UserErrorCode::AmountBelowMinimum => "AMOUNT_BELOW_MINIMUM",
            UserErrorCode::PaymentUnavailable => "PAYMENT_UNAVAILABLE",
            UserErrorCode::OrderNotFound => "ORDER_NOT_FOUND",
            UserErrorCode::InvalidRefundAmount => "INVALID_REFUND_AMOUNT",
            UserErrorCode::InvalidOrderState => "INVALID_ORDER_STATE",
            UserErrorCode::AmountMismatch => "AMOUNT_MISMATCH",
            UserErrorCode::SoldOut => "SOLD_OUT",
            UserErrorCode::NotEnoughTickets => "NOT_ENOUGH_TICKETS",
            UserErrorCode::PaymentInProgress => "PAYMENT_IN_PROGRESS",
            UserErrorCode::NotOnSale => "NOT_ON_SALE",
            UserErrorCode::SalesNotStarted => "SALES_NOT_STARTED",
            UserErrorCode::SalesEnded => "SALES_ENDED",
            UserErrorCode::CapacityBelowSold => "CAPACITY_BELOW_SOLD",
            UserErrorCode::CurrencyLocked => "CURRENCY_LOCKED",
        }
    }
}
