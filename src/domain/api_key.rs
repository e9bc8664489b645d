//! API key scopes and names.

use std::fmt;

/// What a key may do within its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read and write.
    Admin,
    /// Read only.
    Read,
}

/// A scope string other than `admin` or `read`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}`: expected `admin` or `read`")]
pub struct UnknownScope(pub String);

impl Scope {
    /// Parses `admin` or `read` (any case).
    pub fn parse(s: &str) -> Result<Self, UnknownScope> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Scope::Admin),
            "read" => Ok(Scope::Read),
            _ => Err(UnknownScope(s.to_owned())),
        }
    }

    /// The stored form: `admin` or `read`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Read => "read",
        }
    }

    /// Whether this scope may change data.
    pub fn can_write(&self) -> bool {
        matches!(self, Scope::Admin)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key's label, 1–100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

/// A name that is empty or longer than 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key name is 1–100 characters")]
pub struct InvalidKeyName;

impl KeyName {
    /// Parses a label.
    pub fn parse(s: &str) -> Result<Self, InvalidKeyName> {
        let trimmed = s.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 100 {
            return Err(InvalidKeyName);
        }
        Ok(KeyName(trimmed.to_owned()))
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_names() {
        assert_eq!(Scope::parse("ADMIN"), Ok(Scope::Admin));
        assert_eq!(Scope::parse("read"), Ok(Scope::Read));
        assert!(Scope::parse("root").is_err());
        assert!(KeyName::parse("  ").is_err());
        assert_eq!(KeyName::parse(" dashboard ").unwrap().as_str(), "dashboard");
        assert!(KeyName::parse(&"x".repeat(101)).is_err());
    }
}
