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
        // Checked: a huge value must be refused, not overflow.
        let hundredths = value.checked_mul(Decimal::ONE_HUNDRED).ok_or(InvalidPercent)?;
        let h = u32::try_from(hundredths).map_err(|_| InvalidPercent)?;
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
    /// The eligible subtotal (minor units) a cart must reach before it discounts.
    pub minimum_subtotal: Option<i64>,
}

/// A code's state as an organizer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromoStatus {
    /// Applies to carts.
    Active,
    /// Its `startsAt` is still ahead.
    Scheduled,
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
            PromoStatus::Scheduled => "SCHEDULED",
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
    /// Before this instant the code does not apply yet.
    pub starts_at: Option<DateTime<Utc>>,
    /// After this instant the code stops applying.
    pub expires_at: Option<DateTime<Utc>>,
    /// Total redemptions allowed.
    pub usage_limit: Option<i64>,
    /// Paid redemptions so far.
    pub redemptions_count: i64,
}

impl PromoLifecycle {
    /// The status at `now`, in the precedence of the apply-time checks:
    /// deleted, inactive, expired, scheduled, exhausted.
    pub fn status(&self, now: DateTime<Utc>) -> PromoStatus {
        if self.deleted {
            PromoStatus::Deleted
        } else if !self.active {
            PromoStatus::Inactive
        } else if self.expires_at.is_some_and(|at| at <= now) {
            PromoStatus::Expired
        } else if self.starts_at.is_some_and(|at| at > now) {
            PromoStatus::Scheduled
        } else if self.usage_limit.is_some_and(|limit| self.redemptions_count >= limit) {
            PromoStatus::Exhausted
        } else {
            PromoStatus::Active
        }
    }
}

/// Why a code does not apply to a cart, in the order the checks run (first wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyRefusal {
    /// No such code in this shop, or it was deleted.
    Unknown,
    /// Deactivated by the organizer.
    Inactive,
    /// Past its expiry.
    Expired,
    /// Its start is still ahead.
    NotStarted,
    /// Its total usage limit is reached.
    UsageLimitReached,
    /// It was made for another buyer (a code bound to a recipient's email).
    CustomerMismatch,
    /// This buyer has used it as often as allowed.
    CustomerLimitReached,
}

impl ApplyRefusal {
    /// A sentence a buyer understands.
    pub fn message(&self, code: &str) -> String {
        match self {
            ApplyRefusal::Unknown => format!("Sorry, {code} is not a valid code for this shop."),
            ApplyRefusal::Inactive => format!("Sorry, the code {code} is no longer active."),
            ApplyRefusal::Expired => format!("Sorry, the code {code} has expired."),
            ApplyRefusal::NotStarted => format!("The code {code} is not valid yet."),
            ApplyRefusal::UsageLimitReached => format!("Sorry, the code {code} has been fully redeemed."),
            ApplyRefusal::CustomerMismatch => {
                format!("Sorry, the code {code} was sent to someone else and works only with their email address.")
            }
            ApplyRefusal::CustomerLimitReached => {
                format!("You have already used the code {code} as many times as it allows.")
            }
        }
    }
}

/// A code's rules about who uses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuyerRules<'a> {
    /// Redemptions per buyer.
    pub max_per_customer: Option<i64>,
    /// The customer key of the one buyer the code is for.
    pub recipient_key: Option<&'a str>,
}

/// What is known of the buyer when a code is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buyer<'a> {
    /// Their customer key, once the email is known.
    pub customer_key: Option<&'a str>,
    /// Their paid and pending uses of the code, when counted (codes with a cap).
    pub uses: Option<i64>,
}

/// The apply-time checks, in order, first failure wins: UNKNOWN (deleted), INACTIVE,
/// EXPIRED, NOT_STARTED, USAGE_LIMIT_REACHED, then the buyer's: CUSTOMER_MISMATCH (a
/// code bound to another buyer) and CUSTOMER_LIMIT_REACHED, both only once the email is
/// known.
pub fn check_apply(
    lifecycle: &PromoLifecycle,
    rules: &BuyerRules<'_>,
    buyer: &Buyer<'_>,
    now: DateTime<Utc>,
) -> Result<(), ApplyRefusal> {
    match lifecycle.status(now) {
        PromoStatus::Deleted => Err(ApplyRefusal::Unknown),
        PromoStatus::Inactive => Err(ApplyRefusal::Inactive),
        PromoStatus::Expired => Err(ApplyRefusal::Expired),
        PromoStatus::Scheduled => Err(ApplyRefusal::NotStarted),
        PromoStatus::Exhausted => Err(ApplyRefusal::UsageLimitReached),
        PromoStatus::Active => {
            if let (Some(recipient), Some(key)) = (rules.recipient_key, buyer.customer_key)
                && recipient != key
            {
                return Err(ApplyRefusal::CustomerMismatch);
            }
            match (rules.max_per_customer, buyer.uses) {
                (Some(max), Some(used)) if used >= max => Err(ApplyRefusal::CustomerLimitReached),
                _ => Ok(()),
            }
        }
    }
}

