//! Promo code administration over GraphQL: thin resolvers over `services::promo_codes`.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use sea_orm::DatabaseConnection;

use super::context::ContextExt;
use super::errors::{self, ErrorCode, client_error, input_errors, user_errors};
use super::types::promo_code::{
    CreatePromoCodeInput, DeletePromoCodePayload, PromoCodeConnection, PromoCodeEdge, PromoCodeFilter,
    PromoCodePayload, UpdatePromoCodeInput, event_id, patch,
};
use super::types::{PageInfo, PromoCode, UserError, parse_id};
use crate::entities::enums::AuditVia;
use crate::entities::{account, promo_code};
use crate::services::audit::Actor;
use crate::services::promo_codes::{self as service, NewPromoCode, PromoCodePatch};
use crate::services::{self, UserErrorCode, accounts};

/// The caller's account row, shared by every code of a response.
pub(super) async fn account_of(ctx: &Context<'_>, account_id: i64) -> async_graphql::Result<Arc<account::Model>> {
    let db = ctx.db();
    errors::query(accounts::find(db, account_id).await)?
        .map(Arc::new)
        .ok_or_else(|| client_error(ErrorCode::Unauthenticated, "the API key's account no longer exists"))
}

fn refused(user_errors: Vec<UserError>, dry_run: bool) -> PromoCodePayload {
    PromoCodePayload { promo_code: None, dry_run, user_errors }
}

/// The payload of a write that went through (or would have, on a dry run).
async fn written(
    ctx: &Context<'_>,
    account_id: i64,
    row: promo_code::Model,
    dry_run: bool,
) -> async_graphql::Result<PromoCodePayload> {
    let promo_code = PromoCode::new(row, account_of(ctx, account_id).await?);
    Ok(PromoCodePayload { promo_code: Some(promo_code), dry_run, user_errors: vec![] })
}

/// Resolves "id or code" to an id of the caller's account.
async fn resolve(
    db: &DatabaseConnection,
    account_id: i64,
    id: Option<ID>,
    code: Option<String>,
) -> async_graphql::Result<Result<i64, Vec<services::UserError>>> {
    let one_of = || vec![services::UserError::new("", UserErrorCode::Invalid, "give exactly one of `id` or `code`")];
    match (id, code) {
        (Some(id), None) => Ok(parse_id(&id).ok_or_else(|| {
            vec![services::UserError::new(
                "id",
                UserErrorCode::NotFound,
                format!("no promo code with id {}", id.as_str()),
            )]
        })),
        (None, Some(code)) => match errors::split(service::find_by_code(db, account_id, &code).await)? {
            Ok(Some(row)) => Ok(Ok(row.id)),
            Ok(None) => Ok(Err(vec![services::UserError::new(
                "code",
                UserErrorCode::NotFound,
                format!("no promo code {} in this account", code.trim().to_uppercase()),
            )])),
            Err(e) => Ok(Err(e)),
        },
        _ => Ok(Err(one_of())),
    }
}

/// Promo code queries (read or admin key).
#[derive(Default)]
pub struct PromoQuery;

/// Promo code queries (read or admin key).
#[Object]
impl PromoQuery {
    /// Your shop's promo codes, newest first, with usage counters: a Relay connection.
    async fn promo_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Status, search text and event filters; every code not deleted when omitted.")] filter: Option<
            PromoCodeFilter,
        >,
        #[graphql(desc = "Page size, 1–200.", default = 50)] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<PromoCodeConnection> {
        let principal = ctx.caller().reader()?;
        if !(1..=service::MAX_PAGE as i32).contains(&first) {
            let message = format!("`first` must be between 1 and {}", service::MAX_PAGE);
            return Err(client_error(ErrorCode::BadUserInput, message));
        }
        let after = match after {
            None => None,
            Some(cursor) => Some(
                cursor
                    .parse::<i64>()
                    .map_err(|_| client_error(ErrorCode::BadUserInput, "`after` is not a cursor of this list"))?,
            ),
        };
        let db = ctx.db();
        let account = account_of(ctx, principal.account_id).await?;
        let filter = filter.unwrap_or_default().into();
        let page = errors::query(service::list(db, principal.account_id, &filter, first as u64, after).await)?;
        let nodes: Vec<PromoCode> = page.items.into_iter().map(|row| PromoCode::new(row, account.clone())).collect();
        let edges: Vec<PromoCodeEdge> =
            nodes.iter().map(|node| PromoCodeEdge { cursor: node.cursor(), node: node.clone() }).collect();
        let page_info = PageInfo {
            has_previous_page: after.is_some(),
            has_next_page: page.has_next,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(PromoCodeConnection { edges, nodes, page_info })
    }

