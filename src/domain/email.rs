//! Buyer email addresses and the identity that per-customer caps count by.

use std::fmt;

/// A syntactically valid address, trimmed; kept as typed otherwise (orders show it so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("please enter a valid email address, like name@example.com")]
pub struct InvalidEmail;

impl Email {
    /// Parses an address: one `@`, a non-empty local part without spaces, a domain with
    /// a dot and only letters, digits, `-` and `.`; at most 254 characters.
    pub fn parse(s: &str) -> Result<Self, InvalidEmail> {
        let trimmed = s.trim();
        let (local, domain) = trimmed.rsplit_once('@').ok_or(InvalidEmail)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != ',');
        let domain_ok = domain.len() >= 3
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if trimmed.len() <= 254 && local_ok && domain_ok { Ok(Email(trimmed.to_owned())) } else { Err(InvalidEmail) }
    }

    /// The address as typed (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Trimmed and lower-cased: how a cart stores it.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }

    /// The buyer identity for per-customer caps: lower-cased, a `+tag` removed, and for
    /// gmail.com / googlemail.com the dots of the local part removed, so aliases of one
    /// mailbox count as one buyer.
    pub fn customer_key(&self) -> String {
        let lower = self.0.to_lowercase();
        let (local, domain) = lower.rsplit_once('@').expect("parsed addresses have an @");
        let local = local.split('+').next().unwrap_or(local);
        let (local, domain) = match domain {
            "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
            _ => (local.to_owned(), domain),
        };
        format!("{local}@{domain}")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        Email::parse(s).unwrap().customer_key()
    }

    #[test]
    fn aliases_of_one_mailbox_are_one_buyer() {
        assert_eq!(key(" Ann@Example.com "), "ann@example.com");
        assert_eq!(key("ann+promo@example.com"), "ann@example.com");
        assert_eq!(key("a.n.n+x@gmail.com"), "ann@gmail.com");
        assert_eq!(key("A.N.N@googlemail.com"), "ann@gmail.com");
        assert_eq!(key("a.n.n@example.com"), "a.n.n@example.com", "dots matter elsewhere");
        assert_eq!(Email::parse(" Ann@Example.com ").unwrap().as_str(), "Ann@Example.com", "kept as typed");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann @example.com",
            "ann@exa mple.com",
            "a@b@c.com",
            "ann@.com",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidEmail), "{bad}");
        }
    }
}