/// Characters of generated codes: digits and capitals without the look-alikes 0/O,
/// 1/I/L (31 characters, so a 10-character suffix holds 49 bits).
pub const GENERATED_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Characters after the prefix of a generated code.
pub const GENERATED_SUFFIX_LEN: usize = 10;

/// Longest prefix of generated codes (prefix + `-` + suffix stays within 32).
pub const MAX_PREFIX_LEN: usize = 16;

/// A generated code: `PREFIX-` and [`GENERATED_SUFFIX_LEN`] characters drawn uniformly
/// from [`GENERATED_ALPHABET`] (rejection sampling, no modulo bias).
pub fn generated_code(prefix: &PromoCodeString, rng: &mut impl rand::RngCore) -> PromoCodeString {
    let n = GENERATED_ALPHABET.len() as u8;
    let limit = u8::MAX - u8::MAX % n;
    let mut code = String::with_capacity(prefix.as_str().len() + 1 + GENERATED_SUFFIX_LEN);
    code.push_str(prefix.as_str());
    code.push('-');
    let mut bytes = [0_u8; 32];
    while code.len() < prefix.as_str().len() + 1 + GENERATED_SUFFIX_LEN {
        rng.fill_bytes(&mut bytes);
        for b in bytes {
            if b < limit && code.len() < prefix.as_str().len() + 1 + GENERATED_SUFFIX_LEN {
                code.push(GENERATED_ALPHABET[usize::from(b % n)] as char);
            }
        }
    }
    PromoCodeString(code)
}

/// A prefix of generated codes: a valid code start of 1–16 letters and digits.
pub fn parse_prefix(s: &str) -> Result<PromoCodeString, InvalidCode> {
    let prefix = s.trim().to_ascii_uppercase();
    let ok = (1..=MAX_PREFIX_LEN).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok { Ok(PromoCodeString(prefix)) } else { Err(InvalidCode) }
}

/// A validation rule of a promo code's settings; each has its own API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromoRule {
    /// Code charset or length.
    InvalidCode,
    /// percentOff outside 1–100 or with more than two decimals.
    InvalidPercentOff,
    /// amountOff ≤ 0, not a decimal, or with more decimals than the currency has.
    InvalidAmountOff,
    /// percentOff/amountOff missing or present against discountType.
    DiscountTypeMismatch,
    /// expiresAt is not in the future.
    ExpiresAtInPast,
    /// usageLimit < 1.
    InvalidUsageLimit,
    /// maxPerCustomer < 1.
    InvalidMaxPerCustomer,
    /// description longer than 500 characters.
    InvalidDescription,
    /// startsAt is not before expiresAt.
    StartsAfterExpiry,
    /// minimumSubtotal ≤ 0 or not an amount of the currency.
    InvalidMinimumSubtotal,
}

/// One broken rule, on one field (camelCase input name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleViolation {
    /// The input field, e.g. `percentOff`.
    pub field: &'static str,
    /// The rule.
    pub rule: PromoRule,
    /// What to do about it.
    pub message: String,
}

/// A code's settings as submitted (for an update: the stored ones with the changes
/// applied), not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoFields {
    /// The code string as typed.
    pub code: String,
    /// Percentage or fixed amount.
    pub discount_type: DiscountType,
    /// Decimal string, for PERCENTAGE.
    pub percent_off: Option<String>,
    /// Decimal string in the account currency, for FIXED_AMOUNT.
    pub amount_off: Option<String>,
    /// Expiry instant.
    pub expires_at: Option<DateTime<Utc>>,
    /// Start instant.
    pub starts_at: Option<DateTime<Utc>>,
    /// Decimal string in the account currency: the eligible subtotal needed.
    pub minimum_subtotal: Option<String>,
    /// Total redemptions allowed.
    pub usage_limit: Option<i64>,
    /// Redemptions allowed per buyer email.
    pub max_per_customer: Option<i64>,
    /// Free text for the organizer (and the buyer's "applied" line).
    pub description: Option<String>,
}