    /// One of your shop's codes by `id` (deleted ones too) or by `code` (live ones,
    /// case-insensitive); give exactly one. Null when there is none.
    async fn promo_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code's id.")] id: Option<ID>,
        #[graphql(desc = "The code string, any case, e.g. \"news10\".")] code: Option<String>,
    ) -> async_graphql::Result<Option<PromoCode>> {
        let principal = ctx.caller().reader()?;
        let db = ctx.db();
        let row = match (id, code) {
            (Some(id), None) => match parse_id(&id) {
                Some(id) => errors::query(service::find(db, principal.account_id, id).await)?,
                None => None,
            },
            (None, Some(code)) => errors::query(service::find_by_code(db, principal.account_id, &code).await)?,
            _ => return Err(client_error(ErrorCode::BadUserInput, "give exactly one of `id` or `code`")),
        };
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PromoCode::new(row, account_of(ctx, principal.account_id).await?)))
    }
}

/// Promo code mutations (admin key).
#[derive(Default)]
pub struct PromoMutation;

/// Promo code mutations (admin key).
#[Object]
impl PromoMutation {
    /// Creates a promo code. Example: 15 % off, once per customer, until the end of
    /// October in the shop's time zone: `{code: "FALL26", discountType: PERCENTAGE,
    /// percentOff: "15", maxPerCustomer: 1, expiresOn: "YYYY-10-31"}`, YYYY being the
    /// year of the coming October (the expiry must lie in the future).
    async fn create_promo_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code's settings.")] input: CreatePromoCodeInput,
        #[graphql(
            desc = "When true, only validate and return what would be stored; nothing is written.",
            default = false
        )]
        dry_run: bool,
    ) -> async_graphql::Result<PromoCodePayload> {
        let principal = ctx.caller().admin()?;
        let db = ctx.db();
        let zone = super::types::shop::ShopInfo::of(&*account_of(ctx, principal.account_id).await?).zone;
        let expires_at =
            match super::catalog::instant(input.expires_at, input.expires_on, "expiresOn", "expiresAt", zone, true) {
                Ok(at) => at,
                Err(e) => return Ok(refused(input_errors::<CreatePromoCodeInput>(vec![e]), dry_run)),
            };
        let starts_at =
            match super::catalog::instant(input.starts_at, input.starts_on, "startsOn", "startsAt", zone, false) {
                Ok(at) => at,
                Err(e) => return Ok(refused(input_errors::<CreatePromoCodeInput>(vec![e]), dry_run)),
            };
        let new = NewPromoCode {
            code: input.code,
            starts_at,
            minimum_subtotal: input.minimum_subtotal,
            partner_id: input.partner_id.as_ref().map(event_id),
            recipient_email: input.recipient_email,
            discount_type: Some(input.discount_type.into()),
            percent_off: input.percent_off,
            amount_off: input.amount_off,
            event_id: input.event_id.as_ref().map(event_id),
            expires_at,
            usage_limit: input.usage_limit,
            max_per_customer: input.max_per_customer,
            description: input.description,
        };
        let actor = Actor::key(principal, AuditVia::Graphql);
        match errors::split(service::create(db, ctx.events(), &actor, principal.account_id, new, dry_run).await)? {
            Ok(row) => written(ctx, principal.account_id, row, dry_run).await,
            Err(e) => Ok(refused(input_errors::<CreatePromoCodeInput>(e), dry_run)),
        }
    }

    /// Changes a promo code; omitted fields stay as they are. Deleted codes cannot be changed.
    async fn update_promo_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdatePromoCodeInput,
        #[graphql(
            desc = "When true, only validate and return the code as it would be; nothing is written.",
            default = false
        )]
        dry_run: bool,
    ) -> async_graphql::Result<PromoCodePayload> {
        let principal = ctx.caller().admin()?;
        let db = ctx.db();
        let Some(id) = parse_id(&id) else {
            return Ok(refused(
                user_errors(vec![services::UserError::new(
                    "id",
                    UserErrorCode::NotFound,
                    "no promo code with this id",
                )]),
                dry_run,
            ));
        };
        let zone = super::types::shop::ShopInfo::of(&*account_of(ctx, principal.account_id).await?).zone;
        let expires_at = match super::catalog::instant_patch(
            input.expires_at,
            input.expires_on,
            "expiresOn",
            "expiresAt",
            zone,
            true,
        ) {
            Ok(at) => at,
            Err(e) => return Ok(refused(input_errors::<UpdatePromoCodeInput>(vec![e]), dry_run)),
        };
        let starts_at = match super::catalog::instant_patch(
            input.starts_at,
            input.starts_on,
            "startsOn",
            "startsAt",
            zone,
            false,
        ) {
            Ok(at) => at,
            Err(e) => return Ok(refused(input_errors::<UpdatePromoCodeInput>(vec![e]), dry_run)),
        };
        let changes = PromoCodePatch {
            code: input.code,
            starts_at,
            minimum_subtotal: patch(input.minimum_subtotal, |v| v),
            partner_id: patch(input.partner_id, |v| event_id(&v)),
            recipient_email: patch(input.recipient_email, |v| v),
            discount_type: input.discount_type.map(Into::into),
            percent_off: patch(input.percent_off, |v| v),
            amount_off: patch(input.amount_off, |v| v),
            event_id: patch(input.event_id, |v| event_id(&v)),
            expires_at,
            usage_limit: patch(input.usage_limit, |v| v),
            max_per_customer: patch(input.max_per_customer, |v| v),
            description: patch(input.description, |v| v),
            active: input.active,
        };
        let actor = Actor::key(principal, AuditVia::Graphql);
        let result = service::update(db, ctx.events(), &actor, principal.account_id, id, changes, dry_run);
        match errors::split(result.await)? {
            Ok(row) => written(ctx, principal.account_id, row, dry_run).await,
            Err(e) => Ok(refused(input_errors::<UpdatePromoCodeInput>(e), dry_run)),
        }
    }

    /// Turns a code off without losing its history: carts lose its discount, orders keep
    /// their snapshot. Give exactly one of `id` or `code`.
    async fn deactivate_promo_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code's id.")] id: Option<ID>,
        #[graphql(desc = "The code string, any case, e.g. \"ALEX15\".")] code: Option<String>,
        #[graphql(desc = "When true, nothing is written.", default = false)] dry_run: bool,
    ) -> async_graphql::Result<PromoCodePayload> {
        set_active(ctx, id, code, false, dry_run).await
    }

    /// Turns a deactivated code back on. Give exactly one of `id` or `code`.
    async fn reactivate_promo_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code's id.")] id: Option<ID>,
        #[graphql(desc = "The code string, any case.")] code: Option<String>,
        #[graphql(desc = "When true, nothing is written.", default = false)] dry_run: bool,
    ) -> async_graphql::Result<PromoCodePayload> {
        set_active(ctx, id, code, true, dry_run).await
    }

    /// Deletes a code. A code any order used is kept (SOFT: status DELETED, hidden from
    /// the default list, its string free for reuse, order history intact); a never-used
    /// code is removed (HARD). The payload says which.
    async fn delete_promo_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code's id.")] id: ID,
        #[graphql(desc = "When true, report what would happen; nothing is written.", default = false)] dry_run: bool,
    ) -> async_graphql::Result<DeletePromoCodePayload> {
        let principal = ctx.caller().admin()?;
        let db = ctx.db();
        let refused = |errors: Vec<UserError>| DeletePromoCodePayload {
            deletion: None,
            promo_code: None,
            dry_run,
            user_errors: errors,
        };
        let Some(id) = parse_id(&id) else {
            return Ok(refused(user_errors(vec![services::UserError::new(
                "id",
                UserErrorCode::NotFound,
                "no promo code with this id",
            )])));
        };
        let actor = Actor::key(principal, AuditVia::Graphql);
        match errors::split(service::delete(db, ctx.events(), &actor, principal.account_id, id, dry_run).await)? {
            Ok((row, deletion)) => Ok(DeletePromoCodePayload {
                deletion: Some(deletion.into()),
                promo_code: Some(PromoCode::new(row, account_of(ctx, principal.account_id).await?)),
                dry_run,
                user_errors: vec![],
            }),
            Err(e) => Ok(refused(user_errors(e))),
        }
    }
}

async fn set_active(
    ctx: &Context<'_>,
    id: Option<ID>,
    code: Option<String>,
    active: bool,
    dry_run: bool,
) -> async_graphql::Result<PromoCodePayload> {
    let principal = ctx.caller().admin()?;
    let db = ctx.db();
    let id = match resolve(db, principal.account_id, id, code).await? {
        Ok(id) => id,
        Err(e) => return Ok(refused(user_errors(e), dry_run)),
    };
    let actor = Actor::key(principal, AuditVia::Graphql);
    let result = service::set_active(db, ctx.events(), &actor, principal.account_id, id, active, dry_run);
    match errors::split(result.await)? {
        Ok(row) => written(ctx, principal.account_id, row, dry_run).await,
        Err(e) => Ok(refused(user_errors(e), dry_run)),
    }
}
