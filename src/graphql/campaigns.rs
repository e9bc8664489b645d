//! Campaign tools over GraphQL: partners, generated batches of codes, share links, and
//! the public share page. Thin resolvers over `services::partners` and
//! `services::promo_batches`.

use async_graphql::{Context, ID, Object};

use super::context::ContextExt;
use super::errors::{self, input_errors, user_errors};
use super::promo::account_of;
use super::types::campaign::{
    CreatePartnerShareLinkPayload, DeactivatePromoBatchPayload, GeneratePromoCodesInput, GeneratePromoCodesPayload,
    Partner, PartnerInput, PartnerPayload, PartnerShareLink, PartnerSharePage, PromoBatch,
    RevokePartnerShareLinkPayload,
};
use super::types::promo_code::{event_id, patch};
use super::types::{PromoCode, parse_id};
use crate::entities::enums::AuditVia;
use crate::services::audit::Actor;
use crate::services::partners::{self, ShareScope};
use crate::services::promo_batches::{self, GenerateInput, Recipients};
use crate::services::promo_codes::NewPromoCode;
use crate::services::{self, UserErrorCode};

fn not_found(field: &str, what: &str) -> Vec<services::UserError> {
    vec![services::UserError::new(field, UserErrorCode::NotFound, format!("no {what} with this id in this account"))]
}

/// Campaign queries (read or admin key), and the public share page.
#[derive(Default)]
pub struct CampaignQuery;

