//! The promo code report over GraphQL (the CSV download is in `http::reports`).

use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use super::errors::{self, ErrorCode, client_error};
use super::types::report::{PromoCodeReportRow, ReportGroupBy};
use crate::services::reports;

/// Report queries (read or admin key).
#[derive(Default)]
pub struct ReportQuery;

/// Report queries (read or admin key).
#[Object]
impl ReportQuery {
    /// Per code (or code × utm_source): link visits, orders and link orders, conversion,
    /// tickets, revenue gross and net of refunds, discount given, refunds, redemptions
    /// ever vs active, orders over the cap, for orders and visits created in [from, to).
    /// A code is one row under its current name, renamed or not. Also as CSV at
    /// `/admin/reports/promo_codes.csv`.
    async fn promo_code_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start, inclusive (RFC 3339).")] from: DateTime<Utc>,
        #[graphql(desc = "End, exclusive (RFC 3339).")] to: DateTime<Utc>,
        #[graphql(desc = "CODE, CODE_AND_UTM_SOURCE, PARTNER or PARTNER_AND_UTM_SOURCE.", default)]
        group_by: ReportGroupBy,
    ) -> async_graphql::Result<Vec<PromoCodeReportRow>> {
        let principal = ctx.caller().reader()?;
        let report =
            errors::query(reports::for_account(ctx.db(), principal.account_id, from, to, group_by.into()).await)?
                .ok_or_else(|| client_error(ErrorCode::Unauthenticated, "the key's account no longer exists"))?;
        Ok(report.rows.into_iter().map(|r| PromoCodeReportRow::new(r, report.currency)).collect())
    }
}
