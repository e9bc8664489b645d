//! Promo codes: the values an organizer sets, and the rules applied to them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// A code string: trimmed, upper-case, 3–32 of `A-Z 0-9 - _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromoCodeString(String);

/// Why a code string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a code is 3–32 characters: letters, digits, '-' and '_'")]
pub struct InvalidCode;

impl PromoCodeString {
    /// Parses a code, case-insensitively (`news10` → `NEWS10`).
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        let code = s.trim().to_ascii_uppercase();
        let ok = (3..=32).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok { Ok(PromoCodeString(code)) } else { Err(InvalidCode) }
    }

    /// The code, upper-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromoCodeString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A percentage discount, 1–100 with at most two decimals, held in hundredths
/// (1550 = 15.50 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PercentOff(u32);

/// Why a percentage was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("percentOff is a number from 1 to 100 with at most two decimals")]
pub struct InvalidPercent;

impl PercentOff {
    /// From hundredths of a percent, 100–10 000.
    pub fn from_hundredths(h: u32) -> Result<Self, InvalidPercent> {
        if (100..=10_000).contains(&h) { Ok(PercentOff(h)) } else { Err(InvalidPercent) }
    }

    /// Parses `"15"`, `"15.5"` or `"15.50"`.
    pub fn parse(s: &str) -> Result<Self, InvalidPercent> {
        Self::from_decimal(Decimal::from_str(s.trim()).map_err(|_| InvalidPercent)?)
    }

    /// From a decimal value.
    pub fn from_decimal(value: Decimal) -> Result<Self, InvalidPercent> {
        let value = value.normalize();
        if value.scale() > 2 {
            return Err(InvalidPercent);
        }
        let h = u32::try_from(value * Decimal::ONE_HUNDRED).map_err(|_| InvalidPercent)?;
        Self::from_hundredths(h)
    }

    /// Hundredths of a percent.
    pub fn hundredths(&self) -> u32 {
        self.0
    }

    /// The percentage as a decimal, normalized (`15`, `12.5`).
    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(i64::from(self.0), 2).normalize()
    }
}

/// Percentage or fixed amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscountType {
    /// `percentOff` % of the eligible subtotal.
    Percentage,
    /// `amountOff` in the account currency, capped at the eligible subtotal.
    FixedAmount,
}

impl DiscountType {
    /// Stored form.
    pub fn as_str(&self) -> &'static str {
        match self {
            DiscountType::Percentage => "PERCENTAGE",
            DiscountType::FixedAmount => "FIXED_AMOUNT",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PERCENTAGE" => Some(DiscountType::Percentage),
            "FIXED_AMOUNT" => Some(DiscountType::FixedAmount),
            _ => None,
        }
    }
}

/// The discount a code gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Discount {
    /// A percentage of the eligible subtotal.
    Percentage(PercentOff),
    /// A fixed amount in minor units (> 0).
    FixedAmount(i64),
}

impl Discount {
    /// Its type.
    pub fn discount_type(&self) -> DiscountType {
        match self {
            Discount::Percentage(_) => DiscountType::Percentage,
            Discount::FixedAmount(_) => DiscountType::FixedAmount,
        }
    }
}

/// What the pricing engine needs of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromoDiscount {
    /// The discount.
    pub discount: Discount,
    /// The one event it applies to; `None` = every event.
    pub event_id: Option<i64>,
}

/// A code's state as an organizer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromoStatus {
    /// Applies to carts.
    Active,
    /// Its `expiresAt` has passed.
    Expired,
    /// `redemptionsCount` has reached `usageLimit`.
    Exhausted,
    /// Deactivated by the organizer.
    Inactive,
    /// Soft-deleted: kept for order history, hidden from the default list.
    Deleted,
}

impl PromoStatus {
    /// Stored/API form.
    pub fn as_str(&self) -> &'static str {
        match self {
            PromoStatus::Active => "ACTIVE",
            PromoStatus::Expired => "EXPIRED",
            PromoStatus::Exhausted => "EXHAUSTED",
            PromoStatus::Inactive => "INACTIVE",
            PromoStatus::Deleted => "DELETED",
        }
    }
}

/// The lifecycle facts of a code that decide its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromoLifecycle {
    /// Not deactivated.
    pub active: bool,
    /// Soft-deleted.
    pub deleted: bool,
    /// After this instant the code stops applying.
    pub expires_at: Option<DateTime<Utc>>,
    /// Total redemptions allowed.
    pub usage_limit: Option<i64>,
    /// Paid redemptions so far.
    pub redemptions_count: i64,
}

impl PromoLifecycle {
    /// The status at `now`, in the precedence of the apply-time checks:
    /// deleted, inactive, expired, exhausted.
    pub fn status(&self, now: DateTime<Utc>) -> PromoStatus {
        if self.deleted {
            PromoStatus::Deleted
        } else if !self.active {
            PromoStatus::Inactive
        } else if self.expires_at.is_some_and(|at| at <= now) {
            PromoStatus::Expired
        } else if self.usage_limit.is_some_and(|limit| self.redemptions_count >= limit) {
            PromoStatus::Exhausted
        } else {
            PromoStatus::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn codes_are_normalized_and_checked() {
        assert_eq!(PromoCodeString::parse("  news10 ").unwrap().as_str(), "NEWS10");
        assert_eq!(PromoCodeString::parse("fall_26-x").unwrap().as_str(), "FALL_26-X");
        for bad in ["ab", "", "has space", "ÄPFEL", "x!y", &"A".repeat(33)] {
            assert_eq!(PromoCodeString::parse(bad), Err(InvalidCode), "{bad}");
        }
        assert!(PromoCodeString::parse(&"A".repeat(32)).is_ok());
    }

    #[test]
    fn percentages() {
        assert_eq!(PercentOff::parse("15").unwrap().hundredths(), 1500);
        assert_eq!(PercentOff::parse("12.5").unwrap().hundredths(), 1250);
        assert_eq!(PercentOff::parse("100").unwrap().hundredths(), 10_000);
        assert_eq!(PercentOff::parse("12.50").unwrap().to_decimal().to_string(), "12.5");
        for bad in ["0", "0.99", "100.01", "12.345", "-5", "x"] {
            assert_eq!(PercentOff::parse(bad), Err(InvalidPercent), "{bad}");
        }
    }

    #[test]
    fn status_precedence() {
        let now = Utc::now();
        let base = PromoLifecycle {
            active: true,
            deleted: false,
            expires_at: None,
            usage_limit: Some(2),
            redemptions_count: 0,
        };
        assert_eq!(base.status(now), PromoStatus::Active);
        assert_eq!(PromoLifecycle { redemptions_count: 2, ..base }.status(now), PromoStatus::Exhausted);
        let past = Some(now - Duration::seconds(1));
        assert_eq!(PromoLifecycle { redemptions_count: 2, expires_at: past, ..base }.status(now), PromoStatus::Expired);
        assert_eq!(PromoLifecycle { active: false, expires_at: past, ..base }.status(now), PromoStatus::Inactive);
        assert_eq!(PromoLifecycle { deleted: true, active: false, ..base }.status(now), PromoStatus::Deleted);
        assert_eq!(PromoLifecycle { expires_at: Some(now), ..base }.status(now), PromoStatus::Expired);
    }
}