/// Campaign queries (read or admin key), and the public share page.
#[Object]
impl CampaignQuery {
    /// Your shop's partners, by name.
    async fn partners(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Partner>> {
        let principal = ctx.caller().reader()?;
        Ok(errors::query(partners::list(ctx.db(), principal.account_id).await)?.into_iter().map(Partner).collect())
    }

    /// Your shop's batches of generated codes, newest first, with their counters.
    async fn promo_batches(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PromoBatch>> {
        let principal = ctx.caller().reader()?;
        let db = ctx.db();
        let currency = *account_of(ctx, principal.account_id).await?.currency;
        let mut out = vec![];
        for batch in errors::query(promo_batches::list(db, principal.account_id).await)? {
            out.push(PromoBatch::new(errors::query(promo_batches::view(db, batch).await)?, currency));
        }
        Ok(out)
    }

    /// One batch with its counters; null when there is none.
    async fn promo_batch(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The batch's id.")] id: ID,
    ) -> async_graphql::Result<Option<PromoBatch>> {
        let principal = ctx.caller().reader()?;
        let db = ctx.db();
        let Some(id) = parse_id(&id) else { return Ok(None) };
        let Some(batch) = errors::query(promo_batches::find(db, principal.account_id, id).await)? else {
            return Ok(None);
        };
        let currency = *account_of(ctx, principal.account_id).await?.currency;
        Ok(Some(PromoBatch::new(errors::query(promo_batches::view(db, batch).await)?, currency)))
    }

    /// Your shop's share links, newest first (revoked ones included).
    async fn partner_share_links(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PartnerShareLink>> {
        let principal = ctx.caller().reader()?;
        let links = errors::query(partners::share_links(ctx.db(), principal.account_id).await)?;
        Ok(links.into_iter().map(Into::into).collect())
    }

    /// Public: the figures behind a share link's token (what `/partners/{token}` shows);
    /// null when the token is unknown or was revoked.
    async fn partner_share(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token from `createPartnerShareLink`.")] token: String,
    ) -> async_graphql::Result<Option<PartnerSharePage>> {
        Ok(errors::query(partners::share_view(ctx.db(), &token).await)?.map(Into::into))
    }
}

/// Campaign mutations (admin key).
#[derive(Default)]
pub struct CampaignMutation;

/// Campaign mutations (admin key).
#[Object]
impl CampaignMutation {
    /// Adds a partner, e.g. `{name: "Maria", contact: "@maria.tickets"}`; give their codes
    /// `partnerId` and reports group by them.
    async fn create_partner(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The partner.")] input: PartnerInput,
    ) -> async_graphql::Result<PartnerPayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        let input = partners::PartnerInput { name: input.name, contact: patch(input.contact, |v| v) };
        Ok(match errors::split(partners::create(ctx.db(), &actor, principal.account_id, input).await)? {
            Ok(row) => PartnerPayload { partner: Some(Partner(row)), user_errors: vec![] },
            Err(e) => PartnerPayload { partner: None, user_errors: input_errors::<PartnerInput>(e) },
        })
    }

    /// Renames a partner or changes their contact; omitted fields stay as they are.
    async fn update_partner(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The partner's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: PartnerInput,
    ) -> async_graphql::Result<PartnerPayload> {
        let principal = ctx.caller().admin()?;
        let Some(id) = parse_id(&id) else {
            return Ok(PartnerPayload { partner: None, user_errors: user_errors(not_found("id", "partner")) });
        };
        let actor = Actor::key(principal, AuditVia::Graphql);
        let input = partners::PartnerInput { name: input.name, contact: patch(input.contact, |v| v) };
        Ok(match errors::split(partners::update(ctx.db(), &actor, principal.account_id, id, input).await)? {
            Ok(row) => PartnerPayload { partner: Some(Partner(row)), user_errors: vec![] },
            Err(e) => PartnerPayload { partner: None, user_errors: input_errors::<PartnerInput>(e) },
        })
    }

    /// Makes a batch of codes in one go: `count` single-use codes for anyone (a giveaway,
    /// a box office), or one per newsletter recipient (`recipients` or `recipientsCsv`),
    /// each usable only with that recipient's email. Example: `{batchName: "November
    /// newsletter", prefix: "NEWS", recipients: ["ann@example.com"], discountType:
    /// PERCENTAGE, percentOff: "10"}`. Download the codes with the batch's `csvPath`.
    async fn generate_promo_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The batch and the discount every code gives.")] input: GeneratePromoCodesInput,
        #[graphql(desc = "When true, only validate and show sample codes; nothing is written.", default = false)]
        dry_run: bool,
    ) -> async_graphql::Result<GeneratePromoCodesPayload> {
        let principal = ctx.caller().admin()?;
        let db = ctx.db();
        let account = account_of(ctx, principal.account_id).await?;
        let refused = |errors: Vec<services::UserError>| GeneratePromoCodesPayload {
            batch: None,
            codes: vec![],
            dry_run,
            user_errors: input_errors::<GeneratePromoCodesInput>(errors),
        };
        let zone = super::types::shop::ShopInfo::of(&account).zone;
        let expires_at =
            match super::catalog::instant(input.expires_at, input.expires_on, "expiresOn", "expiresAt", zone, true) {
                Ok(at) => at,
                Err(e) => return Ok(refused(vec![e])),
            };
        let starts_at =
            match super::catalog::instant(input.starts_at, input.starts_on, "startsOn", "startsAt", zone, false) {
                Ok(at) => at,
                Err(e) => return Ok(refused(vec![e])),
            };
        let recipients = match (input.count, input.recipients, input.recipients_csv) {
            (Some(count), None, None) => Recipients::Anyone(count),
            (None, Some(emails), None) => Recipients::Emails(emails),
            (None, None, Some(csv)) => match errors::split(promo_batches::emails_from_csv(&csv))? {
                Ok(emails) => Recipients::Emails(emails),
                Err(e) => return Ok(refused(e)),
            },
            _ => {
                return Ok(refused(vec![services::UserError::new(
                    "count",
                    UserErrorCode::InvalidCount,
                    "give exactly one of `count`, `recipients` or `recipientsCsv`",
                )]));
            }
        };
        let generate = GenerateInput {
            batch_name: input.batch_name,
            prefix: input.prefix,
            recipients,
            usage_per_code: input.usage_per_code,
            settings: NewPromoCode {
                discount_type: Some(input.discount_type.into()),
                percent_off: input.percent_off,
                amount_off: input.amount_off,
                event_id: input.event_id.as_ref().map(event_id),
                expires_at,
                starts_at,
                minimum_subtotal: input.minimum_subtotal,
                max_per_customer: input.max_per_customer,
                description: input.description,
                partner_id: input.partner_id.as_ref().map(event_id),
                ..Default::default()
            },
        };
        let actor = Actor::key(principal, AuditVia::Graphql);
        let result = promo_batches::generate(db, ctx.events(), &actor, principal.account_id, generate, dry_run).await;
        let (batch, codes) = match errors::split(result)? {
            Ok(made) => made,
            Err(e) => return Ok(refused(e)),
        };
        let codes: Vec<PromoCode> = codes.into_iter().take(20).map(|c| PromoCode::new(c, account.clone())).collect();
        let view = if dry_run {
            promo_batches::BatchView {
                batch,
                codes_redeemed: 0,
                redemptions: 0,
                revenue: 0,
                discount: 0,
                codes_active: 0,
            }
        } else {
            errors::query(promo_batches::view(db, batch).await)?
        };
        Ok(GeneratePromoCodesPayload {
            batch: Some(PromoBatch::new(view, *account.currency)),
            codes,
            dry_run,
            user_errors: vec![],
        })
    }

    /// Switches off every code of a batch at once; carts holding one lose its discount
    /// (pushed). Orders keep theirs.
    async fn deactivate_promo_batch(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The batch's id.")] id: ID,
    ) -> async_graphql::Result<DeactivatePromoBatchPayload> {
        let principal = ctx.caller().admin()?;
        let db = ctx.db();
        let refused = |e| DeactivatePromoBatchPayload { batch: None, deactivated: None, user_errors: user_errors(e) };
        let Some(id) = parse_id(&id) else { return Ok(refused(not_found("id", "batch"))) };
        let actor = Actor::key(principal, AuditVia::Graphql);
        let (batch, switched) =
            match errors::split(promo_batches::deactivate(db, ctx.events(), &actor, principal.account_id, id).await)? {
                Ok(done) => done,
                Err(e) => return Ok(refused(e)),
            };
        let currency = *account_of(ctx, principal.account_id).await?.currency;
        Ok(DeactivatePromoBatchPayload {
            batch: Some(PromoBatch::new(errors::query(promo_batches::view(db, batch).await)?, currency)),
            deactivated: Some(switched as i64),
            user_errors: vec![],
        })
    }

    /// Makes a read-only share link for one partner (all their codes) or one code: send
    /// the returned `path` (`/partners/{token}`) to the partner. It shows link visits,
    /// orders, tickets and revenue by utm_source and by day, never a buyer. Give exactly
    /// one of `partnerId` or `promoCodeId`.
    async fn create_partner_share_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The partner whose codes it shows.")] partner_id: Option<ID>,
        #[graphql(desc = "The one code it shows.")] promo_code_id: Option<ID>,
    ) -> async_graphql::Result<CreatePartnerShareLinkPayload> {
        let principal = ctx.caller().admin()?;
        let refused = |e| CreatePartnerShareLinkPayload {
            share_link: None,
            token: None,
            path: None,
            user_errors: user_errors(e),
        };
        let scope = match (partner_id, promo_code_id) {
            (Some(id), None) => ShareScope::Partner(event_id(&id)),
            (None, Some(id)) => ShareScope::PromoCode(event_id(&id)),
            _ => {
                return Ok(refused(vec![services::UserError::new(
                    "",
                    UserErrorCode::Invalid,
                    "give exactly one of `partnerId` or `promoCodeId`",
                )]));
            }
        };
        let actor = Actor::key(principal, AuditVia::Graphql);
        Ok(match errors::split(partners::create_share_link(ctx.db(), &actor, principal.account_id, scope).await)? {
            Ok((row, token)) => CreatePartnerShareLinkPayload {
                share_link: Some(row.into()),
                path: Some(format!("/partners/{token}")),
                token: Some(token),
                user_errors: vec![],
            },
            Err(e) => refused(e),
        })
    }

    /// Revokes a share link: its page answers 404 from now on.
    async fn revoke_partner_share_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The link's id.")] id: ID,
    ) -> async_graphql::Result<RevokePartnerShareLinkPayload> {
        let principal = ctx.caller().admin()?;
        let refused = |e| RevokePartnerShareLinkPayload { share_link: None, user_errors: user_errors(e) };
        let Some(id) = parse_id(&id) else { return Ok(refused(not_found("id", "share link"))) };
        let actor = Actor::key(principal, AuditVia::Graphql);
        Ok(match errors::split(partners::revoke_share_link(ctx.db(), &actor, principal.account_id, id).await)? {
            Ok(row) => RevokePartnerShareLinkPayload { share_link: Some(row.into()), user_errors: vec![] },
            Err(e) => refused(e),
        })
    }
}
