//! `userErrors`: the typed, expected failures of a mutation.

use async_graphql::{Enum, SimpleObject};

use crate::services;

/// Why an input was refused. Stable: clients and assistants may branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::services::UserErrorCode")]
pub enum UserErrorCode {
    /// A value failed validation; the message names the rule.
    Invalid,
    /// The referenced object does not exist in your account.
    NotFound,
    /// A value that must be unique is already taken.
    Taken,
    /// A promo code is 3–32 characters: letters, digits, '-' and '_'.
    InvalidCode,
    /// Another code of your account (not deleted) has this string; codes are case-insensitive.
    DuplicateCode,
    /// percentOff must be a decimal string from "1" to "100" with at most two decimals.
    InvalidPercentOff,
    /// amountOff must be a decimal string above 0 with at most the currency's minor digits.
    InvalidAmountOff,
    /// PERCENTAGE takes percentOff only, FIXED_AMOUNT takes amountOff only.
    DiscountTypeMismatch,
    /// The eventId is not an event of your account.
    EventNotFound,
    /// expiresAt must be in the future.
    ExpiresAtInPast,
    /// usageLimit must be at least 1, or null for no limit.
    InvalidUsageLimit,
    /// maxPerCustomer must be at least 1, or null for no limit.
    InvalidMaxPerCustomer,
    /// No such promo code in this shop (or it was deleted).
    Unknown,
    /// The promo code was deactivated by the organizer.
    Inactive,
    /// The promo code has expired.
    Expired,
    /// The promo code's total usage limit is reached.
    UsageLimitReached,
    /// The promo code is limited to an event the cart has no tickets for; it stays
    /// attached and discounts once such tickets are added.
    NotApplicable,
    /// The code's `startsAt` is still ahead. `applyPromo` attaches it all the same: the
    /// cart shows this notice and gets the discount, pushed, the moment it starts.
    NotStarted,
    /// The code was made for another buyer (bound to their email) and works only in a cart
    /// or checkout with that email (aliases such as `name+tag@` count as the same buyer).
    CustomerMismatch,
    /// A notice: the cart's eligible subtotal is below the code's `minimumSubtotal`; it
    /// stays attached and discounts once the cart reaches it (`promoNotice.missing` says
    /// how much more).
    MinimumNotReached,
    /// `startsAt` must come before `expiresAt`.
    StartsAfterExpiry,
    /// `minimumSubtotal` is a decimal string above 0 in the shop currency.
    InvalidMinimumSubtotal,
    /// A `generatePromoCodes` prefix is 1–16 letters and digits.
    InvalidPrefix,
    /// A `generatePromoCodes` count is 1–10,000 (or the list of emails is empty or
    /// longer than that).
    InvalidCount,
    /// This buyer (by email, aliases included) has used the code as often as allowed.
    CustomerLimitReached,
    /// Too many failed promo code attempts from this session or address; wait a minute.
    RateLimited,
    /// Not a valid email address.
    InvalidEmail,
    /// Quantity outside 1–50 (updateCartLine also takes 0 to remove the line).
    InvalidQuantity,
    /// No cart with this id.
    CartNotFound,
    /// The cart was already checked out; start a new one.
    CartClosed,
    /// The ticket type is not sold by this shop (or, for updates, not in the cart).
    TicketTypeNotFound,
    /// No shop with this slug.
    ShopNotFound,
    /// Checkout of a cart without tickets.
    EmptyCart,
    /// successUrl / cancelUrl must be absolute http(s) URLs.
    InvalidUrl,
    /// The total is above 0 but below the payment provider's minimum charge.
    AmountBelowMinimum,
    /// The payment provider is not configured or did not answer; nothing was charged.
    PaymentUnavailable,
    /// No order with this id in your account.
    OrderNotFound,
    /// The refund amount must be above 0 and at most what is left to refund.
    InvalidRefundAmount,
    /// The order's status does not allow this (e.g. refunding an unpaid order).
    InvalidOrderState,
    /// The captured amount or currency differs from the order's; the order stays unpaid.
    AmountMismatch,
    /// No tickets of this type are left.
    SoldOut,
    /// Fewer tickets of this type are left than asked for; the message says how many.
    NotEnoughTickets,
    /// A payment of this cart is being started or completed right now; try again shortly.
    PaymentInProgress,
    /// The event is not on sale (a draft, cancelled, its sales ended, or deleted).
    NotOnSale,
    /// The ticket type's sales window has not opened yet.
    SalesNotStarted,
    /// The ticket type's sales window has closed.
    SalesEnded,
    /// A capacity below the tickets already sold and held.
    CapacityBelowSold,
    /// The shop's currency cannot change any more: it has orders.
    CurrencyLocked,
}

/// A refused input of a mutation. Nothing was written when a payload has any.
#[derive(Debug, Clone, SimpleObject)]
pub struct UserError {
    /// Path to the input field at fault, e.g. `["input", "name"]`; empty when the error
    /// concerns the whole operation.
    pub field: Vec<String>,
    /// Machine-readable reason.
    pub code: UserErrorCode,
    /// Explanation to show a person or act on.
    pub message: String,
}

impl From<services::UserError> for UserError {
    fn from(e: services::UserError) -> Self {
        UserError { field: e.field, code: e.code.into(), message: e.message }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::resolver_utils::EnumType;

    use super::*;

    #[test]
    fn every_code_is_spelled_as_in_the_schema() {
        for item in UserErrorCode::items() {
            assert_eq!(services::UserErrorCode::from(item.value).as_str(), item.name);
        }
    }
}
