//! Mapping errors to GraphQL once, at the edge.
//!
//! Client errors carry `extensions.code`; internal errors are logged with their cause
//! chain and shown only as "internal error".

use async_graphql::ErrorExtensions;

use crate::services::{ServiceError, UserError};

/// `extensions.code` of top-level GraphQL errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No API key, or one that is unknown or revoked.
    Unauthenticated,
    /// The key's scope does not allow this.
    Forbidden,
    /// The input could not be used at all.
    BadUserInput,
    /// Our fault; details are in the server log.
    Internal,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// A client-facing error with a code.
pub fn client_error(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// Logs `err` with its causes and returns an opaque "internal error".
pub fn internal(err: &(dyn std::error::Error + 'static)) -> async_graphql::Error {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain, "internal error in a GraphQL resolver");
    client_error(ErrorCode::Internal, "internal error")
}

/// Splits a service result: user errors go into a payload, everything else is an
/// internal error.
pub fn split<T>(result: Result<T, ServiceError>) -> async_graphql::Result<Result<T, Vec<UserError>>> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(ServiceError::User(errors)) => Ok(Err(errors)),
        Err(e) => Err(internal(&e)),
    }
}

/// For queries: any service error is internal (queries have no user errors), except
/// user errors, which become `BAD_USER_INPUT`.
pub fn query<T>(result: Result<T, ServiceError>) -> async_graphql::Result<T> {
    match result {
        Ok(v) => Ok(v),
        Err(ServiceError::User(errors)) => Err(client_error(
            ErrorCode::BadUserInput,
            errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "),
        )),
        Err(e) => Err(internal(&e)),
    }
}
