//! Exact money: integer minor units per ISO 4217 currency, `Decimal` at the edges.
//!
//! Floats never appear. A [`Money`] is an amount of minor units (cents, yen, fils) of
//! one [`Currency`]; parsing a decimal string refuses more fraction digits than the
//! currency has, so `"12.345"` EUR cannot exist.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// Why an amount, currency or rate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an ISO 4217 code this system knows.
    #[error("unknown currency `{0}` (expected an ISO 4217 code such as EUR)")]
    UnknownCurrency(String),
    /// Not a decimal number.
    #[error("`{0}` is not a decimal amount")]
    NotADecimal(String),
    /// More fraction digits than the currency has.
    #[error("{currency} amounts have at most {digits} decimal places")]
    TooManyDecimals {
        /// The currency's code.
        currency: &'static str,
        /// Its number of minor digits.
        digits: u32,
    },
    /// Beyond what the system stores.
    #[error("amount out of range")]
    OutOfRange,
    /// A VAT rate outside 0–100 % or with more than two decimals.
    #[error("a VAT rate is a percentage from 0 to 100 with at most two decimals")]
    InvalidVatRate,
}

/// ISO 4217 codes and their minor digits. Codes not listed are refused rather than
/// guessed at, because a wrong exponent silently multiplies prices by 100.
const CURRENCIES: &[(&str, u32)] = &[
    // Zero minor digits.
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    // Three minor digits.
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
    // Two minor digits.
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("ZAR", 2),
];

/// An ISO 4217 currency with its number of minor digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

impl Currency {
    /// Parses an ISO 4217 code, case-insensitively.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or(MoneyError::UnknownCurrency(code.to_owned()))
    }

    /// The three-letter code, upper-case.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Minor digits: 2 for EUR, 0 for JPY, 3 for BHD.
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// Converts minor units to a decimal with exactly the currency's scale.
    pub fn to_decimal(&self, minor: i64) -> Decimal {
        Decimal::new(minor, self.exponent)
    }

    /// Converts a decimal to minor units, refusing excess fraction digits.
    pub fn to_minor(&self, value: Decimal) -> Result<i64, MoneyError> {
        let normalized = value.normalize();
        if normalized.scale() > self.exponent {
            return Err(MoneyError::TooManyDecimals { currency: self.code, digits: self.exponent });
        }
        let scaled = normalized.checked_mul(Decimal::from(10_i64.pow(self.exponent))).ok_or(MoneyError::OutOfRange)?;
        i64::try_from(scaled).map_err(|_| MoneyError::OutOfRange)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// An exact amount of one currency, held as minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// An amount of minor units.
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// Parses a decimal string such as `"12.50"` in `currency`.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let trimmed = amount.trim();
        if !is_plain_decimal(trimmed) {
            return Err(MoneyError::NotADecimal(amount.to_owned()));
        }
        let value = Decimal::from_str(trimmed).map_err(|_| MoneyError::NotADecimal(amount.to_owned()))?;
        Ok(Money { minor: currency.to_minor(value)?, currency })
    }

    /// Minor units (cents for EUR).
    pub fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The decimal value, with exactly the currency's minor digits (`35.00`, `500`, `1.250`).
    pub fn to_decimal(&self) -> Decimal {
        self.currency.to_decimal(self.minor)
    }
}

impl fmt::Display for Money {
    /// `"19.99"`: the amount only; the currency is a separate field on the API.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

/// `-?digits(.digits)?`: no exponent, sign, spaces or separators, so every client
/// writes amounts one way.
fn is_plain_decimal(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A VAT rate in basis points of a percent: 1900 is 19 %, 770 is 7.7 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VatRate(u32);

impl VatRate {
    /// From basis points, 0–10 000.
    pub fn from_basis_points(bp: i64) -> Result<Self, MoneyError> {
        u32::try_from(bp).ok().filter(|bp| *bp <= 10_000).map(VatRate).ok_or(MoneyError::InvalidVatRate)
    }

    /// Parses a percentage such as `"19"` or `"7.7"`.
    pub fn parse_percent(percent: &str) -> Result<Self, MoneyError> {
        let value = Decimal::from_str(percent.trim()).map_err(|_| MoneyError::InvalidVatRate)?.normalize();
        if value.scale() > 2 || value.is_sign_negative() {
            return Err(MoneyError::InvalidVatRate);
        }
        // Checked: a 29-digit "rate" overflows the multiplication instead of being a rate.
        let hundredfold = value.checked_mul(Decimal::ONE_HUNDRED).ok_or(MoneyError::InvalidVatRate)?;
        let bp = i64::try_from(hundredfold).map_err(|_| MoneyError::InvalidVatRate)?;
        Self::from_basis_points(bp)
    }

    /// Basis points.
    pub fn basis_points(&self) -> u32 {
        self.0
    }

    /// The percentage as a decimal with two places (`19.00`).
    pub fn percent(&self) -> Decimal {
        Decimal::new(i64::from(self.0), 2)
    }
}

impl fmt::Display for VatRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.percent())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn a_huge_vat_rate_is_refused_not_a_panic() {
        assert_eq!(VatRate::parse_percent("79228162514264337593543950335"), Err(MoneyError::InvalidVatRate));
        assert_eq!(VatRate::parse_percent("100.01"), Err(MoneyError::InvalidVatRate));
        assert_eq!(VatRate::parse_percent("7.7").map(|r| r.basis_points()), Ok(770));
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(Money::from_minor(1999, cur("EUR")).to_string(), "19.99");
        assert_eq!(Money::from_minor(3500, cur("eur")).to_string(), "35.00");
        assert_eq!(Money::from_minor(500, cur("JPY")).to_string(), "500");
        assert_eq!(Money::from_minor(1250, cur("BHD")).to_string(), "1.250");
        assert_eq!(Money::from_minor(-5, cur("EUR")).to_string(), "-0.05");
    }

    #[test]
    fn parses_exact_amounts_only() {
        assert_eq!(Money::parse("12.5", cur("EUR")).unwrap().minor(), 1250);
        assert_eq!(Money::parse("12.500", cur("EUR")).unwrap().minor(), 1250);
        assert_eq!(Money::parse("1.234", cur("BHD")).unwrap().minor(), 1234);
        assert_eq!(Money::parse("700", cur("JPY")).unwrap().minor(), 700);
        assert!(matches!(Money::parse("12.345", cur("EUR")), Err(MoneyError::TooManyDecimals { digits: 2, .. })));
        assert!(matches!(Money::parse("7.5", cur("JPY")), Err(MoneyError::TooManyDecimals { digits: 0, .. })));
        for bad in ["1e3", "+1", "1.", ".5", "1,50", "", "12 EUR"] {
            assert!(matches!(Money::parse(bad, cur("EUR")), Err(MoneyError::NotADecimal(_))), "{bad}");
        }
        assert!(matches!(Money::parse("99999999999999999999", cur("EUR")), Err(MoneyError::OutOfRange)));
    }

    #[test]
    fn refuses_unknown_currencies() {
        assert_eq!(Currency::parse("XXX"), Err(MoneyError::UnknownCurrency("XXX".into())));
    }

    #[test]
    fn vat_rates() {
        assert_eq!(VatRate::parse_percent("19").unwrap().basis_points(), 1900);
        assert_eq!(VatRate::parse_percent("7.7").unwrap().basis_points(), 770);
        assert_eq!(VatRate::parse_percent("19").unwrap().to_string(), "19.00");
        assert!(VatRate::parse_percent("100.01").is_err());
        assert!(VatRate::parse_percent("-1").is_err());
        assert!(VatRate::parse_percent("5.555").is_err());
    }
}
