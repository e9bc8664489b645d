//! Money on the API: a decimal string and a currency code, never a float.

use async_graphql::SimpleObject;

use crate::domain;

/// An exact amount of money.
#[derive(Debug, Clone, SimpleObject)]
pub struct Money {
    /// Decimal string with exactly the currency's minor digits: "12.50" EUR, "500" JPY,
    /// "1.250" BHD. Never a float; parse it with a decimal type.
    pub amount: String,
    /// ISO 4217 currency code, e.g. "EUR".
    pub currency: String,
}

impl Money {
    /// `minor` units of `currency`.
    pub fn of(minor: i64, currency: domain::Currency) -> Self {
        domain::Money::from_minor(minor, currency).into()
    }
}

impl From<domain::Money> for Money {
    fn from(m: domain::Money) -> Self {
        Money { amount: m.to_string(), currency: m.currency().code().to_owned() }
    }
}
