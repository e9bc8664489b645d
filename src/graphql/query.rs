//! The query root: the read side of every area, merged.

use async_graphql::MergedObject;

use super::accounts::AccountQuery;
use super::audit::AuditQuery;
use super::campaigns::CampaignQuery;
use super::cart::CartQuery;
use super::catalog::CatalogQuery;
use super::orders::OrderQuery;
use super::promo::PromoQuery;
use super::reports::ReportQuery;
use super::webhooks::WebhookQuery;

/// Read operations. `shop` is public; the rest need an API key (read or admin).
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    AccountQuery,
    CartQuery,
    CatalogQuery,
    PromoQuery,
    CampaignQuery,
    OrderQuery,
    ReportQuery,
    WebhookQuery,
    AuditQuery,
);