/// Settings that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPromo {
    /// Normalized code.
    pub code: PromoCodeString,
    /// The discount.
    pub discount: Discount,
    /// Expiry instant.
    pub expires_at: Option<DateTime<Utc>>,
    /// Start instant.
    pub starts_at: Option<DateTime<Utc>>,
    /// Minimum eligible subtotal, minor units.
    pub minimum_subtotal: Option<i64>,
    /// Total cap.
    pub usage_limit: Option<i64>,
    /// Per-buyer cap.
    pub max_per_customer: Option<i64>,
    /// Trimmed, `None` when blank.
    pub description: Option<String>,
}

/// Checks every rule and reports all broken ones at once. `expiry_changed` is false on
/// an update that leaves `expiresAt` alone, so an expired code can still be edited.
pub fn validate(
    fields: &PromoFields,
    currency: super::Currency,
    now: DateTime<Utc>,
    expiry_changed: bool,
) -> Result<ValidPromo, Vec<RuleViolation>> {
    let mut errors = vec![];
    let mut fail = |field: &'static str, rule: PromoRule, message: String| {
        errors.push(RuleViolation { field, rule, message });
    };

    let code =
        PromoCodeString::parse(&fields.code).map_err(|e| fail("code", PromoRule::InvalidCode, e.to_string())).ok();

    let discount = match fields.discount_type {
        DiscountType::Percentage => {
            if fields.amount_off.is_some() {
                fail(
                    "amountOff",
                    PromoRule::DiscountTypeMismatch,
                    "a PERCENTAGE code takes percentOff, not amountOff".into(),
                );
            }
            match &fields.percent_off {
                None => {
                    fail("percentOff", PromoRule::DiscountTypeMismatch, "a PERCENTAGE code needs percentOff".into());
                    None
                }
                Some(p) => PercentOff::parse(p)
                    .map(Discount::Percentage)
                    .map_err(|e| fail("percentOff", PromoRule::InvalidPercentOff, e.to_string()))
                    .ok(),
            }
        }
        DiscountType::FixedAmount => {
            if fields.percent_off.is_some() {
                fail(
                    "percentOff",
                    PromoRule::DiscountTypeMismatch,
                    "a FIXED_AMOUNT code takes amountOff, not percentOff".into(),
                );
            }
            match &fields.amount_off {
                None => {
                    fail("amountOff", PromoRule::DiscountTypeMismatch, "a FIXED_AMOUNT code needs amountOff".into());
                    None
                }
                Some(a) => match super::Money::parse(a, currency) {
                    Ok(m) if m.minor() > 0 => Some(Discount::FixedAmount(m.minor())),
                    Ok(_) => {
                        fail(
                            "amountOff",
                            PromoRule::InvalidAmountOff,
                            format!("amountOff must be more than 0 {currency}"),
                        );
                        None
                    }
                    Err(e) => {
                        fail("amountOff", PromoRule::InvalidAmountOff, format!("amountOff: {e}"));
                        None
                    }
                },
            }
        }
    };

    if expiry_changed && fields.expires_at.is_some_and(|at| at <= now) {
        fail("expiresAt", PromoRule::ExpiresAtInPast, "expiresAt must be in the future (RFC 3339 with offset)".into());
    }
    if let (Some(start), Some(end)) = (fields.starts_at, fields.expires_at)
        && start >= end
    {
        fail("startsAt", PromoRule::StartsAfterExpiry, "startsAt must come before expiresAt".into());
    }
    let minimum_subtotal = match &fields.minimum_subtotal {
        None => None,
        Some(m) => match super::Money::parse(m, currency) {
            Ok(m) if m.minor() > 0 => Some(m.minor()),
            _ => {
                fail(
                    "minimumSubtotal",
                    PromoRule::InvalidMinimumSubtotal,
                    format!("minimumSubtotal is an amount above 0 in {currency} (omit it for no minimum)"),
                );
                None
            }
        },
    };
    if fields.usage_limit.is_some_and(|l| l < 1) {
        fail("usageLimit", PromoRule::InvalidUsageLimit, "usageLimit is at least 1 (omit it for no limit)".into());
    }
    if fields.max_per_customer.is_some_and(|l| l < 1) {
        fail(
            "maxPerCustomer",
            PromoRule::InvalidMaxPerCustomer,
            "maxPerCustomer is at least 1 (omit it for no limit)".into(),
        );
    }
    let description = fields.description.as_deref().map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned);
    if description.as_ref().is_some_and(|d| d.chars().count() > 500) {
        fail("description", PromoRule::InvalidDescription, "description is at most 500 characters".into());
    }

    match (code, discount) {
        (Some(code), Some(discount)) if errors.is_empty() => Ok(ValidPromo {
            code,
            discount,
            expires_at: fields.expires_at,
            starts_at: fields.starts_at,
            minimum_subtotal,
            usage_limit: fields.usage_limit,
            max_per_customer: fields.max_per_customer,
            description,
        }),
        _ => Err(errors),
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

    fn fields() -> PromoFields {
        PromoFields {
            code: "fall26".into(),
            discount_type: DiscountType::Percentage,
            percent_off: Some("15".into()),
            amount_off: None,
            expires_at: None,
            starts_at: None,
            minimum_subtotal: None,
            usage_limit: None,
            max_per_customer: Some(1),
            description: None,
        }
    }

    fn eur() -> crate::domain::Currency {
        crate::domain::Currency::parse("EUR").unwrap()
    }

    fn rules(result: Result<ValidPromo, Vec<RuleViolation>>) -> Vec<(&'static str, PromoRule)> {
        result.unwrap_err().into_iter().map(|v| (v.field, v.rule)).collect()
    }

    #[test]
    fn validation_reports_every_broken_rule() {
        let now = Utc::now();
        let ok = validate(&fields(), eur(), now, true).unwrap();
        assert_eq!(ok.code.as_str(), "FALL26");
        assert_eq!(ok.discount, Discount::Percentage(PercentOff(1500)));

        let bad = PromoFields {
            code: "x".into(),
            percent_off: Some("150".into()),
            amount_off: Some("5".into()),
            expires_at: Some(now - Duration::minutes(1)),
            usage_limit: Some(0),
            max_per_customer: Some(0),
            ..fields()
        };
        assert_eq!(
            rules(validate(&bad, eur(), now, true)),
            vec![
                ("code", PromoRule::InvalidCode),
                ("amountOff", PromoRule::DiscountTypeMismatch),
                ("percentOff", PromoRule::InvalidPercentOff),
                ("expiresAt", PromoRule::ExpiresAtInPast),
                ("usageLimit", PromoRule::InvalidUsageLimit),
                ("maxPerCustomer", PromoRule::InvalidMaxPerCustomer),
            ]
        );
        // An unchanged past expiry is fine on update.
        let expired = PromoFields { expires_at: Some(now - Duration::minutes(1)), ..fields() };
        assert!(validate(&expired, eur(), now, false).is_ok());
    }

    #[test]
    fn fixed_amounts_respect_the_currency() {
        let now = Utc::now();
        let fixed = |amount: &str| PromoFields {
            discount_type: DiscountType::FixedAmount,
            percent_off: None,
            amount_off: Some(amount.into()),
            ..fields()
        };
        assert_eq!(validate(&fixed("5.00"), eur(), now, true).unwrap().discount, Discount::FixedAmount(500));
        assert_eq!(
            rules(validate(&fixed("5.001"), eur(), now, true)),
            vec![("amountOff", PromoRule::InvalidAmountOff)]
        );
        assert_eq!(rules(validate(&fixed("0"), eur(), now, true)), vec![("amountOff", PromoRule::InvalidAmountOff)]);
        let jpy = crate::domain::Currency::parse("JPY").unwrap();
        assert_eq!(validate(&fixed("500"), jpy, now, true).unwrap().discount, Discount::FixedAmount(500));
        assert_eq!(rules(validate(&fixed("5.5"), jpy, now, true)), vec![("amountOff", PromoRule::InvalidAmountOff)]);
        let missing = PromoFields { amount_off: None, ..fixed("1") };
        assert_eq!(rules(validate(&missing, eur(), now, true)), vec![("amountOff", PromoRule::DiscountTypeMismatch)]);
    }

    #[test]
    fn apply_checks_run_in_order() {
        let now = Utc::now();
        let ok = PromoLifecycle {
            active: true,
            deleted: false,
            starts_at: None,
            expires_at: None,
            usage_limit: Some(5),
            redemptions_count: 0,
        };
        let capped = BuyerRules { max_per_customer: Some(1), recipient_key: None };
        let none = Buyer::default();
        let used = |n| Buyer { customer_key: Some("ann@example.com"), uses: Some(n) };
        assert_eq!(check_apply(&ok, &capped, &none, now), Ok(()), "no email yet: not checked");
        assert_eq!(check_apply(&ok, &capped, &used(0), now), Ok(()));
        assert_eq!(check_apply(&ok, &capped, &used(1), now), Err(ApplyRefusal::CustomerLimitReached));
        let bound = BuyerRules { recipient_key: Some("bob@example.com"), ..capped };
        assert_eq!(check_apply(&ok, &bound, &none, now), Ok(()), "no email yet: not checked");
        assert_eq!(check_apply(&ok, &bound, &used(1), now), Err(ApplyRefusal::CustomerMismatch));
        let bob = Buyer { customer_key: Some("bob@example.com"), uses: Some(0) };
        assert_eq!(check_apply(&ok, &bound, &bob, now), Ok(()));
        let exhausted = PromoLifecycle { redemptions_count: 5, ..ok };
        assert_eq!(check_apply(&exhausted, &bound, &used(1), now), Err(ApplyRefusal::UsageLimitReached));
        let scheduled = PromoLifecycle { starts_at: Some(now + Duration::hours(1)), ..exhausted };
        assert_eq!(check_apply(&scheduled, &bound, &used(1), now), Err(ApplyRefusal::NotStarted));
        let expired = PromoLifecycle { expires_at: Some(now), ..scheduled };
        assert_eq!(check_apply(&expired, &BuyerRules::default(), &none, now), Err(ApplyRefusal::Expired));
        let inactive = PromoLifecycle { active: false, ..expired };
        assert_eq!(check_apply(&inactive, &BuyerRules::default(), &none, now), Err(ApplyRefusal::Inactive));
        let deleted = PromoLifecycle { deleted: true, ..inactive };
        assert_eq!(check_apply(&deleted, &BuyerRules::default(), &none, now), Err(ApplyRefusal::Unknown));
    }

    #[test]
    fn starts_and_minimums_are_validated() {
        let now = Utc::now();
        let later = now + Duration::days(2);
        let window = PromoFields { starts_at: Some(later), expires_at: Some(later), ..fields() };
        assert_eq!(rules(validate(&window, eur(), now, true)), vec![("startsAt", PromoRule::StartsAfterExpiry)]);
        let past_start = PromoFields { starts_at: Some(now - Duration::days(1)), ..fields() };
        assert!(validate(&past_start, eur(), now, true).is_ok(), "a start in the past means: already running");
        let minimum = PromoFields { minimum_subtotal: Some("50".into()), ..fields() };
        assert_eq!(validate(&minimum, eur(), now, true).unwrap().minimum_subtotal, Some(5000));
        for bad in ["0", "-1", "1.005", "x"] {
            let minimum = PromoFields { minimum_subtotal: Some(bad.into()), ..fields() };
            assert_eq!(
                rules(validate(&minimum, eur(), now, true)),
                vec![("minimumSubtotal", PromoRule::InvalidMinimumSubtotal)],
                "{bad}"
            );
        }
    }

    #[test]
    fn generated_codes_use_the_unambiguous_alphabet() {
        let prefix = parse_prefix("news").unwrap();
        let mut rng = rand::rng();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2_000 {
            let code = generated_code(&prefix, &mut rng);
            let suffix = code.as_str().strip_prefix("NEWS-").expect("the prefix and a dash");
            assert_eq!(suffix.len(), GENERATED_SUFFIX_LEN);
            assert!(suffix.bytes().all(|b| GENERATED_ALPHABET.contains(&b)), "{code}");
            assert!(!suffix.contains(['0', 'O', '1', 'I', 'L']), "{code}");
            assert!(PromoCodeString::parse(code.as_str()).is_ok(), "a valid code: {code}");
            assert!(seen.insert(code), "no repeats in 2,000 draws of 49 bits");
        }
        // 10 characters of 31: at least 40 bits.
        assert!((GENERATED_SUFFIX_LEN as f64) * (GENERATED_ALPHABET.len() as f64).log2() >= 40.0);
        let longest = parse_prefix(&"A".repeat(MAX_PREFIX_LEN)).unwrap();
        assert!(PromoCodeString::parse(generated_code(&longest, &mut rng).as_str()).is_ok());
        for bad in ["", "has-dash", "ÄB", &"A".repeat(MAX_PREFIX_LEN + 1)] {
            assert_eq!(parse_prefix(bad), Err(InvalidCode), "{bad}");
        }
    }

    #[test]
    fn status_precedence() {
        let now = Utc::now();
        let base = PromoLifecycle {
            active: true,
            deleted: false,
            starts_at: None,
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
        let ahead = Some(now + Duration::seconds(1));
        assert_eq!(
            PromoLifecycle { starts_at: ahead, redemptions_count: 2, ..base }.status(now),
            PromoStatus::Scheduled
        );
        assert_eq!(PromoLifecycle { starts_at: Some(now), ..base }.status(now), PromoStatus::Active, "starts at once");
        assert_eq!(PromoLifecycle { starts_at: ahead, expires_at: past, ..base }.status(now), PromoStatus::Expired);
    }
}
