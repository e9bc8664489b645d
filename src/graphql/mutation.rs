//! The mutation root. Every mutation returns a payload with `userErrors`; write
//! mutations take `dryRun` to validate and preview without writing.

use async_graphql::MergedObject;

use super::accounts::ApiKeyMutation;
use super::campaigns::CampaignMutation;
use super::cart::CartMutation;
use super::catalog::CatalogMutation;
use super::checkout::CheckoutMutation;
use super::promo::PromoMutation;
use super::webhooks::WebhookMutation;

/// Write operations. Cart mutations are public (the cart id is the capability); the
/// rest need an admin API key.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    CartMutation,
    CheckoutMutation,
    PromoMutation,
    CampaignMutation,
    CatalogMutation,
    WebhookMutation,
    ApiKeyMutation,
);
