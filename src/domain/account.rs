//! The organizer's account settings as parsed values.

use super::money::{Currency, MoneyError, VatRate};

/// Why account settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The slug is not 2–64 lower-case letters, digits or `-`.
    #[error("a shop slug is 2–64 characters: lower-case letters, digits and '-'")]
    InvalidSlug,
    /// The name is empty or too long.
    #[error("a shop name is 1–200 characters")]
    InvalidName,
    /// Currency or VAT rate refused.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// A shop's URL-safe identifier, e.g. `demo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    /// Parses a slug: 2–64 of `a-z`, `0-9`, `-`, not starting or ending with `-`.
    pub fn parse(s: &str) -> Result<Self, AccountError> {
        let ok = (2..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok { Ok(Slug(s.to_owned())) } else { Err(AccountError::InvalidSlug) }
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything needed to open a new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// URL identifier.
    pub slug: Slug,
    /// Display name.
    pub name: String,
    /// The one currency of all its prices.
    pub currency: Currency,
    /// Default VAT rate of its ticket types.
    pub vat_rate: VatRate,
    /// Whether its prices are gross (VAT included) or net.
    pub prices_include_vat: bool,
}

impl NewAccount {
    /// Parses raw settings.
    pub fn parse(
        slug: &str,
        name: &str,
        currency: &str,
        vat_percent: &str,
        prices_include_vat: bool,
    ) -> Result<Self, AccountError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AccountError::InvalidName);
        }
        Ok(NewAccount {
            slug: Slug::parse(slug)?,
            name: name.to_owned(),
            currency: Currency::parse(currency)?,
            vat_rate: VatRate::parse_percent(vat_percent)?,
            prices_include_vat,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("demo").is_ok());
        assert!(Slug::parse("my-shop-2").is_ok());
        assert_eq!(Slug::parse("Demo"), Err(AccountError::InvalidSlug));
        assert_eq!(Slug::parse("-x"), Err(AccountError::InvalidSlug));
        assert_eq!(Slug::parse("a"), Err(AccountError::InvalidSlug));
    }
}
