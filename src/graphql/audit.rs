//! The audit log over GraphQL: read-only, for any key of the account.

use async_graphql::{Context, Object};

use super::context::ContextExt;
use super::errors::{self, ErrorCode, client_error};
use super::types::PageInfo;
use super::types::audit::{AuditEntry, AuditEntryConnection, AuditEntryEdge, AuditLogFilter};
use crate::services::audit;

/// The audit log (read or admin key). Nothing can change it.
#[derive(Default)]
pub struct AuditQuery;

/// The audit log (read or admin key). Nothing can change it.
#[Object]
impl AuditQuery {
    /// Every admin write of your shop, newest first: who (API key id and name), when,
    /// the operation, the target, and each changed field before → after.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Target, key, operation and time filters; every entry when omitted.")] filter: Option<
            AuditLogFilter,
        >,
        #[graphql(desc = "Page size, 1–200.", default = 50)] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<AuditEntryConnection> {
        let principal = ctx.caller().reader()?;
        let Some(first) = u64::try_from(first).ok().filter(|n| (1..=audit::MAX_PAGE).contains(n)) else {
            let message = format!("`first` must be between 1 and {}", audit::MAX_PAGE);
            return Err(client_error(ErrorCode::BadUserInput, message));
        };
        let cursor = match &after {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .map_err(|_| client_error(ErrorCode::BadUserInput, "`after` is not a cursor of this list"))?,
            ),
        };
        let filter = filter.unwrap_or_default().into();
        let (rows, more) = errors::query(audit::list(ctx.db(), principal.account_id, &filter, first, cursor).await)?;
        let edges: Vec<AuditEntryEdge> =
            rows.into_iter().map(|row| AuditEntryEdge { cursor: row.id.to_string(), node: AuditEntry(row) }).collect();
        let page_info = PageInfo::new(
            after.is_some(),
            more,
            edges.first().map(|e| e.cursor.as_str()),
            edges.last().map(|e| e.cursor.as_str()),
        );
        Ok(AuditEntryConnection { edges, page_info })
    }
}
