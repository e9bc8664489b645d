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

/// Converts a list of service user errors.
pub fn user_errors(errors: Vec<services::UserError>) -> Vec<UserError> {
    errors.into_iter().map(UserError::from).collect()
}
