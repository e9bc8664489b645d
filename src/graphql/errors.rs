//! Mapping errors to GraphQL once, at the edge.
//!
//! Client errors carry `extensions.code`; internal errors are logged with their cause
//! chain and shown only as "internal error".

use async_graphql::ErrorExtensions;

use super::types::UserError as GqlUserError;
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

/// The service's user errors as `userErrors`, fields as the service named them (for
/// mutations whose arguments are all scalars: `cartId`, `code`, `email`, …).
pub fn user_errors(errors: Vec<UserError>) -> Vec<GqlUserError> {
    errors.into_iter().map(GqlUserError::from).collect()
}

/// The argument input objects are passed as.
const INPUT_ARGUMENT: &str = "input";

/// An input object argument. Services name fields in the domain (`successUrl`); on
/// the API a field of the input object is `["input", "successUrl"]`.
pub trait InputFields {
    /// The input object's fields, as the schema names them.
    const FIELDS: &'static [&'static str];
}

/// The user errors of a mutation taking an `I` as `input`: errors on one of its fields
/// (or inside one, such as an item of a list) are reported under `input`; others (`id`, `cartId`, the cart's `code`) as they are.
pub fn input_errors<I: InputFields>(errors: Vec<UserError>) -> Vec<GqlUserError> {
    errors
        .into_iter()
        .map(|mut e| {
            // `recipients.3` is a field of the input too.
            if let Some(field) = e.field.first()
                && I::FIELDS.contains(&field.as_str())
            {
                e.field.insert(0, INPUT_ARGUMENT.to_owned());
            }
            GqlUserError::from(e)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use async_graphql::InputType;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

    use super::*;
    use crate::graphql::types::api_key::CreateApiKeyInput;
    use crate::graphql::types::checkout::CheckoutInput;
    use crate::graphql::types::promo_code::{CreatePromoCodeInput, UpdatePromoCodeInput};
    use crate::graphql::types::webhook::{CreateWebhookEndpointInput, UpdateWebhookEndpointInput};
    use crate::services::UserErrorCode;

    /// The fields of input object `I` in the schema.
    fn schema_fields<I: InputType>(sdl: &str) -> Vec<String> {
        let document = async_graphql::parser::parse_schema(sdl).expect("the SDL parses");
        let name = I::type_name();
        document
            .definitions
            .into_iter()
            .find_map(|definition| match definition {
                TypeSystemDefinition::Type(ty) if ty.node.name.node.as_str() == name => match ty.node.kind {
                    TypeKind::InputObject(input) => {
                        Some(input.fields.into_iter().map(|f| f.node.name.node.to_string()).collect())
                    }
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or_else(|| panic!("no input object {name} in the schema"))
    }

    fn assert_lists_schema<I: InputType + InputFields>(sdl: &str) {
        assert_eq!(schema_fields::<I>(sdl), I::FIELDS, "InputFields of {}", I::type_name());
    }

    #[test]
    fn input_field_lists_match_the_schema() {
        let sdl = crate::graphql::sdl();
        assert_lists_schema::<CheckoutInput>(&sdl);
        assert_lists_schema::<CreatePromoCodeInput>(&sdl);
        assert_lists_schema::<UpdatePromoCodeInput>(&sdl);
        assert_lists_schema::<CreateWebhookEndpointInput>(&sdl);
        assert_lists_schema::<UpdateWebhookEndpointInput>(&sdl);
        assert_lists_schema::<CreateApiKeyInput>(&sdl);
    }

    #[test]
    fn fields_of_the_input_object_are_reported_under_input() {
        let errors = input_errors::<CheckoutInput>(vec![
            UserError::new("successUrl", UserErrorCode::InvalidUrl, "m"),
            UserError::new("cartId", UserErrorCode::CartNotFound, "m"),
            UserError::new("code", UserErrorCode::Expired, "m"),
            UserError::new("input.email", UserErrorCode::InvalidEmail, "m"),
        ]);
        let fields: Vec<Vec<String>> = errors.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, [vec!["input", "successUrl"], vec!["cartId"], vec!["code"], vec!["input", "email"]]);
    }
}
